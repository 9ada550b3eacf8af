"""Running a sweep: every missing run, budget by budget, resumable; and what a sweep folder holds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from isoflop.errors import ConfigError, RecordError, ScalingError
from isoflop.model.flops import param_counts
from isoflop.runs.claim import claim_path, claims, held_elsewhere
from isoflop.runs.cost import folder_cost
from isoflop.runs.folder import trunk_folder
from isoflop.runs.store import (
    finished_records,
    run_folder,
    run_folders,
    trunk_folders,
    write_manifest,
    write_runs_csv,
)
from isoflop.sweep.config import AutoSizes, SweepConfig, folder_sweep
from isoflop.sweep.hparams import rules_relative_to
from isoflop.sweep.plan import budget_runs, planned_runs, predicted_optimum, shared_trunks
from isoflop.sweep.schedule import Skipped, run_graph, sweep_tasks
from isoflop.sweep.worker import examine


@dataclass(frozen=True)
class BudgetStatus:
    """One budget's finished runs by status, and its best ok run."""

    flops: float
    ok: int = 0
    diverged: int = 0
    failed: int = 0
    best_loss: float | None = None
    best_params: float | None = None

    def line(self) -> str:
        best = f"best loss {self.best_loss:.4f} at N={self.best_params:.3g}" if self.best_loss is not None else ""
        return f"  {self.flops:.3g} FLOPs: {self.ok} ok, {self.diverged} diverged, {self.failed} failed  {best}"


def budget_statuses(records) -> tuple[BudgetStatus, ...]:
    """Per budget (ascending), the finished records' counts by status and the lowest ok loss."""
    rows: dict[float, dict] = {}
    for r in records:
        b = rows.setdefault(r.budget_flops or 0.0, {"ok": 0, "diverged": 0, "failed": 0})
        b[r.status] = b.get(r.status, 0) + 1
        if r.status == "ok" and ("best_loss" not in b or r.val_loss < b["best_loss"]):
            b["best_loss"], b["best_params"] = r.val_loss, r.n_params
    return tuple(BudgetStatus(c, **rows[c]) for c in sorted(rows))


@dataclass(frozen=True)
class SweepStatus:
    """What a sweep folder holds.

    Attributes:
        damaged: run folders whose result.json does not read as a record (redone by the next run).
        config_changed: top-level keys of the sweep whose values differ from the folder's
            ``sweep.json`` (the folder was filled under other settings), empty when they agree.
        cost_flops, cost_wall_s: what the finished runs cost: each WSD trunk once (with any prefix
            trained again) plus every cooldown; an independent run in full.
        independent_wall_s: what the same runs would take as independent runs (each run's wall time
            scaled to all its FLOPs at the throughput it ran at); :attr:`independent_flops` is ``flops_done``.
        trunks: WSD trunks in the folder.
        per_budget: each budget's finished runs (:func:`budget_statuses`).
        claims: the runs and trunks drivers hold now (:mod:`isoflop.runs.claim`): (key, "live" or "stale", who).
    """

    name: str
    planned: int
    done: int
    ok: int
    diverged: int
    failed: int
    running_or_interrupted: int
    flops_done: float
    budgets: tuple[float, ...]
    damaged: int = 0
    config_changed: tuple[str, ...] = ()
    cost_flops: float = 0.0
    cost_wall_s: float = 0.0
    independent_wall_s: float = 0.0
    trunks: int = 0
    per_budget: tuple[BudgetStatus, ...] = ()
    claims: tuple[tuple[str, str, str], ...] = ()

    @property
    def independent_flops(self) -> float:
        """What the finished runs would cost as independent runs: their own FLOPs, ``flops_done``."""
        return self.flops_done

    def summary(self) -> str:
        """Runs finished by status, what is unfinished or damaged, and (once runs finished) their cost."""
        line = (
            f"{self.name}: {self.done} runs finished ({self.ok} ok, {self.diverged} diverged, {self.failed} failed), "
            f"{self.running_or_interrupted} unfinished, {self.flops_done:.3g} FLOPs"
        )
        if self.damaged:
            line += f"; {self.damaged} damaged run folder(s), redone by the next 'sweep run'"
        if self.done:
            line += (
                f"\ncost: {self.cost_flops:.3g} FLOPs in {self.cost_wall_s / 60:.1f} min of run time"
                + (f" ({self.trunks} WSD trunks, each counted once)" if self.trunks else "")
                + f"; as independent runs {self.independent_flops:.3g} FLOPs, ~{self.independent_wall_s / 60:.1f} min"
                + (f" ({1 - self.cost_flops / self.independent_flops:.0%} saved)" if self.independent_flops else "")
            )
        return line

    def lines(self, sweep_file: str = "the sweep file") -> list[str]:
        """The summary, a note when the folder was filled under other settings, and each budget's line."""
        out = [self.summary()]
        if self.config_changed:
            out.append(f"note: the folder's sweep.json differs from {sweep_file} in: {', '.join(self.config_changed)}")
        out += [b.line() for b in self.per_budget]
        if self.claims:
            out.append(f"claims ({len(self.claims)}; a stale one is taken over by the next driver that needs it):")
            out += [f"  {key}: {state}, held by {who}" for key, state, who in self.claims]
        return out


def sweep_dir_for(sweep: SweepConfig, results_root: str | Path = "results") -> Path:
    return Path(results_root) / sweep.name


def check_device(device: str) -> None:
    """Raise :class:`ConfigError` before any run starts when the sweep's device is not usable here."""
    if device.startswith("cuda") or device == "mps":
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: torch sees no CUDA GPU on this machine")
        if device.startswith("cuda:") and int(device.split(":")[1]) >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ConfigError("device 'mps': torch sees no Apple GPU on this machine")


def run_sweep(
    sweep: SweepConfig,
    executor,
    *,
    results_root: str | Path = "results",
    cache_dir: str | None = None,
    retry_failed: bool = False,
    progress=None,
    simulate=None,
    only=None,
    keep_trunks: bool = False,
) -> SweepStatus:
    """Run every missing run of a sweep and write runs.csv.

    Finished runs (a readable ``result.json``) are skipped; failed ones are
    rerun with ``retry_failed``; damaged ones are redone. When every budget's
    sizes are fixed up front, all runs (and WSD trunk growths) form one task
    graph (:mod:`isoflop.sweep.schedule`); ``auto`` sizes that refine the grid
    are decided budget by budget (smallest first), from the budgets finished by then.

    Args:
        sweep: the validated sweep.
        executor: ``start``/``wait``/``slots`` (see :mod:`isoflop.sweep.executors`); closed at the end.
        results_root: folder holding ``<sweep name>/``.
        cache_dir: corpus cache passed to every run.
        retry_failed: rerun runs recorded as failed.
        progress: optional callable(event: dict) for display.
        simulate: a :class:`~isoflop.sweep.simulate.Simulator`: draw every run's record from its surface
            instead of training (the executor is not used). A folder holds simulated or trained runs, never both.
        only: run only these budgets' runs, planned as part of the whole sweep (an adaptive sweep's step).
        keep_trunks: keep WSD trunks' heads and snapshots at the end (more budgets will branch off them).

    Raises:
        ConfigError: the sweep's device is not available here, or the folder holds runs of the other kind.
        DataError: the corpus cannot be built.
        ScalingError: raised once runs have started (a budget refined from finished ones cannot be planned):
            its ``partial`` is the :class:`SweepStatus` of the runs that finished, which are kept and tabled.
    """
    from isoflop.data.corpus import load_corpus

    if simulate is None:
        check_device(sweep.device)
    root = sweep_dir_for(sweep, results_root)
    _check_kind(root, simulated=simulate is not None)
    root.mkdir(parents=True, exist_ok=True)
    write_manifest(root, rules_relative_to(sweep.to_dict(), root))
    vocab = load_corpus(sweep.corpus, sweep.tokenizer, cache_dir).vocab_size  # builds the cache once, up front
    if sweep.schedule == "wsd" and len(sweep.budgets) > 1 and shared_trunks(sweep, vocab) == 0 and progress:
        progress(
            {
                "event": "warning",
                "message": 'schedule = "wsd" but no model size recurs across budgets '
                "(planned with the prior): every trunk serves one budget, so WSD saves no compute here",
            }
        )
    # Sizes fixed up front make one graph of the whole sweep; sizes refined from finished budgets are decided
    # a budget at a time, when its turn comes.
    adaptive = isinstance(sweep.sizes, AutoSizes) and sweep.sizes.refine
    chosen = sorted(b for b in sweep.budgets if only is None or b in set(only))
    phases = [[b] for b in chosen] if adaptive else [chosen]
    try:
        for phase in phases:
            todo, done = [], finished_records(root) if adaptive else []
            for budget in phase:
                finished = [r for r in done if (r.budget_flops or 0) < budget]
                specs = budget_runs(sweep, budget, vocab, finished)
                mine = [s for s in specs if _needs_run(run_folder(root, s.run_id), s, retry_failed)]
                todo += mine
                if progress:
                    centre = (
                        predicted_optimum(sweep, budget, finished)[1]
                        if isinstance(sweep.sizes, AutoSizes)
                        else "fixed sizes"
                    )
                    progress(
                        {
                            "event": "budget",
                            "budget": budget,
                            "runs": len(specs),
                            "todo": len(mine),
                            "sizes": [param_counts(s.model).total for s in specs],
                            "centre": centre,
                        }
                    )
            if todo and simulate is not None:
                _simulate(root, todo, simulate)
            elif todo:
                _run_until_done(executor, root, todo, cache_dir, progress)
    except ScalingError as e:  # a later budget cannot be planned: what finished is tabled and said
        write_runs_csv(root)
        if e.partial is None:
            e.partial = sweep_status(sweep, results_root, planned_runs(sweep, vocab))
        raise
    finally:
        executor.close()
    # No branch of this sweep needs a trunk's head or snapshots any more, nor a finished run its checkpoint
    # (a kill between a run's record and its clean-up leaves one; a branch to retry re-creates its snapshot).
    for tf in trunk_folders(root) if not keep_trunks else ():
        tf.remove_checkpoints()
    for folder in run_folders(root):
        if folder.has_result():
            folder.checkpoint_path.unlink(missing_ok=True)
    write_runs_csv(root)
    return sweep_status(sweep, results_root, planned_runs(sweep, vocab))


#: Seconds between looks at runs another driver holds.
POLL_S = 2.0


def _run_until_done(executor, root: Path, todo: list, cache_dir: str | None, progress, poll_s: float = POLL_S) -> None:
    """Run the graph of ``todo``; then, while runs are left unfinished because other drivers hold them, wait
    for those drivers, and take over the runs of any that died (their claims go stale): every run ends
    finished, by this driver or another, exactly once."""

    def unfinished(specs):
        return [s for s in specs if not run_folder(root, s.run_id).has_result()]

    while todo:
        run_graph(executor, sweep_tasks(todo, str(root), cache_dir), lambda t, out: _record_end(root, t, out))
        todo = unfinished(todo)
        if todo:
            if progress:
                progress({"event": "waiting", "runs": len(todo), "message": f"{len(todo)} runs held by other drivers"})
            while todo and all(_held_elsewhere(root, s) for s in todo):
                time.sleep(poll_s)
                todo = unfinished(todo)


def _held_elsewhere(root: Path, spec) -> bool:
    """Whether a run waits on another live driver: that driver holds it, or it is a branch whose snapshot is
    not there yet and whose trunk that driver is growing."""
    held = [("run", spec.run_id)]
    b = spec.branch
    if b is not None and not trunk_folder(root, b.trunk_id).snapshot_path(b.step).exists():
        held.append(("trunk", b.trunk_id))
    return any(held_elsewhere(claim_path(root, kind, key)) for kind, key in held)


def _check_kind(root: Path, simulated: bool) -> None:
    """Refuse to mix simulated and trained runs in one folder (a fit would read both as one table)."""
    other = next((r for r in finished_records(root) if bool(r.simulated) != simulated), None) if root.exists() else None
    if other is not None:
        held, asked = ("trained", "simulated") if simulated else ("simulated", "trained")
        raise ConfigError(f"{root}: holds {held} runs; write {asked} runs to another --results folder")


def _simulate(root: Path, specs, simulator) -> None:
    """Write every spec's simulated record, and the cost of each WSD trunk they branch off."""
    for spec in specs:
        folder = run_folder(root, spec.run_id)
        folder.clear()
        folder.write_config(spec)
        folder.write_result(simulator.record(spec))
    from isoflop.runs.folder import trunk_folder

    for state in simulator.trunk_states(specs):
        tf = trunk_folder(root, state.trunk_id)
        try:
            old = tf.read_state()
        except RecordError:
            old = None
        if old is None or old.steps < state.steps:
            tf.write_state(state)


def _needs_run(folder, spec, retry_failed: bool) -> bool:
    """A run is to do when it has no result, a damaged folder (the worker moves it aside and redoes it), or a
    failed result to retry."""
    r, why = examine(folder, spec)
    if why:
        return True
    if r is not None and r.status == "failed" and retry_failed:
        folder.clear()
        return True
    return r is None


def _record_end(root: Path, task, out) -> None:
    """A run's task that ended without a record (its worker died: killed, out of memory, a crash in native
    code; or the trunk growth it needed failed) is recorded as failed, so the sweep goes on and
    ``--retry-failed`` can rerun it."""
    if task.spec is None or not isinstance(out, BaseException):
        return
    folder = run_folder(root, task.spec.run_id)
    if not folder.has_result():
        why = str(out) if isinstance(out, Skipped) else f"worker died: {type(out).__name__}: {out}"
        folder.write_result(task.spec.failed_record(why))


def sweep_status(sweep: SweepConfig, results_root: str | Path = "results", planned: int | None = None) -> SweepStatus:
    """Summarise a sweep folder on disk (``planned`` runs, by default the configured sizes per budget ×
    budgets × seeds; under ``cooldowns = "law"`` that is the points the law gives). Writes nothing."""
    root = sweep_dir_for(sweep, results_root)
    fc = folder_cost(root)
    recs = fc.records
    started = len(run_folders(root))
    by = lambda s: sum(1 for r in recs if r.status == s)  # noqa: E731
    return SweepStatus(
        sweep.name,
        sweep.planned_runs if planned is None else planned,
        len(recs),
        by("ok"),
        by("diverged"),
        by("failed"),
        started - len(recs) - fc.damaged,
        fc.independent_flops,
        tuple(sorted(sweep.budgets)),
        fc.damaged,
        _changed_keys(sweep, root),
        cost_flops=fc.flops,
        cost_wall_s=fc.wall_s,
        independent_wall_s=fc.independent_wall_s,
        trunks=fc.trunks,
        per_budget=budget_statuses(recs),
        claims=tuple((key, state, h.describe()) for key, state, h in claims(root)),
    )


def _changed_keys(sweep: SweepConfig, root: Path) -> tuple[str, ...]:
    """Keys whose values differ between the sweep and the folder's sweep.json."""
    try:
        found = folder_sweep(root)
    except RecordError:
        return ("sweep.json (damaged)",)
    except ConfigError:
        return ("sweep.json (not a sweep config)",)
    if found is None:
        return ()
    before = found.to_dict()
    now = sweep.to_dict()
    return tuple(k for k in now if before.get(k) != now[k])
