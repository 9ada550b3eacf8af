"""The planner: which design buys the narrowest interval on N_opt at a target, for a cost cap.

For each candidate :class:`~isoflop.design.candidates.Design`, scaled to spend the cap, the planner
simulates replicate sweeps: each draws a true surface from the prior, evaluates it at exactly the runs
the design's plan would train (their N, D and C under the sweep's counting), adds the prior's noise,
and runs the full analysis with a bootstrap. Per method it reports the median 95% interval width
(hi/lo) on N_opt at the target, the median error of the estimate against that replicate's truth (its
bias), and how often the interval held the truth. Candidates are ranked by the widest interval among the
scored methods, so a design must serve every one of them.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from isoflop.design.candidates import Cost, Design, candidates, fill
from isoflop.design.law_error import law_errors, law_noise
from isoflop.design.prior import Prior
from isoflop.errors import ConfigError
from isoflop.model.flops import param_counts
from isoflop.runs.throughput import Throughput
from isoflop.sweep.config import SweepConfig
from isoflop.sweep.simulate import Simulator


@dataclass(frozen=True)
class DesignScore:
    """How one design fared over the replicates.

    Attributes:
        design, sweep, cost: the design (scaled to the cap), its sweep and what it costs here.
        width: method -> median hi/lo of the 95% interval on N_opt at the target.
        bias: method -> median of log10(estimate / truth), in decades.
        coverage: method -> share of replicates whose interval held the truth.
        failed: method -> replicates where it could not be fitted.
        replicates: how many replicate sweeps were fitted.
    """

    design: Design
    sweep: SweepConfig
    cost: Cost
    width: dict = field(default_factory=dict)
    bias: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    replicates: int = 0

    def score(self, methods) -> float:
        """The widest median interval among ``methods`` (inf when one was never fitted)."""
        return max(self.width.get(m, np.inf) for m in methods)

    def to_dict(self) -> dict:
        return {
            "design": self.design.label,
            "budgets": list(self.design.budgets),
            "schedule": self.design.schedule,
            "k": self.design.k,
            "span": self.design.span,
            "seeds": self.design.seeds,
            "cooldowns": self.design.cooldowns,
            "law_cooldowns": self.design.law_cooldowns,
            "cost": {
                "flops": self.cost.flops,
                "wall_s": self.cost.wall_s,
                "run_s": self.cost.run_s,
                "runs": self.cost.runs,
            },
            "width": self.width,
            "bias_dec": self.bias,
            "coverage": self.coverage,
            "failed": self.failed,
            "replicates": self.replicates,
        }


@dataclass(frozen=True)
class Plan:
    """The finalists ranked (best first), the designs screened out, and what they were judged on."""

    target: float
    methods: tuple[str, ...]
    prior: Prior
    scores: tuple[DesignScore, ...]
    cap: str
    throughput: Throughput
    screened_out: tuple[DesignScore, ...] = ()

    @property
    def best(self) -> DesignScore:
        return self.scores[0]

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "methods": list(self.methods),
            "prior": self.prior.describe(),
            "cap": self.cap,
            "throughput": self.throughput.describe(),
            "designs": [s.to_dict() for s in self.scores],
            "screened_out": [s.to_dict() for s in self.screened_out],
        }


def simulate_table(specs, surface, sigma: float, seed_sigma: float, seed: int) -> pd.DataFrame:
    """The loss table a plan's runs would give on ``surface``: each run at its own N, D and C."""
    sim = Simulator(surface, sigma=sigma, seed_sigma=seed_sigma, seed=seed)
    rows = []
    for s in specs:
        n = param_counts(s.model).total
        rows.append(
            {
                "params": n,
                "tokens": s.tokens,
                "flops": s.flops,
                "budget": s.budget,
                "seed": s.seed,
                "loss": sim.loss(n, s.tokens, s.run_id, s.seed),
            }
        )
    return pd.DataFrame(rows)


def evaluate_design(
    specs, prior: Prior, target: float, methods, replicates: int, n_bootstrap: int, seed: int, grid=None
) -> dict:
    """Fit ``replicates`` simulated sweeps of one plan; per method the widths, errors and hits at the target.

    ``grid``: a ``cooldowns = "law"`` design's whole grid (:func:`~isoflop.design.candidates.grid_specs`),
    which its fit reads: the trained points (``specs``) as simulated runs, and the rest at the true loss with
    the noise their trunk's trained ends carry to them (:func:`law_noise`) and the law's error
    (:func:`law_errors`)."""
    from isoflop.laws.analyze import analyze
    from isoflop.laws.table_io import load_runs

    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {m: {"width": [], "err": [], "hit": [], "failed": 0} for m in methods}
    for _ in range(replicates):
        truth_surface = prior.draw(rng)
        points = specs if grid is None else grid
        df = simulate_table(points, truth_surface, prior.sigma, prior.seed_sigma, int(rng.integers(1 << 30)))
        if grid is not None:
            truth_loss = truth_surface.loss(df["params"].to_numpy(), df["tokens"].to_numpy())
            noise = law_noise(grid, specs, np.log(df["loss"].to_numpy() / truth_loss))
            df["loss"] = truth_loss * np.exp(noise + law_errors(grid, specs, prior.law_bump, rng))
        res = analyze(
            load_runs(df),
            methods=",".join(methods),
            targets=[target],
            n_bootstrap=n_bootstrap,
            seed=int(rng.integers(1 << 30)),
        )
        truth = truth_surface.optimum(target, res.counting)[0]
        for m in methods:
            p = res.prediction(m, target) if m in res.fitted else None
            ci = p.get("params_ci") if p is not None else None
            if p is None or not ci or ci[0] is None or not (ci[0] > 0 and np.isfinite(ci[1])):
                out[m]["failed"] += 1
                continue
            out[m]["width"].append(ci[1] / ci[0])
            out[m]["err"].append(float(np.log10(p["optimal_params"] / truth)))
            out[m]["hit"].append(bool(ci[0] <= truth <= ci[1]))
    return out


def _evaluate(args):
    return evaluate_design(*args)


def plan_sweep(
    prior: Prior,
    base: SweepConfig,
    vocab_size: int,
    target: float,
    *,
    cap_s: float | None = None,
    cap_flops: float | None = None,
    methods=("approach2", "approach3"),
    throughput: Throughput,
    workers: int = 2,
    replicates: int = 24,
    screen: int = 6,
    finalists: int = 6,
    n_bootstrap: int = 100,
    seed: int = 0,
    designs: list[Design] | None = None,
    processes: int = 1,
    progress=None,
    law: bool = False,
) -> Plan:
    """Rank candidate designs by the interval they buy at ``target`` for the cap.

    Args:
        prior: truths to draw from, and the noise.
        base: the sweep whose corpus, family and training settings every design keeps.
        vocab_size: the corpus's vocabulary (for the model family).
        target: the budget C (FLOPs) whose N_opt the sweep is for.
        cap_s, cap_flops: the cost cap, as wall time on ``workers`` (seconds) or FLOPs; exactly one.
        methods: the approaches a design must serve; ranked by the widest of their intervals.
        throughput: wall time of FLOPs here.
        workers: runs in flight when the sweep runs (for wall time).
        replicates, n_bootstrap: simulated sweeps per finalist design, and bootstrap resamples per fit.
        screen, finalists: every candidate is first judged on ``screen`` replicates; the best ``finalists``
            are judged again on ``replicates`` fresh ones, and ranked on those.
        designs: candidates (default :func:`~isoflop.design.candidates.candidates`).
        law: weigh ``cooldowns = "law"`` designs too (with the default candidates), each simulated as its
            whole grid with the law's error at the points it predicts (:func:`law_errors`).
        processes: evaluate designs in this many processes.
        progress: optional callable(done, total, replicates) after each design.

    Raises:
        ConfigError: no cap or two, or a cap that buys no design (it names the cheapest one's cost).
    """
    if (cap_s is None) == (cap_flops is None):
        raise ConfigError("plan: give exactly one cost cap, as wall time or as FLOPs")
    cap = cap_s if cap_s is not None else cap_flops
    if not (cap and cap > 0 and np.isfinite(cap)):
        raise ConfigError(f"plan: the cost cap ({cap}) must be positive")
    guess = 10 ** np.floor(np.log10(target)) / 100 if cap_flops is None else cap_flops / 20
    # A cap below the smallest design any candidate could be is refused before the candidates are scaled
    # (which takes about a second each); after, a cap that fits none of them is refused the same way.
    cheapest = _cheapest_cost(Design("wsd", 3, 2.0, 3, 2.0, 1, 1.0), base, vocab_size, prior, throughput, workers)
    if (cheapest.wall_s if cap_s is not None else cheapest.flops) > cap:
        _too_small(cheapest, cap_s, cap_flops)
    filled = [
        f
        for d in designs or candidates(guess, law=law)
        if (f := fill(d, base, vocab_size, prior.point, throughput, workers, cap_s, cap_flops)) is not None
    ]
    if not filled:
        _too_small(cheapest, cap_s, cap_flops)

    def rank(s: DesignScore):  # narrowest widest interval first, the cheaper on a tie
        return s.score(methods), s.cost.wall_s

    # Stage 1 screens every candidate on a few replicates; stage 2 judges the finalists on many.
    screened = _score(
        filled, prior, target, methods, min(screen, replicates), n_bootstrap, seed, processes, progress, vocab_size
    )
    chosen = sorted(screened, key=rank)[: max(1, finalists)]
    keep = {id(s.design) for s in chosen}
    if replicates > screen:
        again = [f for f in filled if id(f[0]) in keep]
        chosen = _score(
            again, prior, target, methods, replicates, n_bootstrap, seed + 1, processes, progress, vocab_size
        )
    scores = sorted(chosen, key=rank)
    rest = sorted((s for s in screened if id(s.design) not in keep), key=rank)
    return Plan(target, tuple(methods), prior, tuple(scores), _cap_text(cap_s, cap_flops), throughput, tuple(rest))


def _score(
    filled, prior, target, methods, replicates, n_bootstrap, seed, processes, progress, vocab_size
) -> list[DesignScore]:
    from isoflop.design.candidates import grid_specs

    jobs = [
        ([*specs], prior, target, tuple(methods), replicates, n_bootstrap, seed + 7919 * i, grid_specs(sw, vocab_size))
        for i, (_, sw, specs, _) in enumerate(filled)
    ]
    results = []
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            for r in pool.map(_evaluate, jobs):
                results.append(r)
                if progress:
                    progress(len(results), len(jobs), replicates)
    else:
        for job in jobs:
            results.append(_evaluate(job))
            if progress:
                progress(len(results), len(jobs), replicates)
    return [
        DesignScore(
            d,
            sw,
            cost,
            width={m: float(np.median(v["width"])) for m, v in r.items() if v["width"]},
            bias={m: float(np.median(v["err"])) for m, v in r.items() if v["err"]},
            coverage={m: float(np.mean(v["hit"])) for m, v in r.items() if v["hit"]},
            failed={m: v["failed"] for m, v in r.items()},
            replicates=replicates,
        )
        for (d, sw, _, cost), r in zip(filled, results)
    ]


def _cheapest_cost(design: Design, base, vocab_size, prior, throughput, workers) -> Cost:
    """The cost of the smallest design whose shortest run still has MIN_STEPS steps."""
    from dataclasses import replace

    from isoflop.design.candidates import MIN_STEPS, design_cost, plan_specs, prior_centre

    d = design
    for _ in range(60):
        sw = d.sweep(base, prior_centre(prior.point, d.budgets))
        specs = plan_specs(sw, vocab_size)
        cost = design_cost(specs, throughput, workers)
        if cost.min_steps >= MIN_STEPS:
            return cost
        d = replace(d, top=d.top * 2)
    return cost


def _too_small(cheapest: Cost, cap_s, cap_flops) -> None:
    """Refuse a cap too small for every design, naming what the cheapest one needs."""
    from isoflop.design.candidates import MIN_STEPS

    need = f"{cheapest.wall_s:.0f} s of wall time" if cap_s is not None else f"{cheapest.flops:.3g} FLOPs"
    raise ConfigError(
        f"plan: the cost cap ({_cap_text(cap_s, cap_flops)}) is too small for even the cheapest "
        f"design (3 budgets x 3 sizes with runs of {MIN_STEPS} steps needs {need})"
    )


def _cap_text(cap_s, cap_flops) -> str:
    return f"{cap_s / 60:.1f} min" if cap_s is not None else f"{cap_flops:.3g} FLOPs"
