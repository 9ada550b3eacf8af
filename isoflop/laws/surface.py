"""A known loss surface L(N, D), for simulated sweeps and for the planner's hidden truths.

The Chinchilla form (Hoffmann et al. 2022, Eq. 2), L(N, D) = E + A/N^α + B/D'^β, where D' is the
number of *effective* tokens: D itself while the data is seen once, and with a limited corpus of U_D unique
tokens, Muennighoff et al.'s discount of repeats (:mod:`isoflop.laws.repeats`). Without ``unique_tokens`` D' = D.

A surface is written as text ``E=1.8,A=482,B=2085,alpha=0.348,beta=0.366[,unique_tokens=4.5e6,r_star=15.4]``,
as a preset name (``epoch``, ``chinchilla``), or read from a ``scaling fit --json`` file (its Approach 3
or VPNLS surface).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from isoflop.errors import LawError
from isoflop.laws.fit.frontier import Counting, frontier
from isoflop.laws.repeats import R_STAR, effective_tokens

_KEYS = ("E", "A", "B", "alpha", "beta")


@dataclass(frozen=True)
class Surface:
    """L(N, D) = E + A/N^α + B/D'^β, with D' = D or Muennighoff's effective tokens.

    Attributes:
        E, A, B, alpha, beta: the Chinchilla form's parameters (A, B, E ≥ 0; α, β > 0).
        unique_tokens: U_D, the corpus's unique tokens; None means unlimited data.
        r_star: R_D*, the decay constant of repeated tokens' worth.
        name: where it came from, for messages and records.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    unique_tokens: float | None = None
    r_star: float = R_STAR
    name: str = ""

    def __post_init__(self):
        vals = {k: getattr(self, k) for k in _KEYS}
        bad = [k for k, v in vals.items() if not isinstance(v, (int, float)) or not np.isfinite(v)]
        if bad:
            raise LawError(f"surface {self.name or ''}: {', '.join(bad)} must be finite numbers".replace("  ", " "))
        if min(self.A, self.B, self.E) < 0 or self.alpha <= 0 or self.beta <= 0:
            raise LawError(f"surface {self.name}: needs A, B, E >= 0 and alpha, beta > 0, got {self.describe()}")
        if self.unique_tokens is not None and not self.unique_tokens > 0:
            raise LawError(f"surface {self.name}: unique_tokens ({self.unique_tokens}) must be positive")
        if not self.r_star > 0:
            raise LawError(f"surface {self.name}: r_star ({self.r_star}) must be positive")

    def effective_tokens(self, d):
        """D': D itself with unlimited data, else Muennighoff et al.'s discounted count of D tokens drawn
        from U_D unique ones."""
        d = np.asarray(d, dtype=float)
        return d if self.unique_tokens is None else effective_tokens(d, self.unique_tokens, self.r_star)

    def loss(self, n, d):
        """L(N, D) in the surface's units."""
        n = np.asarray(n, dtype=float)
        return self.E + self.A / n**self.alpha + self.B / self.effective_tokens(d) ** self.beta

    def optimum(self, flops: float, counting: Counting = Counting()) -> tuple[float, float]:
        """(N_opt, D_opt) at C FLOPs under a FLOP ``counting`` (C = 6ND by default), also for the
        data-constrained form: :func:`isoflop.laws.fit.frontier.frontier`."""
        p = frontier(self.E, self.A, self.B, self.alpha, self.beta, flops, counting, self.unique_tokens, self.r_star)
        return float(p["optimal_params"][0]), float(p["optimal_tokens"][0])

    def describe(self) -> str:
        core = f"E={self.E:.4g}, A={self.A:.4g}, B={self.B:.4g}, alpha={self.alpha:.4g}, beta={self.beta:.4g}"
        if self.unique_tokens is not None:
            core += f", unique_tokens={self.unique_tokens:.4g}, r_star={self.r_star:.4g}"
        return core

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "surface") -> Surface:
        if not isinstance(d, dict):
            raise LawError(f"{where}: expected an object with {', '.join(_KEYS)}")
        missing = [k for k in _KEYS if k not in d]
        if missing:
            raise LawError(f"{where}: missing {', '.join(missing)} (a surface needs {', '.join(_KEYS)})")
        unknown = sorted(set(d) - set(_KEYS) - {"unique_tokens", "r_star", "name"})
        if unknown:
            raise LawError(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            kw: dict[str, Any] = {k: (None if v is None else v if k == "name" else float(v)) for k, v in d.items()}
        except (TypeError, ValueError):
            raise LawError(f"{where}: values must be numbers") from None
        kw.setdefault("name", where)
        return cls(**kw)

    @classmethod
    def from_fit(cls, fit, name: str = "fit") -> Surface:
        """The surface of a parametric fit (anything with E, A, B, alpha, beta)."""
        return cls(float(fit.E), float(fit.A), float(fit.B), float(fit.alpha), float(fit.beta), name=name)


def parse_surface(text: str, method: str | None = None) -> Surface:
    """A surface from ``KEY=VALUE,...`` text, a preset name, or a ``scaling fit --json`` file.

    Raises:
        LawError: a missing or unknown parameter, a value that is not a number, a file that is not a fit,
            or a fit with no parametric surface.
    """
    from isoflop.laws.audit import PRESETS, Law

    text = text.strip()
    if text in PRESETS:
        return Surface(**PRESETS[text], name=f"preset {text}")
    if "=" in text and not Path(text).exists():
        d = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep:
                raise LawError(f"surface '{text}': '{part}' is not KEY=VALUE")
            try:
                d[key.strip()] = float(val)
            except ValueError:
                raise LawError(f"surface '{text}': {key.strip()} = '{val}' is not a number") from None
        return Surface.from_dict(d, f"surface '{text}'")
    from isoflop.laws.document import read_fit

    result = read_fit(text).result
    chosen = method or next((m for m in ("vpnls", "approach3") if m in result.fitted), None)
    law = Law.from_result(result, chosen, Path(text).name)
    if law.kind != "parametric":
        raise LawError(f"{text}: {law.method} has no loss surface (use approach3 or vpnls)")
    return Surface.from_fit(law.fit, law.name)
