"""Adaptive sweeps: run budget by budget, refit after each, and stop (or extend) when it pays.

After each budget (once three have finished) the runs so far are fitted and the 95% interval on N_opt
at the target is measured by each scored method. The sweep stops when every interval is at most
``until_width`` (hi/lo) or the cost cap is spent. ``auto`` sizes with ``refine = true`` are centred on
the optimum fitted to the budgets finished so far; a planned sweep (``refine = false``) keeps the sizes it
was simulated with, so that its runs are exactly the fixed design's until it stops. When the planned
budgets are done and neither has happened, the sweep is extended by whichever of two moves the planner
predicts narrows the interval most, simulated from the fit so far (its VPNLS surface and bootstrap
replicates, and the noise measured): a budget one step above the top, or one more seed of every run. A move that would overspend
the cap is not taken.

Every check and decision, with its reason and the measured and predicted widths, is appended to
``adaptive.jsonl`` in the sweep folder. A killed adaptive sweep resumes from that log: the extensions
already decided are applied again, finished runs are skipped, and a stop stays a stop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from isoflop.design.decisions import AdaptiveResult, Decision, append_decision, read_log
from isoflop.errors import ConfigError, LawError, ScalingError
from isoflop.runs.throughput import Throughput


def run_adaptive(
    sweep,
    new_executor,
    *,
    target: float,
    until_width: float | None = None,
    cap_s: float | None = None,
    cap_flops: float | None = None,
    methods=("approach2", "approach3"),
    workers: int = 2,
    results_root: str | Path = "results",
    cache_dir: str | None = None,
    simulate=None,
    n_bootstrap: int = 200,
    replicates: int = 8,
    seed: int = 0,
    throughput=None,
    progress=None,
) -> AdaptiveResult:
    """Run a sweep adaptively (see the module docstring).

    Args:
        sweep: the starting plan (its budgets, smallest first, are run one at a time).
        new_executor: callable returning a fresh executor for each budget's runs.
        target: the budget C whose N_opt the sweep is for.
        until_width: stop when every method's interval is at most this (hi/lo, > 1); None runs to the cap.
        cap_s, cap_flops: the cost cap (run time over ``workers``, or FLOPs); without one the sweep stops
            after its planned budgets.
        methods: the approaches whose intervals must narrow.
        simulate: a :class:`~isoflop.sweep.simulate.Simulator` to draw runs instead of training.
        n_bootstrap: resamples of each check's fit; ``replicates``: simulated sweeps per predicted move.
        throughput: the cost model of predicted moves (default: the simulator's, else this machine's).
        progress: callable(event dict) for display (events "budget", "warning" and "decision").

    Raises:
        ConfigError: ``until_width`` ≤ 1, or a cap that is not positive.
    """
    from isoflop.data.corpus import load_corpus
    from isoflop.runs.throughput import default_throughput
    from isoflop.sweep.runner import run_sweep, sweep_dir_for

    if until_width is not None and not until_width > 1:
        raise ConfigError(f"--until-width ({until_width}) must be greater than 1 (it is hi/lo of an interval)")
    for name, cap in (("cost", cap_s), ("flops", cap_flops)):
        if cap is not None and not cap > 0:
            raise ConfigError(f"--{name} cap ({cap}) must be positive")
    if sweep.warmup_shared and sweep.warmup_budget is None:  # a budget added above keeps every trunk grown
        sweep = replace(sweep, warmup_budget=max(sweep.budgets))
    root = sweep_dir_for(sweep, results_root)
    log = read_log(root)
    current = sweep
    for d in log:
        current = replace(current, budgets=d.budgets, seeds=d.seeds)
    if log and log[-1].action == "stop":
        return AdaptiveResult(tuple(log), current)
    run = _Adaptive(
        root=root,
        vocab=load_corpus(current.corpus, current.tokenizer, cache_dir).vocab_size,
        target=target,
        methods=tuple(methods),
        until_width=until_width,
        cap_s=cap_s,
        cap_flops=cap_flops,
        workers=workers,
        throughput=throughput or (simulate.throughput if simulate is not None else default_throughput()),
        n_bootstrap=n_bootstrap,
        replicates=replicates,
        seed=seed,
    )
    seen = {(d.action, d.budgets_done, d.budgets, d.seeds) for d in log}

    def decide(d: Decision) -> None:
        if (d.action, d.budgets_done, d.budgets, d.seeds) not in seen:
            append_decision(root, d)
            log.append(d)
            seen.add((d.action, d.budgets_done, d.budgets, d.seeds))
        if progress:
            progress({"event": "decision", **d.to_dict()})

    # Resume where the log ends: the budgets its last check had finished (a new seed starts them all again).
    last = log[-1] if log else None
    done: list[float] = [] if last is None or last.action == "add-seed" else sorted(last.budgets)[: last.budgets_done]
    width: dict = dict(last.width) if last is not None else {}
    try:
        while True:
            todo = [b for b in sorted(current.budgets) if b not in done]
            if not todo:  # the plan is done: extend it, or stop
                move = run.extend(current, width)
                decide(move)
                if move.action == "stop":
                    break
                current = replace(current, budgets=move.budgets, seeds=move.seeds)
                if move.action == "add-seed":
                    done = []  # every budget gets its new seed's runs
                continue
            run_sweep(
                current,
                new_executor(),
                results_root=results_root,
                cache_dir=cache_dir,
                progress=progress,
                simulate=simulate,
                only=(todo[0],),
                keep_trunks=True,
            )
            done.append(todo[0])
            width = run.widths(done, current.seeds) if len(done) >= 3 else {}
            check = run.check(current, done, width)
            if check is not None:
                decide(check)
                if check.action == "stop":
                    break
    except ScalingError as e:  # a later step cannot run: the decisions so far are logged and said
        e.partial = AdaptiveResult(tuple(log), current)
        raise
    from isoflop.runs.store import trunk_folders

    for tf in trunk_folders(root):  # stopped: no branch needs a trunk's head or snapshots any more
        tf.remove_checkpoints()
    return AdaptiveResult(tuple(log), current)


@dataclass(frozen=True)
class _Adaptive:
    """What an adaptive sweep checks against, fixed for the whole sweep: its folder, target, scored
    methods, stopping width, cost cap, workers and cost model, and the settings of its refits."""

    root: Path
    vocab: int
    target: float
    methods: tuple[str, ...]
    until_width: float | None
    cap_s: float | None
    cap_flops: float | None
    workers: int
    throughput: Throughput
    n_bootstrap: int
    replicates: int
    seed: int

    def spent(self, budgets, seeds: int) -> tuple[float, float]:
        return _spent(self.root, budgets, seeds, self.workers)

    def spent_text(self, spent) -> str:
        return _spent_text(spent, self.cap_s, self.cap_flops)

    def widths(self, budgets, seeds: int) -> dict:
        return _widths(self.root, budgets, seeds, self.target, self.methods, self.n_bootstrap, self.seed)

    def check(self, current, done: list[float], width: dict) -> Decision | None:
        """The check after a budget: stop at the target width or the cap, else run the next planned budget;
        None when the plan is done (:meth:`extend` decides then)."""
        budgets = sorted(current.budgets)
        spent = self.spent(done, current.seeds)
        base = dict(
            budgets_done=len(done),
            budgets=tuple(budgets),
            seeds=current.seeds,
            width=width,
            cost_flops=spent[0],
            cost_wall_s=spent[1],
        )
        widest = max(width.values()) if width and len(width) == len(self.methods) else None
        if self.until_width is not None and widest is not None and widest <= self.until_width:
            why = f"every interval is at most {self.until_width:g}x (widest {widest:.2f}x) after {len(done)} budgets"
            return Decision("stop", why, **base)
        if (self.cap_s is not None and spent[1] >= self.cap_s) or (
            self.cap_flops is not None and spent[0] >= self.cap_flops
        ):
            return Decision("stop", f"the cost cap is spent ({self.spent_text(spent)})", **base)
        todo = [b for b in budgets if b not in done]
        if not todo:
            return None
        if widest is not None and self.until_width:
            why = f"widest interval {widest:.2f}x > {self.until_width:g}x"
        else:
            why = "fewer than 3 budgets fitted" if not width else f"widest interval {max(width.values()):.2f}x"
        return Decision("continue", f"{why}; next planned budget {todo[0]:.3g}", **base)

    def extend(self, current, width: dict) -> Decision:
        """The planned budgets are done: add a budget or a seed (see :func:`_extend`), or stop."""
        return _extend(self, current, width)


def _spent(root: Path, budgets, seeds: int, workers: int) -> tuple[float, float]:
    """(FLOPs, run time over the workers) spent on the plan's runs so far: the finished runs of these
    budgets and seeds (runs a killed sweep left beyond them are not counted until the plan reaches them),
    plus every WSD trunk grown."""
    from isoflop.runs.cost import trunk_costs
    from isoflop.runs.store import finished_records

    flops, wall = trunk_costs(root)
    keep = {float(b) for b in budgets}
    for r in finished_records(root):
        if r.budget_flops in keep and (r.seed or 0) < seeds:
            flops += r.cost
            wall += r.wall_time_s or 0.0
    return flops, wall / max(1, workers)


def _spent_text(spent, cap_s, cap_flops) -> str:
    if cap_s is not None:
        return f"{spent[1] / 60:.1f} of {cap_s / 60:.1f} min"
    return f"{spent[0]:.3g} of {cap_flops:.3g} FLOPs"


def _table(root: Path, budgets, seeds: int):
    """The plan's finished runs so far as a loss table (runs a killed sweep left beyond the plan are not read)."""
    from isoflop.laws.table_io import load_runs
    from isoflop.runs.store import runs_frame

    df = runs_frame(root)
    df = df[df["budget"].isin([float(b) for b in budgets]) & (df["seed"].fillna(0) < seeds)]
    return load_runs(df.drop(columns=["run_id"]).reset_index(drop=True))


def _widths(root: Path, budgets, seeds: int, target: float, methods, n_bootstrap: int, seed: int) -> dict:
    from isoflop.laws.analyze import analyze

    res = analyze(
        _table(root, budgets, seeds), methods=",".join(methods), targets=[target], n_bootstrap=n_bootstrap, seed=seed
    )
    out = {}
    for m in methods:
        if m in res.fitted:
            ci = res.prediction(m, target).get("params_ci")
            if ci and ci[0] and ci[1] and ci[0] > 0 and np.isfinite(ci[1]):
                out[m] = float(ci[1] / ci[0])
    return out


def _extend(run: _Adaptive, current, width: dict) -> Decision:
    """The planned budgets are done: add a budget above the top or a seed, whichever the planner predicts
    narrows the widest interval more, within the cap; or stop."""
    from isoflop.design.candidates import design_cost
    from isoflop.design.planner import evaluate_design
    from isoflop.design.prior import prior_from_result
    from isoflop.laws.analyze import analyze
    from isoflop.runs.store import finished_records
    from isoflop.sweep.plan import budget_runs

    root, vocab, target, methods, seed = run.root, run.vocab, run.target, run.methods, run.seed
    cap_s, cap_flops, workers, throughput, replicates = (
        run.cap_s,
        run.cap_flops,
        run.workers,
        run.throughput,
        run.replicates,
    )
    budgets = sorted(current.budgets)
    spent = _spent(root, budgets, current.seeds, workers)
    base = dict(
        budgets_done=len(budgets),
        budgets=tuple(budgets),
        seeds=current.seeds,
        width=dict(width),
        cost_flops=spent[0],
        cost_wall_s=spent[1],
    )
    if cap_s is None and cap_flops is None:
        return Decision("stop", "the planned budgets are done and no cost cap allows more", **base)
    keep = set(budgets)
    finished = [
        r
        for r in finished_records(root)
        if r.status == "ok" and r.budget_flops in keep and (r.seed or 0) < current.seeds
    ]
    res = analyze(_table(root, budgets, current.seeds), methods="vpnls", n_bootstrap=100, seed=seed)
    try:
        prior = prior_from_result(res, root.name)
    except LawError as e:  # no surface to predict from: nothing to choose between
        return Decision("stop", f"cannot predict a move ({e})", **base)
    ratio = budgets[-1] / budgets[-2] if len(budgets) > 1 else 2.0
    moves = {
        "add-budget": replace(current, budgets=tuple(budgets + [float(f"{budgets[-1] * ratio:.4g}")])),
        "add-seed": replace(current, seeds=current.seeds + 1),
    }
    have = {s.run_id for b in budgets for s in budget_runs(current, b, vocab, finished)}
    predicted, costs = {}, {}
    for name, sw in moves.items():
        specs = [s for b in sw.budgets for s in budget_runs(sw, b, vocab, finished)]
        new = [s for s in specs if s.run_id not in have]
        if not new:
            continue
        extra = design_cost(new, throughput, workers)
        after = (spent[0] + extra.flops, spent[1] + extra.wall_s)
        if (cap_s is not None and after[1] > cap_s * 1.02) or (cap_flops is not None and after[0] > cap_flops * 1.02):
            continue
        costs[name] = extra
        out = evaluate_design(specs, prior, target, tuple(methods), replicates, 100, seed)
        ws = [float(np.median(out[m]["width"])) if out[m]["width"] else np.inf for m in methods]
        predicted[name] = max(ws)
    if not predicted:
        return Decision(
            "stop", f"the cost cap allows no further move ({_spent_text(spent, cap_s, cap_flops)} spent)", **base
        )
    best = min(predicted, key=lambda k: (predicted[k], costs[k].flops))
    sw = moves[best]
    other = {k: v for k, v in predicted.items() if k != best}
    why = (
        f"predicted widest interval {predicted[best]:.2f}x after {best}"
        + "".join(f" against {v:.2f}x after {k}" for k, v in other.items())
        + f"; it costs ~{costs[best].wall_s / 60:.1f} min, {costs[best].flops:.3g} FLOPs"
    )
    return Decision(
        best,
        why,
        **{**base, "budgets": tuple(sorted(sw.budgets)), "seeds": sw.seeds},
        predicted={k: float(v) for k, v in predicted.items()},
    )
