"""Learning-rate schedules as plain functions of the step, shared by the training loop
(:mod:`isoflop.train.optim`) and the loss-curve tables (:mod:`isoflop.laws.curves.table`, which rebuild a named
schedule with the same code the loop runs): no torch, and no import of either side.

* cosine: linear warmup, then a cosine decay to a fraction of the peak that
  ends exactly at the last step. Hoffmann et al. (2022), Section 3.1 / Fig. A1,
  show that a schedule longer than the run overestimates the loss of short runs.
* wsd (warmup-stable-decay): linear warmup, the peak held constant, then a
  cooldown over the last fraction of the steps. Hägele et al. (2024), "Scaling
  Laws and Compute-Optimal Training Beyond Fixed Training Durations", Sections
  3-4: a (1−sqrt) cooldown of 10-20% of the steps matches cosine, and because
  the stable phase does not depend on the run's length, cooldowns branched off
  one stable run serve many lengths.

Steps count from 0: step ``steps − 1`` is a run's last.
"""

from __future__ import annotations

import math


def cooldown_start(steps: int, cooldown_frac: float) -> int:
    """The step at which a WSD run of ``steps`` steps starts its cooldown (at least one cooldown step)."""
    return steps - max(1, int(round(cooldown_frac * steps)))


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


#: The schedules a loss-curve table may name instead of giving the LR at each row.
NAMED = ("constant", "cosine", "wsd")


def named_lr(
    schedule: str,
    step: int,
    steps: int,
    peak: float,
    warmup_steps: int = 0,
    final_frac: float = 0.1,
    cooldown_frac: float = 0.2,
    shape: str = "1-sqrt",
) -> float:
    """The LR at ``step`` (from 0) of a run of ``steps`` steps under a schedule named in :data:`NAMED`: "constant"
    (warmup, then the peak), "cosine" (:func:`lr_at`) or "wsd" (:func:`wsd_lr_at`). The defaults are the
    training configuration's (``TrainConfig``)."""
    if schedule == "cosine":
        return lr_at(step, steps, peak, warmup_steps, final_frac)
    if schedule == "wsd":
        return wsd_lr_at(step, steps, peak, warmup_steps, final_frac, cooldown_frac, shape)
    if schedule == "constant":
        return peak * (step + 1) / warmup_steps if step < warmup_steps else peak
    raise ValueError(f"unknown schedule {schedule!r} (one of {', '.join(NAMED)})")
