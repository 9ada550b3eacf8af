"""How a model is trained: :class:`TrainConfig`, frozen and validated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from isoflop.errors import ConfigError
from isoflop.model.config import ModelConfig
from isoflop.model.flops import CONVENTIONS, DEFAULT_CONVENTION

SCHEDULES = ("cosine", "wsd")
#: The most CPU threads a run may ask for (torch.set_num_threads(100000) kills the process).
MAX_THREADS = 1024
COOLDOWN_SHAPES = ("1-sqrt", "linear", "cosine")


def default_lr(d_model: int) -> float:
    """Peak learning rate for AdamW by width: 3e-3 · √(128 / d_model), at most 1e-2.

    Wider models need smaller steps (Kaplan et al. 2020, Eq. D.1, and µP's
    1/width Adam scaling, Yang et al. 2022); the square root is a middle course
    that trained stably across d = 32…1024 in our runs. Override with ``lr``.
    """
    return min(1e-2, 3e-3 * math.sqrt(128.0 / d_model))


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Attributes:
        batch_size: sequences per optimiser step.
        lr: peak learning rate; None uses :func:`default_lr` times ``lr_scale``.
        lr_scale: multiplies the width rule's peak learning rate (ignored when ``lr`` is given), so one
            setting moves every size of a sweep by the same factor.
        warmup_frac: fraction of the steps spent warming up linearly.
        warmup_steps: a warmup of this many steps instead (None: ``warmup_frac`` of the run's steps). Sweeps
            set it to compare schedules at matched warmups: ``warmup = "largest-budget"`` warms every run up
            for ``warmup_frac`` of the steps of the sweep's largest budget, as WSD trunks do.
        final_lr_frac: the schedule ends at this fraction of the peak (Chinchilla's cosine: 0.1).
        schedule: "cosine" (warmup, then a cosine decay over the rest of the run) or "wsd"
            (warmup-stable-decay: warmup, constant at the peak, then a cooldown over the last
            ``cooldown_frac`` of the steps; Hägele et al. 2024).
        cooldown_frac: WSD only: the fraction of the steps spent cooling down, in (0, 1).
        cooldown_shape: WSD only: "1-sqrt" (Hägele et al.'s best), "linear" or "cosine".
        weight_decay: AdamW decoupled weight decay on matrices (not norms).
        grad_clip: clip the global gradient norm to this (0 turns it off).
        betas: AdamW's (β1, β2).
        flops_convention: how FLOPs are counted (see :mod:`isoflop.model.flops`).
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
    lr_scale: float = 1.0
    warmup_frac: float = 0.05
    warmup_steps: int | None = None
    final_lr_frac: float = 0.1
    schedule: str = "cosine"  # one of SCHEDULES, checked when built
    cooldown_frac: float = 0.2
    cooldown_shape: Literal["1-sqrt", "linear", "cosine"] = "1-sqrt"
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
        if not (isinstance(self.lr_scale, (int, float)) and self.lr_scale > 0 and math.isfinite(self.lr_scale)):
            raise ConfigError(f"lr_scale ({self.lr_scale!r}) must be a positive number")
        if not 0 <= self.warmup_frac < 1:
            raise ConfigError(f"warmup_frac ({self.warmup_frac}) must be in [0, 1)")
        if self.warmup_steps is not None and (
            not isinstance(self.warmup_steps, int) or isinstance(self.warmup_steps, bool) or self.warmup_steps < 1
        ):
            raise ConfigError(f"warmup_steps ({self.warmup_steps!r}) must be a positive integer (or None)")
        if not 0 <= self.final_lr_frac <= 1:
            raise ConfigError(f"final_lr_frac ({self.final_lr_frac}) must be in [0, 1]")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule ({self.schedule!r}) must be one of {', '.join(SCHEDULES)}")
        if not (isinstance(self.cooldown_frac, (int, float)) and 0 < self.cooldown_frac < 1):
            raise ConfigError(f"cooldown_frac ({self.cooldown_frac!r}) must be in (0, 1)")
        if self.cooldown_shape not in COOLDOWN_SHAPES:
            raise ConfigError(f"cooldown_shape ({self.cooldown_shape!r}) must be one of {', '.join(COOLDOWN_SHAPES)}")
        if self.schedule == "wsd" and self.warmup_frac + self.cooldown_frac > 1:
            raise ConfigError(
                f"warmup_frac ({self.warmup_frac}) + cooldown_frac ({self.cooldown_frac}) must be at most 1: "
                "the cooldown would start before the warmup ends"
            )
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("weight_decay and grad_clip must be non-negative")
        if self.flops_convention not in CONVENTIONS:
            raise ConfigError(f"flops_convention ({self.flops_convention!r}) must be one of {', '.join(CONVENTIONS)}")
        if self.dtype not in ("fp32", "bf16"):
            raise ConfigError(f"dtype ({self.dtype!r}) must be 'fp32' or 'bf16'")
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or not 1 <= self.threads <= MAX_THREADS
        ):
            raise ConfigError(
                f"threads ({self.threads!r}) must be an integer from 1 to {MAX_THREADS} "
                "(torch crashes on absurd thread counts)"
            )
        if self.n_evals < 1 or self.val_sequences < 1:
            raise ConfigError("n_evals and val_sequences must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> dict:
        """The settings that make a run what it is, for run ids and checkpoints: :meth:`to_dict`
        without the WSD keys when the schedule is cosine (they do not affect it), without ``lr_scale``
        at 1 and without an unset ``warmup_steps``, so runs planned before those keys existed keep their ids."""
        d = self.to_dict()
        if self.schedule == "cosine":
            for k in ("schedule", "cooldown_frac", "cooldown_shape"):
                d.pop(k)
        if self.lr_scale == 1.0:  # the key came later too
            d.pop("lr_scale")
        if self.warmup_steps is None:  # and so did this one
            d.pop("warmup_steps")
        return d

    def warmup_for(self, steps: int) -> int:
        """The warmup, in steps, of a run of ``steps`` steps."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return max(1, int(round(self.warmup_frac * steps))) if self.warmup_frac > 0 else 0

    def peak_lr(self, d_model: int) -> float:
        """The peak learning rate of a model of width ``d_model``: ``lr``, or the width rule × ``lr_scale``."""
        return self.lr if self.lr is not None else self.lr_scale * default_lr(d_model)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict` (JSON turns the betas tuple into a list)."""
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


def trunk_identity(model_cfg: ModelConfig, train_cfg: TrainConfig, warmup_steps: int, seed: int, corpus: str) -> dict:
    """What fixes a trunk's stable phase: the model, the optimiser settings, the warmup, the seed and the data
    (not the cooldown's shape, length or final LR, nor the budgets it serves)."""
    t = {
        k: v
        for k, v in train_cfg.to_dict().items()
        if k
        not in (
            "cooldown_frac",
            "cooldown_shape",
            "final_lr_frac",
            "warmup_frac",
            "n_evals",
            "val_sequences",
            "max_curve_points",
            "flops_convention",
            "threads",
            "lr",
            "lr_scale",
        )
    }
    t["peak_lr"] = train_cfg.peak_lr(model_cfg.d_model)
    return {"model": model_cfg.to_dict(), "train": t, "warmup_steps": warmup_steps, "seed": seed, "corpus": corpus}
