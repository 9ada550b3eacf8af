"""The model side: shape config with one size dial, parameter and FLOP accounting, the transformer.

* :mod:`~isoflop.model.config`: :class:`ModelConfig` and the depth dial.
* :mod:`~isoflop.model.shapes`: clean shapes of a family, shapes by parameter count.
* :mod:`~isoflop.model.flops`: every parameter and FLOP formula, with its source.
* :mod:`~isoflop.model.transformer`: the decoder-only transformer (imports torch; loaded on first use).
"""

from isoflop.model.config import ASPECT_RATIO, HEAD_DIM, ModelConfig
from isoflop.model.flops import (
    CONVENTIONS,
    DEFAULT_CONVENTION,
    ParamCounts,
    all_flops_per_token,
    flops_per_token,
    param_counts,
    tokens_for_budget,
)
from isoflop.model.shapes import clean_shapes, distinct_shapes_for_params, shape_for_params

__all__ = [
    "ASPECT_RATIO",
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "HEAD_DIM",
    "ModelConfig",
    "ParamCounts",
    "Transformer",
    "all_flops_per_token",
    "clean_shapes",
    "distinct_shapes_for_params",
    "flops_per_token",
    "param_counts",
    "shape_for_params",
    "tokens_for_budget",
]


def __getattr__(name):  # PEP 562: torch is imported only when the transformer is asked for
    if name == "Transformer":
        from isoflop.model.transformer import Transformer

        return Transformer
    raise AttributeError(f"module 'isoflop.model' has no attribute {name!r}")
