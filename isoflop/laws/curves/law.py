"""The multi-power law of a loss curve under any learning-rate schedule (Luo et al. 2025).

Luo et al., *A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules* (arXiv 2503.12811),
Eq. 5: with η_t the learning rate of step t, S1(t) = Σ_{τ≤t} η_τ its area so far, and
S_k(t) = Σ_{k≤τ≤t} η_τ,

    L(t) = L0 + A · S1(t)^(−α) − LD(t),
    LD(t) = B · Σ_{k≤t} (η_{k−1} − η_k) · G(η_k^(−γ) · S_k(t)),   G(x) = 1 − (C·x + 1)^(−β).

The first term is the constant-LR power law in the LR area; LD is the loss reduction that every drop of the
LR buys, saturating as training goes on after it. Learning rates enter relative to the curve's peak (so A,
B, C are free of the LR's units); only drops count in LD (a warmup's rises do not). The law is fitted to a
run's curves by variable projection (:func:`fit_multipower`): the law is linear in L0, A and B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from isoflop.jsonio import json_float

#: The law's parameters, in the paper's symbols.
PARAMS = ("L0", "A", "alpha", "B", "C", "beta", "gamma")


@dataclass(frozen=True)
class Schedule:
    """The learning rate of every step 1..T of one curve, and the steps whose loss is observed or wanted."""

    eta: np.ndarray  # η_t for t = 1..T (index t − 1)
    at: np.ndarray  # steps (1-based) to evaluate the law at

    @classmethod
    def from_rows(cls, steps, lr, at=None, end: int | None = None) -> Schedule:
        """The per-step LR read from logged rows (linear between rows, held before the first and after the
        last), up to step ``end`` (default the last row's)."""
        steps, lr = np.asarray(steps, dtype=float), np.asarray(lr, dtype=float)
        T = int(end if end is not None else steps.max())
        eta = np.interp(np.arange(1, T + 1), steps, lr)
        return cls(eta, np.asarray(steps if at is None else at, dtype=np.int64))


@dataclass(frozen=True)
class MultiPowerLaw:
    """L(t) under a schedule (see the module docstring); ``eta_ref`` is the LR that η is measured against."""

    L0: float
    A: float
    alpha: float
    B: float
    C: float
    beta: float
    gamma: float
    eta_ref: float

    def predict(self, schedule: Schedule) -> np.ndarray:
        """The loss at ``schedule.at``."""
        return _predict(self.params, schedule.eta / self.eta_ref, schedule.at)

    @property
    def params(self) -> np.ndarray:
        return np.array([getattr(self, k) for k in PARAMS])

    @property
    def start(self) -> tuple[float, float, float, float]:
        """The law's nonlinear parameters as :func:`fit_joint` searches them: (α, log C, log β, γ)."""
        return (self.alpha, float(np.log(self.C)), float(np.log(self.beta)), self.gamma)

    def to_dict(self) -> dict:
        return {k: json_float(getattr(self, k)) for k in (*PARAMS, "eta_ref")}

    @classmethod
    def from_dict(cls, d: dict) -> MultiPowerLaw:
        return cls(**{k: float(d[k]) if d[k] is not None else np.nan for k in (*PARAMS, "eta_ref")})


@dataclass(frozen=True)
class CurveFit:
    """A fitted law, how well it fits, and whether the fit converged."""

    law: MultiPowerLaw
    rms: float  # root mean square of the relative residuals
    n_points: int
    success: bool
    message: str

    def to_dict(self) -> dict:
        return {
            "law": self.law.to_dict(),
            "rms": json_float(self.rms),
            "n_points": self.n_points,
            "success": self.success,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CurveFit:
        rms = d.get("rms")
        return cls(
            MultiPowerLaw.from_dict(d["law"]),
            float(rms) if rms is not None else np.nan,
            int(d["n_points"]),
            bool(d["success"]),
            str(d["message"]),
        )


def _terms(nonlinear: np.ndarray, eta: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The law's three terms at ``at`` for fixed (α, C, β, γ): columns 1, S1^(−α) and −Σ drops·G, so that
    L = [L0, A, B] · terms (the law is linear in L0, A and B)."""
    alpha, C, beta, gamma = nonlinear
    cs = np.cumsum(eta)
    power = cs[at - 1] ** (-alpha)
    drop = np.zeros_like(eta)
    drop[1:] = eta[:-1] - eta[1:]
    ks = np.flatnonzero(drop > 0)  # 0-based index k − 1 of the steps whose LR dropped
    ld = np.zeros(at.size)
    if ks.size:
        before = np.concatenate([[0.0], cs])[ks]  # Σ_{τ<k} η_τ
        s_k = np.maximum(cs[at - 1][:, None] - before[None, :], 0.0)  # S_k(t) = Σ_{k≤τ≤t} η_τ
        x = np.maximum(eta[ks], 1e-12)[None, :] ** (-gamma) * s_k
        g = 1.0 - (C * x + 1.0) ** (-beta)
        ld = ((ks[None, :] < at[:, None]) * drop[ks][None, :] * g).sum(axis=1)
    return np.stack([np.ones(at.size), power, -ld], axis=1)


def _predict(p: np.ndarray, eta: np.ndarray, at: np.ndarray) -> np.ndarray:
    L0, A, alpha, B, C, beta, gamma = p
    return _terms(np.array([alpha, C, beta, gamma]), eta, at) @ np.array([L0, A, B])


#: Starting points of the nonlinear parameters (α, log C, log β, γ); L0, A and B are solved for at each.
_STARTS = tuple(
    (alpha, logc, logb, gamma)
    for alpha in (0.2, 0.5)
    for logc in (0.0, 2.0)
    for logb in (-0.7, 0.0)
    for gamma in (0.3, 0.7)
)


def fit_multipower(curves: list[tuple[Schedule, np.ndarray]]) -> CurveFit:
    """Fit one multi-power law to curves of one model under their schedules (:func:`fit_joint` with one
    group).

    Args:
        curves: (schedule, observed losses at ``schedule.at``) per curve.
    """
    return fit_joint([curves])[0]


#: The nonlinear parameters in the order :func:`fit_joint` searches them (α, log C, log β, γ).
NONLINEAR = ("alpha", "C", "beta", "gamma")
_BOUNDS = (np.array([0.0, -10.0, -4.0, -1.0]), np.array([3.0, 10.0, 3.0, 3.0]))


def fit_joint(
    groups: list[list[tuple[Schedule, np.ndarray]]],
    starts=_STARTS,
    own: tuple[str, ...] = (),
    start_laws: list[MultiPowerLaw] | None = None,
) -> list[CurveFit]:
    """Fit multi-power laws that share their exponents and saturation (α, C, β, γ) across groups of curves
    (one group per model, or per trunk), each group with its own L0, A and B: the size dependence enters
    through the linear parameters, and the shared ones are fitted once, to every group's rows.

    By variable projection: for each (α, C, β, γ) each group's L0, A and B are the least-squares solution,
    so the search is over four parameters only (from a grid of starts; relative residuals, so every point
    weighs alike). Learning rates are measured against each group's own peak.

    Args:
        groups: per group, (schedule, observed losses at ``schedule.at``) per curve.
        starts: starting points (α, log C, log β, γ) of the search; a refit near a known solution (a
            bootstrap draw's, :func:`isoflop.laws.curves.profiles.profiles`) starts from that one alone
            (:attr:`MultiPowerLaw.start`).
        own: nonlinear parameters (of :data:`NONLINEAR`) that each group fits for itself, the rest shared:
            the all-shared fit comes first, and the search then frees these from its solution (one column
            per group in the Jacobian, which is sparse: a group's rows depend on its own).
        start_laws: per group, a law to start that second search from, instead of the all-shared fit (a
            bootstrap refit of a fit with ``own``).

    Returns:
        One :class:`CurveFit` per group; its ``rms`` is the group's own.
    """
    bad = [k for k in own if k not in NONLINEAR]
    if bad:
        raise ValueError(f"own: {bad} are not among the nonlinear parameters {NONLINEAR}")
    refs = [max(float(s.eta.max()) for s, _ in g) for g in groups]
    data = [[(s.eta / ref, s.at, np.asarray(y, dtype=float)) for s, y in g] for g, ref in zip(groups, refs)]
    ys = [np.concatenate([d[2] for d in g]) for g in data]
    mine = [NONLINEAR.index(k) for k in own]
    common = [i for i in range(4) if i not in mine]

    def unpack(q, free: bool) -> list[np.ndarray]:
        if not free:
            return [np.asarray(q, dtype=float)] * len(data)
        out = []
        for g in range(len(data)):
            v = np.empty(4)
            v[common] = q[: len(common)]
            v[mine] = q[len(common) + g * len(mine) : len(common) + (g + 1) * len(mine)]
            out.append(v)
        return out

    def solve(q, free: bool = False):
        nls, lins, res = [], [], []
        for v, g, y in zip(unpack(q, free), data, ys):
            nl = np.array([v[0], np.exp(v[1]), np.exp(v[2]), v[3]])
            X = np.concatenate([_terms(nl, eta, at) for eta, at, _ in g]) / y[:, None]
            lin, *_ = np.linalg.lstsq(X, np.ones_like(y), rcond=None)
            nls.append(nl)
            lins.append(lin)
            res.append(X @ lin - 1.0)
        return nls, lins, res

    best = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for q0 in starts if start_laws is None or not own else ():
            try:
                f = least_squares(lambda q: np.concatenate(solve(q)[2]), q0, bounds=_BOUNDS, max_nfev=400)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(f.cost) and (best is None or f.cost < best.cost):
                best = f
        freed = None
        if own and (best is not None or start_laws is not None):
            freed = _free_search(solve, best, start_laws, common, mine, [y.size for y in ys])
        free = freed is not None
        best = freed or best
    if best is None:
        return [
            CurveFit(
                MultiPowerLaw(**dict.fromkeys(PARAMS, np.nan), eta_ref=ref),
                np.nan,
                int(y.size),
                False,
                "the objective is not finite at any starting point",
            )
            for ref, y in zip(refs, ys)
        ]
    nls, lins, res = solve(best.x, free)
    out = []
    for v, nl, lin, r, ref, y in zip(unpack(best.x, free), nls, lins, res, refs, ys):
        edge = [name for name, q, lo, hi in zip(NONLINEAR, v, *_BOUNDS) if min(q - lo, hi - q) < 1e-3 * (hi - lo)]
        law = MultiPowerLaw(
            L0=float(lin[0]),
            A=float(lin[1]),
            alpha=float(nl[0]),
            B=float(lin[2]),
            C=float(nl[1]),
            beta=float(nl[2]),
            gamma=float(nl[3]),
            eta_ref=ref,
        )
        ok = bool(best.success) and lin[1] > 0 and lin[2] > 0
        msg = str(best.message) if best.success else f"did not converge: {best.message}"
        if best.success and not ok:
            msg = f"a term has the wrong sign (A={lin[1]:.3g}, B={lin[2]:.3g})"
        if ok and edge:
            msg = f"converged, with {', '.join(edge)} at the edge of the searched range (the curves do not pin it)"
        out.append(CurveFit(law, float(np.sqrt(np.mean(r**2))), int(y.size), ok, msg))
    return out


def _free_search(solve, shared, start_laws, common, mine, sizes):
    """The search with the ``own`` parameters freed per group, from the all-shared solution ``shared`` (or
    from ``start_laws``); None when it fails."""
    from scipy.sparse import lil_matrix

    G = len(sizes)
    if start_laws is not None:
        starts = [np.array(law.start) for law in start_laws]
        q0 = np.concatenate([np.mean([s[common] for s in starts], axis=0)] + [s[mine] for s in starts])
    else:
        q0 = np.concatenate([shared.x[common]] + [shared.x[mine]] * G)
    lo = np.concatenate([_BOUNDS[0][common]] + [_BOUNDS[0][mine]] * G)
    hi = np.concatenate([_BOUNDS[1][common]] + [_BOUNDS[1][mine]] * G)
    pattern = lil_matrix((sum(sizes), q0.size), dtype=int)
    row = 0
    for g, n in enumerate(sizes):
        pattern[row : row + n, : len(common)] = 1
        pattern[row : row + n, len(common) + g * len(mine) : len(common) + (g + 1) * len(mine)] = 1
        row += n
    try:
        f = least_squares(
            lambda q: np.concatenate(solve(q, True)[2]),
            np.clip(q0, lo, hi),
            bounds=(lo, hi),
            jac_sparsity=pattern,
            max_nfev=300,
        )
    except (ValueError, np.linalg.LinAlgError):
        return None
    return f if np.isfinite(f.cost) else None
