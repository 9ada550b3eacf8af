"""The multi-power law of a loss curve under any learning-rate schedule (Luo et al. 2025).

Luo et al., *A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules* (arXiv 2503.12811),
Eq. 5: with η_t the learning rate of step t, S1(t) = Σ_{τ≤t} η_τ its area so far, and
S_k(t) = Σ_{k≤τ≤t} η_τ,

    L(t) = L0 + A · (S1(t) + S0)^(−α) − LD(t),
    LD(t) = B · Σ_{k≤t} (η_{k−1} − η_k) · G(η_k^(−γ) · S_k(t)),   G(x) = 1 − (C·x + 1)^(−β).

The first term is the constant-LR power law in the LR area; LD is the loss reduction that every drop of the
LR buys, saturating as training goes on after it. The offset S0 in the LR area is ours (the paper's law is
S0 = 0), as power laws in steps carry one (L = E + A·(t + t0)^(−α)): without it the power term cannot follow
the fast early descent, which a large model's short runs at small budgets still sit in, and the cooldown
ends it predicts there bend. It was kept by measurement (``benchmarks/bench_profiles.py --parts pairs``, the
trunk and three cooldowns per trunk fitted, the rest predicted): the mean / worst error of the held-out ends
went from 0.55% / 1.99% to 0.24% / 0.74% on ``results/answer``, and carried over to folders it was not chosen
on, 0.56% / 1.98% → 0.30% / 0.66% on ``results/answer-trunk-val`` and 0.47% / 1.41% → 0.27% / 0.85% on
``results/wsd`` (another corpus). Learning rates enter relative to the curve's peak (so A,
B, C are free of the LR's units); only drops count in LD (a warmup's rises do not). The law is fitted to a
run's curves by variable projection (:func:`fit_multipower`): the law is linear in L0, A and B.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import least_squares

from isoflop.jsonio import json_float

#: The law's parameters, in the paper's symbols.
PARAMS = ("L0", "A", "alpha", "B", "C", "beta", "gamma", "S0")


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
    """L(t) under a schedule (see the module docstring); ``eta_ref`` is the LR that η is measured against, and
    S0 is in steps at ``eta_ref`` (0, the paper's law, in documents written before it was fitted)."""

    L0: float
    A: float
    alpha: float
    B: float
    C: float
    beta: float
    gamma: float
    eta_ref: float
    S0: float = 0.0

    def predict(self, schedule: Schedule) -> np.ndarray:
        """The loss at ``schedule.at``."""
        return _predict(self.params, schedule.eta / self.eta_ref, schedule.at)

    @property
    def params(self) -> np.ndarray:
        return np.array([getattr(self, k) for k in PARAMS])

    @property
    def start(self) -> tuple[float, float, float, float, float]:
        """The law's nonlinear parameters as :func:`fit_joint` searches them: (α, log C, log β, γ, log S0)."""
        s0 = float(np.log(max(self.S0, np.exp(_BOUNDS[0][4]))))
        return (self.alpha, float(np.log(self.C)), float(np.log(self.beta)), self.gamma, s0)

    def to_dict(self) -> dict:
        return {k: json_float(getattr(self, k)) for k in (*PARAMS, "eta_ref")}

    @classmethod
    def from_dict(cls, d: dict) -> MultiPowerLaw:
        d = {"S0": 0.0, **d}
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
            "n_points": int(self.n_points),
            "success": bool(self.success),
            "message": str(self.message),
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
    """The law's three terms at ``at`` for fixed (α, C, β, γ, S0): columns 1, (S1 + S0)^(−α) and −Σ drops·G, so
    that L = [L0, A, B] · terms (the law is linear in L0, A and B)."""
    alpha, C, beta, gamma, s0 = nonlinear
    cs = np.cumsum(eta)
    power = (cs[at - 1] + s0) ** (-alpha)
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
    L0, A, alpha, B, C, beta, gamma, s0 = p
    return _terms(np.array([alpha, C, beta, gamma, s0]), eta, at) @ np.array([L0, A, B])


#: Starting points of the nonlinear parameters (α, log C, log β, γ, log S0); L0, A and B are solved for at
#: each. One start of S0 (e^4, about 55 steps at the peak LR): starts at e^4 and e^6 reached the same fits on
#: the three folders of the module docstring, and a second start doubles the fit's time.
_STARTS = tuple(
    (alpha, logc, logb, gamma, 4.0)
    for alpha in (0.2, 0.5)
    for logc in (0.0, 2.0)
    for logb in (-0.7, 0.0)
    for gamma in (0.3, 0.7)
)


def fit_multipower(curves: list[tuple[Schedule, np.ndarray]], offset: bool = True) -> CurveFit:
    """Fit one multi-power law to curves of one model under their schedules (:func:`fit_joint` with one
    group).

    Args:
        curves: (schedule, observed losses at ``schedule.at``) per curve.
        offset: fit the offset S0 (else S0 = 0, the paper's law).
    """
    return fit_joint([curves], offset=offset)[0]


#: The nonlinear parameters in the order :func:`fit_joint` searches them (α, log C, log β, γ, log S0).
NONLINEAR = ("alpha", "C", "beta", "gamma", "S0")
#: Their bounds; S0's lower one (e^−5 steps) is no offset for any curve, so reaching it is not flagged.
_BOUNDS = (np.array([0.0, -10.0, -4.0, -1.0, -5.0]), np.array([3.0, 10.0, 3.0, 3.0, 12.0]))


def fit_joint(
    groups: list[list[tuple[Schedule, np.ndarray]]],
    starts=_STARTS,
    own: tuple[str, ...] = (),
    start_laws: list[MultiPowerLaw] | None = None,
    offset: bool = True,
    fall_back: bool = True,
) -> list[CurveFit]:
    """Fit multi-power laws that share their exponents, saturation and offset (α, C, β, γ, S0) across groups of curves
    (one group per model, or per trunk), each group with its own L0, A and B: the size dependence enters
    through the linear parameters, and the shared ones are fitted once, to every group's rows.

    By variable projection: for each (α, C, β, γ, S0) each group's L0, A and B are the least-squares solution,
    so the search is over five parameters only (from a grid of starts; relative residuals, so every point
    weighs alike). Learning rates are measured against each group's own peak.

    Args:
        groups: per group, (schedule, observed losses at ``schedule.at``) per curve.
        starts: starting points (α, log C, log β, γ, log S0) of the search; a refit near a known solution (a
            bootstrap draw's, :func:`isoflop.laws.curves.profiles.profiles`) starts from that one alone
            (:attr:`MultiPowerLaw.start`).
        own: nonlinear parameters (of :data:`NONLINEAR`) that each group fits for itself, the rest shared:
            the all-shared fit comes first, and the search then frees these from its solution (one column
            per group in the Jacobian, which is sparse: a group's rows depend on its own).
        start_laws: per group, a law to start that second search from, instead of the all-shared fit (a
            bootstrap refit of a fit with ``own``).
        offset: search the offset S0; False holds it at 0 (the paper's law), and ``own`` may not name it.
        fall_back: where fewer groups' laws converge (with the right signs) with the offset than without it
            (short curves that pin neither), return the fit without it, each message saying so (not when
            ``own`` names S0, which cannot be held at 0). A refit of a known law (a bootstrap draw) passes
            False: it refits the same form, and fails where it fails.

    Returns:
        One :class:`CurveFit` per group; its ``rms`` is the group's own.
    """
    bad = [k for k in own if k not in NONLINEAR or (k == "S0" and not offset)]
    if bad:
        held = "" if offset else " (S0 is held at 0: offset=False)"
        raise ValueError(f"own: {bad} are not among the nonlinear parameters searched, {NONLINEAR}{held}")
    refs = [max(float(s.eta.max()) for s, _ in g) for g in groups]
    data = [[(s.eta / ref, s.at, np.asarray(y, dtype=float)) for s, y in g] for g, ref in zip(groups, refs)]
    ys = [np.concatenate([d[2] for d in g]) for g in data]
    searched = [i for i, k in enumerate(NONLINEAR) if offset or k != "S0"]  # the rest stay at −∞ in log: 0
    mine = [NONLINEAR.index(k) for k in own]
    common = [i for i in searched if i not in mine]

    def unpack(q, free: bool) -> list[np.ndarray]:
        """Each group's nonlinear parameters (in :func:`fit_joint`'s search space, all of them) from the
        searched vector: the shared ones (``free`` False), or the common ones and each group's own."""
        v = np.full(len(NONLINEAR), -np.inf)
        if not free:
            v[searched] = q
            return [v] * len(data)
        out = []
        for g in range(len(data)):
            v = v.copy()
            v[common] = q[: len(common)]
            v[mine] = q[len(common) + g * len(mine) : len(common) + (g + 1) * len(mine)]
            out.append(v)
        return out

    def solve(q, free: bool = False):
        nls, lins, res = [], [], []
        for v, g, y in zip(unpack(q, free), data, ys):
            nl = np.array([v[0], np.exp(v[1]), np.exp(v[2]), v[3], np.exp(v[4])])
            X = np.concatenate([_terms(nl, eta, at) for eta, at, _ in g]) / y[:, None]
            lin, *_ = np.linalg.lstsq(X, np.ones_like(y), rcond=None)
            nls.append(nl)
            lins.append(lin)
            res.append(X @ lin - 1.0)
        return nls, lins, res

    best = None
    bounds = (_BOUNDS[0][searched], _BOUNDS[1][searched])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for q0 in starts if start_laws is None or not own else ():
            q0 = np.clip(np.asarray(q0, dtype=float)[searched], *bounds)
            try:
                f = least_squares(lambda q: np.concatenate(solve(q)[2]), q0, bounds=bounds, max_nfev=400)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(f.cost) and (best is None or f.cost < best.cost):
                best = f
        freed = None
        if own and (best is not None or start_laws is not None):
            shared = None if best is None else unpack(best.x, False)[0]
            freed = _free_search(solve, shared, start_laws, common, mine, [y.size for y in ys])
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
        near = [(q - lo < 1e-3 * (hi - lo), hi - q < 1e-3 * (hi - lo)) for q, lo, hi in zip(v, *_BOUNDS)]
        edge = [name for name, (low, high) in zip(NONLINEAR, near) if high or (low and name != "S0")]
        law = MultiPowerLaw(
            L0=float(lin[0]),
            A=float(lin[1]),
            alpha=float(nl[0]),
            B=float(lin[2]),
            C=float(nl[1]),
            beta=float(nl[2]),
            gamma=float(nl[3]),
            eta_ref=ref,
            S0=float(nl[4]),
        )
        ok = bool(best.success) and lin[1] > 0 and lin[2] > 0
        msg = str(best.message) if best.success else f"did not converge: {best.message}"
        if best.success and not ok:
            msg = f"a term has the wrong sign (A={lin[1]:.3g}, B={lin[2]:.3g})"
        if ok and edge:
            msg = f"converged, with {', '.join(edge)} at the edge of the searched range (the curves do not pin it)"
        out.append(CurveFit(law, float(np.sqrt(np.mean(r**2))), int(y.size), ok, msg))
    if offset and fall_back and "S0" not in own and not all(f.success for f in out):
        plain = fit_joint(groups, starts, own, offset=False)
        if sum(f.success for f in plain) > sum(f.success for f in out):
            why = "; the paper's law (S0 = 0), as with the offset S0 fewer groups' laws converged"
            return [replace(f, message=f.message + why) for f in plain]
    return out


def _free_search(solve, shared, start_laws, common, mine, sizes):
    """The search with the ``own`` parameters freed per group, from the all-shared solution ``shared`` (all
    the nonlinear parameters, in the search space) or from ``start_laws``; None when it fails."""
    from scipy.sparse import lil_matrix

    G = len(sizes)
    if start_laws is not None:
        starts = [np.array(law.start) for law in start_laws]
        q0 = np.concatenate([np.mean([s[common] for s in starts], axis=0)] + [s[mine] for s in starts])
    else:
        q0 = np.concatenate([shared[common]] + [shared[mine]] * G)
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
