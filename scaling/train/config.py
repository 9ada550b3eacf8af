"""How a model is trained: :class:`TrainConfig`, frozen and validated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from scaling.errors import ConfigError
from scaling.model.flops import CONVENTIONS, DEFAULT_CONVENTION


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Attributes:
        batch_size: sequences per optimiser step.
        lr: peak learning rate; None uses :func:`scaling.train.optim.default_lr`.
        warmup_frac: fraction of the steps spent warming up linearly.
        final_lr_frac: the cosine decays to this fraction of the peak (Chinchilla: 0.1).
        weight_decay: AdamW decoupled weight decay on matrices (not norms).
        grad_clip: clip the global gradient norm to this (0 turns it off).
        betas: AdamW's (β1, β2).
        flops_convention: how FLOPs are counted (see :mod:`scaling.model.flops`).
        n_evals: validation evaluations along the run (the last at the end).
        val_sequences: sequences in the fixed validation set.
        dtype: "fp32", or "bf16" autocast (CUDA only).
        compile: run the model through ``torch.compile``.
        threads: CPU threads for this run (None leaves torch's setting).
        max_curve_points: at most this many rows in the training curve.
        diverge_factor: a training loss above diverge_factor · ln(V) (worse than
            a uniform guess by this factor) after warmup counts as divergence.
    """

    batch_size: int = 16
    lr: float | None = None
    warmup_frac: float = 0.05
    final_lr_frac: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    betas: tuple[float, float] = (0.9, 0.95)
    flops_convention: str = DEFAULT_CONVENTION
    n_evals: int = 5
    val_sequences: int = 64
    dtype: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    threads: int | None = None
    max_curve_points: int = 200
    diverge_factor: float = 1.5

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size ({self.batch_size}) must be a positive integer")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr ({self.lr}) must be positive")
        if not 0 <= self.warmup_frac < 1:
            raise ConfigError(f"warmup_frac ({self.warmup_frac}) must be in [0, 1)")
        if not 0 <= self.final_lr_frac <= 1:
            raise ConfigError(f"final_lr_frac ({self.final_lr_frac}) must be in [0, 1]")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("weight_decay and grad_clip must be non-negative")
        if self.flops_convention not in CONVENTIONS:
            raise ConfigError(f"flops_convention ({self.flops_convention!r}) must be one of {', '.join(CONVENTIONS)}")
        if self.dtype not in ("fp32", "bf16"):
            raise ConfigError(f"dtype ({self.dtype!r}) must be 'fp32' or 'bf16'")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"threads ({self.threads}) must be a positive integer")
        if self.n_evals < 1 or self.val_sequences < 1:
            raise ConfigError("n_evals and val_sequences must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict` (JSON turns the betas tuple into a list)."""
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)
