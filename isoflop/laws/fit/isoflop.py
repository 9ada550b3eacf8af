"""Approach 2: IsoFLOP profiles (Hoffmann et al. 2022, Section 3.2).

For each FLOP budget, fit a quadratic in log10 N to the final losses and take
its vertex as that budget's optimal N; separately, a quadratic in log10 D gives
the optimal D. Power laws N_opt = k·C^a and D_opt = k·C^b are then fitted in
log–log space to the budgets whose profile is trustworthy: by ordinary least
squares, or weighted by how precisely each budget's runs place its vertex (below).

A profile is trustworthy (status ``ok``) when it has at least 3 distinct sizes,
opens upward, and has its vertex inside the sampled range. Otherwise it is
``too_few``, ``concave`` or ``edge`` and left out of the power laws with that
reason (``edge`` budgets enter when ``allow_edge=True``). There is no fallback
to the raw minimum: an untrustworthy vertex is reported as such.

With ``weighted=True`` (``scaling fit --weight-vertices``) each budget is weighted
by how precisely its own runs place its vertex: over the 156 budgets of Porian et
al.'s tables, the jackknife's standard deviation of a log10 vertex runs from 0.007
to 0.18 decades (1.6% to a factor of 1.5; median 10%).
The weight is 1 / (v + τ²), where v is the delete-one-run jackknife variance of
the budget's log10 vertex (:func:`vertex_variances`) and τ² the scatter of the
vertices about the law beyond their own variances, estimated from the table
(DerSimonian & Laird; :func:`~isoflop.laws.fit.powerlaw.random_effects_line`):
where the vertices scatter far more than their jackknife says, τ² dominates and
the fit is close to ordinary least squares. Held out on the real tables of
``benchmarks/bench_real.py`` it made Approach 2 more accurate and narrower (median
error at K = 3 15.8% -> 10.4%, width 2.38x -> 1.87x) without making the answer line
better, so it is not the default (docs/methods.md, "Weighting the vertices").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from isoflop.laws.fit.bootstrap import batched_line, batched_quadratic
from isoflop.laws.fit.powerlaw import (
    LossLaw,
    PowerLaw,
    batched_loss_law,
    filled_variances,
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
        params_var, tokens_var: the delete-one-run jackknife variances of log10 of the two vertices
            (:func:`vertex_variances`; None where not measured: unweighted fits, or a budget of 3 runs).
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
    params_var: float | None = None
    tokens_var: float | None = None


def jackknife_vertices(bf: BudgetFit, n, d, l) -> tuple[np.ndarray, np.ndarray]:
    """The budget's N and D vertices refitted without each run in turn, as natural logs, over the refits that
    give a vertex (one outside the sampled range counts at its edge)."""
    n, d, l = (np.asarray(x, dtype=float) for x in (n, d, l))
    keep = np.ones(n.size, dtype=bool)
    ln, ld = [], []
    for i in range(n.size):
        keep[i] = False
        b = fit_budget(bf.flops, n[keep], d[keep], l[keep])
        keep[i] = True
        if b.status in ("ok", "edge") and np.isfinite(b.optimal_params) and np.isfinite(b.optimal_tokens):
            ln.append(np.log(np.clip(b.optimal_params, n.min(), n.max())))
            ld.append(np.log(np.clip(b.optimal_tokens, d.min(), d.max())))
    return np.array(ln), np.array(ld)


def vertex_variances(bf: BudgetFit, n, d, l) -> tuple[float, float] | tuple[None, None]:
    """The jackknife variances (m − 1)/m · Σ(θ₋ᵢ − θ̄)² of log10 N_opt and log10 D_opt over the m refits of
    :func:`jackknife_vertices`; None with fewer than 3 refits."""
    ln, ld = jackknife_vertices(bf, n, d, l)
    m = ln.size
    if m < 3:
        return None, None
    vn, vd = ((m - 1) / m * np.sum((t - t.mean()) ** 2) / np.log(10) ** 2 for t in (ln, ld))
    return float(vn), float(vd)


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

    def weights(self, key: str) -> np.ndarray | None:
        """The weights 1 / (v + τ²) of the used budgets in the law of ``key`` ("params" or "tokens"); None when
        the law was not weighted."""
        law = self.params_law if key == "params" else self.tokens_law
        var = filled_variances([getattr(b, f"{key}_var") for b in self.used])
        return None if not law.weighted or var is None else 1.0 / (var + law.tau2)

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


def fit_isoflops(n_params, n_tokens, loss, budget, *, allow_edge: bool = False, weighted: bool = False) -> IsoFLOPFit:
    """Approach 2 on a set of runs grouped by budget.

    Args:
        n_params: N per run, in parameters.
        n_tokens: D per run, in tokens.
        loss: final loss per run, in nats per token.
        budget: the nominal budget C of each run, in FLOPs; runs with equal
            values form one IsoFLOP profile.
        allow_edge: also use budgets whose vertex lies outside the sampled range.
        weighted: weight the budgets by their vertices' jackknife variances (see the module docstring); the
            default is the ordinary least squares of Hoffmann et al. and of published reproductions.

    Returns:
        An :class:`IsoFLOPFit`.
    """
    n, d, l = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, loss))
    values, inv = _budget_values(budget)
    ok = ("ok", "edge") if allow_edge else ("ok",)
    budgets = []
    for k, c in enumerate(values):
        m = inv == k
        b = fit_budget(c, n[m], d[m], l[m])
        if weighted and b.status in ok:
            vn, vd = vertex_variances(b, n[m], d[m], l[m])
            b = replace(b, params_var=vn, tokens_var=vd)
        budgets.append(b)
    used = [b for b in budgets if b.status in ok]
    c = np.array([b.flops for b in used])
    return IsoFLOPFit(
        tuple(budgets),
        fit_power_law(c, [b.optimal_params for b in used], [b.params_var for b in used]),
        fit_power_law(c, [b.optimal_tokens for b in used], [b.tokens_var for b in used]),
        fit_loss_law(c, [b.min_loss for b in used]),
        allow_edge,
    )


def _leverage_residuals(X: np.ndarray, r: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Residuals divided by √(1 − h_ii) and centred: the residuals a residual bootstrap should draw
    (Davison & Hinkley 1997, Section 6.2.3), so that resampled errors keep the variance of the true ones.
    With weights ``w`` (a weighted fit), the residuals are first standardised by √w and the leverages are the
    weighted fit's; the caller divides a drawn one by √w of the point it is given to."""
    s = np.ones(r.size) if w is None else np.sqrt(w)
    Xs = X * s[:, None]
    h = np.einsum("ij,ji->i", Xs, np.linalg.pinv(Xs))
    out = s * r / np.sqrt(np.clip(1.0 - h, 1e-3, None))
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
    weights = {key: fit.weights(key) for key in ("params", "tokens")}
    for store, law, key in ((vn, fit.params_law, "params"), (vd, fit.tokens_law, "tokens")):
        dev = np.log10([getattr(b, f"optimal_{key}") for b in used]) - (np.log10(law.coefficient) + law.exponent * x)
        if G > 2 and np.all(np.isfinite(dev)):
            w = weights[key]
            r = _leverage_residuals(X, dev, w)
            store += r[rng.integers(0, G, size=(R, G))] / (1.0 if w is None else np.sqrt(w))
    if G > 3 and fit.loss_law.success:
        dev = np.array([b.min_loss for b in used]) - fit.loss_law.predict(c)
        if np.all(np.isfinite(dev)):
            vl += (dev - dev.mean())[rng.integers(0, G, size=(R, G))] * np.sqrt(G / (G - 3))
    out = {}
    for key, Y in (("params", vn), ("tokens", vd)):
        s, i = batched_line(x, Y, weights[key])
        out[f"{key}_exponent"], out[f"{key}_log10_coefficient"] = s, i
    out["loss_E"], out["loss_log10_coefficient"], out["loss_exponent"] = batched_loss_law(c, vl)
    return out
