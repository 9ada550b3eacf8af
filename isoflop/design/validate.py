"""The check run of ``scaling validate``: fit a sweep, train a check beyond its top budget, judge the fit.

:func:`plan_check` fits the sweep's results and centres a check sweep on one method's predicted N_opt at the
check's budget (N_opt/factor, N_opt and factor·N_opt); :func:`run_check` trains it (an ordinary sweep folder,
``RESULTS/<name>-check``), judges the fit's predictions against the measured minimum
(:func:`isoflop.laws.check.judge_check`) and writes the verdict to ``verdict.json`` there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from isoflop.errors import ConfigError
from isoflop.jsonio import write_json_atomic
from isoflop.laws.analyze import analyze, parse_methods
from isoflop.laws.check import CheckVerdict, judge_check
from isoflop.laws.result import AnalysisResult
from isoflop.laws.table_io import load_runs
from isoflop.runs.store import runs_frame
from isoflop.sweep import load_sweep, run_sweep, sweep_dir_for
from isoflop.sweep.check import MIN_FACTOR, check_budget, check_sweep
from isoflop.sweep.config import SweepConfig
from isoflop.sweep.runner import SweepStatus, check_device
from isoflop.sweep.sizes import ParamSizes


@dataclass(frozen=True)
class CheckPlan:
    """A check, planned: the sweep, its fit, and the check sweep centred on ``centre``'s N_opt at ``budget``."""

    sweep: SweepConfig
    result: AnalysisResult
    centre: str
    n_opt: float
    budget: float
    check: SweepConfig

    def lines(self) -> list[str]:
        """What the check will train, and a note when it tests little extrapolation."""
        top = max(self.sweep.budgets)
        sizes = self.check.sizes.params if isinstance(self.check.sizes, ParamSizes) else ()
        out = [
            f"check of {self.sweep.name} at {self.budget:.3g} FLOPs ({self.budget / top:.1f}x its top budget): sizes "
            + ", ".join(f"{n:.3g}" for n in sizes)
            + f" about {self.centre}'s N_opt {self.n_opt:.3g}"
        ]
        if self.budget < MIN_FACTOR * top:
            out.append(
                f"note: {self.budget / top:.1f}x the top budget is under {MIN_FACTOR:g}x: "
                "the check tests little extrapolation"
            )
        return out


@dataclass(frozen=True)
class CheckOutcome:
    """A check, trained and judged."""

    plan: CheckPlan
    verdict: CheckVerdict
    status: SweepStatus
    n_runs: int
    path: Path

    def lines(self) -> list[str]:
        return [
            *self.verdict.lines(),
            f"check cost: {self.n_runs} runs, {self.status.cost_flops:.3g} FLOPs in "
            f"{self.status.cost_wall_s / 60:.1f} min of run time (WSD trunks counted once, with their cooldowns)",
        ]

    def to_dict(self) -> dict:
        return {"sweep": self.plan.sweep.name, "centre": self.plan.centre, **self.verdict.to_dict()}


def plan_check(
    sweep_file: str | Path,
    budget: float,
    *,
    centre: str = "approach2",
    methods: str = "approach2,approach3",
    factor: float = 3.0,
    seeds: int = 1,
    results_root: str | Path = "results",
    n_bootstrap: int = 400,
) -> CheckPlan:
    """Fit ``sweep_file``'s results and plan the check at ``budget``.

    Raises:
        ConfigError: the sweep has no results, or ``centre`` could not be fitted.
        SweepError: a bad sweep file or a budget below the sweep's top one.
    """
    sw = load_sweep(sweep_file)
    check_device(sw.device)
    wanted = tuple(dict.fromkeys([centre, *parse_methods(methods)]))
    folder = sweep_dir_for(sw, results_root)
    if not folder.exists():
        raise ConfigError(f"{folder}: no results for {sweep_file}; run `scaling sweep run {sweep_file}` first")
    check_budget(sw, budget)  # before the (slow) fit
    res = analyze(load_runs(folder), methods=",".join(wanted), targets=[budget], n_bootstrap=n_bootstrap, seed=0)
    if centre not in res.fitted:
        raise ConfigError(
            f"{folder}: {centre} could not be fitted ({res.errors.get(centre, 'no reason given')}), "
            "so it cannot centre the check; pick another with --centre"
        )
    n_opt = float(res.prediction(centre, budget)["optimal_params"])
    return CheckPlan(sw, res, centre, n_opt, budget, check_sweep(sw, n_opt, budget, factor, seeds))


def run_check(plan: CheckPlan, executor, *, results_root: str | Path = "results", cache_dir=None) -> CheckOutcome:
    """Train the planned check, judge the fit against it, and write ``verdict.json`` in the check's folder."""
    st = run_sweep(plan.check, executor, results_root=results_root, cache_dir=cache_dir)
    folder = Path(sweep_dir_for(plan.check, results_root))
    df = runs_frame(folder)
    ok = df[(df["status"] == "ok") & df["loss"].notna()]
    noise = plan.result.seed_noise.get("sigma")
    v = judge_check(
        plan.result, ok["params"], ok["loss"], plan.budget, noise if noise and math.isfinite(noise) else 0.0
    )
    out = CheckOutcome(plan, v, st, len(ok), folder / "verdict.json")
    write_json_atomic(out.path, out.to_dict())
    return out
