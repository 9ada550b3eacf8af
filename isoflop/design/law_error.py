"""The loss-curve law's error where a ``cooldowns = "law"`` design predicts a point, as the planner simulates it,
and its measurement on a law folder against trained cooldowns of the same trunks.

The model: each trunk's points between two consecutive trained budgets lo < C < hi are off, in log loss, by a
bump A·4p(1 − p), p = ln(C/lo)/ln(hi/lo) the point's place between them, with A = a·ln(hi/lo) (the bump grows
with the gap it bridges) and a drawn once per trunk from a normal (mean, sd). A trained point is off by nothing:
the law is anchored there. With two trained cooldowns per trunk (``law_cooldowns = 2``) there is one gap, the
whole range of its budgets; with three, two gaps of about half of it.

How the bump grows with the gap was chosen by measurement (:func:`measure_bump`, printed by
``benchmarks/bench_plan_law.py``): on ``results/answer-law`` (two cooldowns per trunk, gaps of 8×) and
``results/answer-law3`` (three, gaps of about 2.8×), each against the trained cooldowns of the same trunks in
``results/answer``. With A = a·ln(hi/lo)², the per-trunk a had sd 0.0033 on the first folder and 0.0075 on
the second, so a model measured on two cooldowns made the third look 2.3× better than it was; with
A = a·ln(hi/lo), 0.0062 and 0.0069: the same. Those were the paper's law; with the law's offset S0
(:mod:`isoflop.laws.curves.law`) the same measurement gives sd 0.0021 and 0.0027 with A = a·ln(hi/lo) (0.0014 and
0.0031 with the square), and means within 0.001 of zero: the bump is a third of what it was and mostly no bump
at all, but noise (the law folders' trunks against ``results/answer``'s trained ends of the same trunks, which
differ by their own seed noise). :data:`LAW_BUMP` is that measurement pooled over the 26 trunks of both
folders; two folders of one corpus and family, so a planning assumption, not a law.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: (mean, sd) of a trunk's a in A = a·ln(hi/lo) (see the module docstring): the 26 trunks of
#: ``results/answer-law`` and ``results/answer-law3`` against ``results/answer`` (``bench_plan_law.py``), the
#: law with its offset S0 (the paper's law gave (0.0042, 0.0067)).
LAW_BUMP = (-0.0003, 0.0024)


def bracket(budget: float, trained) -> tuple[float, float, float] | None:
    """The trained budgets (lo, hi) either side of ``budget`` and its place p in log C between them; None
    where ``budget`` is not strictly between two of ``trained`` (it was trained, or lies outside them)."""
    tb = np.unique(np.asarray(list(trained), dtype=float))
    if tb.size < 2 or not tb[0] < budget < tb[-1] or np.any(np.isclose(tb, budget, rtol=1e-9, atol=0)):
        return None
    j = int(np.searchsorted(tb, budget))
    lo, hi = float(tb[j - 1]), float(tb[j])
    return lo, hi, float(np.log(budget / lo) / np.log(hi / lo))


def bump(lo: float, hi: float, p: float, power: float = 1.0) -> float:
    """The bump's shape for a unit a: ln(hi/lo)·4p(1 − p) (``power``: the gap's exponent, 1 in the model;
    ``benchmarks/bench_plan_law.py`` also measures 2)."""
    return float(np.log(hi / lo) ** power * 4 * p * (1 - p))


def _trained_by_trunk(trained) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for s in trained:
        out.setdefault(str(s.trunk_id), []).append(float(s.budget))
    return out


def _brackets(grid, trained, by: dict[str, list[float]]) -> list[tuple[float, float, float] | None]:
    """Each grid point's :func:`bracket` among its trunk's trained budgets (``by``, from
    :func:`_trained_by_trunk`); None where it was trained."""
    ran = {s.run_id for s in trained}
    return [None if s.run_id in ran else bracket(float(s.budget), by.get(str(s.trunk_id), ())) for s in grid]


def law_errors(grid, trained, law_bump: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """The law's error (in log loss) at each point of a ``cooldowns = "law"`` grid (run specs with
    ``trunk_id``, ``budget`` and ``run_id``): 0 where the point was trained or lies outside its trunk's trained
    budgets, else a·:func:`bump` between the trained budgets either side of it, a drawn per trunk from a normal
    of ``law_bump`` = (mean, sd)."""
    by = _trained_by_trunk(trained)
    a = {t: float(rng.normal(*law_bump)) for t in sorted(by)}
    return np.array(
        [0.0 if b is None else a[str(s.trunk_id)] * bump(*b) for s, b in zip(grid, _brackets(grid, trained, by))]
    )


def law_noise(grid, trained, noise: np.ndarray) -> np.ndarray:
    """The runs' noise (log loss) as a law grid carries it: a trained point its own; a predicted one the
    noise of its trunk's trained ends either side of it, interpolated at its place between them (the law is
    anchored at those ends and has no noise of its own); any other point its own."""
    at = {(str(s.trunk_id), float(s.budget)): i for i, s in enumerate(grid)}
    out = np.array(noise, dtype=float)
    for i, (s, b) in enumerate(zip(grid, _brackets(grid, trained, _trained_by_trunk(trained)))):
        if b is None:
            continue
        j, k = at.get((str(s.trunk_id), b[0])), at.get((str(s.trunk_id), b[1]))
        if j is not None and k is not None:
            out[i] = (1 - b[2]) * noise[j] + b[2] * noise[k]
    return out


@dataclass(frozen=True)
class BumpMeasure:
    """Each trunk's a (least squares of its points' log errors on :func:`bump`), and their mean and sd."""

    per_trunk: dict
    points: int

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_trunk.values())))

    @property
    def sd(self) -> float:
        v = list(self.per_trunk.values())
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")

    def describe(self) -> str:
        return f"a ~ N({self.mean:.4f}, {self.sd:.4f}) over {len(self.per_trunk)} trunks ({self.points} points)"


def measure_bump(check: pd.DataFrame, power: float = 1.0) -> BumpMeasure:
    """The bump's a per trunk, from a law's points against trained ends of the same trunks
    (:func:`isoflop.laws.curves.profiles.check_against`: ``trunk``, ``budget``, ``error``, ``fitted``): each
    trunk's held-out points between its fitted budgets give a = Σ e·f / Σ f², e = ln(1 + error), f their
    :func:`bump` (with the gap to ``power``). A trunk with no held-out point between its fitted budgets gives
    none."""
    per: dict[str, float] = {}
    points = 0
    for trunk, g in check.groupby("trunk"):
        is_fitted = g["fitted"].astype(bool)
        fitted = g.loc[is_fitted, "budget"].astype(float)
        e, f = [], []
        for c, err, fit in zip(g["budget"].astype(float), g["error"].astype(float), is_fitted):
            b = None if fit else bracket(c, fitted)
            if b is not None and np.isfinite(err):
                e.append(np.log1p(err))
                f.append(bump(*b, power=power))
        if f:
            fa = np.array(f)
            per[str(trunk)] = float(np.dot(e, fa) / np.dot(fa, fa))
            points += len(f)
    return BumpMeasure(per, points)
