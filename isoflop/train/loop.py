"""Train one model to one FLOP budget and return what happened as a :class:`RunRecord`.

The loop reads top to bottom: plan the steps (:mod:`.plan`), build the model
and optimiser (:mod:`.optim`), resume from a checkpoint if one matches
(:mod:`.checkpoint`), then step, log, evaluate (:mod:`.evaluate`) and
checkpoint until the budget is spent or the loss diverges. Measurement of the
machine is in :mod:`.hardware`.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from isoflop.data.batches import fixed_windows, gather, random_windows
from isoflop.data.corpus import Corpus
from isoflop.errors import ConfigError
from isoflop.model.config import ModelConfig
from isoflop.model.flops import all_flops_per_token, flops_per_token, param_counts
from isoflop.model.transformer import Transformer
from isoflop.train.checkpoint import load_checkpoint, save_checkpoint
from isoflop.train.config import TrainConfig
from isoflop.train.evaluate import evaluate
from isoflop.train.hardware import autocast_for, hardware_info, peak_flops_for, run_precision, run_threads, versions
from isoflop.train.optim import build_optimizer, schedule_lr, set_lr
from isoflop.train.plan import Plan, plan_run
from isoflop.train.record import RunRecord

Progress = Callable[[dict], None]


@dataclass
class _State:
    """What a checkpoint saves besides the model and optimiser: where the run is and what it logged."""

    step: int = 0
    curve: list = field(default_factory=list)
    val_curve: list = field(default_factory=list)
    t_train: float = 0.0
    train_loss: float | None = None
    val_loss: float | None = None


class _Trainer:
    """The model, optimiser and batch generator of one run (or trunk), seeded, with their saved form."""

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, lr: float, device: torch.device, seed: int):
        torch.manual_seed(seed)
        self.model = Transformer(model_cfg).to(device)
        self.opt = build_optimizer(self.model, train_cfg, lr, device)
        self.step_model = torch.compile(self.model) if train_cfg.compile else self.model
        self.rng = np.random.default_rng(seed)

    def state(self, identity: dict, st: _State) -> dict:
        """Everything needed to continue exactly where the run is."""
        return {
            "identity": identity,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "np_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "state": st.__dict__,
            "step": st.step,
        }

    def misfit(self, saved: dict) -> str | None:
        """Why ``saved`` cannot be restored into this trainer (parts missing, parameters of another model or
        shape), or None. Checked before anything is loaded, so a refused state leaves the trainer as it was."""
        missing = [k for k in ("model", "optimizer", "np_rng", "torch_rng", "state") if k not in saved]
        if missing:
            return f"it has no {', '.join(missing)}"
        own, theirs = self.model.state_dict(), saved["model"]
        if not isinstance(theirs, dict) or set(theirs) != set(own):
            return "its parameters are another model's"
        k = next((k for k, v in own.items() if getattr(theirs[k], "shape", None) != v.shape), None)
        return None if k is None else f"{k} is {tuple(getattr(theirs[k], 'shape', ()))}, not {tuple(own[k].shape)}"

    def resume(self, saved: dict | None, path, notes: list | None = None) -> _State | None:
        """Restore ``saved`` (a checkpoint read from ``path``) and return its state; None when there is none or
        it does not fit this run (noted in ``notes``: the run starts over)."""
        if saved is None:
            return None
        why = self.misfit(saved)
        if why:
            if notes is not None:
                notes.append(f"{path}: does not fit this run ({why}); the run starts over")
            return None
        return self.restore(saved)

    def restore(self, saved: dict) -> _State:
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["optimizer"])
        self.rng.bit_generator.state = saved["np_rng"]
        torch.set_rng_state(saved["torch_rng"])
        return _State(**saved["state"])


def train(
    model_cfg: ModelConfig,
    budget_flops: float,
    data: Corpus,
    train_cfg: TrainConfig = TrainConfig(),
    device: str | torch.device = "cpu",
    seed: int = 0,
    *,
    peak_flops: float | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    on_metrics: Callable[[list[dict]], None] | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
) -> RunRecord:
    """Train ``model_cfg`` on ``data`` for exactly the steps ``budget_flops`` buys.

    Args:
        model_cfg: the shape; its vocab_size must match the corpus.
        budget_flops: C, in FLOPs under ``train_cfg.flops_convention``.
        data: from :func:`isoflop.data.load_corpus`.
        train_cfg: optimiser, schedule and measurement settings.
        device: "cpu", "cuda", "cuda:1", ...
        seed: seeds model initialisation and batch order (global RNG state is
            restored afterwards).
        peak_flops: the hardware's peak FLOP/s for MFU; default: the GPU table,
            or on CPU the measured fp32 matmul peak (cached in ``cache_dir``).
        cache_dir: where the CPU peak is cached.
        progress: called with a dict (step, steps, loss, lr, tokens_per_second, eta_s) now and then.
        on_metrics: called with new curve rows as they are made (``kind`` "train"
            or "val"), so a caller can append them to disk while the run goes.
        checkpoint_path: where to save model, optimiser, RNG and curve state
            every ``checkpoint_every_s`` seconds; if the file exists and matches
            this run, training resumes from it (same losses as an uninterrupted run).

    Returns:
        A :class:`RunRecord`; status "diverged" when the loss becomes NaN or
        explodes, "failed" when training raised (with the error).

    Raises:
        ConfigError: bad configuration (vocabulary mismatch, budget under one
            step, a device torch does not have).
    """
    plan = plan_run(budget_flops, model_cfg, train_cfg.batch_size, train_cfg.flops_convention)
    device = _check_inputs(model_cfg, data, train_cfg, device)
    threads = train_cfg.threads or torch.get_num_threads()
    if peak_flops is None:
        peak_flops = peak_flops_for(device, threads, Path(cache_dir) if cache_dir is not None else None)
    lr_peak = train_cfg.peak_lr(model_cfg.d_model)
    warnings = _epoch_warnings(plan, data)
    st = _State()
    status, error = "ok", None
    t_start = time.perf_counter()
    try:
        with (
            run_threads(threads),
            run_precision(device),
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        ):
            tr = _Trainer(model_cfg, train_cfg, lr_peak, device, seed)
            ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
            identity = {
                "model": model_cfg.to_dict(),
                "train": train_cfg.identity(),
                "steps": plan.steps,
                "seed": seed,
                "corpus": data.name,
            }
            resumed = tr.resume(load_checkpoint(ckpt, identity, device, warnings), ckpt, warnings)
            if resumed is not None:
                st = resumed
                warnings.append(f"resumed from a checkpoint at step {st.step}")
            evals = {int(round(plan.steps * k / train_cfg.n_evals)) for k in range(1, train_cfg.n_evals + 1)}
            status, error = _steps(
                tr,
                data,
                plan,
                train_cfg,
                lambda s: schedule_lr(s, plan.steps, lr_peak, train_cfg),
                train_cfg.warmup_for(plan.steps),
                evals,
                plan.steps,
                device,
                st,
                on_metrics,
                progress,
                t_start,
                (lambda: save_checkpoint(ckpt, tr.state(identity, st))) if ckpt else None,
                checkpoint_every_s,
            )
    except Exception as e:  # a crash is recorded, not raised: sweeps go on
        status, error = "failed", f"{type(e).__name__}: {e}"
        warnings.append(traceback.format_exc(limit=5))
    return _record(
        status,
        error,
        warnings,
        model_cfg,
        train_cfg,
        data,
        seed,
        plan,
        st,
        lr_peak,
        time.perf_counter() - t_start,
        peak_flops,
        device,
        threads,
    )


def _steps(
    tr: _Trainer,
    data: Corpus,
    plan: Plan,
    cfg: TrainConfig,
    lr_fn: Callable[[int], float],
    warm: int,
    eval_steps: set,
    end: int,
    device,
    st: _State,
    emit,
    progress,
    t_start: float,
    checkpoint,
    checkpoint_every_s: float,
) -> tuple[str, str | None]:
    """Optimisation steps from ``st.step`` up to ``end`` at ``lr_fn(step)``; updates ``st`` and returns (status,
    error). Curve rows go to ``emit``; validation runs after the steps in ``eval_steps``."""
    model, opt, T = tr.model, tr.opt, tr.model.cfg.seq_len
    emit = emit or (lambda rows: None)
    autocast = autocast_for(cfg.dtype)
    limit = cfg.diverge_factor * math.log(model.cfg.vocab_size)
    curve_every = max(1, plan.steps // cfg.max_curve_points)
    val_windows = fixed_windows(data.val.size, cfg.val_sequences, T)
    last_ckpt = time.monotonic()
    for step in range(st.step, end):
        t0 = time.perf_counter()
        lr = lr_fn(step)
        set_lr(opt, lr)
        x, y, m = gather(data.train, data.train_mask, random_windows(data.train.size, cfg.batch_size, T, tr.rng), T)
        xt, yt = torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(y).to(device, non_blocking=True)
        mt = None if m is None else torch.from_numpy(m).to(device)
        with autocast():
            _, loss = tr.step_model(xt, yt, mt)  # (B, T) tokens -> mean next-token loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        lv = loss.detach().item()  # synchronises: the step's time is real
        st.t_train += time.perf_counter() - t0
        st.step, st.train_loss = step + 1, lv
        if not math.isfinite(lv) or (step >= warm and lv > limit):
            st.curve.append(_curve_row(st.step, plan, lv, lr, time.perf_counter() - t_start))
            emit([{"kind": "train", **st.curve[-1]}])
            why = "not finite" if not math.isfinite(lv) else f"above {limit:.3g} = {cfg.diverge_factor} ln V"
            return "diverged", f"training loss {lv:.4g} at step {st.step} ({why})"
        rows = []
        if st.step % curve_every == 0 or st.step == end:
            st.curve.append(_curve_row(st.step, plan, lv, lr, time.perf_counter() - t_start))
            rows.append({"kind": "train", **st.curve[-1]})
        if st.step in eval_steps:
            st.val_loss = evaluate(model, data, val_windows, T, device, autocast)
            st.val_curve.append(
                {
                    "step": st.step,
                    "tokens": plan.tokens_at(st.step),
                    "flops": plan.flops_at(st.step),
                    "val_loss": st.val_loss,
                }
            )
            rows.append({"kind": "val", **st.val_curve[-1]})
        if rows:
            emit(rows)
        if checkpoint is not None and st.step < end and time.monotonic() - last_ckpt >= checkpoint_every_s:
            checkpoint()
            last_ckpt = time.monotonic()
        if progress is not None and (st.step % max(1, plan.steps // 100) == 0 or st.step == end):
            tps = plan.tokens_at(st.step) / max(st.t_train, 1e-9)
            progress(
                {
                    "step": st.step,
                    "steps": plan.steps,
                    "loss": lv,
                    "lr": lr,
                    "tokens_per_second": tps,
                    "eta_s": (plan.steps - st.step) * plan.tokens_per_step / tps,
                    "val_loss": st.val_loss,
                }
            )
    return "ok", None


def _epoch_warnings(plan: Plan, data: Corpus) -> list[str]:
    epochs = plan.tokens / data.train.size
    return [f"the run makes {epochs:.2f} epochs over the {data.train.size}-token training split"] if epochs > 1 else []


def _check_inputs(model_cfg: ModelConfig, data: Corpus, train_cfg: TrainConfig, device) -> torch.device:
    if model_cfg.vocab_size != data.vocab_size:
        raise ConfigError(f"model vocab_size ({model_cfg.vocab_size}) must equal the corpus's ({data.vocab_size})")
    try:
        device = torch.device(device)
    except RuntimeError as e:
        raise ConfigError(f"device {device!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but torch sees no CUDA GPU")
    if train_cfg.dtype == "bf16" and device.type != "cuda":
        raise ConfigError("dtype bf16 is for CUDA; use fp32 on CPU")
    if data.val.size < model_cfg.seq_len + 2 or data.train.size < model_cfg.seq_len + 2:
        raise ConfigError(f"corpus {data.name} is shorter than one sequence of {model_cfg.seq_len + 1} tokens")
    return device


def _curve_row(step: int, plan: Plan, loss: float, lr: float, wall: float) -> dict:
    return {
        "step": step,
        "tokens": plan.tokens_at(step),
        "flops": plan.flops_at(step),
        "train_loss": loss if math.isfinite(loss) else None,
        "lr": lr,
        "wall_time_s": wall,
    }


def _record(
    status,
    error,
    warnings,
    model_cfg,
    train_cfg,
    data,
    seed,
    plan,
    st: _State,
    lr_peak,
    wall,
    peak_flops,
    device,
    threads,
    *,
    start_step: int = 0,
    trunk_id: str | None = None,
) -> RunRecord:
    """The run record from the loop's final state. A branch (``trunk_id``) started at ``start_step`` from its
    trunk: its tokens and FLOPs count the trunk's prefix, its cost and throughput only its own steps."""
    steps_done = st.step  # completed optimiser steps (a diverged run counts the step that blew up)
    tokens_done = plan.tokens_at(steps_done)
    own_tokens = plan.tokens_at(max(0, steps_done - start_step))
    tps = own_tokens / st.t_train if st.t_train > 0 and steps_done > start_step else None
    # MFU is always under the PaLM count (6N + attention), whatever convention set the budget.
    mfu_fps = tps * flops_per_token(model_cfg, "6N+attn") if tps else None
    finite = st.train_loss is not None and math.isfinite(st.train_loss)
    counts = param_counts(model_cfg)
    return RunRecord(
        status=status,
        model=model_cfg,
        train_config=train_cfg,
        corpus=data.name,
        tokenizer=data.tokenizer,
        seed=seed,
        flops_convention=train_cfg.flops_convention,
        budget_flops=plan.budget_flops,
        flops=tokens_done * plan.flops_per_token,
        tokens=tokens_done,
        steps=plan.steps,
        steps_done=steps_done,
        n_params=counts.total,
        n_params_non_embedding=counts.non_embedding,
        n_params_embedding=counts.embedding,
        flops_per_token=all_flops_per_token(model_cfg),
        train_loss=st.train_loss if finite else None,
        train_bpb=data.bits_per_byte(st.train_loss, "train") if finite else None,
        val_loss=st.val_loss if status == "ok" else None,
        val_bpb=data.bits_per_byte(st.val_loss) if status == "ok" and st.val_loss is not None else None,
        epochs=plan.tokens / data.train.size,
        lr=lr_peak,
        wall_time_s=wall,
        tokens_per_second=tps,
        flops_per_second=tps * plan.flops_per_token if tps else None,
        mfu=(mfu_fps / peak_flops) if (mfu_fps and peak_flops) else None,
        peak_flops=peak_flops,
        device=str(device),
        hardware=hardware_info(device, threads),
        versions=versions(),
        error=error,
        warnings=tuple(warnings),
        curve=tuple(st.curve),
        val_curve=tuple(st.val_curve),
        trunk_id=trunk_id,
        branch_step=start_step if trunk_id is not None else None,
        cost_flops=own_tokens * plan.flops_per_token,
    )
