"""A budget's own optimum, as its IsoFLOP parabolas show it, with the uncertainty of reading it off a few runs.

The reference against which a backtest scores a prediction: the vertex of the held-out budget's parabolas in
log N and log D, and an interval for it from the table's pooled parabola residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.laws.fit.bootstrap import percentile_interval
from isoflop.laws.fit.isoflop import fit_budget
from isoflop.laws.reliability import reference_fits
from isoflop.laws.table import RunTable

#: Redraws of a budget's losses for its vertex's own interval.
VERTEX_RESAMPLES = 200


@dataclass(frozen=True)
class Vertex:
    """A held-out budget's own optimum: the vertex of its IsoFLOP parabolas, with a bootstrap interval.

    Attributes:
        flops: the budget C.
        params, tokens: N and D at the vertices of the parabolas in log N and log D.
        params_ci, tokens_ci: 95% intervals of the vertices (see :func:`observed_vertex`; None when too few
            redraws give a vertex, or the table has no pooled residual).
        loss: the loss at the N vertex.
        n_runs: runs at the budget.
    """

    flops: float
    params: float
    tokens: float
    params_ci: tuple | None
    tokens_ci: tuple | None
    loss: float
    n_runs: int


def pooled_scatter(table: RunTable) -> float:
    """The residual σ of the table's IsoFLOP parabolas, pooled over its reference budgets: Σ SS / Σ (n_b − 3).

    One budget's own residuals leave too few degrees of freedom (3 with 6 runs) to measure its vertex's
    uncertainty; the pooled σ has one per run beyond the parabolas' parameters, over the whole table.
    """
    ss = dof = 0.0
    for b in reference_fits(table).values():
        ss += b.residual_rms**2 * b.n_points
        dof += b.n_points - 3
    return float(np.sqrt(ss / dof)) if dof > 0 else float("nan")


def observed_vertex(flops: float, n, d, l, rng: np.random.Generator, sigma: float,
                    n_resamples: int = VERTEX_RESAMPLES) -> Vertex | None:
    """The vertex of one budget's parabolas and its own interval (None when the profile is not ``ok``).

    The interval is a parametric bootstrap: the budget's losses redrawn as its fitted parabola plus normal noise
    of the table's pooled residual σ (:func:`pooled_scatter`), refitted, and the vertex's 95% percentile interval
    taken (resamples whose vertex leaves the sampled range count at the range's edge).
    """
    n, d, l = (np.asarray(x, dtype=float) for x in (n, d, l))
    bf = fit_budget(flops, n, d, l)
    if bf.status != "ok":
        return None
    if not np.isfinite(sigma) or sigma <= 0:
        return Vertex(float(flops), bf.optimal_params, bf.optimal_tokens, None, None, bf.min_loss, int(n.size))
    u = np.log10(n)
    fitted = np.polyval(bf.coeffs, u)
    pn, pd_ = [], []
    for _ in range(n_resamples):
        b = fit_budget(flops, n, d, fitted + rng.normal(0.0, sigma, n.size))
        if b.status in ("ok", "edge"):
            pn.append(np.clip(b.optimal_params, n.min(), n.max()))
            pd_.append(np.clip(b.optimal_tokens, d.min(), d.max()))
    enough = len(pn) >= n_resamples // 2
    ci = lambda v: tuple(float(x) for x in np.exp(percentile_interval(np.log(v), 0.95))) if enough else None  # noqa: E731
    return Vertex(float(flops), bf.optimal_params, bf.optimal_tokens, ci(pn), ci(pd_), bf.min_loss, int(n.size))
