"""The optimiser and its learning-rate schedules.

* cosine: linear warmup, then a cosine decay to a fraction of the peak that
  ends exactly at the last step. Hoffmann et al. (2022), Section 3.1 / Fig. A1,
  show that a schedule longer than the run overestimates the loss of short runs.
* wsd (warmup-stable-decay): linear warmup, the peak held constant, then a
  cooldown over the last fraction of the steps. Hägele et al. (2024), "Scaling
  Laws and Compute-Optimal Training Beyond Fixed Training Durations", Sections
  3-4: a (1−sqrt) cooldown of 10-20% of the steps matches cosine, and because
  the stable phase does not depend on the run's length, cooldowns branched off
  one stable run serve many lengths.
"""

from __future__ import annotations

import math

import torch

from isoflop.train.config import TrainConfig, default_lr  # noqa: F401 - the LR rule, re-exported
from isoflop.train.plan import cooldown_start


def lr_at(step: int, steps: int, peak: float, warm: int, final_frac: float) -> float:
    """Linear warmup over ``warm`` steps, then cosine decay from ``peak`` to ``final_frac · peak`` at the last
    step."""
    if step < warm:
        return peak * (step + 1) / warm
    span = max(1, steps - 1 - warm)
    progress = min(1.0, (step - warm) / span)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def cooldown_factor(progress: float, shape: str) -> float:
    """How much of the way from the final LR to the peak remains, ``progress`` ∈ [0, 1] into the cooldown:
    1 at its start, 0 at its end. "1-sqrt": 1 − √p (Hägele et al. 2024, Eq. 1); "linear": 1 − p;
    "cosine": (1 + cos πp) / 2."""
    p = min(1.0, max(0.0, progress))
    if shape == "1-sqrt":
        return 1.0 - math.sqrt(p)
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    raise ValueError(f"unknown cooldown shape {shape!r}")


def wsd_lr_at(
    step: int, steps: int, peak: float, warmup_steps: int, final_frac: float, cooldown_frac: float, shape: str
) -> float:
    """Warmup over ``warmup_steps``, the peak until :func:`cooldown_start`, then a cooldown that reaches
    ``final_frac · peak`` at the last step (step ``steps − 1``)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    start = cooldown_start(steps, cooldown_frac)
    if step < start:
        return peak
    span = max(1, steps - 1 - start)
    return peak * (final_frac + (1 - final_frac) * cooldown_factor((step - start) / span, shape))


def schedule_lr(step: int, steps: int, peak: float, cfg: TrainConfig) -> float:
    """The learning rate at ``step`` of a run of ``steps`` steps under ``cfg``'s schedule."""
    warm = cfg.warmup_for(steps)
    if cfg.schedule == "wsd":
        return wsd_lr_at(step, steps, peak, warm, cfg.final_lr_frac, cfg.cooldown_frac, cfg.cooldown_shape)
    return lr_at(step, steps, peak, warm, cfg.final_lr_frac)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, lr: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms), fused on CUDA."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=cfg.betas,
        fused=device.type == "cuda",
    )


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for g in opt.param_groups:
        g["lr"] = lr
