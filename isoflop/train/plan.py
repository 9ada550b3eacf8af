"""What a FLOP budget buys: the one place budgets become optimiser steps.

The budget C buys D = C / (FLOPs per token) tokens under the chosen FLOP
convention (:mod:`isoflop.model.flops`), i.e. ``steps = round(D / (batch × T))``
optimiser steps; a run trains exactly that many, so its achieved FLOPs lie
within half a step of the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from isoflop.errors import ConfigError
from isoflop.model.config import ModelConfig
from isoflop.model.flops import flops_per_token
from isoflop.schedules import cooldown_start  # noqa: F401 - re-exported: where a run's steps are planned


@dataclass(frozen=True)
class Plan:
    """A budget as steps: C, FLOPs per token, tokens per step and the step count."""

    budget_flops: float
    flops_per_token: float
    tokens_per_step: int
    steps: int

    @property
    def tokens(self) -> int:
        return self.steps * self.tokens_per_step

    @property
    def flops(self) -> float:
        return self.tokens * self.flops_per_token

    def tokens_at(self, step: int) -> int:
        """Tokens seen after ``step`` steps."""
        return step * self.tokens_per_step

    def flops_at(self, step: int) -> float:
        """FLOPs spent after ``step`` steps."""
        return step * self.tokens_per_step * self.flops_per_token


def step_flops(model_cfg: ModelConfig, batch_size: int, convention: str) -> float:
    """FLOPs of one optimiser step: FLOPs per token × batch × T."""
    return flops_per_token(model_cfg, convention) * batch_size * model_cfg.seq_len


def steps_for(budget_flops: float, model_cfg: ModelConfig, batch_size: int, convention: str) -> int:
    """The steps a budget buys, rounded to the nearest step (0 for a budget under half a step)."""
    return int(round(budget_flops / step_flops(model_cfg, batch_size, convention)))


def tokens_for(budget_flops: float, model_cfg: ModelConfig, batch_size: int, convention: str) -> int:
    """The tokens D a run of this batch trains on at a budget: its steps (at least one) × batch × T."""
    return max(1, steps_for(budget_flops, model_cfg, batch_size, convention)) * batch_size * model_cfg.seq_len


def plan_run(budget_flops: float, model_cfg: ModelConfig, batch_size: int, convention: str) -> Plan:
    """Turn a FLOP budget into a number of steps (rounded to the nearest step).

    Raises:
        ConfigError: the budget is not a positive number or buys less than one step.
    """
    if not (budget_flops > 0 and math.isfinite(budget_flops)):
        raise ConfigError(f"budget ({budget_flops}) must be a positive number of FLOPs")
    fpt = flops_per_token(model_cfg, convention)
    tps = batch_size * model_cfg.seq_len
    steps = steps_for(budget_flops, model_cfg, batch_size, convention)
    if steps < 1:
        raise ConfigError(
            f"budget {budget_flops:.3g} FLOPs is smaller than one step ({fpt * tps:.3g} FLOPs: "
            f"{batch_size} x {model_cfg.seq_len} tokens at {fpt:.3g} FLOPs/token)"
        )
    return Plan(float(budget_flops), fpt, tps, steps)
