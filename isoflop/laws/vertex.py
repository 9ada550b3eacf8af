"""A budget's own optimum, as its IsoFLOP parabolas show it, with the uncertainty of reading it off a few runs.

The reference against which a backtest scores a prediction: the vertex of the held-out budget's parabolas in
log N and log D, and an interval for it from that budget's own runs.

Two things move a vertex read off a handful of runs, and the interval holds both, each side the wider of two
intervals:

- **The noise of the losses:** the scatter of the runs about their parabola near it, at that budget. A table's
  residuals pooled over budgets do not measure it: on Porian et al.'s tables the small budgets' profiles reach
  losses of 10 nats and misfit a parabola by 0.05–0.14 nats, while the top budget's runs sit within
  0.001–0.004 nats of theirs, so a pooled σ made every vertex look 20–50× less certain than it is. The budget's
  own residuals leave few degrees of freedom (n − 3: 2 or 3 with 5 or 6 runs), so σ is not taken as known: each
  redraw first draws σ² from its posterior given the residuals, SS/χ²(n − 3), and then the losses, which gives
  the vertex's interval the heavy tails of so few runs (:func:`noise_interval`).
- **How much the vertex leans on single runs:** the redraws above assume the parabola is the profile's shape and
  its residuals are noise. A real profile is not a parabola in log N (it rises faster on one side), and where a
  budget's minimum lies near the edge of its sizes, as at the top budgets of Porian et al.'s tables, the vertex
  rests on the one or two runs past it. The delete-one-run jackknife measures that without assuming the form:
  the vertex refitted without each run in turn, its variance (n − 1)/n · Σ(θ₋ᵢ − θ̄)² in log N, and a Student
  interval with n − 1 degrees of freedom about the vertex (:func:`jackknife_interval`).

Where the parabola and its noise do describe the runs, the jackknife adds a little: on Hoffmann et al.'s surface
(lopsided profiles, α ≠ β) sampled like Porian et al.'s budgets (5–8 sizes over 0.8–1.2 decades, off-centre by up
to 0.4, 0.002 or 0.01 nats of noise), the noise interval alone held the true optimum in 93.6% of 593 budgets at a
median 1.20x wide, and both together in 96.0% at 1.28x (``tests/laws/test_vertex.py`` checks this on 100). On the
48 held-out vertices of the real tables shipped it adds more, which is the point: their median width goes from
1.19x to 1.40x, and the widest (2.4–2.7x) are top budgets whose minimum sits by their largest model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.laws.fit.bootstrap import percentile_interval
from isoflop.laws.fit.isoflop import BudgetFit, fit_budget, jackknife_vertices

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
    """The vertex of one budget's parabolas and its own 95% interval (None when the profile is not ``ok``).

    Each side of the interval is the wider of :func:`noise_interval`'s and :func:`jackknife_interval`'s (see the
    module docstring). With no residual degree of freedom left (3 runs), or too few redraws with a vertex, there
    is no interval.
    """
    n, d, l = (np.asarray(x, dtype=float) for x in (n, d, l))
    bf = fit_budget(flops, n, d, l)
    if bf.status != "ok" or bf.coeffs is None:
        return None
    noise = noise_interval(bf, n, d, rng, n_resamples)
    if noise is None:
        return Vertex(float(flops), bf.optimal_params, bf.optimal_tokens, None, None, bf.min_loss, int(n.size))
    jack = jackknife_interval(bf, n, d, l)
    pci, tci = (_wider(a, b) for a, b in zip(noise, jack))
    return Vertex(float(flops), bf.optimal_params, bf.optimal_tokens, pci, tci, bf.min_loss, int(n.size))


def noise_interval(bf: BudgetFit, n, d, rng: np.random.Generator, n_resamples: int = VERTEX_RESAMPLES):
    """The intervals of the N and D vertices under the noise of the losses: a parametric bootstrap.

    The budget's losses are redrawn as its fitted parabola plus normal noise whose variance is drawn, each time,
    from its posterior given the parabola's residuals (SS/χ² with n − 3 degrees of freedom), refitted, and the
    vertex's 95% percentile interval taken (resamples whose vertex leaves the sampled range count at the range's
    edge).

    Returns:
        (N interval, D interval), either None when fewer than half the redraws give a vertex; None when the
        parabola leaves no residual degree of freedom.
    """
    dof = n.size - 3
    ss = bf.residual_rms**2 * n.size
    if dof < 1 or not ss > 0 or bf.coeffs is None:
        return None
    fitted = np.polyval(bf.coeffs, np.log10(n))
    pn, pd_ = [], []
    for _ in range(n_resamples):
        sigma = np.sqrt(ss / rng.chisquare(dof))
        b = fit_budget(bf.flops, n, d, fitted + rng.normal(0.0, sigma, n.size))
        if b.status in ("ok", "edge"):
            pn.append(np.clip(b.optimal_params, n.min(), n.max()))
            pd_.append(np.clip(b.optimal_tokens, d.min(), d.max()))
    enough = len(pn) >= n_resamples // 2

    def ci(v) -> tuple[float, float] | None:
        iv = percentile_interval(np.log(v), 0.95) if enough else None
        return None if iv is None else (float(np.exp(iv[0])), float(np.exp(iv[1])))

    return ci(pn), ci(pd_)


def jackknife_interval(bf: BudgetFit, n, d, l, level: float = 0.95):
    """The intervals of the N and D vertices from the delete-one-run jackknife.

    The parabolas refitted without each run in turn (a vertex that leaves the sampled range counts at its edge);
    the jackknife variance (m − 1)/m · Σ(θ₋ᵢ − θ̄)² of log θ over the m refits that give a vertex; and the Student
    interval with m − 1 degrees of freedom about the whole budget's vertex.

    Returns:
        (N interval, D interval), each None when fewer than 3 refits give a vertex.
    """
    from scipy import stats

    ln, ld = jackknife_vertices(bf, n, d, l)
    m = len(ln)
    if m < 3:
        return None, None
    t = float(stats.t.ppf(0.5 + level / 2, m - 1))

    def ci(theta, est) -> tuple[float, float]:
        h = t * np.sqrt((m - 1) / m * np.sum((np.asarray(theta) - np.mean(theta)) ** 2))
        return float(est * np.exp(-h)), float(est * np.exp(h))

    return ci(ln, bf.optimal_params), ci(ld, bf.optimal_tokens)


def _wider(a: tuple | None, b: tuple | None) -> tuple | None:
    """Each side the wider of intervals ``a`` and ``b`` (``a`` when ``b`` is None; None when ``a`` is)."""
    if a is None or b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))
