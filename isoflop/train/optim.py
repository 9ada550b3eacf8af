"""The optimiser and the learning rate at each step of a run (the schedules themselves are in
:mod:`isoflop.schedules`, which needs no torch)."""

from __future__ import annotations

import torch

from isoflop.schedules import cooldown_factor, cooldown_start, lr_at, named_lr, wsd_lr_at  # noqa: F401 - re-exported
from isoflop.train.config import TrainConfig, default_lr  # noqa: F401 - the LR rule, re-exported


def schedule_lr(step: int, steps: int, peak: float, cfg: TrainConfig) -> float:
    """The learning rate at ``step`` of a run of ``steps`` steps under ``cfg``'s schedule."""
    return named_lr(
        cfg.schedule, step, steps, peak, cfg.warmup_for(steps), cfg.final_lr_frac, cfg.cooldown_frac, cfg.cooldown_shape
    )


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
