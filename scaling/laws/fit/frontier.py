"""The compute-optimal frontier of a fitted surface L(N, D) under a table's own FLOP counting.

Hoffmann et al. (2022), Eq. 4, minimise L(N, D) subject to C = 6ND, which has the
closed form N_opt = G (C/6)^a. A table whose runs were counted otherwise (the
Chinchilla convention adds attention and embedding FLOPs, so C ≠ 6ND for tiny
models) asks a different question at each budget: which N minimises
L(N, C / c(N)), where c(N) is the table's FLOPs per token at size N. Approach 2's
vertices answer that question; so must the parametric frontier, or the two
disagree by construction.

:class:`Counting` is c(N): exactly 6N, or read off the table's runs as
c(N) = 6N · (1 + r(N)), with r interpolated in log N between the sizes the table
holds and extrapolated beyond them as a power law that never grows (r → 0 for
large models, where every convention tends to 6N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.errors import FitError

SIX_ND = "6ND"
TABLE = "table"


@dataclass(frozen=True)
class Counting:
    """FLOPs per token as a function of N.

    Attributes:
        name: "6ND" (C = 6ND exactly) or "table" (read from the runs' C / D).
        log_n: knots, natural log of N (empty for 6ND), increasing.
        r: c(N) / (6N) − 1 at the knots.
    """

    name: str = SIX_ND
    log_n: tuple[float, ...] = ()
    r: tuple[float, ...] = ()

    def __post_init__(self):
        if self.name not in (SIX_ND, TABLE):
            raise FitError(f"counting ({self.name!r}) must be {SIX_ND} or {TABLE}")
        if len(self.log_n) != len(self.r) or (self.name == TABLE and not self.log_n):
            raise FitError("a table counting needs as many knots as values of r, and at least one")

    @property
    def is_6nd(self) -> bool:
        return self.name == SIX_ND

    def describe(self) -> str:
        if self.is_6nd:
            return "C = 6ND"
        lo, hi = self.r[0], self.r[-1]
        return f"the table's own: C = c(N)·D, c(N)/6N − 1 from {lo:.3g} to {hi:.3g} over its sizes"

    def ratio(self, n) -> np.ndarray:
        """r(N) = c(N)/(6N) − 1."""
        u = np.log(np.asarray(n, dtype=float))
        if self.is_6nd:
            return np.zeros_like(u)
        k, r = np.asarray(self.log_n), np.asarray(self.r)
        if k.size == 1:
            return np.full_like(u, r[0])
        out = np.interp(u, k, r)
        if np.all(r > 0):  # beyond the knots: a power law in N whose exponent is at most 0
            lr = np.log(r)
            s_lo = min(0.0, (lr[1] - lr[0]) / (k[1] - k[0]))
            s_hi = min(0.0, (lr[-1] - lr[-2]) / (k[-1] - k[-2]))
            out = np.where(u < k[0], np.exp(lr[0] + s_lo * (u - k[0])), out)
            out = np.where(u > k[-1], np.exp(lr[-1] + s_hi * (u - k[-1])), out)
        return out

    def per_token(self, n) -> np.ndarray:
        """c(N), FLOPs per token."""
        n = np.asarray(n, dtype=float)
        return 6.0 * n * (1.0 + self.ratio(n))

    @classmethod
    def from_runs(cls, n_params, n_tokens, flops, rel_tol: float = 1e-3) -> "Counting":
        """The counting of a table: 6ND when every run has C = 6ND within ``rel_tol``, else read from C / D."""
        n, d, c = (np.asarray(v, dtype=float) for v in (n_params, n_tokens, flops))
        ok = np.isfinite(n) & np.isfinite(d) & np.isfinite(c) & (n > 0) & (d > 0) & (c > 0)
        if not np.any(ok):
            return cls()
        r = c[ok] / (6.0 * n[ok] * d[ok]) - 1.0
        if np.all(np.abs(r) <= rel_tol):
            return cls()
        sizes = np.unique(n[ok])
        per = [float(np.median(r[n[ok] == s])) for s in sizes]
        return cls(TABLE, tuple(float(v) for v in np.log(sizes)), tuple(per))

    def to_dict(self) -> dict:
        return {"name": self.name, "log_n": list(self.log_n), "r": list(self.r)}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Counting":
        if not d:
            return cls()
        return cls(str(d.get("name", SIX_ND)), tuple(float(v) for v in d.get("log_n", ())),
                   tuple(float(v) for v in d.get("r", ())))


def frontier(E, A, B, alpha, beta, flops: float, counting: Counting) -> dict[str, np.ndarray]:
    """N_opt, D_opt and L at the optimum at budget C, for one or many surfaces (arrays broadcast).

    Under 6ND this is Hoffmann et al.'s closed form. Otherwise each surface's
    L(N, C/c(N)) is minimised over log N: a grid of ±5 decades around the 6ND
    optimum, then a parabola through the best grid point and its neighbours,
    then Newton steps on a finite-difference derivative (converges to ~1e-9 in log N).
    """
    E, A, B, al, be = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in (E, A, B, alpha, beta)))
    with np.errstate(all="ignore"):
        G = (al * A / (be * B)) ** (1.0 / (al + be))
        n6 = G * (flops / 6.0) ** (be / (al + be))
        if counting.is_6nd:
            n, d = n6, flops / (6.0 * n6)
            return {"optimal_params": n, "optimal_tokens": d, "loss": E + A / n**al + B / d**be}

        def loss(u):  # u = ln N, shape (P, k)
            nn = np.exp(u)
            dd = flops / counting.per_token(nn)
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
        return {"optimal_params": n, "optimal_tokens": d, "loss": E + A / n**al + B / d**be}
