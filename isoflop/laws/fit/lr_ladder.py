"""Fit an LR ladder: the loss-minimising peak LR of each size, and the power law η*(N) through them.

Each (size, budget) of a ladder was trained at a grid of peak LRs. Its optimum η* is the vertex of a
quadratic in log10 η through the grid point with the lowest loss and its two neighbours (seeds averaged
first), the same estimator Approach 2 applies to an IsoFLOP profile. A size whose lowest loss sits at an
end of its grid has no vertex inside it and is left out of the law with that reason. The law
log10 η* = log10 η₀ − γ·log10(N / N₀) is then fitted by least squares over the sizes that have one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from isoflop.errors import FitError
from isoflop.laws.fit.powerlaw import find_optimal_params, fit_linear_log
from isoflop.laws.lr_rule import LRRule


@dataclass(frozen=True)
class LadderPoint:
    """One size at one budget: its LR grid, the mean loss at each LR, and the optimum.

    Attributes:
        n_params, budget: the size N and the budget C of the runs.
        lrs, losses: the grid's peak LRs (ascending) and the mean final loss at each.
        lr_opt, loss_opt: the vertex (NaN unless ``status`` is "ok").
        curvature: the vertex parabola's coefficient of (log10 η)², in loss per decade² (NaN unless "ok"): the
            loss a factor r off the vertex gives up is curvature · log10(r)².
        status: "ok", "edge" (the lowest loss is at an end of the grid) or "too few" (under 3 LRs).
        reason: why a point is left out ("" when ok).
    """

    n_params: float
    budget: float
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    lr_opt: float = math.nan
    loss_opt: float = math.nan
    status: str = "ok"
    reason: str = ""
    curvature: float = math.nan


@dataclass(frozen=True)
class LadderFit:
    """Every (size, budget) point, and the rule fitted to those with a vertex (None, with ``message``, when
    fewer than two sizes have one)."""

    points: tuple[LadderPoint, ...]
    rule: LRRule | None
    message: str = "ok"

    @property
    def used(self) -> tuple[LadderPoint, ...]:
        return tuple(p for p in self.points if p.status == "ok")


def ladder_point(n_params: float, budget: float, lr, loss) -> LadderPoint:
    """The optimum of one size's LR grid (seeds at one LR are averaged)."""
    lr, loss = np.asarray(lr, dtype=float), np.asarray(loss, dtype=float)
    grid = np.unique(lr)
    mean = np.array([loss[lr == g].mean() for g in grid])
    base = LadderPoint(float(n_params), float(budget), tuple(map(float, grid)), tuple(map(float, mean)))
    if grid.size < 3:
        return _out(base, "too few", f"{grid.size} learning rates; a vertex needs 3")
    i = int(np.argmin(mean))
    if i in (0, grid.size - 1):
        side = "lowest" if i == 0 else "highest"
        return _out(base, "edge", f"the lowest loss is at the {side} LR of the grid ({grid[i]:.3g}); widen the grid")
    lo, hi = i - 1, i + 2  # the minimum and its two neighbours: LR curves are steeper above the optimum than
    # below it, so a wider window drags a quadratic's vertex off the lowest point
    q = find_optimal_params(grid[lo:hi], mean[lo:hi])
    if not (q.curvature > 0 and grid[lo] <= q.x_opt <= grid[hi - 1]):
        return _out(base, "edge", "the parabola about the lowest loss has no minimum inside the grid")
    return LadderPoint(
        base.n_params, base.budget, base.lrs, base.losses, float(q.x_opt), float(q.y_opt), curvature=float(q.curvature)
    )


def _out(p: LadderPoint, status: str, reason: str) -> LadderPoint:
    return LadderPoint(p.n_params, p.budget, p.lrs, p.losses, status=status, reason=reason)


def fit_lr_ladder(n_params, budget, lr, loss, source: str = "") -> LadderFit:
    """Fit η*(N) = η₀·(N/N₀)^(−γ) to a ladder's runs.

    Args:
        n_params, budget, lr, loss: one entry per finished run (size N, budget C, peak LR, final loss).
        source: where the runs came from, kept in the rule.

    Raises:
        FitError: arrays of different lengths, or non-positive or non-finite values.
    """
    arrays = [np.asarray(a, dtype=float) for a in (n_params, budget, lr, loss)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise FitError("n_params, budget, lr and loss must be 1-D and of one length")
    n, c, eta, y = arrays
    if not (np.all(np.isfinite(arrays)) and np.all(n > 0) and np.all(c > 0) and np.all(eta > 0)):
        raise FitError("a ladder's sizes, budgets and LRs must be finite and positive, and its losses finite")
    points = []
    for ni, c_i in sorted({(float(a), float(b)) for a, b in zip(n, c)}):
        m = (n == ni) & (c == c_i)
        points.append(ladder_point(ni, c_i, eta[m], y[m]))
    used = [p for p in points if p.status == "ok"]
    sizes = sorted({p.n_params for p in used})
    if len(sizes) < 2:
        return LadderFit(tuple(points), None, f"{len(sizes)} size(s) with an optimum inside the grid; the law needs 2")
    x = np.array([p.n_params for p in used])
    v = np.array([p.lr_opt for p in used])
    n0 = float(10 ** np.log10(x).mean())
    line = fit_linear_log(x / n0, v)
    ci: tuple[float, float] = (math.nan, math.nan)
    if len(used) > 2:
        u = np.log10(x / n0)
        resid = np.log10(v) - (line.intercept + line.slope * u)
        se = math.sqrt(float(resid @ resid) / (len(u) - 2) / float(((u - u.mean()) ** 2).sum()))
        t = float(stats.t.ppf(0.975, len(u) - 2))
        ci = (-line.slope - t * se, -line.slope + t * se)
    rule = LRRule(
        eta0=float(10**line.intercept),
        n0=n0,
        gamma=float(-line.slope),
        gamma_ci=ci,
        sizes=len(sizes),
        source=source,
        lo=float(x.min()),
        hi=float(x.max()),
    )
    return LadderFit(tuple(points), rule)
