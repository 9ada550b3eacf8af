"""The compute-optimal frontier of a fitted surface L(N, D) under a table's own FLOP counting.

Hoffmann et al. (2022), Eq. 4, minimise L(N, D) subject to C = 6ND, which has the
closed form N_opt = G (C/6)^a. A table whose runs were counted otherwise (the
Chinchilla convention adds attention and embedding FLOPs, so C ≠ 6ND for tiny
models) asks a different question at each budget: which N minimises
L(N, C / c(N)), where c(N) is the table's FLOPs per token at size N. Approach 2's
vertices answer that question; so must the parametric frontier, or the two
disagree by construction.

:class:`Counting` is c(N): exactly 6N, or read off the table's runs as
c(N) = 6N · (1 + r(N)) with r(N) = r₀·N^ρ, a power law fitted to the runs' C/(6ND) − 1
(ρ ≤ 0, so r → 0 for large models, where every convention tends to 6N). A smooth
c(N) keeps the frontier smooth: an interpolation with kinks would pin N_opt to its knots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from isoflop.errors import FitError
from isoflop.laws.repeats import R_STAR, effective_tokens

SIX_ND = "6ND"
TABLE = "table"


@dataclass(frozen=True)
class Counting:
    """FLOPs per token as a function of N.

    Attributes:
        name: "6ND" (C = 6ND exactly) or "table" (read from the runs' C / D).
        r0, rho: c(N) = 6N (1 + r0 · N^rho) under "table" (rho ≤ 0; rho = 0 is a constant ratio).
        n_range: the smallest and largest N the ratio was read from.
    """

    name: str = SIX_ND
    r0: float = 0.0
    rho: float = 0.0
    n_range: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        if self.name not in (SIX_ND, TABLE):
            raise FitError(f"counting ({self.name!r}) must be {SIX_ND} or {TABLE}")
        if not (np.isfinite(self.r0) and np.isfinite(self.rho) and self.rho <= 0):
            raise FitError(f"counting: r0 ({self.r0}) must be finite and rho ({self.rho}) finite and at most 0")

    @property
    def is_6nd(self) -> bool:
        return self.name == SIX_ND

    def describe(self) -> str:
        if self.is_6nd:
            return "C = 6ND"
        lo, hi = self.ratio(self.n_range)
        return (
            f"the table's own: C = c(N)·D, c(N) = 6N(1 + {self.r0:.3g}·N^{self.rho:.3g}), "
            f"1 + {lo:.3g} to 1 + {hi:.3g} times 6N over its sizes"
        )

    def ratio(self, n) -> np.ndarray:
        """r(N) = c(N)/(6N) − 1."""
        n = np.asarray(n, dtype=float)
        return np.zeros_like(n) if self.is_6nd else self.r0 * n**self.rho

    def per_token(self, n) -> np.ndarray:
        """c(N), FLOPs per token."""
        n = np.asarray(n, dtype=float)
        return 6.0 * n * (1.0 + self.ratio(n))

    @classmethod
    def from_runs(cls, n_params, n_tokens, flops, rel_tol: float = 1e-3) -> Counting:
        """The counting of a table: 6ND when every run has C = 6ND within ``rel_tol``; else r(N) = C/(6ND) − 1
        fitted as a power law in N (least squares in log–log, exponent at most 0), or as a constant (the
        median) when some ratio is not positive."""
        n, d, c = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, flops))
        ok = np.isfinite(n) & np.isfinite(d) & np.isfinite(c) & (n > 0) & (d > 0) & (c > 0)
        if not np.any(ok):
            return cls()
        n, r = n[ok], c[ok] / (6.0 * n[ok] * d[ok]) - 1.0
        if np.all(np.abs(r) <= rel_tol):
            return cls()
        span = (float(n.min()), float(n.max()))
        if np.all(r > 0) and np.unique(n).size >= 2:
            rho, log_r0 = np.polyfit(np.log(n), np.log(r), 1)
            if rho > 0:
                rho, log_r0 = 0.0, float(np.mean(np.log(r)))
            return cls(TABLE, float(np.exp(log_r0)), float(rho), span)
        return cls(TABLE, float(np.median(r)), 0.0, span)

    def to_dict(self) -> dict:
        return {"name": self.name, "r0": self.r0, "rho": self.rho, "n_range": list(self.n_range)}

    @classmethod
    def from_dict(cls, d: dict | None) -> Counting:
        if not d:
            return cls()
        return cls(
            str(d.get("name", SIX_ND)),
            float(d.get("r0", 0.0)),
            float(d.get("rho", 0.0)),
            cast("tuple[float, float]", tuple(float(v) for v in d.get("n_range", (0.0, 0.0)))),
        )


def frontier(
    E, A, B, alpha, beta, flops: float, counting: Counting = Counting(), unique_tokens=None, r_star=R_STAR
) -> dict[str, np.ndarray]:
    """N_opt, D_opt and L at the optimum at budget C, for one or many surfaces (arrays broadcast).

    This is the one home of the parametric optimum: fits, simulated truths and audits all call it.
    Under 6ND with unlimited data it is Hoffmann et al.'s closed form. Otherwise each surface's
    L(N, C/c(N)) (with D replaced by Muennighoff et al.'s effective tokens when ``unique_tokens`` is
    given) is minimised over log N: a grid of ±5 decades around the 6ND optimum, then a parabola through
    the best grid point and its neighbours, then Newton steps on a finite-difference derivative
    (converges to ~1e-9 in log N).
    """
    E, A, B, al, be = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in (E, A, B, alpha, beta)))

    def d_eff(d):
        return d if unique_tokens is None else effective_tokens(d, unique_tokens, r_star)

    with np.errstate(all="ignore"):
        G = (al * A / (be * B)) ** (1.0 / (al + be))
        n6 = G * (flops / 6.0) ** (be / (al + be))
        if counting.is_6nd and unique_tokens is None:
            n, d = n6, flops / (6.0 * n6)
            return {"optimal_params": n, "optimal_tokens": d, "loss": E + A / n**al + B / d**be}

        def loss(u):  # u = ln N, shape (P, k)
            nn = np.exp(u)
            dd = d_eff(flops / counting.per_token(nn))
            return E[:, None] + A[:, None] / nn ** al[:, None] + B[:, None] / dd ** be[:, None]

        centre = np.log(np.where(np.isfinite(n6) & (n6 > 0), n6, 1.0))
        offs = np.linspace(-11.5, 11.5, 461)  # ±5 decades, 0.05 nats apart
        u = centre[:, None] + offs[None, :]
        lv = loss(u)
        lv = np.where(np.isfinite(lv), lv, np.inf)
        k = np.clip(np.argmin(lv, axis=1), 1, offs.size - 2)
        rows = np.arange(u.shape[0])
        y0, y1, y2 = lv[rows, k - 1], lv[rows, k], lv[rows, k + 1]
        h = offs[1] - offs[0]
        den = y0 - 2 * y1 + y2
        best = u[rows, k] + np.where(den > 0, 0.5 * h * (y0 - y2) / den, 0.0)
        eps = 1e-4
        for _ in range(6):  # Newton on dL/du with central differences
            lm, l0, lp = (loss((best + s)[:, None])[:, 0] for s in (-eps, 0.0, eps))
            g1, g2 = (lp - lm) / (2 * eps), (lp - 2 * l0 + lm) / eps**2
            step = np.where(g2 > 0, -g1 / g2, 0.0)
            best = best + np.clip(step, -h, h)
        n = np.exp(best)
        d = flops / counting.per_token(n)
        bad = ~np.isfinite(n6)
        n[bad], d[bad] = np.nan, np.nan
        return {"optimal_params": n, "optimal_tokens": d, "loss": E + A / n**al + B / d_eff(d) ** be}
