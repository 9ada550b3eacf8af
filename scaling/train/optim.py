"""The optimiser and its learning-rate schedule.

Linear warmup, then a cosine decay to a fraction of the peak that ends exactly
at the last step: Hoffmann et al. (2022), Section 3.1 / Fig. A1, show that a
schedule longer than the run overestimates the loss of short runs.
"""

from __future__ import annotations

import math

import torch

from scaling.train.config import TrainConfig


def default_lr(d_model: int) -> float:
    """Peak learning rate for AdamW by width: 3e-3 · √(128 / d_model), at most 1e-2.

    Wider models need smaller steps (Kaplan et al. 2020, Eq. D.1, and µP's
    1/width Adam scaling, Yang et al. 2022); the square root is a middle course
    that trained stably across d = 32…1024 in our runs. Override with ``lr``.
    """
    return min(1e-2, 3e-3 * math.sqrt(128.0 / d_model))


def lr_at(step: int, steps: int, peak: float, warmup_frac: float, final_frac: float) -> float:
    """Linear warmup then cosine decay from ``peak`` to ``final_frac · peak`` at the last step."""
    warm = max(1, int(round(warmup_frac * steps))) if warmup_frac > 0 else 0
    if step < warm:
        return peak * (step + 1) / warm
    span = max(1, steps - 1 - warm)
    progress = min(1.0, (step - warm) / span)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, lr: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms), fused on CUDA."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=cfg.betas, fused=device.type == "cuda",
    )


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for g in opt.param_groups:
        g["lr"] = lr
