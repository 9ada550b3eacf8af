"""A budget's own optimum, as its IsoFLOP parabolas show it, with the uncertainty of reading it off a few runs.

The reference against which a backtest scores a prediction: the vertex of the held-out budget's parabolas in
log N and log D, and an interval for it from that budget's own parabola residuals.

The noise that moves a vertex is the scatter of the runs about their parabola near it, at that budget. A
table's residuals pooled over budgets do not measure it: on Porian et al.'s tables the small budgets' profiles
reach losses of 10 nats and misfit a parabola by 0.05–0.14 nats, while the top budget's runs sit within
0.001–0.004 nats of theirs, so a pooled σ made every vertex look 20–50× less certain than it is. The budget's
own residuals leave few degrees of freedom (n − 3: 2 or 3 with 5 or 6 runs), so σ is not taken as known: each
redraw first draws σ² from its posterior given the residuals, SS/χ²(n − 3), and then the losses, which gives the
vertex's interval the heavy tails of so few runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.laws.fit.bootstrap import percentile_interval
from isoflop.laws.fit.isoflop import fit_budget

#: Redraws of a budget's losses for its vertex's own interval.
VERTEX_RESAMPLES = 200


@dataclass(frozen=True)
class Vertex:
    """A held-out budget's own optimum: the vertex of its IsoFLOP parabolas, with a bootstrap interval.

    Attributes:
        flops: the budget C.
        params, tokens: N and D at the vertices of the parabolas in log N and log D.
        params_ci, tokens_ci: 95% intervals of the vertices (see :func:`observed_vertex`; None when too few
            redraws give a vertex, or the parabola leaves no residual degree of freedom).
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


def observed_vertex(
    flops: float, n, d, l, rng: np.random.Generator, n_resamples: int = VERTEX_RESAMPLES
) -> Vertex | None:
    """The vertex of one budget's parabolas and its own interval (None when the profile is not ``ok``).

    The interval is a parametric bootstrap: the budget's losses redrawn as its fitted parabola plus normal noise
    whose variance is drawn, each time, from its posterior given the parabola's residuals (SS/χ² with n − 3
    degrees of freedom), refitted, and the vertex's 95% percentile interval taken (resamples whose vertex leaves
    the sampled range count at the range's edge). With no degree of freedom left (3 runs) there is no interval.
    """
    n, d, l = (np.asarray(x, dtype=float) for x in (n, d, l))
    bf = fit_budget(flops, n, d, l)
    if bf.status != "ok" or bf.coeffs is None:
        return None
    dof = n.size - 3
    ss = bf.residual_rms**2 * n.size
    if dof < 1 or not ss > 0:
        return Vertex(float(flops), bf.optimal_params, bf.optimal_tokens, None, None, bf.min_loss, int(n.size))
    fitted = np.polyval(bf.coeffs, np.log10(n))
    pn, pd_ = [], []
    for _ in range(n_resamples):
        sigma = np.sqrt(ss / rng.chisquare(dof))
        b = fit_budget(flops, n, d, fitted + rng.normal(0.0, sigma, n.size))
        if b.status in ("ok", "edge"):
            pn.append(np.clip(b.optimal_params, n.min(), n.max()))
            pd_.append(np.clip(b.optimal_tokens, d.min(), d.max()))
    enough = len(pn) >= n_resamples // 2

    def ci(v) -> tuple[float, float] | None:
        iv = percentile_interval(np.log(v), 0.95) if enough else None
        return None if iv is None else (float(np.exp(iv[0])), float(np.exp(iv[1])))

    return Vertex(float(flops), bf.optimal_params, bf.optimal_tokens, ci(pn), ci(pd_), bf.min_loss, int(n.size))
