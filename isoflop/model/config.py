"""The shape of a decoder-only transformer (:class:`ModelConfig`), frozen and validated.

One size dial: a model family is fixed by its aspect ratio (width per layer)
and head size, and a shape follows from the depth alone
(:meth:`ModelConfig.from_depth`), as in nanochat's ``--depth``. Shapes chosen
by parameter count are in :mod:`isoflop.model.shapes`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Literal

from isoflop.errors import ConfigError

PosEncoding = Literal["sinusoidal", "learned", "rotary"]
POS_ENCODINGS = ("sinusoidal", "learned", "rotary")

#: Width per layer of the default family: d_model = ASPECT_RATIO × n_layers.
ASPECT_RATIO = 32
#: Head size of the default family: n_heads = d_model / HEAD_DIM.
HEAD_DIM = 32


def _positive_int(name: str, v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ConfigError(f"{name} ({v!r}) must be a positive integer")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a decoder-only transformer.

    Attributes:
        n_layers: number of transformer blocks (L).
        d_model: residual width (d).
        n_heads: attention heads; d_model must be divisible by it.
        vocab_size: tokens in the vocabulary (V).
        seq_len: context length in tokens (T).
        pos_encoding: "rotary" (RoPE, Su et al. 2021), "learned" (GPT-2) or
            "sinusoidal" (Vaswani et al. 2017).
        tie_embeddings: share the token embedding with the output head.
        mlp_ratio: MLP hidden width as a multiple of d_model.
    """

    n_layers: int
    d_model: int
    n_heads: int
    vocab_size: int
    seq_len: int
    pos_encoding: PosEncoding = "rotary"
    tie_embeddings: bool = True
    mlp_ratio: int = 4

    def __post_init__(self):
        for name in ("n_layers", "d_model", "n_heads", "vocab_size", "seq_len", "mlp_ratio"):
            _positive_int(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.pos_encoding not in POS_ENCODINGS:
            raise ConfigError(f"pos_encoding ({self.pos_encoding!r}) must be one of {', '.join(POS_ENCODINGS)}")
        if self.pos_encoding == "rotary" and self.head_dim % 2:
            raise ConfigError(f"rotary positions need an even head size, got d_model/n_heads = {self.head_dim}")
        if self.pos_encoding == "sinusoidal" and self.d_model % 2:
            raise ConfigError(f"sinusoidal positions need an even d_model, got {self.d_model}")

    @property
    def head_dim(self) -> int:
        """d_model / n_heads."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict` (validated like any construction)."""
        return cls(**d)

    def replace(self, **kw) -> ModelConfig:
        return replace(self, **kw)

    @classmethod
    def from_depth(
        cls,
        n_layers: int,
        *,
        vocab_size: int,
        seq_len: int,
        aspect_ratio: int = ASPECT_RATIO,
        head_dim: int = HEAD_DIM,
        **kw,
    ) -> ModelConfig:
        """The family's shape at a depth: d_model = aspect_ratio·n_layers rounded
        up to a multiple of head_dim, n_heads = d_model / head_dim."""
        _positive_int("n_layers", n_layers)
        _positive_int("aspect_ratio", aspect_ratio)
        _positive_int("head_dim", head_dim)
        d = max(head_dim, math.ceil(aspect_ratio * n_layers / head_dim) * head_dim)
        return cls(n_layers=n_layers, d_model=d, n_heads=d // head_dim, vocab_size=vocab_size, seq_len=seq_len, **kw)
