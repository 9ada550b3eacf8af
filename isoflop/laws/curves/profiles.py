"""IsoFLOP points from loss curves: each WSD trunk's annealed loss at every budget, trained or predicted.

A trunk with one or more trained cooldowns (its branches) gets a multi-power law fitted to its stable phase
and those cooldowns: all trunks at once, sharing the exponents (:func:`~isoflop.laws.curves.law.fit_joint`),
or each alone (:func:`~isoflop.laws.curves.law.fit_multipower`). At a budget
C, the run it would train has T = C / (FLOPs per step) steps, and its cooldown has the trained cooldowns'
shape: the same fraction of T, and the same LR curve in progress through it. The law gives that run's final
training loss; the validation loss is that plus the gap (validation − law) of the trained cooldowns' ends:
their mean when there is one length, else the line through them in log T (the gap grows with T on a small
corpus, as the model starts to memorise it). A budget whose cooldown would start past the step the trunk
was grown to (its last branch point) or before its warmup ends, or whose run would be shorter than the trunk's
shortest fitted cooldown (a length the law extrapolates down to, measured worse: Methods), gets no point and a
reason.

Points the trunk trained keep their trained loss (``source = "trained"``) beside the law's; the rest are
``"predicted"``. :meth:`Profiles.frame` is a loss table that ``scaling fit`` and :func:`~isoflop.laws.analyze`
read. ``benchmarks/bench_curves.py`` measures the predictions against trained cooldowns held out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from isoflop.errors import FitError
from isoflop.laws.curves.fits import bootstrap_laws, observations
from isoflop.laws.curves.law import CurveFit, Schedule, fit_joint, fit_multipower
from isoflop.laws.curves.table import Curve, CurveTable
from isoflop.schedules import cooldown_start

#: Two trained ends within this relative distance in FLOPs are one budget.
SAME_BUDGET = 0.02


@dataclass(frozen=True)
class Cooldown:
    """A trained cooldown's shape: the fraction of its run's steps it spans, and its LR (relative to the
    peak) at progress 0..1 through it."""

    frac: float
    progress: np.ndarray
    factor: np.ndarray

    @classmethod
    def of(cls, full: Curve, branch_step: int) -> Cooldown:
        own = full.step > branch_step
        span = max(1, full.end - branch_step)
        peak = float(full.lr[~own].max()) if (~own).any() else float(full.lr.max())
        p = np.concatenate([[0.0], (full.step[own] - branch_step) / span])
        f = np.concatenate([[1.0], full.lr[own] / peak])
        return cls(span / full.end, p, f)

    def schedule(self, trunk: Schedule, steps: int) -> tuple[Schedule, int] | None:
        """The per-step LR of a run of ``steps`` steps that cools down off ``trunk`` (None when the cooldown
        would start past the trunk's schedule), and its branch step."""
        start = cooldown_start(steps, self.frac)
        if start < 1 or start > trunk.eta.size:
            return None
        peak = trunk.eta[start - 1]
        p = (np.arange(start + 1, steps + 1) - start) / max(1, steps - start)
        eta = np.concatenate([trunk.eta[:start], peak * np.interp(p, self.progress, self.factor)])
        return Schedule(eta, np.array([steps])), start


@dataclass(frozen=True)
class Point:
    """One (trunk, budget) point of an IsoFLOP profile."""

    trunk: str
    n_params: float
    budget: float  # the budget asked for
    flops: float  # the FLOPs of its run: ``steps`` steps at the trunk's FLOPs per step
    steps: int
    tokens: float
    loss: float  # the trained validation loss where ``source`` is "trained", else the predicted one
    predicted: float  # the law's validation loss (law + gap), trained or not; NaN where the law failed
    source: str  # "trained" | "predicted"
    draws: tuple[float, ...] = ()  # ``predicted`` under each bootstrap draw of the law (see :func:`profiles`)

    @property
    def loss_draws(self) -> tuple[float, ...]:
        """The point's loss under each draw of the law: a trained point keeps its trained loss."""
        return tuple(self.loss for _ in self.draws) if self.source == "trained" else self.draws


@dataclass(frozen=True)
class TrunkLaw:
    """A trunk's law and what it gives: its points, or why it gives none (``error``)."""

    trunk: str
    n_params: float
    fit: CurveFit | None
    cooldowns: int  # trained cooldowns the law was fitted to
    points: tuple[Point, ...]
    skipped: tuple[str, ...]  # budgets with no point, each with its reason
    error: str = ""


@dataclass(frozen=True)
class Profiles:
    """Every trunk's points at the budgets asked for."""

    source: str
    budgets: tuple[float, ...]
    trunks: tuple[TrunkLaw, ...]
    draws: int = 0  # bootstrap draws of the law that every fitted trunk's points carry

    @property
    def points(self) -> tuple[Point, ...]:
        return tuple(p for t in self.trunks for p in t.points)

    def seed_agreement(self) -> dict[str, dict[str, float]]:
        """How well trunks of the same size (seeds) agree, point by point at the same budget: per source
        ("trained", "predicted"), the pairs compared and each point's σ in log loss (the rms of their
        differences over √2). Trained pairs measure the seed noise; predicted pairs, that noise as the law
        carries it plus the part of the law's error that differs between seeds. A form error that every
        seed of a size shares does not show here."""
        by: dict[tuple[float, float], list[Point]] = {}
        for p in self.points:
            by.setdefault((p.n_params, p.budget), []).append(p)
        diffs: dict[str, list[float]] = {"trained": [], "predicted": []}
        for pts in by.values():
            for i, a in enumerate(pts):
                for b in pts[i + 1 :]:
                    if a.source == b.source and a.loss > 0 and b.loss > 0:
                        diffs[a.source].append(float(np.log(a.loss / b.loss)))
        return {k: {"pairs": len(v), "sigma": float(np.sqrt(np.mean(np.square(v)) / 2))} for k, v in diffs.items() if v}

    def loss_draws(self) -> np.ndarray | None:
        """Every point's loss under each draw of the law, shape (:attr:`draws`, points), in the order of
        :meth:`frame` ("all"), for :attr:`isoflop.laws.table.RunTable.draws`; a trunk whose law failed keeps
        its trained losses in every draw. None without draws."""
        if not self.draws:
            return None
        return np.array([p.loss_draws or (p.loss,) * self.draws for p in self.points], dtype=float).T

    def frame(self, which: str = "all") -> pd.DataFrame:
        """The points as a loss table (run, trunk, N, D, C, budget, loss, source, predicted), which
        :func:`~isoflop.load_runs` reads: ``which`` is "all", "trained" (the trained points only) or "law"
        (every point the law predicts, at its predicted loss)."""
        if which not in ("all", "trained", "law"):
            raise ValueError(f"which must be all, trained or law, not {which!r}")
        pts = [
            p
            for p in self.points
            if (which != "trained" or p.source == "trained") and (which != "law" or np.isfinite(p.predicted))
        ]
        return pd.DataFrame(
            {
                "run": [f"{p.trunk}@{p.budget:.4g}" for p in pts],
                "trunk": [p.trunk for p in pts],
                "N": [p.n_params for p in pts],
                "D": [p.tokens for p in pts],
                "C": [p.flops for p in pts],
                "budget": [p.budget for p in pts],
                "loss": [p.predicted if which == "law" else p.loss for p in pts],
                "source": [p.source for p in pts],
                "predicted": [p.predicted for p in pts],
            },
            columns=["run", "trunk", "N", "D", "C", "budget", "loss", "source", "predicted"],
        )


def trained_budgets(table: CurveTable) -> tuple[float, ...]:
    """The budgets the table's cooldowns trained (each branch's FLOPs at its end), those within
    :data:`SAME_BUDGET` of each other taken as one (their mean)."""
    ends = sorted(
        f
        for c in table.curves
        if c.parent is not None and c.final_val is not None
        for f in [_flops_per_step(table.full(c.run)) * c.end]
        if np.isfinite(f)
    )
    groups: list[list[float]] = []
    for f in ends:
        if groups and f <= groups[-1][0] * (1 + SAME_BUDGET):
            groups[-1].append(f)
        else:
            groups.append([f])
    return tuple(float(np.mean(g)) for g in groups)


def profiles(
    table: CurveTable,
    budgets: tuple[float, ...] | None = None,
    *,
    skip: float = 0.15,
    joint: bool = True,
    own: tuple[str, ...] = (),
    fit_runs=None,
    extend: bool = False,
    draws: int = 0,
    seed: int | None = 0,
    offset: bool = True,
) -> Profiles:
    """Each trunk's points at ``budgets`` (default :func:`trained_budgets`).

    Args:
        skip: the fraction of the trunk's first steps left out of its fit (see :func:`fit_curves`).
        joint: fit every trunk's law at once, with shared exponents (:func:`fit_joint`); else each alone.
        own: under ``joint``, the nonlinear parameters each trunk fits for itself (``fit_joint``'s ``own``;
            ``("alpha",)``: each trunk its own power-law exponent, the annealing shared).
        fit_runs: when given, only these branches are fitted to (the others stay trained points the law
            did not see, which is how ``benchmarks/bench_curves.py`` holds cooldowns out).
        extend: predict budgets past the step the trunk was grown to (its stable phase continued at its last
            LR) and below its shortest fitted cooldown as well: extrapolations in length, which
            ``benchmarks/bench_profiles.py`` measures; by default such budgets are skipped.
        draws: bootstrap draws of the law (0 for none): each refits the law to its curves with every
            curve's residuals flipped in sign at random (a wild bootstrap by curve, which keeps each curve's
            run of correlated residuals whole, and so the law's systematic misfit of that curve), warm-started
            at the fit, and gives every point its loss under that law (:attr:`Point.draws`). A draw in which
            a trunk's law fails is left out for every trunk.
        seed: the draws' random seed.
        offset: fit the law's offset S0 in the LR area (:mod:`isoflop.laws.curves.law`); False fits the
            paper's law (S0 = 0).

    Raises:
        FitError: no budget, or a budget that is not a positive number.
    """
    budgets = tuple(float(b) for b in (budgets if budgets is not None else trained_budgets(table)))
    if not budgets or not all(np.isfinite(b) and b > 0 for b in budgets):
        raise FitError(f"{table.source}: profiles need positive budgets (got {list(budgets)})")
    out: dict[str, TrunkLaw] = {}
    todo = []  # (trunk, its fitted branches, its observations)
    for trunk in (c for c in table.curves if c.parent is None and table.branches(c.run)):
        fitted = [b for b in table.trained_branches(trunk.run) if fit_runs is None or b.run in fit_runs]
        if not fitted:
            out[trunk.run] = TrunkLaw(
                trunk.run, trunk.n_params, None, 0, (), (), "no trained cooldown with a validation loss"
            )
            continue
        data = [observations(table, trunk.run, skip=skip)] + [observations(table, b.run) for b in fitted]
        todo.append((trunk, fitted, [d for d in data if d is not None]))
    if joint and todo:
        fits = fit_joint([d for _, _, d in todo], own=own, offset=offset)
    else:
        fits = [fit_multipower(d, offset=offset) for _, _, d in todo]
    for (trunk, fitted, _), fit in zip(todo, fits):
        out[trunk.run] = _trunk_points(table, trunk, fitted, fit, budgets, extend)
    made = 0
    if draws and todo:
        made, drawn = bootstrap_laws(
            [d for _, _, d in todo], fits, joint, draws, np.random.default_rng(seed), own, offset
        )
        for (trunk, fitted, _), fit, laws in zip(todo, fits, drawn):
            if fit.success and made:
                out[trunk.run] = _with_draws(out[trunk.run], table, trunk, fitted, laws, budgets, extend)
    trunks = [out[c.run] for c in table.curves if c.run in out]
    return Profiles(table.source, budgets, tuple(trunks), made)


def _with_draws(tl: TrunkLaw, table, trunk, fitted, laws: list[CurveFit], budgets, extend) -> TrunkLaw:
    """A trunk's points with their losses under each drawn law."""
    per = [
        {p.budget: p.predicted for p in _trunk_points(table, trunk, fitted, f, budgets, extend).points} for f in laws
    ]
    pts = tuple(replace(p, draws=tuple(float(d.get(p.budget, p.predicted)) for d in per)) for p in tl.points)
    return replace(tl, points=pts)


def _flops_per_step(full: Curve) -> float:
    """FLOPs per step from the rows' FLOPs, else 6·N·tokens per step."""
    if full.flops is not None and np.isfinite(full.flops).any():
        i = np.flatnonzero(np.isfinite(full.flops))[-1]
        return float(full.flops[i] / full.step[i])
    return float(6 * full.n_params * full.tokens[-1] / full.step[-1])


def _tolerance(budgets) -> float:
    """How far (in log FLOPs) a trained end may sit from a budget and still be that budget's point: half the
    closest spacing of the budgets (a sweep's runs land off their nominal budget by the rounding of their
    steps and shapes), and at least :data:`SAME_BUDGET`."""
    logs = np.sort(np.log(np.asarray(budgets, dtype=float)))
    half = 0.5 * float(np.diff(logs).min()) if logs.size > 1 else 0.0
    return max(half, float(np.log1p(SAME_BUDGET)))


def _nearest(trained: dict, fps: float, budget: float, tol: float):
    """The trained branch (by its end step) whose FLOPs are nearest ``budget`` within ``tol`` in log, or None."""
    best = min(trained.items(), key=lambda kv: abs(np.log(fps * kv[0] / budget)), default=None)
    return best[1] if best is not None and abs(np.log(fps * best[0] / budget)) < tol else None


def _trunk_points(
    table: CurveTable, trunk: Curve, fitted: list[Curve], fit: CurveFit, budgets, extend: bool = False
) -> TrunkLaw:
    """A trunk's points at ``budgets`` from its fitted law."""
    branches = list(table.trained_branches(trunk.run))
    full = {b.run: table.full(b.run) for b in branches}  # each branch's whole curve, once
    fps = _flops_per_step(full[branches[-1].run])
    tokens_per_step = float(trunk.tokens[-1] / trunk.step[-1])
    trained = {f.end: f for f in full.values()}
    tol = _tolerance(budgets)
    if not fit.success:  # its trained points stay, with no prediction
        hits = ((c, _nearest(trained, fps, c, tol)) for c in budgets)
        kept = [
            Point(
                trunk.run,
                trunk.n_params,
                c,
                fps * f.end,
                f.end,
                f.end * tokens_per_step,
                f.final_val,
                np.nan,
                "trained",
            )
            for c, f in hits
            if f is not None
        ]
        return TrunkLaw(trunk.run, trunk.n_params, fit, len(fitted), tuple(kept), (), fit.message)
    fulls = [full[b.run] for b in fitted]
    shape = Cooldown.of(fulls[-1], fitted[-1].branch_step or 0)
    ends = np.array([f.end for f in fulls], dtype=float)
    gaps = np.array([f.final_val - fit.law.predict(Schedule.from_rows(f.step, f.lr, [f.end]))[0] for f in fulls])
    slope = np.polyfit(np.log(ends), gaps, 1) if np.ptp(np.log(ends)) > 0.05 else np.array([0.0, gaps.mean()])
    grown = max([trunk.end] + [b.branch_step or 0 for b in branches])  # the trunk was grown to its last branch
    longest = max([int(round(c / fps)) for c in budgets] + [grown]) if extend else grown
    stable = Schedule.from_rows(trunk.step, trunk.lr, end=longest)
    points, skipped = [], []
    for c in budgets:
        hit = _nearest(trained, fps, c, tol)
        steps = hit.end if hit is not None else int(round(c / fps))  # a trained budget keeps its own steps
        made = shape.schedule(stable, steps)
        if made is None:
            skipped.append(f"{c:.3g}: its cooldown would start past step {grown}, as far as the trunk was grown")
            continue
        sched, start = made
        if hit is None and not extend and steps < ends.min() * (1 - SAME_BUDGET):
            skipped.append(f"{c:.3g}: its run would be shorter than any cooldown the trunk's law was fitted to")
            continue
        if sched.eta[start - 1] < 0.99 * stable.eta.max():
            skipped.append(f"{c:.3g}: its cooldown would start before the trunk's warmup ends")
            continue
        pred = float(fit.law.predict(sched)[0] + np.polyval(slope, np.log(steps)))
        src, loss = ("trained", float(hit.final_val)) if hit is not None and hit.final_val else ("predicted", pred)
        points.append(Point(trunk.run, trunk.n_params, c, fps * steps, steps, steps * tokens_per_step, loss, pred, src))
    return TrunkLaw(trunk.run, trunk.n_params, fit, len(fitted), tuple(points), tuple(skipped))


def check_against(prof: Profiles, runs: pd.DataFrame) -> pd.DataFrame:
    """The profile's points against trained ends of the same trunks at the same budgets, in another sweep
    folder's runs table (:func:`isoflop.runs.store.runs_frame`: ``trunk_id``, ``budget``, ``loss``, ``status``)
    or this one's, matched by trunk and nominal budget: one row per point that has a trained end (run, trunk, N, budget, predicted, trained, error, and
    ``fitted``, whether the law was fitted to that end). Trained points check the law, never the other way round.
    """
    ok = runs[(runs["status"] == "ok") & runs["trunk_id"].fillna("").astype(str).ne("") & runs["loss"].notna()]
    ends: dict[str, list[tuple[float, float]]] = {}
    for tid, c, loss in zip(ok["trunk_id"].astype(str), ok["budget"].astype(float), ok["loss"].astype(float)):
        ends.setdefault(tid.removeprefix("trunk:"), []).append((c, loss))
    rows = []
    for p in prof.points:
        hit = [loss for c, loss in ends.get(p.trunk.removeprefix("trunk:"), []) if abs(c / p.budget - 1) <= SAME_BUDGET]
        if hit and np.isfinite(p.predicted):
            trained = float(np.mean(hit))
            rows.append(
                {
                    "run": f"{p.trunk}@{p.budget:.4g}",
                    "trunk": p.trunk,
                    "N": p.n_params,
                    "budget": p.budget,
                    "predicted": p.predicted,
                    "trained": trained,
                    "error": p.predicted / trained - 1,
                    "fitted": p.source == "trained",
                }
            )
    return pd.DataFrame(rows, columns=["run", "trunk", "N", "budget", "predicted", "trained", "error", "fitted"])
