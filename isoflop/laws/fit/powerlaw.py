"""The two building blocks, and power laws built on them.

* :func:`find_optimal_params`: a quadratic in log10 x fitted to (x, y) by least
  squares, with its vertex. Approach 2 applies it to one IsoFLOP profile.
* :func:`fit_linear_log`: a straight line in log10–log10, by least squares, or weighted by each point's
  variance plus the scatter between points (:func:`random_effects_line`).
* :func:`fit_power_law`: y = k·C^exponent through :func:`fit_linear_log`, with
  R² and ``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.errors import FitError


def _as_positive(name: str, v) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    if arr.ndim != 1:
        raise FitError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise FitError(f"{name} must be finite and positive")
    return arr


@dataclass(frozen=True)
class Quadratic:
    """y ≈ c2·u² + c1·u + c0 with u = log10 x, and its vertex.

    Attributes:
        coeffs: (c2, c1, c0).
        x_opt: the vertex 10^(−c1 / 2c2), in the units of x (NaN if c2 = 0).
        y_opt: y at the vertex.
        curvature: c2; positive means the parabola opens upward (a minimum).
        residual_rms: root-mean-square residual of y.
        n_points: number of points fitted.
    """

    coeffs: tuple[float, float, float]
    x_opt: float
    y_opt: float
    curvature: float
    residual_rms: float
    n_points: int

    def predict(self, x) -> np.ndarray:
        """y at x."""
        return np.polyval(self.coeffs, np.log10(np.asarray(x, dtype=float)))


def find_optimal_params(x, y) -> Quadratic:
    """Fit y = c2·(log10 x)² + c1·log10 x + c0 and return it with its vertex.

    Args:
        x: positive abscissae, e.g. model sizes N in parameters.
        y: values, e.g. final losses in nats per token.

    Returns:
        A :class:`Quadratic`; ``x_opt`` is the optimal x when the curvature is
        positive.

    Raises:
        FitError: fewer than 3 distinct x, or non-positive x.
    """
    xs = _as_positive("x", x)
    ys = np.asarray(y, dtype=float)
    if ys.shape != xs.shape:
        raise FitError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}")
    u = np.log10(xs)
    if np.unique(u).size < 3:
        raise FitError(f"a quadratic needs at least 3 distinct x, got {np.unique(u).size}")
    c = np.polyfit(u, ys, 2)
    resid = ys - np.polyval(c, u)
    c2, c1, _ = c
    u_opt = -c1 / (2.0 * c2) if c2 != 0 else np.nan
    return Quadratic(
        coeffs=(float(c[0]), float(c[1]), float(c[2])),
        x_opt=float(10.0**u_opt) if np.isfinite(u_opt) else float("nan"),
        y_opt=float(np.polyval(c, u_opt)) if np.isfinite(u_opt) else float("nan"),
        curvature=float(c2),
        residual_rms=float(np.sqrt(np.mean(resid**2))),
        n_points=int(xs.size),
    )


@dataclass(frozen=True)
class LogLinear:
    """log10 y = slope·log10 x + intercept.

    Attributes:
        slope, intercept: the line's coefficients.
        r2: coefficient of determination in log space.
        n_points: number of points.
        tau2: with variances, the scatter τ² of the points about the line beyond them (decades²); 0 without.
        weighted: whether the points were weighted by their variances.
    """

    slope: float
    intercept: float
    r2: float
    n_points: int
    tau2: float = 0.0
    weighted: bool = False

    def predict(self, x) -> np.ndarray:
        """y at x."""
        return 10.0 ** (self.intercept + self.slope * np.log10(np.asarray(x, dtype=float)))


def filled_variances(var) -> np.ndarray | None:
    """Variances of points for :func:`random_effects_line`: a missing one (None or NaN) counts as the largest
    known (a point whose precision was not measured gets the least weight), a zero one as 1e-12; None when none
    is known."""
    v = np.array([np.nan if x is None else x for x in var], dtype=float)
    known = np.isfinite(v) & (v >= 0)
    if not known.any():
        return None
    return np.maximum(np.where(known, v, v[known].max()), 1e-12)


def random_effects_line(u, v, var, tau2: float | None = None) -> tuple[float, float, float]:
    """The line v ≈ slope·u + intercept weighted by 1 / (var_i + τ²): each point's own variance, plus the
    scatter τ² of the points about the line beyond what their variances explain.

    τ² is DerSimonian & Laird's moment estimator for a meta-regression (1986; Raudenbush 2009): from the
    weighted residual sum of squares Q about the line weighted by 1/var_i alone, τ² = max(0, (Q − (k − 2)) /
    (Σw − tr((XᵀWX)⁻¹XᵀW²X))). Where the points scatter about the line no more than their variances say, τ² is 0
    and precise points count for more; where they scatter far more, τ² dominates and the weights even out
    towards ordinary least squares. With two points the line is exact and τ² is 0.

    Args:
        u, v: the points (k ≥ 2, at least 2 distinct u).
        var: each point's variance in v (positive).
        tau2: τ² to use instead of estimating it.

    Returns:
        (slope, intercept, τ²).
    """
    u, v, var = (np.asarray(a, dtype=float) for a in (u, v, var))
    X = np.stack([np.ones_like(u), u], axis=1)

    def wls(w: np.ndarray) -> np.ndarray:
        return np.linalg.solve((X.T * w) @ X, (X.T * w) @ v)

    if tau2 is None:
        w = 1.0 / var
        r = v - X @ wls(w)
        q = float(np.sum(w * r**2))
        xtwx = (X.T * w) @ X
        trace = float(w.sum() - np.trace(np.linalg.solve(xtwx, (X.T * w**2) @ X)))
        tau2 = max(0.0, (q - (u.size - 2)) / trace) if u.size > 2 and trace > 0 else 0.0
    b = wls(1.0 / (var + tau2))
    return float(b[1]), float(b[0]), float(tau2)


def fit_linear_log(x, y, variances=None, tau2: float | None = None) -> LogLinear:
    """Line through (log10 x, log10 y): least squares, or with ``variances`` (of log10 y) weighted as in
    :func:`random_effects_line`.

    Args:
        x, y: positive values of equal length, at least 2 distinct x.
        variances: each point's variance of log10 y (NaN where unknown: see :func:`filled_variances`).
        tau2: with variances, the scatter τ² beyond them to use instead of estimating it.

    Returns:
        A :class:`LogLinear`.

    Raises:
        FitError: non-positive values, or fewer than 2 distinct x.
    """
    xs, ys = _as_positive("x", x), _as_positive("y", y)
    if xs.shape != ys.shape:
        raise FitError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}")
    u, v = np.log10(xs), np.log10(ys)
    if np.unique(u).size < 2:
        raise FitError("a line needs at least 2 distinct x")
    var = None if variances is None else filled_variances(variances)
    if var is not None and var.shape != u.shape:
        raise FitError(f"variances must match x, got {var.shape} and {u.shape}")
    if var is None:
        slope, intercept = np.polyfit(u, v, 1)
        t2 = 0.0
    else:
        slope, intercept, t2 = random_effects_line(u, v, var, tau2)
    ss_res = float(np.sum((v - (slope * u + intercept)) ** 2))
    ss_tot = float(np.sum((v - v.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return LogLinear(float(slope), float(intercept), r2, int(xs.size), t2, var is not None)


@dataclass(frozen=True)
class PowerLaw:
    """y = coefficient · C^exponent, fitted in log–log space.

    Attributes:
        exponent: e.g. a in N_opt ∝ C^a.
        coefficient: k = 10^intercept.
        r2: R² of the log–log fit.
        n_points: budgets used.
        success: False when there were too few points to fit.
        message: why the fit failed, or "ok".
        tau2: the scatter τ² of log10 y about the law beyond the points' own variances, when they were weighted
            by them (:func:`random_effects_line`); 0 otherwise.
        weighted: whether the points were weighted.
    """

    exponent: float
    coefficient: float
    r2: float
    n_points: int
    success: bool = True
    message: str = "ok"
    tau2: float = 0.0
    weighted: bool = False

    def predict(self, flops) -> np.ndarray:
        """y at compute C (FLOPs)."""
        return self.coefficient * np.asarray(flops, dtype=float) ** self.exponent


def fit_power_law(flops, values, variances=None, tau2: float | None = None) -> PowerLaw:
    """Fit values = k · C^exponent through :func:`fit_linear_log`.

    Unlike :func:`fit_linear_log` this does not raise when there are too few
    points: it returns a result with ``success=False`` and NaN estimates, so a
    report can say why a law is missing.

    Args:
        flops: compute budgets C in FLOPs.
        values: the quantity at each budget (N_opt in parameters, D_opt in
            tokens, or a loss in nats per token).
        variances: the variance of each log10 value, to weight the budgets by (:func:`random_effects_line`).
        tau2: with variances, the scatter beyond them to use instead of estimating it.
    """
    c = np.asarray(flops, dtype=float)
    v = np.asarray(values, dtype=float)
    if np.unique(c).size < 2:
        return PowerLaw(
            np.nan, np.nan, np.nan, int(c.size), False, f"needs at least 2 budgets, got {np.unique(c).size}"
        )
    ll = fit_linear_log(c, v, variances, tau2)
    return PowerLaw(ll.slope, float(10.0**ll.intercept), ll.r2, ll.n_points, tau2=ll.tau2, weighted=ll.weighted)


@dataclass(frozen=True)
class LossLaw:
    """Minimum loss against compute, L*(C) = E + k · C^exponent (exponent < 0).

    The irreducible term E keeps extrapolations above the entropy floor, which
    a pure power law in C (Kaplan et al. 2020's L(C) form) runs through. It is
    exactly the shape of Hoffmann et al. (2022)'s L(N, D) along its
    compute-optimal frontier: with N_opt ∝ C^a and D_opt ∝ C^b both finite-size
    terms fall as C^(−αβ/(α+β)).

    Attributes:
        E: the asymptote, in nats per token.
        coefficient: k.
        exponent: the (negative) slope of log(L* − E) in log C.
        r2: R² of log L* in log space.
        n_points: budgets used.
        success, message: whether it was fitted, and why not.
    """

    E: float
    coefficient: float
    exponent: float
    r2: float
    n_points: int
    success: bool = True
    message: str = "ok"

    def predict(self, flops) -> np.ndarray:
        """L* at compute C (FLOPs), in nats per token."""
        return self.E + self.coefficient * np.asarray(flops, dtype=float) ** self.exponent


_E_GRID = np.linspace(0.0, 0.995, 200)  # E as a fraction of the lowest observed L*


def _profile(x: np.ndarray, logl: np.ndarray, E: np.ndarray):
    """For each E (shape (..., K)), the best line log(L − E) = b0 + b1·x and the
    sum of squared residuals of log L. x: (G,); logl: (..., 1, G) with NaN masked."""
    w = np.isfinite(logl).astype(float)
    L = np.where(w > 0, np.exp(np.where(w > 0, logl, 0.0)), 1.0)
    y = np.log(np.maximum(L - E[..., None], 1e-300))  # (..., K, G)
    n = w.sum(axis=-1)
    sx, sy = (w * x).sum(axis=-1), (w * y).sum(axis=-1)
    sxx, sxy = (w * x * x).sum(axis=-1), (w * x * y).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        b1 = (n * sxy - sx * sy) / (n * sxx - sx**2)
        b0 = (sy - b1 * sx) / n
        pred = np.log(E[..., None] + np.exp(b0[..., None] + b1[..., None] * x))
    sse = (w * (pred - np.where(w > 0, logl, 0.0)) ** 2).sum(axis=-1)
    return b0, b1, sse


def fit_loss_law(flops, loss) -> LossLaw:
    """Fit L*(C) = E + k·C^exponent to the minimum losses of several budgets.

    E is profiled out: for each candidate E in [0, min L*) the line through
    (log C, log(L* − E)) is exact least squares, and E minimises the squared
    error of log L*; a bounded scalar search refines the best grid value.

    Args:
        flops: budgets C in FLOPs (at least 3 distinct).
        loss: minimum loss at each budget, in nats per token.

    Returns:
        A :class:`LossLaw` (``success=False`` with a reason when it cannot be fitted).
    """
    from scipy.optimize import minimize_scalar

    c = np.asarray(flops, dtype=float)
    l = np.asarray(loss, dtype=float)
    ok = np.isfinite(l) & (l > 0) & np.isfinite(c) & (c > 0)
    c, l = c[ok], l[ok]
    if np.unique(c).size < 3:
        return LossLaw(
            np.nan, np.nan, np.nan, np.nan, int(c.size), False, f"needs at least 3 budgets, got {np.unique(c).size}"
        )
    x = np.log(c)
    logl = np.log(l)[None, :]
    lmin = float(l.min())
    _, _, sse = _profile(x, logl, _E_GRID * lmin)
    k = int(np.nanargmin(sse))
    lo, hi = _E_GRID[max(k - 1, 0)] * lmin, _E_GRID[min(k + 1, _E_GRID.size - 1)] * lmin
    res = minimize_scalar(
        lambda e: float(_profile(x, logl, np.array([e]))[2][0]),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-10 * lmin},
    )
    E = float(res.x)
    b0, b1, sse = _profile(x, logl, np.array([E]))
    ss_tot = float(np.sum((logl - logl.mean()) ** 2))
    return LossLaw(
        E, float(np.exp(b0[0])), float(b1[0]), 1.0 - float(sse[0]) / ss_tot if ss_tot > 0 else 1.0, int(c.size)
    )


def batched_loss_law(flops: np.ndarray, L: np.ndarray, block: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fit_loss_law` for many rows of losses at once (grid over E only).

    Args:
        flops: budgets C, shape (G,).
        L: minimum losses, shape (R, G); NaN entries are left out.
        block: rows per vectorised block (bounds memory at block × 200 × G).

    Returns:
        E, log10 coefficient and exponent, each of shape (R,); NaN where a row
        has fewer than 3 finite losses.
    """
    x = np.log(np.asarray(flops, dtype=float))
    R = L.shape[0]
    E, lk, ex = (np.full(R, np.nan) for _ in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        logl_all = np.log(np.where(L > 0, L, np.nan))
    for i in range(0, R, block):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            _loss_law_block(x, logl_all[i : i + block, None, :], E, lk, ex, i)
    few = np.isfinite(L).sum(axis=1) < 3
    E[few] = lk[few] = ex[few] = np.nan
    return E, lk, ex


def _loss_law_block(x, logl, E, lk, ex, i):
    """One block of :func:`batched_loss_law` (rows i…), writing into E, lk, ex.
    Rows with too few losses give NaN here and are blanked by the caller."""
    n = logl.shape[0]
    lmin = np.nanmin(np.where(np.isfinite(logl), np.exp(logl), np.inf), axis=-1)  # (b, 1)
    grid = lmin * _E_GRID  # (b, K)
    b0, b1, sse = _profile(x, logl, grid)
    sse = np.where(np.isfinite(sse), sse, np.inf)
    k = np.clip(np.argmin(sse, axis=1), 1, _E_GRID.size - 2)
    r = np.arange(k.size)
    # Refine E by the vertex of the parabola through the three grid points
    # around the minimum, then refit the line at that E.
    s0, s1, s2 = sse[r, k - 1], sse[r, k], sse[r, k + 1]
    h = grid[r, k + 1] - grid[r, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = 0.5 * h * (s0 - s2) / (s0 - 2 * s1 + s2)
    e_best = grid[r, k] + np.where(np.isfinite(step) & (np.abs(step) <= h), step, 0.0)
    e_best = np.where(np.argmin(sse, axis=1) == 0, grid[r, 0], e_best)
    # Two more parabolic steps on ever finer brackets reach the bounded
    # scalar search of fit_loss_law to ~1e-7 relative.
    for shrink in (8.0, 64.0):
        hh = h / shrink
        trio = np.maximum(e_best[:, None] + hh[:, None] * np.array([-1.0, 0.0, 1.0]), 0.0)
        _, _, st = _profile(x, logl, trio)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = 0.5 * hh * (st[:, 0] - st[:, 2]) / (st[:, 0] - 2 * st[:, 1] + st[:, 2])
        e_best = np.maximum(e_best + np.where(np.isfinite(step) & (np.abs(step) <= hh), step, 0.0), 0.0)
    b0, b1, _ = _profile(x, logl, e_best[:, None])
    E[i : i + n], lk[i : i + n], ex[i : i + n] = e_best, b0[:, 0] / np.log(10), b1[:, 0]
