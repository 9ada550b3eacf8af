"""A fitted learning-rate rule: the peak LR that minimised the loss, as a power law in the model size N.

η*(N) = η₀ · (N / N₀)^(−γ), fitted by :func:`isoflop.laws.fit.lr_ladder.fit_lr_ladder` to a ladder of runs
(a few sizes, each trained at a grid of peak LRs). DeepSeek LLM (2024, §3.1) fits η_opt and B_opt against
compute the same way; Porian et al. (2024) show that an untuned LR per size moves the compute-optimal
exponent. A sweep uses a rule with ``lr = "fitted:PATH"`` in its ``[train]`` table, where PATH is a ladder's
results folder or the ``lr_rule.json`` that ``scaling ladder --out`` writes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from isoflop.errors import ConfigError

SCHEMA = "scaling.lr_rule/1"


@dataclass(frozen=True)
class LRRule:
    """η*(N) = eta0 · (N / n0)^(−gamma).

    Attributes:
        eta0: the fitted peak LR at N = n0.
        n0: the reference size (the geometric mean of the ladder's sizes).
        gamma: the exponent (positive: larger models want smaller LRs).
        gamma_ci: a 95% interval on gamma (NaN when the ladder had two sizes).
        sizes: how many sizes the law was fitted to.
        source: where it came from (a folder or file), for the record.
        lo, hi: the range of N it was fitted on (it is extrapolated beyond, with a note in the sweep).
    """

    eta0: float
    n0: float
    gamma: float
    gamma_ci: tuple[float, float] = (math.nan, math.nan)
    sizes: int = 0
    source: str = ""
    lo: float = math.nan
    hi: float = math.nan

    def __post_init__(self):
        for k in ("eta0", "n0"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"lr rule: {k} ({v!r}) must be a positive number")
        if not (isinstance(self.gamma, (int, float)) and math.isfinite(self.gamma)):
            raise ConfigError(f"lr rule: gamma ({self.gamma!r}) must be a finite number")

    def lr(self, n_params: float) -> float:
        """The rule's peak LR for a model of ``n_params`` parameters, to 4 significant figures (so that run
        ids do not hinge on rounding noise)."""
        return float(f"{self.eta0 * (n_params / self.n0) ** (-self.gamma):.4g}")

    def extrapolation(self, **x: float) -> dict[str, float]:
        """{"N": the factor beyond the sizes the rule was fitted on} when ``N`` lies outside them (empty inside,
        or for a rule without a recorded range), as :meth:`isoflop.laws.fit.hparams.PowerRule.extrapolation`."""
        n = x.get("N")
        if n is None or not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return {}
        if n > self.hi * (1 + 1e-9):
            return {"N": n / self.hi}
        if n < self.lo * (1 - 1e-9):
            return {"N": self.lo / n}
        return {}

    def describe(self) -> str:
        ci = (
            ""
            if not all(map(math.isfinite, self.gamma_ci))
            else f" (95%: {self.gamma_ci[0]:.3f}-{self.gamma_ci[1]:.3f})"
        )
        return (
            f"eta*(N) = {self.eta0:.3g} * (N / {self.n0:.3g})^-{self.gamma:.3f}{ci}, fitted to {self.sizes} sizes "
            f"over N = {self.lo:.3g}-{self.hi:.3g}"
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gamma_ci"] = list(self.gamma_ci)
        d["schema"] = SCHEMA
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "lr rule") -> LRRule:
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ConfigError(f"{where}: not an LR rule (no schema {SCHEMA!r})")
        d = {k: v for k, v in d.items() if k != "schema"}
        try:
            d["gamma_ci"] = tuple(float(x) if x is not None else math.nan for x in d.get("gamma_ci", (None, None)))
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None
