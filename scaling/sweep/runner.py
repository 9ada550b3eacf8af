"""Running a sweep: every missing run, budget by budget, resumable; and what a sweep folder holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaling.errors import ConfigError, RecordError
from scaling.model.flops import param_counts
from scaling.runs.record import RunRecord
from scaling.runs.store import (finished_records, iter_records, read_manifest, run_folder, run_folders, trunk_folders,
                                write_manifest, write_runs_csv)
from scaling.sweep.config import SweepConfig
from scaling.sweep.plan import budget_runs, shared_trunks
from scaling.sweep.worker import execute_run


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

    @property
    def independent_flops(self) -> float:
        """What the finished runs would cost as independent runs: their own FLOPs, ``flops_done``."""
        return self.flops_done


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


def run_sweep(sweep: SweepConfig, executor, *, results_root: str | Path = "results", cache_dir: str | None = None,
              retry_failed: bool = False, progress=None) -> SweepStatus:
    """Run every missing run of a sweep, budget by budget (smallest first), and write runs.csv.

    Finished runs (a readable ``result.json``) are skipped; failed ones are
    rerun with ``retry_failed``; damaged ones are redone. ``auto`` sizes of a
    budget are decided when its turn comes, from the budgets finished by then.

    Args:
        sweep: the validated sweep.
        executor: an object with ``map(fn, list_of_args) -> list`` (see :mod:`scaling.sweep.executors`).
        results_root: folder holding ``<sweep name>/``.
        cache_dir: corpus cache passed to every run.
        retry_failed: rerun runs recorded as failed.
        progress: optional callable(event: dict) for display.

    Raises:
        ConfigError: the sweep's device is not available here.
        DataError: the corpus cannot be built.
    """
    from scaling.data.corpus import load_corpus

    check_device(sweep.device)
    root = sweep_dir_for(sweep, results_root)
    root.mkdir(parents=True, exist_ok=True)
    write_manifest(root, sweep.to_dict())
    vocab = load_corpus(sweep.corpus, sweep.tokenizer, cache_dir).vocab_size  # builds the cache once, up front
    if sweep.schedule == "wsd" and len(sweep.budgets) > 1 and shared_trunks(sweep, vocab) == 0 and progress:
        progress({"event": "warning", "message": 'schedule = "wsd" but no model size recurs across budgets '
                  "(planned with the prior): every trunk serves one budget, so WSD saves no compute here"})
    for budget in sorted(sweep.budgets):
        finished = [r for r in finished_records(root) if (r.budget_flops or 0) < budget]
        specs = budget_runs(sweep, budget, vocab, finished)
        todo = []
        for s in specs:
            folder = run_folder(root, s.run_id)
            try:
                r = folder.read_result()
            except RecordError:
                r = None  # damaged: the worker redoes it
            if r is not None and r.status == "failed" and retry_failed:
                folder.clear()
                r = None
            if r is None:
                todo.append(s)
        if progress:
            progress({"event": "budget", "budget": budget, "runs": len(specs), "todo": len(todo),
                      "sizes": [param_counts(s.model).total for s in specs]})
        if todo:
            # Under WSD each task grows its trunk to this budget's branch point (a trunk has one branch per
            # budget, so no two tasks share one) and then trains the cooldown from the snapshot it saved.
            outcomes = executor.map(execute_run, [(s.to_dict(), str(root), cache_dir) for s in todo])
            for s, out in zip(todo, outcomes):
                # A worker that died (killed, out of memory, a crash in native code) left no record:
                # record the run as failed so the sweep goes on and --retry-failed can rerun it.
                folder = run_folder(root, s.run_id)
                if isinstance(out, BaseException) and not folder.has_result():
                    folder.write_result(s.failed_record(f"worker died: {type(out).__name__}: {out}"))
    for tf in trunk_folders(root):  # no branch of this sweep needs a trunk's head any more
        tf.head_path.unlink(missing_ok=True)
    write_runs_csv(root)
    return sweep_status(sweep, results_root)


def sweep_status(sweep: SweepConfig, results_root: str | Path = "results") -> SweepStatus:
    """Summarise a sweep folder on disk (planned counts assume the configured sizes per budget). Writes nothing."""
    root = sweep_dir_for(sweep, results_root)
    recs, damaged = [], 0
    for _, r in iter_records(root):
        if isinstance(r, RunRecord):
            recs.append(r)
        else:
            damaged += 1
    started = len(run_folders(root))
    by = lambda s: sum(1 for r in recs if r.status == s)  # noqa: E731
    cost, wall, ind_wall = 0.0, 0.0, 0.0
    for r in recs:
        own = r.cost
        cost += own
        wall += r.wall_time_s or 0.0
        ind_wall += (r.wall_time_s or 0.0) * ((r.flops or 0.0) / own if own else 1.0)
    trunks = trunk_folders(root)
    for tf in trunks:
        try:
            st = tf.read_state()
        except RecordError:
            continue
        cost += st.flops
        wall += st.wall_time_s
    return SweepStatus(sweep.name, sweep.planned_runs, len(recs), by("ok"), by("diverged"), by("failed"),
                       started - len(recs) - damaged, float(sum(r.flops or 0 for r in recs)),
                       tuple(sorted(sweep.budgets)), damaged, _changed_keys(sweep, root), cost_flops=cost,
                       cost_wall_s=wall, independent_wall_s=ind_wall, trunks=len(trunks))


def _changed_keys(sweep: SweepConfig, root: Path) -> tuple[str, ...]:
    """Keys whose values differ between the sweep and the folder's sweep.json."""
    try:
        doc = read_manifest(root)
    except RecordError:
        return ("sweep.json (damaged)",)
    if doc is None:
        return ()
    try:
        before = SweepConfig.from_dict(doc).to_dict()
    except ConfigError:
        return ("sweep.json (not a sweep config)",)
    now = sweep.to_dict()
    return tuple(k for k in now if before.get(k) != now[k])
