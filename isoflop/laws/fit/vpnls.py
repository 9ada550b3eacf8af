"""VPNLS: the Chinchilla form fitted by variable projection with non-negative least squares.

Czech et al. (2026), Open-Athena, arXiv 2603.22339: in L(N, D) = E + A/N^α + B/D^β
the loss is linear in (E, A, B) once (α, β) are fixed. So the fit searches only
(α, β): at each pair, E, A, B ≥ 0 solve a three-column non-negative least-squares
problem exactly, and the profile objective

    S(α, β) = min_{E,A,B ≥ 0} Σ_i w_i (E + A N_i^−α + B D_i^−β − L_i)²

(squared residuals in loss space) is minimised over a coarse grid, then refined
locally, then all five parameters are polished together. Every step is
deterministic, and no 4,500-start grid is needed.

Three columns make NNLS small enough to solve exactly and in bulk: the optimum is
the least-squares solution on one of the seven non-empty column subsets whose
coefficients are all non-negative (the one with the smallest residual), so a
whole grid of (α, β) is one batch of 3×3 solves.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from isoflop.laws.fit.parametric import ParametricFit, _check_inputs

#: Default coarse grid: α and β over [0.02, 2.5], 64 values each, denser where exponents usually lie.
ALPHA_GRID = np.unique(np.concatenate([np.linspace(0.02, 1.0, 50), np.linspace(1.0, 2.5, 15)]))
OBJECTIVE = "sum of squared loss residuals"
_SUBSETS = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]


def design(log_n: np.ndarray, log_d: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Columns (1, N^−α, D^−β) for each (α, β) pair: shape (P, n, 3)."""
    al = np.asarray(alpha, dtype=float)[:, None]
    be = np.asarray(beta, dtype=float)[:, None]
    x = np.empty((al.shape[0], log_n.size, 3))
    x[:, :, 0] = 1.0
    x[:, :, 1] = np.exp(-al * log_n)
    x[:, :, 2] = np.exp(-be * log_d)
    return x


def nnls3(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact non-negative least squares with three columns, for a batch of problems.

    Args:
        x: designs, shape (P, n, 3).
        y: targets, shape (n,).
        w: non-negative row weights, shape (n,) or (P, n); None weights all 1.

    Returns:
        Coefficients, shape (P, 3), all ≥ 0; and the weighted residual sums of squares, shape (P,).
    """
    w = np.ones(y.size) if w is None else np.asarray(w, dtype=float)
    P = x.shape[0]

    def wsum(v):  # Σ_n w v over the last axis, a matrix-vector product when the weights are shared
        return v @ w if w.ndim == 1 else np.sum(v * w, axis=-1)

    cols = [x[:, :, k] for k in range(3)]
    g = np.empty((P, 3, 3))
    for k in range(3):
        for j in range(k, 3):
            g[:, k, j] = g[:, j, k] = wsum(cols[k] * cols[j])
    h = np.stack([wsum(c * y) for c in cols], axis=1)
    # Scale the columns to unit weighted norm: N^−α and D^−β can be 1e-4 while E's column is 1.
    scale = np.sqrt(np.einsum("pkk->pk", g))
    scale[scale == 0] = 1.0
    g = g / (scale[:, :, None] * scale[:, None, :])  # Gram matrices, (P, 3, 3)
    h = h / scale  # X'Wy, (P, 3)
    yy = float(np.sum(w * y * y)) if w.ndim == 1 else np.einsum("pn,n->p", w, y * y)
    best = np.full(x.shape[0], np.inf)
    coef = np.zeros((x.shape[0], 3))
    for s in _SUBSETS:
        idx = np.array(s)
        gs = g[:, idx[:, None], idx[None, :]]
        hs = h[:, idx]
        with np.errstate(all="ignore"):
            try:
                cs = np.linalg.solve(gs, hs[..., None])[..., 0]
            except np.linalg.LinAlgError:
                cs = np.stack([np.linalg.lstsq(gs[p], hs[p], rcond=None)[0] for p in range(gs.shape[0])])
            # Residual sum of squares of a least-squares solution: y'Wy − c'X'Wy.
            rss = yy - np.einsum("pk,pk->p", cs, hs)
        ok = np.all(cs >= 0, axis=1) & np.isfinite(rss) & (rss < best)
        best = np.where(ok, rss, best)
        full = np.zeros((x.shape[0], 3))
        full[:, idx] = cs
        coef = np.where(ok[:, None], full, coef)
    none = ~np.isfinite(best)  # every subset infeasible (y ≤ 0 throughout): the zero solution
    best[none] = yy if np.ndim(yy) == 0 else np.asarray(yy)[none]
    return coef / scale, np.maximum(best, 0.0)


def profile(log_n, log_d, loss, alpha, beta, w=None) -> tuple[np.ndarray, np.ndarray]:
    """S(α, β) and the (E, A, B) that attain it, for arrays of (α, β) (``w``: weights of shape (n,), or
    (P, n), one row per pair). S is summed from the residuals themselves (y'Wy − c'X'Wy, which NNLS uses
    to choose, loses digits near a perfect fit)."""
    x = design(log_n, log_d, alpha, beta)
    c, _ = nnls3(x, loss, w)
    r = c[:, :1] * x[:, :, 0] + c[:, 1:2] * x[:, :, 1] + c[:, 2:] * x[:, :, 2] - loss
    if w is None:
        return (r * r).sum(axis=1), c
    w = np.asarray(w, dtype=float)
    return ((r * r) * w).sum(axis=1) if w.ndim == 2 else (r * r) @ w, c


def zoom(
    log_n, log_d, loss, start, step: float, w=None, tol: float = 1e-9, lo: float = 1e-4, hi: float = 5.0
) -> np.ndarray:
    """Pattern search on S(α, β) from ``start`` (shape (2,), or (R, 2) for R problems at once, with
    weights ``w`` of shape (R, n)): a 5×5 stencil around each best point so far, moved to the stencil's
    best point, halved when that is its centre, until the step is below ``tol``. Each round is one batch."""
    best = np.atleast_2d(np.asarray(start, dtype=float)).copy()
    R = best.shape[0]
    ww = None if w is None else np.atleast_2d(np.asarray(w, dtype=float))
    steps = np.full(R, float(step))
    offs = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    da, db = (v.ravel() for v in np.meshgrid(offs, offs, indexing="ij"))
    for _ in range(400):
        live = np.flatnonzero(steps >= tol)
        if live.size == 0:
            break
        al = np.clip(best[live, :1] + steps[live, None] * da, lo, hi)  # (r, 25)
        be = np.clip(best[live, 1:] + steps[live, None] * db, lo, hi)
        wr = None if ww is None else np.repeat(ww[live] if ww.shape[0] == R else ww, 25, axis=0)
        sv, _ = profile(log_n, log_d, loss, al.ravel(), be.ravel(), wr)
        sv = np.where(np.isfinite(sv), sv, np.inf).reshape(live.size, 25)
        k = np.argmin(sv, axis=1)
        stay = (k == 12) | (sv[np.arange(live.size), k] >= sv[:, 12])
        steps[live[stay]] *= 0.5
        move = live[~stay]
        best[move, 0] = al[~stay, k[~stay]]
        best[move, 1] = be[~stay, k[~stay]]
    return best[0] if np.ndim(start) == 1 else best


def fit_vpnls(
    n_params,
    n_tokens,
    loss,
    *,
    weights=None,
    alphas: np.ndarray | None = None,
    start: tuple[float, float] | None = None,
    polish: bool = True,
) -> ParametricFit:
    """Fit L(N, D) = E + A/N^α + B/D^β by variable projection (VPNLS).

    Args:
        n_params, n_tokens, loss: the runs (N, D, L), as for :func:`~isoflop.laws.fit.parametric.fit_parametric`.
        weights: non-negative weights per run (a bootstrap resample's counts); None weights all 1.
        alphas: the coarse grid of α and of β (default :data:`ALPHA_GRID`).
        start: skip the coarse grid and refine from this (α, β) (bootstrap replicates start at the
            full-data optimum).
        polish: end with a least-squares refinement of all five parameters (bootstrap replicates skip it:
            the pattern search alone reaches ~1e-9 in α and β).

    Returns:
        A :class:`ParametricFit` whose ``objective`` is the weighted residual sum of squares in loss space,
        with ``extras["objective_kind"] = OBJECTIVE``.
    """
    log_n, log_d, _ = _check_inputs(n_params, n_tokens, loss)
    y = np.asarray(loss, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    grid = ALPHA_GRID if alphas is None else np.asarray(alphas, dtype=float)
    if start is None:
        al, be = (v.ravel() for v in np.meshgrid(grid, grid, indexing="ij"))
        s, _ = profile(log_n, log_d, y, al, be, w)
        k = int(np.argmin(s))
        x0 = np.array([al[k], be[k]])
        n_grid = al.size
    else:
        x0, n_grid = np.asarray(start, dtype=float), 0
    lo, hi = 1e-4, 2 * float(grid.max())
    sw = np.ones_like(y) if w is None else np.sqrt(w)

    def resid(t):
        return sw * (t[0] + t[1] * np.exp(-t[3] * log_n) + t[2] * np.exp(-t[4] * log_d) - y)

    # A pattern search on the 2-D profile (smooth where NNLS's active set does not change, kinked where it
    # does), then, unless ``polish`` is off, every parameter at once by least squares from there.
    step = float(np.max(np.diff(grid))) if start is None else 0.05
    p = zoom(log_n, log_d, y, x0, step, w, lo=lo, hi=hi)
    _, c = profile(log_n, log_d, y, p[:1], p[1:], w)
    theta = np.concatenate([c[0], p])  # (E, A, B, α, β)
    if not polish:
        return _result(theta, float(np.sum(resid(theta) ** 2)), log_n.size, n_grid, lo, hi)

    # Scale each parameter so the solver's steps are comparable (A and B can be 1e3 while α is 0.3).
    xs = np.maximum(np.abs(theta), 1e-8)
    pol = least_squares(
        lambda u: resid(u * xs),
        theta / xs,
        bounds=([0, 0, 0, lo, lo], [np.inf] * 3 + [hi, hi]),
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
        max_nfev=2000,
        method="trf",
    )
    t = pol.x * xs
    sse = float(np.sum(resid(t) ** 2))
    if not sse <= float(np.sum(resid(theta) ** 2)):  # the polish never makes it worse
        t, sse = theta, float(np.sum(resid(theta) ** 2))
    return _result(t, sse, log_n.size, n_grid, lo, hi)


def _result(t, sse: float, n_points: int, n_grid: int, lo: float, hi: float) -> ParametricFit:
    E, A, B, al_, be_ = (float(v) for v in t)
    ok = bool(np.all(np.isfinite(t))) and al_ > 0 and be_ > 0 and A > 0 and B > 0
    at_edge = [name for name, v in (("alpha", al_), ("beta", be_)) if v >= hi * 0.999 or v <= lo * 1.001]
    if not ok:
        msg = f"no interior optimum (A={A:.3g}, B={B:.3g}, alpha={al_:.3g}, beta={be_:.3g})"
    elif at_edge:
        ok, msg = False, f"{' and '.join(at_edge)} at the edge of the search range [{lo:g}, {hi:g}]"
    else:
        msg = f"grid of {n_grid} (alpha, beta) pairs, refined" if n_grid else "refined from the given start"
    return ParametricFit(
        E=E,
        A=A,
        B=B,
        alpha=al_,
        beta=be_,
        objective=sse,
        n_points=int(n_points),
        success=ok,
        message=msg,
        n_starts=n_grid,
        delta=0.0,
        extras={"objective_kind": OBJECTIVE},
    )


def bootstrap_vpnls(fit: ParametricFit, n_params, n_tokens, loss, weights: np.ndarray, chunk: int = 100) -> np.ndarray:
    """Refit VPNLS on many resamples (rows of run counts), each searched from the full-data (α, β), in
    batches of ``chunk`` resamples (the pattern search to 1e-7, without the final polish).

    Returns:
        (log A, log B, log E, α, β) per resample, shape (R, 5), NaN where a refit failed: the same
        layout as Approach 3's replicates, so they share every derived quantity. E = 0 is a valid fit;
        its log is floored at log(1e-300) so that exp() gives it back.
    """
    log_n, log_d, _ = _check_inputs(n_params, n_tokens, loss)
    y = np.asarray(loss, dtype=float)
    W = np.asarray(weights, dtype=float)
    out = np.full((W.shape[0], 5), np.nan)
    hi = 2 * float(ALPHA_GRID.max())
    for i in range(0, W.shape[0], chunk):
        w = W[i : i + chunk]
        p = zoom(log_n, log_d, y, np.tile([fit.alpha, fit.beta], (w.shape[0], 1)), 0.05, w, tol=1e-7, hi=hi)
        _, c = profile(log_n, log_d, y, p[:, 0], p[:, 1], w)
        ok = (c[:, 1] > 0) & (c[:, 2] > 0) & (p[:, 0] < hi * 0.999) & (p[:, 1] < hi * 0.999)
        with np.errstate(divide="ignore"):
            rows = np.column_stack([np.log(c[:, 1]), np.log(c[:, 2]), np.log(np.maximum(c[:, 0], 1e-300)), p])
        rows[~ok] = np.nan
        out[i : i + chunk] = rows
    return out
