"""The model side: shape config with one size dial, parameter and FLOP accounting, the transformer.

* :mod:`~scaling.model.config`: :class:`ModelConfig` and the depth dial.
* :mod:`~scaling.model.shapes`: clean shapes of a family, shapes by parameter count.
* :mod:`~scaling.model.flops`: every parameter and FLOP formula, with its source.
* :mod:`~scaling.model.transformer`: the decoder-only transformer (imports torch; loaded on first use).
"""

from scaling.model.config import ASPECT_RATIO, HEAD_DIM, ModelConfig
from scaling.model.flops import (
    CONVENTIONS,
    DEFAULT_CONVENTION,
    ParamCounts,
    all_flops_per_token,
    flops_per_token,
    param_counts,
    tokens_for_budget,
)
from scaling.model.shapes import clean_shapes, distinct_shapes_for_params, shape_for_params

__all__ = ["ASPECT_RATIO", "CONVENTIONS", "DEFAULT_CONVENTION", "HEAD_DIM", "ModelConfig", "ParamCounts", "Transformer",
           "all_flops_per_token", "clean_shapes", "distinct_shapes_for_params", "flops_per_token", "param_counts",
           "shape_for_params", "tokens_for_budget"]


def __getattr__(name):  # PEP 562: torch is imported only when the transformer is asked for
    if name == "Transformer":
        from scaling.model.transformer import Transformer

        return Transformer
    raise AttributeError(f"module 'scaling.model' has no attribute {name!r}")
