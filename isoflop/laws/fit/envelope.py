"""Approach 1: the lower envelope of loss against compute (Hoffmann et al. 2022, Section 3.1).

Without training curves, each budget contributes its lowest-loss run (N, D); when runs are seeds of one
(N, C) point, its lowest point, with the seeds' losses averaged.
With per-step curves, loss is interpolated for every run at log-spaced FLOP
values; at each value the run with the lowest loss gives (N, D) there, as
Chinchilla did with its 1,500 log-spaced FLOP values. Values where the best
run is the smallest or largest model are dropped: there the envelope is an
artefact of the grid's ends. Power laws through
these points give N_opt ∝ C^a and D_opt ∝ C^b.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.laws.fit.bootstrap import batched_line
from isoflop.laws.fit.powerlaw import LossLaw, PowerLaw, batched_loss_law, fit_loss_law, fit_power_law


@dataclass(frozen=True)
class EnvelopeFit:
    """Approach 1 result.

    Attributes:
        flops: C of each envelope point, in FLOPs.
        optimal_params: N of the best run at each point, in parameters.
        optimal_tokens: D of the best run at each point, in tokens.
        min_loss: the envelope's loss at each point, in nats per token.
        params_law, tokens_law: power laws through the points.
        loss_law: L* = E + k·C^γ through the envelope's losses.
        source: "lowest-loss run per budget", "lowest-loss point per budget (mean over its seeds)" or
            "envelope of training curves".
    """

    flops: np.ndarray
    optimal_params: np.ndarray
    optimal_tokens: np.ndarray
    min_loss: np.ndarray
    params_law: PowerLaw
    tokens_law: PowerLaw
    loss_law: LossLaw
    source: str

    def predict(self, flops) -> dict[str, np.ndarray]:
        """N_opt, D_opt and the minimum loss at budgets C (FLOPs)."""
        return {
            "optimal_params": self.params_law.predict(flops),
            "optimal_tokens": self.tokens_law.predict(flops),
            "loss": self.loss_law.predict(flops),
        }


def _curve_grid(curves, n_runs: int, n_points: int):
    """Loss and tokens of every run interpolated at log-spaced FLOP values.

    Returns (grid C of shape (K,), loss (n, K) with +inf where a run does not
    reach C, tokens (n, K)).
    """
    lo = curves["flops"][curves["flops"] > 0].min()
    hi = curves["flops"].max()
    grid = np.logspace(np.log10(lo), np.log10(hi), n_points)
    L = np.full((n_runs, n_points), np.inf)
    T = np.full((n_runs, n_points), np.nan)
    for run, g in curves.groupby("run"):
        g = g[g["flops"] > 0].sort_values("flops")
        if len(g) < 2:
            continue
        lc = np.log(g["flops"].to_numpy(float))
        inside = (np.log(grid) >= lc[0]) & (np.log(grid) <= lc[-1])
        L[int(run), inside] = np.interp(np.log(grid[inside]), lc, g["loss"].to_numpy(float))
        if "tokens" in g:
            T[int(run), inside] = np.interp(np.log(grid[inside]), lc, g["tokens"].to_numpy(float))
    return grid, L, T


def _interior(L: np.ndarray, n: np.ndarray) -> np.ndarray:
    """FLOP values where the envelope's best run is neither the smallest nor the
    largest model. At the ends of the range the envelope is set by which curves
    happen to exist there, not by the optimum (the analogue of an ``edge``
    IsoFLOP budget), so those points are left out of the laws."""
    reach = np.isfinite(L).any(axis=0)
    best = np.argmin(np.where(np.isfinite(L), L, np.inf), axis=0)
    return reach & (n[best] > n.min()) & (n[best] < n.max())


def _point_means(l: np.ndarray, pts: np.ndarray, ii: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean loss of each point ``ids`` over the runs ``ii`` (rows: resamples), inf where a point drew no run."""
    hot = pts[ii][..., None] == ids  # (..., runs, points)
    count = hot.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (l[ii][..., None] * hot).sum(axis=-2) / count
    return np.where(count > 0, mean, np.inf)


def fit_envelope(n_params, n_tokens, loss, budget, *, curves=None, n_points: int = 200, points=None) -> EnvelopeFit:
    """Approach 1: optimal (N, D) from the lowest loss reached at each compute.

    Args:
        n_params, n_tokens, loss: per run (parameters, tokens, nats per token).
        budget: nominal budget C per run, in FLOPs (used without curves).
        curves: optional DataFrame with columns ``run`` (0-based index into
            the arrays), ``flops`` and ``loss``, and optionally ``tokens``;
            one row per logged step.
        n_points: number of log-spaced FLOP values on the envelope.
        points: without curves, the (N, C) point of each run: several seeds of one point count as one
            run with their mean loss (the lowest of several noisy seeds is biased low).

    Returns:
        An :class:`EnvelopeFit`.
    """
    n, d, l, c = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, loss, budget))
    if curves is None or len(curves) == 0:
        values, inv = np.unique(c, return_inverse=True)
        pts = np.arange(n.size) if points is None else np.asarray(points)
        fn, fd, fl = (np.empty(values.size) for _ in range(3))
        for k in range(values.size):
            rows = np.flatnonzero(inv == k)
            ids = np.unique(pts[rows])
            means = _point_means(l, pts, rows, ids)
            j = rows[pts[rows] == ids[np.argmin(means)]][0]
            fn[k], fd[k], fl[k] = n[j], d[j], means.min()
        fc = values
        source = (
            "lowest-loss run per budget"
            if points is None or np.unique(pts).size == pts.size
            else "lowest-loss point per budget (mean over its seeds)"
        )
    else:
        grid, L, T = _curve_grid(curves, n.size, n_points)
        reach = _interior(L, n)
        j = np.argmin(L[:, reach], axis=0)
        fc = grid[reach]
        fn = n[j]
        tok = T[j, np.flatnonzero(reach)]
        fd = np.where(np.isfinite(tok), tok, fc / (6.0 * fn))
        fl = L[j, np.flatnonzero(reach)]
        source = "envelope of training curves"
    return EnvelopeFit(fc, fn, fd, fl, fit_power_law(fc, fn), fit_power_law(fc, fd), fit_loss_law(fc, fl), source)


def bootstrap_envelope(
    fit: EnvelopeFit,
    n_params,
    n_tokens,
    loss,
    budget,
    idx: np.ndarray,
    *,
    curves=None,
    n_points: int = 200,
    points=None,
) -> dict[str, np.ndarray]:
    """Approach 1 refitted on resamples (stratified run indices ``idx``, shape (R, n)).

    Returns arrays of shape (R,) keyed like
    :func:`isoflop.laws.fit.isoflop.bootstrap_isoflops_residuals`.
    """
    n, d, l, c = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, loss, budget))
    if curves is None or len(curves) == 0:
        values = fit.flops
        x = np.log10(values)
        # Per budget: its lowest point in the resample (a point's loss: the mean of its resampled seeds).
        pts = np.arange(n.size) if points is None else np.asarray(points)
        vn = np.empty((idx.shape[0], values.size))
        vd, vl = np.empty_like(vn), np.empty_like(vn)
        for k, cv in enumerate(values):
            rows = np.flatnonzero(c == cv)
            ids = np.unique(pts[rows])
            means = _point_means(l, pts, idx[:, rows], ids)  # (R, points)
            first = np.array([rows[pts[rows] == i][0] for i in ids])
            best = first[np.argmin(means, axis=1)]
            vn[:, k], vd[:, k], vl[:, k] = n[best], d[best], means.min(axis=1)
    else:
        grid, L, T = _curve_grid(curves, n.size, n_points)
        reach = _interior(L, n)
        x = np.log10(grid[reach])
        Lr, Tr = L[:, reach], T[:, reach]
        vn = np.empty((idx.shape[0], x.size))
        vd, vl = np.empty_like(vn), np.empty_like(vn)
        for r in range(idx.shape[0]):
            rows = idx[r]
            j = rows[np.argmin(Lr[rows], axis=0)]
            cols = np.arange(x.size)
            vn[r], vl[r] = n[j], Lr[j, cols]
            tok = Tr[j, cols]
            vd[r] = np.where(np.isfinite(tok), tok, 10**x / (6.0 * n[j]))
    out = {}
    for key, Y in (("params", vn), ("tokens", vd)):
        with np.errstate(divide="ignore", invalid="ignore"):
            s, i = batched_line(x, np.where(np.isfinite(Y) & (Y > 0), np.log10(np.where(Y > 0, Y, 1.0)), np.nan))
        out[f"{key}_exponent"], out[f"{key}_log10_coefficient"] = s, i
    out["loss_E"], out["loss_log10_coefficient"], out["loss_exponent"] = batched_loss_law(10**x, vl)
    return out
