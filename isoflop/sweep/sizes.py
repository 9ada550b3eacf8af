"""How a sweep chooses its model sizes: three kinds (``auto``, ``params``, ``shapes``), one interface."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from isoflop.errors import ConfigError, SweepError
from isoflop.model.config import ModelConfig
from isoflop.model.shapes import distinct_shapes_for_params, shape_ladder

AUTO_KEYS = {"k", "span", "exponent", "anchor_flops", "anchor_params", "refine"}
SHAPE_KEYS = {"n_layers", "d_model", "n_heads"}

#: N* at a budget C, as the sweep's plan predicts it (used by ``auto`` sizes).
Optimum = Callable[[float], float]


@dataclass(frozen=True)
class AutoSizes:
    """``auto`` model sizes: k log-spaced sizes over ×span either way of the predicted optimum."""

    k: int = 5
    span: float = 4.0
    exponent: float = 0.5
    anchor_flops: float = 1e12
    anchor_params: float = 1e5
    refine: bool = True

    kind = "auto"

    def __post_init__(self):
        for key in ("span", "exponent", "anchor_flops", "anchor_params"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v:
                raise SweepError(f"sizes.auto.{key} ({v!r}) must be a number")
        if not isinstance(self.refine, bool):
            raise SweepError(f"sizes.auto.refine ({self.refine!r}) must be true or false")
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 3:
            raise SweepError(f"sizes.auto.k ({self.k}) must be an integer of at least 3 (a parabola needs 3 sizes)")
        if not self.span > 1:
            raise SweepError(f"sizes.auto.span ({self.span}) must be greater than 1")
        if not 0 < self.exponent < 1:
            raise SweepError(f"sizes.auto.exponent ({self.exponent}) must be in (0, 1)")
        if not (0 < self.anchor_flops < float("inf") and 0 < self.anchor_params < float("inf")):
            raise SweepError("sizes.auto.anchor_flops and anchor_params must be positive")

    @property
    def per_budget(self) -> int:
        return self.k

    def check(self, seq_len: int) -> None:
        """Nothing to check beyond construction: auto shapes are clean shapes of the family."""

    def prior(self, flops: float) -> float:
        """N* predicted by the prior law at C FLOPs."""
        return self.anchor_params * (flops / self.anchor_flops) ** self.exponent

    def models(self, family: dict, flops: float, optimum: Optimum, shared: bool = False) -> list[ModelConfig]:
        """k distinct clean shapes log-spaced around N* = ``optimum(flops)``; with ``shared``, the k rungs of
        one ladder (:func:`~isoflop.model.shapes.shape_ladder`, rung ratio span^(2/(k−1))) nearest N*, so that
        budgets whose ranges overlap share sizes."""
        if not shared:
            targets = optimum(flops) * np.logspace(-math.log10(self.span), math.log10(self.span), self.k)
            return distinct_shapes_for_params(targets, **family)
        ratio = self.span ** (2.0 / (self.k - 1))
        lo = int(round(math.log(optimum(flops) / self.anchor_params, ratio) - (self.k - 1) / 2))
        rungs = shape_ladder(self.anchor_params, ratio, **family)
        lo = max(min(rungs), min(lo, max(rungs) - self.k + 1))  # at the family's smallest or largest shapes
        return [rungs[j] for j in range(lo, lo + self.k) if j in rungs]

    def to_dict(self) -> dict:
        return {"auto": asdict(self)}


@dataclass(frozen=True)
class ParamSizes:
    """``params`` model sizes: the same parameter-count targets at every budget."""

    params: tuple[float, ...]

    kind = "params"

    def __post_init__(self):
        if not self.params or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in self.params
        ):
            raise SweepError(
                f"sizes.params ({list(self.params)!r}) must be a non-empty list of positive parameter counts"
            )

    @property
    def per_budget(self) -> int:
        return len(self.params)

    def check(self, seq_len: int) -> None:
        """Nothing to check beyond construction: the nearest clean shapes are valid models."""

    def models(self, family: dict, flops: float, optimum: Optimum, shared: bool = False) -> list[ModelConfig]:
        return distinct_shapes_for_params(self.params, **family)

    def to_dict(self) -> dict:
        return {"params": list(self.params)}


@dataclass(frozen=True)
class ShapeSizes:
    """``shapes`` model sizes: explicit (n_layers, d_model, n_heads) at every budget."""

    shapes: tuple[tuple[int, int, int], ...]

    kind = "shapes"

    def __post_init__(self):
        if not self.shapes:
            raise SweepError("sizes.shapes must be a non-empty list of tables")

    @property
    def per_budget(self) -> int:
        return len(self.shapes)

    def check(self, seq_len: int) -> None:
        """Every shape must be a valid model at this context length.

        Raises:
            SweepError: naming the shape and the rule it breaks.
        """
        for i, (L, d, h) in enumerate(self.shapes):
            try:
                ModelConfig(n_layers=L, d_model=d, n_heads=h, vocab_size=256, seq_len=seq_len)
            except (ConfigError, TypeError) as e:
                raise SweepError(f"sizes.shapes[{i}]: {e}") from None

    def models(self, family: dict, flops: float, optimum: Optimum, shared: bool = False) -> list[ModelConfig]:
        kw = {k: family[k] for k in ("vocab_size", "seq_len", "pos_encoding")}
        return [ModelConfig(n_layers=L, d_model=d, n_heads=h, **kw) for L, d, h in self.shapes]

    def to_dict(self) -> dict:
        return {"shapes": [{"n_layers": L, "d_model": d, "n_heads": h} for L, d, h in self.shapes]}


Sizes = AutoSizes | ParamSizes | ShapeSizes


def parse_sizes(sizes, where: str) -> Sizes:
    if not isinstance(sizes, dict):
        raise SweepError(f"{where}sizes must be a table with one of auto, params, shapes")
    check_keys(f"{where}sizes: ", sizes, {"auto", "params", "shapes"})
    if len(sizes) != 1:
        raise SweepError(
            f"{where}sizes must have exactly one of auto, params, shapes (got {', '.join(sizes) or 'none'})"
        )
    kind, val = next(iter(sizes.items()))
    if kind == "auto":
        val = {} if val is True else val
        if not isinstance(val, dict):
            raise SweepError(f"{where}sizes.auto must be a table (or true for the defaults)")
        check_keys(f"{where}sizes.auto: ", val, AUTO_KEYS)
        try:
            return AutoSizes(**val)
        except SweepError as e:
            raise SweepError(f"{where}{e}") from None
        except TypeError as e:
            raise SweepError(f"{where}sizes.auto: {e}") from None
    if kind == "params":
        if not isinstance(val, list):
            raise SweepError(f"{where}sizes.params ({val!r}) must be a non-empty list of positive parameter counts")
        try:
            return ParamSizes(
                tuple(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in val)
            )
        except SweepError as e:
            raise SweepError(f"{where}{e}") from None
    if not isinstance(val, list) or not val:
        raise SweepError(f"{where}sizes.shapes must be a non-empty list of tables")
    for i, s in enumerate(val):
        if not isinstance(s, dict):
            raise SweepError(f"{where}sizes.shapes[{i}] must be a table with n_layers, d_model, n_heads")
        check_keys(f"{where}sizes.shapes[{i}]: ", s, SHAPE_KEYS)
        if set(s) != SHAPE_KEYS:
            raise SweepError(f"{where}sizes.shapes[{i}] needs n_layers, d_model and n_heads")
    return ShapeSizes(tuple((s["n_layers"], s["d_model"], s["n_heads"]) for s in val))


def check_keys(where: str, got: dict, allowed: set) -> None:
    unknown = sorted(set(got) - allowed)
    if unknown:
        raise SweepError(
            f"{where}unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
