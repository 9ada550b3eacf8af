"""The two building blocks, and power laws built on them.

* :func:`find_optimal_params`: a quadratic in log10 x fitted to (x, y) by least
  squares, with its vertex. Approach 2 applies it to one IsoFLOP profile.
* :func:`fit_linear_log`: a straight line in log10–log10.
* :func:`fit_power_law`: y = k·C^exponent through :func:`fit_linear_log`, with
  R² and ``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _as_positive(name: str, v) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name} must be finite and positive")
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
        ValueError: fewer than 3 distinct x, or non-positive x.
    """
    xs = _as_positive("x", x)
    ys = np.asarray(y, dtype=float)
    if ys.shape != xs.shape:
        raise ValueError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}")
    u = np.log10(xs)
    if np.unique(u).size < 3:
        raise ValueError(f"a quadratic needs at least 3 distinct x, got {np.unique(u).size}")
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
    """

    slope: float
    intercept: float
    r2: float
    n_points: int

    def predict(self, x) -> np.ndarray:
        """y at x."""
        return 10.0 ** (self.intercept + self.slope * np.log10(np.asarray(x, dtype=float)))


def fit_linear_log(x, y) -> LogLinear:
    """Least-squares line through (log10 x, log10 y).

    Args:
        x, y: positive values of equal length, at least 2 distinct x.

    Returns:
        A :class:`LogLinear`.

    Raises:
        ValueError: non-positive values, or fewer than 2 distinct x.
    """
    xs, ys = _as_positive("x", x), _as_positive("y", y)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same shape, got {xs.shape} and {ys.shape}")
    u, v = np.log10(xs), np.log10(ys)
    if np.unique(u).size < 2:
        raise ValueError("a line needs at least 2 distinct x")
    slope, intercept = np.polyfit(u, v, 1)
    ss_res = float(np.sum((v - (slope * u + intercept)) ** 2))
    ss_tot = float(np.sum((v - v.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return LogLinear(float(slope), float(intercept), r2, int(xs.size))


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
    """

    exponent: float
    coefficient: float
    r2: float
    n_points: int
    success: bool = True
    message: str = "ok"

    def predict(self, flops) -> np.ndarray:
        """y at compute C (FLOPs)."""
        return self.coefficient * np.asarray(flops, dtype=float) ** self.exponent


def fit_power_law(flops, values) -> PowerLaw:
    """Fit values = k · C^exponent through :func:`fit_linear_log`.

    Unlike :func:`fit_linear_log` this does not raise when there are too few
    points: it returns a result with ``success=False`` and NaN estimates, so a
    report can say why a law is missing.

    Args:
        flops: compute budgets C in FLOPs.
        values: the quantity at each budget (N_opt in parameters, D_opt in
            tokens, or a loss in nats per token).
    """
    c = np.asarray(flops, dtype=float)
    v = np.asarray(values, dtype=float)
    if np.unique(c).size < 2:
        return PowerLaw(np.nan, np.nan, np.nan, int(c.size), False,
                        f"needs at least 2 budgets, got {np.unique(c).size}")
    ll = fit_linear_log(c, v)
    return PowerLaw(ll.slope, float(10.0**ll.intercept), ll.r2, ll.n_points)
