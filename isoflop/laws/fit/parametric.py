"""Approach 3: fit L(N, D) = E + A/N^α + B/D^β to every run at once.

Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models",
Section 3.3 and Appendix D.2, fit the parametric loss with the log-sum-exp form

    log L̂(N, D) = LSE(a − α log N, b − β log D, e),   A = eᵃ, B = eᵇ, E = eᵉ,

minimising the Huber loss (δ = 1e-3) of log L̂ − log L with L-BFGS from a grid
of starting points. Besiroglu et al. (2024), "Chinchilla Scaling: A replication
attempt", refit the same model on the runs extracted from Figure 4 with the
full 4,500-point grid; :data:`CHINCHILLA_GRID` is that grid.

Compute-optimal allocation under C = 6ND (Hoffmann et al., Eq. 4):

    N_opt(C) = G (C/6)^a,  D_opt(C) = G⁻¹ (C/6)^b,
    G = (αA / (βB))^(1/(α+β)),  a = β/(α+β),  b = α/(α+β).

This module is pure numpy/scipy: arrays in, a frozen :class:`ParametricFit` out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
from scipy.optimize import minimize

from isoflop.errors import FitError
from isoflop.laws.fit._lbfgs import minimize_batch
from isoflop.laws.fit.frontier import Counting, frontier

#: Parameter order used throughout: (a, b, e, α, β) with A = eᵃ, B = eᵇ, E = eᵉ.
PARAM_ORDER = ("a", "b", "e", "alpha", "beta")
#: Names of the same five parameters in bootstrap replicates and the fit-result JSON, where a and b
#: would clash with the exponents a = β/(α+β) and b = α/(α+β).
SAMPLE_KEYS = ("log_A", "log_B", "log_E", "alpha", "beta")


def chinchilla_grid() -> np.ndarray:
    """Besiroglu et al. (2024)'s 4,500 starting points, shape (4500, 5).

    α, β ∈ {0, 0.5, …, 2}; e ∈ {−1, −0.5, …, 1}; a, b ∈ {0, 5, …, 25};
    columns in :data:`PARAM_ORDER`.
    """
    alphas = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    abs_ = np.arange(0.0, 25.1, 5.0)
    rows = [(a, b, e, al, be) for al, be, e, a, b in product(alphas, alphas, es, abs_, abs_)]
    return np.array(rows, dtype=np.float64)


CHINCHILLA_GRID = chinchilla_grid()


def _lse_stable(u1: np.ndarray, u2: np.ndarray, e: np.ndarray) -> np.ndarray:
    """log(eᵘ¹ + eᵘ² + eᵉ) without overflow, for rows the fast path cannot take."""
    return np.logaddexp(np.logaddexp(u1, u2), e)


def objective_and_grad(
    x: np.ndarray,
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_l: np.ndarray,
    delta: float,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Summed Huber objective of the log-sum-exp model and its analytic gradient.

    With r = LSE(a − α log N, b − β log D, e) − log L and Huber loss h_δ,
    f = Σ w h_δ(r); the gradient uses the softmax weights p_k of the three
    terms: ∂f/∂a = Σ w h'(r) p₁, ∂f/∂α = −Σ w h'(r) p₁ log N, and so on.

    Args:
        x: parameters, shape (B, 5), columns (a, b, e, α, β).
        log_n, log_d, log_l: natural logs of N, D and L, shape (n,).
        delta: Huber threshold on the residual in log loss.
        weights: per-problem weights on the runs, shape (B, n) or (n,); a
            bootstrap resample is a vector of counts. ``None`` weights all 1.

    Returns:
        f of shape (B,) and its gradient of shape (B, 5).
    """
    if x.shape[0] <= _BLOCK:
        return _objective_block(x, log_n, log_d, log_l, delta, weights)
    # Blocks of rows keep the (rows, n) temporaries in cache: about 1.5x faster
    # than one pass over all 4,500 starts at once.
    f = np.empty(x.shape[0])
    g = np.empty((x.shape[0], 5))
    for i in range(0, x.shape[0], _BLOCK):
        sl = slice(i, i + _BLOCK)
        w = weights[sl] if weights is not None and np.ndim(weights) == 2 else weights  # per start, or shared
        f[sl], g[sl] = _objective_block(x[sl], log_n, log_d, log_l, delta, w)
    return f, g


_BLOCK = 256


def _objective_block(x, log_n, log_d, log_l, delta, weights):
    a, b, e, al, be = (x[:, k : k + 1] for k in range(5))
    # Fast path: exponentiate directly (one exp per term instead of the two
    # transcendental calls per pair that logaddexp makes); rows that overflow
    # or underflow are redone stably below.
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        t1 = np.exp(a - al * log_n)  # (B, n): A / N^α
        t2 = np.exp(b - be * log_d)  # (B, n): B / D^β
        t3 = np.exp(e)  # (B, 1): E
        s = t1 + t2 + t3  # predicted L
        lse = np.log(s)
    bad = ~np.all(np.isfinite(lse) & (lse > -600.0), axis=1)
    if np.any(bad):
        u1 = a[bad] - al[bad] * log_n
        u2 = b[bad] - be[bad] * log_d
        lb = _lse_stable(u1, u2, e[bad])
        lse[bad] = lb
        # Store the terms relative to the sum so that t/s below are the softmax weights.
        t1[bad], t2[bad], s[bad] = np.exp(u1 - lb), np.exp(u2 - lb), 1.0
        t3 = np.broadcast_to(t3, t1.shape).copy()
        t3[bad] = np.exp(e[bad] - lb)
    r = lse - log_l
    dh = np.clip(r, -delta, delta)  # Huber derivative h'(r)
    h = dh * (r - 0.5 * dh)  # Huber loss: r²/2 inside ±δ, δ(|r| − δ/2) outside
    if weights is not None:
        h = h * weights
        dh = dh * weights
    f = h.sum(axis=1)
    q = dh / s
    w1 = q * t1  # h'(r) p₁
    w2 = q * t2  # h'(r) p₂
    g = np.empty((x.shape[0], 5))
    g[:, [0, 3]] = w1 @ np.stack([np.ones_like(log_n), -log_n], axis=1)
    g[:, [1, 4]] = w2 @ np.stack([np.ones_like(log_d), -log_d], axis=1)
    g[:, 2] = (q * t3).sum(axis=1) if t3.ndim == 2 and t3.shape[1] > 1 else q.sum(axis=1) * t3[:, 0]
    return f, g


@dataclass(frozen=True)
class ParametricFit:
    """Fitted L(N, D) = E + A/N^α + B/D^β (Approach 3).

    Attributes:
        E, A, B, alpha, beta: the parameters (L in nats per token, N in
            parameters, D in tokens).
        objective: summed Huber loss at the optimum.
        n_points: number of runs fitted.
        success: whether the optimiser converged.
        message: why it stopped, or what went wrong.
        n_starts: number of starting points tried.
        delta: the Huber threshold used.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float
    n_points: int
    success: bool
    message: str
    n_starts: int = 0
    delta: float = 1e-3
    extras: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def a(self) -> float:
        """Exponent of N_opt ∝ C^a, a = β/(α+β)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ∝ C^b, b = α/(α+β)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """G = (αA/(βB))^(1/(α+β)) of Hoffmann et al. Eq. 4."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def loss(self, n_params, n_tokens) -> np.ndarray:
        """Predicted loss L(N, D) in nats per token."""
        n = np.asarray(n_params, dtype=float)
        d = np.asarray(n_tokens, dtype=float)
        return self.E + self.A / n**self.alpha + self.B / d**self.beta

    def predict(self, flops, counting: Counting = Counting()) -> dict[str, np.ndarray]:
        """N_opt, D_opt and the loss at the optimum for FLOP budgets C (an array keeps its shape), under
        the table's FLOP ``counting`` (by default C = 6ND, Hoffmann et al. Eq. 4); see
        :func:`isoflop.laws.fit.frontier.frontier`."""
        c = np.asarray(flops, dtype=float)
        rows = [frontier(self.E, self.A, self.B, self.alpha, self.beta, float(x), counting) for x in c.ravel()]
        return {
            k: np.array([r[k][0] for r in rows]).reshape(c.shape) for k in ("optimal_params", "optimal_tokens", "loss")
        }

    @property
    def params(self) -> np.ndarray:
        """(a, b, e, α, β) in :data:`PARAM_ORDER`."""
        return np.array([np.log(self.A), np.log(self.B), np.log(self.E), self.alpha, self.beta])

    @classmethod
    def from_params(cls, x, **kw) -> ParametricFit:
        """Build from (a, b, e, α, β)."""
        a, b, e, al, be = (float(v) for v in x)
        return cls(E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=al, beta=be, **kw)


def derived_quantities(samples: dict) -> dict[str, np.ndarray]:
    """E, A, B, α, β, a, b and G from replicates of (log A, log B, log E, α, β).

    Args:
        samples: arrays keyed by :data:`SAMPLE_KEYS`.

    Returns:
        Arrays keyed "E", "A", "B", "alpha", "beta", "a", "b", "G" (NaN where undefined).
    """
    al, be = np.asarray(samples["alpha"], dtype=float), np.asarray(samples["beta"], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        A, B, E = (np.exp(np.asarray(samples[k], dtype=float)) for k in SAMPLE_KEYS[:3])
        G = (al * A / (be * B)) ** (1.0 / (al + be))
        return {"E": E, "A": A, "B": B, "alpha": al, "beta": be, "a": be / (al + be), "b": al / (al + be), "G": G}


def _check_inputs(n_params, n_tokens, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.asarray(n_params, dtype=float)
    d = np.asarray(n_tokens, dtype=float)
    l = np.asarray(loss, dtype=float)
    if not (n.shape == d.shape == l.shape) or n.ndim != 1:
        raise FitError(f"n_params, n_tokens and loss must be 1-D of equal length, got {n.shape}, {d.shape}, {l.shape}")
    for name, v in (("n_params", n), ("n_tokens", d), ("loss", l)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise FitError(f"{name} must be finite and positive")
    if n.size < 5:
        raise FitError(f"Approach 3 has 5 parameters and needs at least 5 runs, got {n.size}")
    return np.log(n), np.log(d), np.log(l)


def _polish(x0, log_n, log_d, log_l, delta, weights=None):
    """Refine one start with scipy's L-BFGS-B at tight tolerances."""

    def fg(x):
        f, g = objective_and_grad(x[None, :], log_n, log_d, log_l, delta, weights)
        return f[0], g[0]

    return minimize(fg, x0, jac=True, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-11, "maxiter": 1000})


def fit_parametric(
    n_params, n_tokens, loss, *, delta: float = 1e-3, init_grid: np.ndarray | None = None, n_polish: int = 5
) -> ParametricFit:
    """Fit L(N, D) = E + A/N^α + B/D^β by multi-start L-BFGS (Approach 3).

    All starting points are optimised as one batch (see :mod:`isoflop.laws.fit._lbfgs`);
    hopeless starts are dropped after a few iterations, and the best
    ``n_polish`` distinct optima are refined with scipy's L-BFGS-B at tight
    tolerances. The best refined optimum is returned.

    Args:
        n_params: N per run, in parameters.
        n_tokens: D per run, in tokens.
        loss: final loss per run, in nats per token.
        delta: Huber threshold on residuals of log loss (Hoffmann et al.: 1e-3).
        init_grid: starting points, shape (k, 5), columns (a, b, e, α, β);
            defaults to :data:`CHINCHILLA_GRID` (4,500 points).
        n_polish: number of distinct batch optima refined with scipy.

    Returns:
        A :class:`ParametricFit`.

    Raises:
        FitError: on non-positive or non-finite inputs, or fewer than 5 runs.
    """
    log_n, log_d, log_l = _check_inputs(n_params, n_tokens, loss)
    if delta <= 0:
        raise FitError(f"delta ({delta}) must be positive")
    grid = CHINCHILLA_GRID if init_grid is None else np.asarray(init_grid, dtype=float)
    if grid.ndim != 2 or grid.shape[1] != 5:
        raise FitError(f"init_grid must have shape (k, 5) with columns {PARAM_ORDER}, got {grid.shape}")

    def fun_grad(x, idx):
        return objective_and_grad(x, log_n, log_d, log_l, delta)

    # Pruning after 3, 10 and 30 iterations to the best 10% (at least 50)
    # reaches the exhaustive loop's optimum on the Chinchilla runs (see
    # benchmarks/bench_fit.py and tests/test_parametric.py) at a tenth of the cost.
    res = minimize_batch(fun_grad, grid, max_iter=200, gtol=1e-9, ftol=1e-10, prune_at=(3, 10, 30))
    finite = np.isfinite(res.f)
    if not np.any(finite):
        return ParametricFit(
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            np.inf,
            log_n.size,
            False,
            "objective is not finite at any starting point",
            len(grid),
            delta,
        )
    # Distinct candidates, best first: the same basin reached from many starts
    # is refined once.
    order = np.argsort(np.where(finite, res.f, np.inf))
    candidates: list[np.ndarray] = []
    for i in order[: 50 * n_polish]:
        if not finite[i]:
            break
        if all(np.max(np.abs(res.x[i] - c)) > 1e-3 for c in candidates):
            candidates.append(res.x[i])
        if len(candidates) == n_polish:
            break
    best = min((_polish(c, log_n, log_d, log_l, delta) for c in candidates), key=lambda r: r.fun)  # first on ties
    x = best.x
    gmax = float(np.max(np.abs(best.jac)))
    # L-BFGS-B at ftol=1e-15 often ends with "ABNORMAL" when the line search
    # hits float precision or a Huber kink; the gradient says whether that is
    # an optimum. Its scale: every run contributes at most δ·|log N| (or
    # |log D|) to a component, so compare with a millionth of that bound.
    g_scale = delta * (np.abs(log_n).sum() + np.abs(log_d).sum())
    ok = bool(np.isfinite(best.fun)) and (best.success or gmax < 1e-6 * g_scale)
    if not ok:
        msg = f"optimiser did not converge: {best.message} (max |gradient| {gmax:.2e})"
    elif x[3] <= 0 or x[4] <= 0:
        ok = False
        msg = f"optimum has a non-positive exponent (alpha={x[3]:.3g}, beta={x[4]:.3g})"
    else:
        msg = f"converged from {len(grid)} starts (max |gradient| {gmax:.1e})"
    return ParametricFit.from_params(
        x,
        objective=float(best.fun),
        n_points=int(log_n.size),
        success=ok,
        message=msg,
        n_starts=len(grid),
        delta=delta,
        extras={"batch_evaluations": res.n_evals, "n_candidates": len(candidates)},
    )


def bootstrap_parametric(fit: ParametricFit, n_params, n_tokens, loss, weights: np.ndarray) -> np.ndarray:
    """Refit Approach 3 on many resamples at once, warm-started at ``fit``.

    Each resample is a row of run weights (counts of how often each run was
    drawn). Starting every resample from the full-data optimum follows common
    bootstrap practice for expensive multi-start fits (Besiroglu et al. 2024):
    a resample's optimum lies near the full-data one.

    Args:
        fit: the full-data fit.
        n_params, n_tokens, loss: the runs, as for :func:`fit_parametric`.
        weights: shape (R, n), non-negative counts per resample.

    Returns:
        Parameters (a, b, e, α, β) per resample, shape (R, 5); rows that did
        not converge to finite values are NaN.
    """
    log_n, log_d, log_l = _check_inputs(n_params, n_tokens, loss)
    w = np.asarray(weights, dtype=float)

    def fun_grad(x, idx):
        return objective_and_grad(x, log_n, log_d, log_l, fit.delta, w[idx])

    x0 = np.repeat(fit.params[None, :], w.shape[0], axis=0)
    res = minimize_batch(fun_grad, x0, max_iter=1000, gtol=1e-11, ftol=1e-13)
    out = res.x.copy()
    out[~(np.isfinite(res.f) & res.converged)] = np.nan
    return out
