"""Approach 2: IsoFLOP profiles (Hoffmann et al. 2022, Section 3.2).

For each FLOP budget, fit a quadratic in log10 N to the final losses and take
its vertex as that budget's optimal N; separately, a quadratic in log10 D gives
the optimal D. Power laws N_opt = k·C^a and D_opt = k·C^b are then fitted in
log–log space to the budgets whose profile is trustworthy.

A profile is trustworthy (status ``ok``) when it has at least 3 distinct sizes,
opens upward, and has its vertex inside the sampled range. Otherwise it is
``too_few``, ``concave`` or ``edge`` and left out of the power laws with that
reason (``edge`` budgets enter when ``allow_edge=True``). There is no fallback
to the raw minimum: an untrustworthy vertex is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.laws.fit.bootstrap import batched_line, batched_quadratic
from isoflop.laws.fit.powerlaw import (
    LossLaw,
    PowerLaw,
    batched_loss_law,
    find_optimal_params,
    fit_loss_law,
    fit_power_law,
)

STATUSES = ("ok", "edge", "concave", "too_few")


@dataclass(frozen=True)
class BudgetFit:
    """One IsoFLOP profile.

    Attributes:
        flops: the budget C, in FLOPs.
        n_points: runs at this budget.
        optimal_params: vertex of the quadratic in log10 N, in parameters (NaN when too few).
        optimal_tokens: vertex of the quadratic in log10 D, in tokens.
        min_loss: loss at the N vertex, in nats per token.
        curvature: coefficient of (log10 N)² in loss per decade²; > 0 opens upward.
        tokens_curvature: the same for the D profile.
        residual_rms: RMS residual of the N quadratic, in nats per token.
        params_range: smallest and largest N sampled.
        inside_range: whether both vertices lie within the sampled N and D.
        status: one of :data:`STATUSES`.
        reason: why the budget is not ``ok`` (empty when it is).
        coeffs: the N quadratic's (c2, c1, c0) in log10 N, for plotting.
    """

    flops: float
    n_points: int
    optimal_params: float
    optimal_tokens: float
    min_loss: float
    curvature: float
    tokens_curvature: float
    residual_rms: float
    params_range: tuple[float, float]
    inside_range: bool
    status: str
    reason: str
    coeffs: tuple[float, float, float] | None


def fit_budget(flops: float, n_params, n_tokens, loss) -> BudgetFit:
    """Fit one IsoFLOP profile and classify it.

    Args:
        flops: the budget C in FLOPs.
        n_params, n_tokens, loss: the runs at this budget (parameters, tokens,
            nats per token).
    """
    n = np.asarray(n_params, dtype=float)
    d = np.asarray(n_tokens, dtype=float)
    l = np.asarray(loss, dtype=float)
    rng = (float(n.min()), float(n.max()))
    distinct, distinct_d = np.unique(n).size, np.unique(d).size
    if distinct < 3 or distinct_d < 3:
        what = f"{distinct} distinct size(s)" if distinct < 3 else f"{distinct_d} distinct token count(s)"
        return BudgetFit(
            float(flops),
            int(n.size),
            np.nan,
            np.nan,
            float(l.min()),
            np.nan,
            np.nan,
            np.nan,
            rng,
            False,
            "too_few",
            f"budget {flops:.3g}: {what}; a quadratic needs 3",
            None,
        )
    qn = find_optimal_params(n, l)
    qd = find_optimal_params(d, l)
    inside_n = rng[0] <= qn.x_opt <= rng[1]
    inside_d = float(d.min()) <= qd.x_opt <= float(d.max())
    if qn.curvature <= 0 or qd.curvature <= 0:
        status, reason = "concave", f"parabola opens downward (curvature {qn.curvature:.3g} per decade²)"
    elif not (inside_n and inside_d):
        status = "edge"
        which = "N" if not inside_n else "D"
        val, lo, hi = (qn.x_opt, *rng) if not inside_n else (qd.x_opt, float(d.min()), float(d.max()))
        reason = f"vertex {which}={val:.3g} outside the sampled range [{lo:.3g}, {hi:.3g}]"
    else:
        status, reason = "ok", ""
    concave = status == "concave"
    return BudgetFit(
        flops=float(flops),
        n_points=int(n.size),
        optimal_params=np.nan if concave else qn.x_opt,
        optimal_tokens=np.nan if concave else qd.x_opt,
        min_loss=float(l.min()) if concave else qn.y_opt,
        curvature=qn.curvature,
        tokens_curvature=qd.curvature,
        residual_rms=qn.residual_rms,
        params_range=rng,
        inside_range=bool(inside_n and inside_d),
        status=status,
        reason=reason,
        coeffs=qn.coeffs,
    )


@dataclass(frozen=True)
class IsoFLOPFit:
    """Approach 2 result: per-budget profiles and the power laws through them.

    Attributes:
        budgets: one :class:`BudgetFit` per budget, by increasing FLOPs.
        params_law: N_opt = k·C^a over the used budgets.
        tokens_law: D_opt = k·C^b.
        loss_law: L at the vertex = E + k·C^γ, used to predict the minimum
            loss at other budgets.
        allow_edge: whether ``edge`` budgets were used.
    """

    budgets: tuple[BudgetFit, ...]
    params_law: PowerLaw
    tokens_law: PowerLaw
    loss_law: LossLaw
    allow_edge: bool = False

    @property
    def used(self) -> tuple[BudgetFit, ...]:
        """Budgets that entered the power laws."""
        ok = ("ok", "edge") if self.allow_edge else ("ok",)
        return tuple(b for b in self.budgets if b.status in ok)

    def predict(self, flops) -> dict[str, np.ndarray]:
        """N_opt, D_opt and the minimum loss at budgets C (FLOPs)."""
        return {
            "optimal_params": self.params_law.predict(flops),
            "optimal_tokens": self.tokens_law.predict(flops),
            "loss": self.loss_law.predict(flops),
        }


def _budget_values(budget) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(budget, dtype=float)
    values, inv = np.unique(c, return_inverse=True)
    return values, inv


def fit_isoflops(n_params, n_tokens, loss, budget, *, allow_edge: bool = False) -> IsoFLOPFit:
    """Approach 2 on a set of runs grouped by budget.

    Args:
        n_params: N per run, in parameters.
        n_tokens: D per run, in tokens.
        loss: final loss per run, in nats per token.
        budget: the nominal budget C of each run, in FLOPs; runs with equal
            values form one IsoFLOP profile.
        allow_edge: also use budgets whose vertex lies outside the sampled range.

    Returns:
        An :class:`IsoFLOPFit`.
    """
    n, d, l = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, loss))
    values, inv = _budget_values(budget)
    budgets = tuple(fit_budget(c, n[inv == k], d[inv == k], l[inv == k]) for k, c in enumerate(values))
    ok = ("ok", "edge") if allow_edge else ("ok",)
    used = [b for b in budgets if b.status in ok]
    c = np.array([b.flops for b in used])
    return IsoFLOPFit(
        budgets,
        fit_power_law(c, [b.optimal_params for b in used]),
        fit_power_law(c, [b.optimal_tokens for b in used]),
        fit_loss_law(c, [b.min_loss for b in used]),
        allow_edge,
    )


def _leverage_residuals(X: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Residuals divided by √(1 − h_ii) and centred: the residuals a residual bootstrap should draw
    (Davison & Hinkley 1997, Section 6.2.3), so that resampled errors keep the variance of the true ones."""
    h = np.einsum("ij,ji->i", X, np.linalg.pinv(X))
    out = r / np.sqrt(np.clip(1.0 - h, 1e-3, None))
    return out - out.mean()


def bootstrap_isoflops_residuals(
    fit: IsoFLOPFit, n_params, n_tokens, loss, budget, n_resamples: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Approach 2 refitted on residual resamples, in two stages, keeping the design fixed.

    1. Each budget's parabola: its leverage-adjusted residuals are drawn with replacement and added to the
       fitted parabola at the same sizes (the same for the D parabola), and the vertex is refitted.
    2. The laws through the vertices: each budget's vertex also gets a deviation drawn from the
       leverage-adjusted deviations of the full-data vertices from their power law (and of L* from the
       loss law), so that scatter of the vertices about the law (a surface that is not exactly a power
       law, noise shared across budgets) enters the interval.

    Case resampling (redrawing which sizes a budget has) moves a vertex far in a resample with three or
    four distinct sizes; its intervals covered 99-100% at held-out scales in ``benchmarks/bench_coverage.py``,
    where these cover close to the nominal 95%.

    Returns:
        Arrays of shape (R,) for "params_exponent", "params_log10_coefficient", "tokens_exponent",
        "tokens_log10_coefficient", and the loss law's "loss_E", "loss_log10_coefficient", "loss_exponent".
    """
    n, d, l = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, loss))
    values, inv = _budget_values(budget)
    used = fit.used
    R, G = n_resamples, len(used)
    vn, vd, vl = (np.full((R, G), np.nan) for _ in range(3))
    for j, b in enumerate(used):
        cols = np.flatnonzero(inv == int(np.flatnonzero(values == b.flops)[0]))
        y = l[cols]
        for name, x, store in (("n", n, vn), ("d", d, vd)):
            u = np.log10(x[cols])
            X = np.vander(u - u.mean(), 3)
            coef = np.linalg.lstsq(X, y, rcond=None)[0]
            yhat = X @ coef
            r = _leverage_residuals(X, y - yhat)
            ys = yhat[None, :] + r[rng.integers(0, r.size, size=(R, r.size))]
            q = batched_quadratic(np.broadcast_to(u, (R, u.size)), ys)
            with np.errstate(invalid="ignore", divide="ignore"):
                u_opt = np.where(q[:, 0] > 0, -q[:, 1] / (2 * q[:, 0]), np.nan)
            store[:, j] = u_opt
            if name == "n":
                vl[:, j] = q[:, 0] * u_opt**2 + q[:, 1] * u_opt + q[:, 2]
    c = np.array([b.flops for b in used])
    x = np.log10(c)
    X = np.vander(x - x.mean(), 2)
    for store, law, attr in ((vn, fit.params_law, "optimal_params"), (vd, fit.tokens_law, "optimal_tokens")):
        dev = np.log10([getattr(b, attr) for b in used]) - (np.log10(law.coefficient) + law.exponent * x)
        if G > 2 and np.all(np.isfinite(dev)):
            r = _leverage_residuals(X, dev)
            store += r[rng.integers(0, G, size=(R, G))]
    if G > 3 and fit.loss_law.success:
        dev = np.array([b.min_loss for b in used]) - fit.loss_law.predict(c)
        if np.all(np.isfinite(dev)):
            vl += (dev - dev.mean())[rng.integers(0, G, size=(R, G))] * np.sqrt(G / (G - 3))
    out = {}
    for key, Y in (("params", vn), ("tokens", vd)):
        s, i = batched_line(x, Y)
        out[f"{key}_exponent"], out[f"{key}_log10_coefficient"] = s, i
    out["loss_E"], out["loss_log10_coefficient"], out["loss_exponent"] = batched_loss_law(c, vl)
    return out
