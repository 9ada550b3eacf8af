"""A sweep design: budgets, sizes per budget and their span, seeds, schedule; its plan and its cost here.

A :class:`Design` becomes an ordinary :class:`~isoflop.sweep.config.SweepConfig` (``auto`` sizes centred on
the prior's optimum, not refined, so that what the planner simulated is exactly what runs), whose plan
gives every run's N, D and C and whose cost follows from the FLOPs and a
:class:`~isoflop.runs.throughput.Throughput` model: wall time is the run time over the workers, or the
longest chain of one WSD trunk and its cooldowns when that is longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from isoflop.errors import ConfigError, SweepError
from isoflop.laws.fit.frontier import Counting
from isoflop.model.flops import param_counts
from isoflop.runs.throughput import Throughput
from isoflop.sweep.config import AutoSizes, SweepConfig
from isoflop.sweep.hparams import rules_relative_to
from isoflop.sweep.plan import budget_runs, trunk_tips
from isoflop.train.spec import RunSpec

#: Fewest optimiser steps a planned run may have: shorter runs are mostly warmup.
MIN_STEPS = 50


@dataclass(frozen=True)
class Design:
    """A candidate sweep.

    Attributes:
        schedule: "cosine" (independent runs) or "wsd" (shared trunks, a cooldown per budget).
        n_budgets: how many budgets.
        spacing: the ratio between consecutive budgets.
        k: sizes per budget.
        span: sizes over [N*/span, N*·span] about the prior's optimum N*.
        seeds: runs per (size, budget).
        top: the largest budget, in FLOPs.
        cooldowns: under WSD, "all" (every point trains its cooldown) or "law" (each size trains its trunk
            and two cooldowns, and the loss-curve law gives the rest of the grid; ``cooldowns = "law"``).
        law_cooldowns: under "law", the cooldowns each size trains: 2 (its smallest and largest budget) or 3
            (and the one nearest their middle; the sweep's ``law_cooldowns``).
    """

    schedule: str
    n_budgets: int
    spacing: float
    k: int
    span: float
    seeds: int
    top: float
    cooldowns: str = "all"
    law_cooldowns: int = 2

    def __post_init__(self):
        if self.schedule not in ("cosine", "wsd"):
            raise ConfigError(f"design: schedule ({self.schedule!r}) must be cosine or wsd")
        if self.cooldowns not in ("all", "law") or (self.cooldowns == "law" and self.schedule != "wsd"):
            raise ConfigError(f'design: cooldowns ({self.cooldowns!r}) must be "all", or "law" under wsd')
        if self.law_cooldowns not in (2, 3) or (self.law_cooldowns != 2 and self.cooldowns != "law"):
            raise ConfigError(f'design: law_cooldowns ({self.law_cooldowns!r}) must be 2, or 3 under cooldowns "law"')
        if self.n_budgets < 3 or self.k < 3 or self.seeds < 1:
            raise ConfigError("design: needs at least 3 budgets, 3 sizes per budget and 1 seed")
        if not (self.spacing > 1 and self.span > 1 and self.top > 0):
            raise ConfigError("design: spacing and span must exceed 1, and the top budget be positive")

    @property
    def budgets(self) -> tuple[float, ...]:
        return tuple(float(f"{self.top / self.spacing**i:.4g}") for i in range(self.n_budgets - 1, -1, -1))

    @property
    def label(self) -> str:
        sp = "sqrt2x" if abs(self.spacing - math.sqrt(2)) < 1e-6 else f"{self.spacing:g}x"
        sch = ("wsd-law" if self.law_cooldowns == 2 else "wsd-law3") if self.cooldowns == "law" else self.schedule
        return (
            f"{sch} {self.n_budgets}b {sp} {self.budgets[0]:.2g}-{self.top:.2g} "
            f"k={self.k} span={self.span:g} seeds={self.seeds}"
        )

    def sweep(self, base: SweepConfig, centre: tuple[float, float, float], name: str | None = None) -> SweepConfig:
        """The design as a sweep on ``base``'s corpus, model family and training settings; ``centre`` is
        the prior's N_opt law as (exponent, anchor FLOPs, anchor N)."""
        a, c0, n0 = centre
        sizes = AutoSizes(
            k=self.k,
            span=self.span,
            exponent=float(min(max(a, 0.05), 0.95)),
            anchor_flops=float(c0),
            anchor_params=float(n0),
            refine=False,
        )
        train = dict(base.train)
        if self.schedule == "wsd":  # every budget's cooldown must start after the shared warmup ends
            tc = base.train_config()
            ratio = self.budgets[-1] / self.budgets[0]
            train["warmup_frac"] = float(f"{min(tc.warmup_frac, 0.5 * (1 - tc.cooldown_frac) / ratio):.3g}")
        return replace(
            base,
            name=name or base.name,
            budgets=self.budgets,
            sizes=sizes,
            seeds=self.seeds,
            schedule=self.schedule,
            cooldowns=self.cooldowns,
            law_cooldowns=self.law_cooldowns,
            warmup=None,
            train=train,
        )


@dataclass(frozen=True)
class Cost:
    """What a design costs: FLOPs spent (each WSD trunk once), run time, and wall time on ``workers``."""

    flops: float
    run_s: float
    wall_s: float
    runs: int
    min_steps: int


def plan_specs(sweep: SweepConfig, vocab_size: int) -> list[RunSpec]:
    """The runs a sweep trains (under ``cooldowns = "law"``, each size's two or three cooldowns)."""
    return [s for b in sweep.budgets for s in budget_runs(sweep, b, vocab_size, [])]


def grid_specs(sweep: SweepConfig, vocab_size: int) -> list[RunSpec] | None:
    """Under ``cooldowns = "law"``, every point of the grid its folder reads as (trained or predicted by the
    loss-curve law); None for a sweep whose grid is the runs it trains."""
    every = replace(sweep, cooldowns="all", law_cooldowns=2)
    return plan_specs(every, vocab_size) if sweep.cooldowns == "law" else None


def design_cost(specs: list[RunSpec], throughput: Throughput, workers: int) -> Cost:
    """Cost of a plan's runs: each run's own FLOPs (a branch: its cooldown), each trunk grown once."""
    flops = run_s = 0.0
    chains: dict[str, float] = {}  # a trunk's growth and its cooldowns, which run one after another
    for s in specs:
        sec = float(throughput.seconds(param_counts(s.model).total, s.planned_cost))
        flops += s.planned_cost
        run_s += sec
        if s.trunk_id is not None:
            chains[s.trunk_id] = chains.get(s.trunk_id, 0.0) + sec
    for tid, s in trunk_tips(specs).items():
        sec = float(throughput.seconds(param_counts(s.model).total, s.start_flops))
        flops += s.start_flops
        run_s += sec
        chains[tid] += sec
    longest = max(chains.values(), default=0.0)
    return Cost(flops, run_s, max(run_s / max(1, workers), longest), len(specs), min(s.steps for s in specs))


def plan_counting(specs: list[RunSpec]):
    """The FLOP counting c(N) of a plan's runs (as a table of them would be read)."""
    n = np.array([param_counts(s.model).total for s in specs], dtype=float)
    return Counting.from_runs(
        n, np.array([s.tokens for s in specs], dtype=float), np.array([s.flops for s in specs], dtype=float)
    )


def prior_centre(surface, budgets, counting=None) -> tuple[float, float, float]:
    """The prior's N_opt law over a budget range, as (exponent, anchor FLOPs, anchor N)."""
    lo, hi = min(budgets), max(budgets)
    counting = counting or Counting()
    n_lo, n_hi = surface.optimum(lo, counting)[0], surface.optimum(hi, counting)[0]
    a = math.log(n_hi / n_lo) / math.log(hi / lo) if hi > lo else 0.5
    return a, float(math.sqrt(lo * hi)), float(math.sqrt(n_lo * n_hi))


def fill(
    design: Design,
    base: SweepConfig,
    vocab_size: int,
    surface,
    throughput: Throughput,
    workers: int,
    cap_s: float | None,
    cap_flops: float | None,
    counting=None,
) -> tuple[Design, SweepConfig, list[RunSpec], Cost] | None:
    """Scale a design's top budget so that it spends the cap (wall time or FLOPs); None when even its
    cheapest form has runs under :data:`MIN_STEPS` steps or overspends."""
    try:
        return _fill(design, base, vocab_size, surface, throughput, workers, cap_s, cap_flops, counting)
    except SweepError:  # a design the sweep rules refuse (say, a WSD warmup longer than a cooldown's start)
        return None


def _fill(design, base, vocab_size, surface, throughput, workers, cap_s, cap_flops, counting):
    d = design
    for i in range(10):
        sw = d.sweep(base, prior_centre(surface, d.budgets, counting))
        specs = plan_specs(sw, vocab_size)
        cost = design_cost(specs, throughput, workers)
        counting = plan_counting(specs)  # centre the next pass under the family's own FLOP counting
        used = cost.wall_s / cap_s if cap_s else cost.flops / cap_flops
        if abs(used - 1) < 0.03:
            break
        d = replace(d, top=d.top / used ** (1.0 if i < 3 else 0.7))  # cost grows about linearly with the top
    ok = used <= 1.03 and cost.min_steps >= MIN_STEPS
    return (d, sw, specs, cost) if ok else None


def candidates(top_guess: float, schedules=("cosine", "wsd"), law: bool = False) -> list[Design]:
    """The designs a planner compares (72): schedule × budgets (5 at 2×, 4 at 2.5×, 7 at √2×) × sizes per
    budget and span ((4, 4), (6, 4), (6, 6), (8, 6)) × seeds (1-3); each is then scaled to the cap. With
    ``law``, every WSD design also comes as a ``cooldowns = "law"`` one with two cooldowns per size and one
    with three (72 more).

    The grid's edges were widened until the best design under a realistic prior (the seed noise of
    ``results/planned``) sat inside them, not on them (see the planner benchmark in the README)."""
    out = []
    for sch in schedules:
        for nb, sp in ((5, 2.0), (4, 2.5), (7, math.sqrt(2))):
            for k, span in ((4, 4.0), (6, 4.0), (6, 6.0), (8, 6.0)):
                for seeds in (1, 2, 3):
                    out.append(Design(sch, nb, sp, k, span, seeds, top_guess))
                    if law and sch == "wsd":
                        out += [Design(sch, nb, sp, k, span, seeds, top_guess, "law", c) for c in (2, 3)]
    return out


def parse_duration(text: str) -> float:
    """Seconds from "90s", "40min", "40m", "1h", "1.5h" or a bare number of seconds.

    Raises:
        ConfigError: not a positive duration.
    """
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*(s|sec|m|min|h|hr|hours?)?\s*", str(text), re.I)
    if not m:
        raise ConfigError(f"--cost {text!r}: not a duration (for example 90s, 40min, 1h)")
    unit = (m.group(2) or "s").lower()
    secs = float(m.group(1)) * (3600 if unit.startswith("h") else 60 if unit.startswith("m") else 1)
    if not secs > 0:
        raise ConfigError(f"--cost {text!r}: must be positive")
    return secs


def to_toml(sweep: SweepConfig, header: str = "", *, folder: str | Path) -> str:
    """A sweep as a TOML file that :func:`~isoflop.sweep.config.load_sweep` reads back from ``folder``, the
    folder it is written in: a relative ``fitted:PATH`` (relative to the working directory, as a loaded sweep
    holds it) is written relative to that folder, where a sweep file's are read (written as it stood, a sweep
    planned on ``sweeps/answer.toml`` and written elsewhere named a rule that was not there)."""
    d = rules_relative_to(sweep.to_dict(), Path(folder))
    lines = [f"# {line}" for line in header.splitlines()]

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, float):
            return repr(float(np.float64(v)))
        return str(v)

    for k, v in d.items():
        if k not in ("sizes", "train") and v is not None:
            lines.append(f"{k} = {val(v)}")
    lines.append("\n[sizes]")
    lines += [f"{k} = {val(v)}" for k, v in d["sizes"].items()]
    if d["train"]:
        lines.append("\n[train]")
        lines += [f"{k} = {val(v)}" for k, v in d["train"].items()]
    return "\n".join(lines) + "\n"
