"""Warmup-stable-decay trunks and their cooldown branches: one stable run serves many budgets.

A trunk trains a model at the warmup-then-constant learning rate of a WSD
schedule. Because its learning rate does not depend on how long the run will
be, the run of budget C is the trunk up to C's cooldown start followed by a
cooldown to C's last step (Hägele et al. 2024, Sections 3-4). A trunk is saved
where each budget's cooldown starts (a *branch point*); :func:`grow_trunk`
extends it to a branch point, :func:`train_branch` trains one cooldown from it.

The branch of budget C is step for step the run ``train`` would do under the
same WSD schedule with the trunk's warmup: the same batches, the same learning
rates, the same losses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from isoflop.data.corpus import Corpus
from isoflop.errors import ConfigError
from isoflop.model.config import ModelConfig
from isoflop.train.checkpoint import load_checkpoint, save_checkpoint
from isoflop.train.config import TrainConfig, trunk_identity
from isoflop.train.loop import RunContext, Stretch, run_steps
from isoflop.train.optim import wsd_lr_at
from isoflop.train.plan import Plan, cooldown_start, plan_run, step_flops
from isoflop.train.record import RunRecord
from isoflop.train.trainer import LoopState


def branch_point(model_cfg: ModelConfig, budget_flops: float, train_cfg: TrainConfig) -> int:
    """The trunk step at which the cooldown of ``budget_flops`` starts."""
    return cooldown_start(
        plan_run(budget_flops, model_cfg, train_cfg.batch_size, train_cfg.flops_convention).steps,
        train_cfg.cooldown_frac,
    )


def check_branch(model_cfg: ModelConfig, budget_flops: float, train_cfg: TrainConfig, warmup_steps: int) -> int:
    """The branch point of a budget, checked against the trunk's warmup.

    Raises:
        ConfigError: the cooldown would start before the warmup ends.
    """
    start = branch_point(model_cfg, budget_flops, train_cfg)
    if start < warmup_steps:
        raise ConfigError(
            f"budget {budget_flops:.3g} FLOPs: its cooldown would start at step {start}, before the "
            f"trunk's warmup ends (step {warmup_steps}); lower cooldown_frac or warmup_frac, or drop "
            "the budget"
        )
    return start


@dataclass(frozen=True)
class TrunkGrowth:
    """What one call of :func:`grow_trunk` did: the steps it trained and what they cost."""

    from_step: int
    to_step: int
    flops: float
    wall_time_s: float
    recreated: bool


def grow_trunk(
    model_cfg: ModelConfig,
    data: Corpus,
    train_cfg: TrainConfig,
    *,
    warmup_steps: int,
    to_step: int,
    head_path: Path,
    snapshot_path: Path,
    device: str | torch.device = "cpu",
    seed: int = 0,
    on_metrics: Callable[[list[dict]], None] | None = None,
    logged_until: int = 0,
    checkpoint_every_s: float = 300.0,
    save: Callable[[Path, dict], None] = save_checkpoint,
) -> TrunkGrowth:
    """Train the trunk to ``to_step`` and save it there as ``snapshot_path`` (a branch point).

    It continues from ``head_path`` (the trunk's furthest saved state) when that
    lies at or before ``to_step``, and keeps the head there up to date (every
    ``checkpoint_every_s`` and at the end), so a killed trunk resumes. When the
    head is already past ``to_step`` (a branch point needed again, its snapshot
    lost), the trunk is re-created from its first step without touching the head.
    Curve rows of steps after ``logged_until`` (the trunk's metrics so far) go to
    ``on_metrics``.

    Raises:
        ConfigError: bad configuration.
        RuntimeError: the trunk diverged before ``to_step``.
    """
    tps = train_cfg.batch_size * model_cfg.seq_len
    fpt = step_flops(model_cfg, train_cfg.batch_size, train_cfg.flops_convention) / tps
    trunk_plan = Plan(fpt * tps * to_step, fpt, tps, to_step)  # FLOP accounting of the trunk's rows
    run = RunContext.build(model_cfg, data, train_cfg, trunk_plan, device, seed, measure_peak=False)
    identity = trunk_identity(model_cfg, train_cfg, warmup_steps, seed, data.name)
    with run.isolated():
        tr = run.trainer()
        saved = load_checkpoint(head_path, identity, run.device)
        if saved is not None and tr.misfit(saved):
            saved = None  # a head that does not fit this trunk: grow it again from the start
        recreated = saved is not None and saved["step"] > to_step
        st = tr.restore(saved) if saved is not None and not recreated else LoopState()
        st.curve, st.val_curve = [], []
        start = st.step
        keep_head = not recreated
        stretch = Stretch(
            end=to_step,
            lr=_trunk_lr(warmup_steps, run.lr_peak),
            warmup=warmup_steps,
            evals=frozenset({to_step}),  # the validation loss at each branch point, at the stable LR
            emit=(lambda rows: on_metrics([r for r in rows if r["step"] > logged_until])) if on_metrics else None,
            checkpoint=(lambda: save(head_path, tr.state(identity, st))) if keep_head else None,
            checkpoint_every_s=checkpoint_every_s,
        )
        status, error = run_steps(tr, run, st, stretch)
        if status != "ok":
            raise RuntimeError(f"trunk diverged before its branch point: {error}")
        state = tr.state(identity, st)
        if keep_head:  # the head first: a growth killed between the two resumes at the branch point
            save(head_path, state)
        save(snapshot_path, state)
    wall = time.perf_counter() - run.t_start
    return TrunkGrowth(start, to_step, trunk_plan.flops_at(to_step - start), wall, recreated)


def train_branch(
    model_cfg: ModelConfig,
    budget_flops: float,
    data: Corpus,
    train_cfg: TrainConfig,
    *,
    warmup_steps: int,
    snapshot_path: Path,
    trunk_id: str,
    device: str | torch.device = "cpu",
    seed: int = 0,
    peak_flops: float | None = None,
    cache_dir: str | Path | None = None,
    on_metrics: Callable[[list[dict]], None] | None = None,
    checkpoint_path: Path | None = None,
    checkpoint_every_s: float = 300.0,
    save: Callable[[Path, dict], None] = save_checkpoint,
) -> RunRecord:
    """The cooldown of ``budget_flops`` from its branch point of the trunk saved at ``snapshot_path``.

    Returns:
        The branch's :class:`RunRecord`: ``tokens`` and ``flops`` include the
        trunk's prefix, ``cost_flops`` only the cooldown; ``trunk_id`` and
        ``branch_step`` say where it came from.

    Raises:
        ConfigError: bad configuration, or a budget whose cooldown starts before the warmup ends.
        FileNotFoundError: no usable trunk snapshot at the branch point (the caller re-creates it).
    """
    plan = plan_run(budget_flops, model_cfg, train_cfg.batch_size, train_cfg.flops_convention)
    run = RunContext.build(model_cfg, data, train_cfg, plan, device, seed, peak_flops=peak_flops, cache_dir=cache_dir)
    start = check_branch(model_cfg, budget_flops, train_cfg, warmup_steps)
    trunk = trunk_identity(model_cfg, train_cfg, warmup_steps, seed, data.name)
    own = {"trunk": trunk, "train": train_cfg.identity(), "steps": plan.steps}
    with run.isolated():
        tr = run.trainer()
        st = tr.resume(load_checkpoint(checkpoint_path, own, run.device, run.warnings), checkpoint_path, run.warnings)
        if st is not None:
            run.warnings.append(f"resumed from a checkpoint at step {st.step}")
        else:
            snap = load_checkpoint(snapshot_path, trunk, run.device)
            if snap is None or snap["step"] != start or tr.misfit(snap):
                raise FileNotFoundError(f"{snapshot_path}: no trunk snapshot at step {start} that fits this model")
            st = tr.restore(snap).fresh_curves()
        branch_st = st
        stretch = Stretch(
            end=plan.steps,
            lr=lambda s: wsd_lr_at(
                s,
                plan.steps,
                run.lr_peak,
                warmup_steps,
                train_cfg.final_lr_frac,
                train_cfg.cooldown_frac,
                train_cfg.cooldown_shape,
            ),
            warmup=warmup_steps,
            evals=frozenset({plan.steps}),
            emit=on_metrics,
            checkpoint=(lambda: save(checkpoint_path, tr.state(own, branch_st))) if checkpoint_path else None,
            checkpoint_every_s=checkpoint_every_s,
        )
        outcome = run.crash_safe(lambda: run_steps(tr, run, branch_st, stretch))
    return run.record(st, outcome, start_step=start, trunk_id=trunk_id)


def _trunk_lr(warmup_steps: int, peak: float) -> Callable[[int], float]:
    """The stable phase of WSD: linear warmup over ``warmup_steps``, then the peak."""
    return lambda s: peak * (s + 1) / warmup_steps if s < warmup_steps else peak
