"""Train one model to one FLOP budget and return what happened as a :class:`RunRecord`.

The loop reads top to bottom: plan the steps (:mod:`.plan`), build the model
and optimiser (:mod:`.trainer`, :mod:`.optim`), resume from a checkpoint if
one matches (:mod:`.checkpoint`), then step, log, evaluate (:mod:`.evaluate`)
and checkpoint until the budget is spent or the loss diverges. Measurement of
the machine is in :mod:`.hardware`. WSD trunks and branches (:mod:`.branch`)
run the same steps through :func:`run_steps`.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from isoflop.data.batches import fixed_windows, gather, random_windows
from isoflop.data.corpus import Corpus
from isoflop.errors import ConfigError
from isoflop.model.config import ModelConfig
from isoflop.model.flops import all_flops_per_token, flops_per_token, param_counts
from isoflop.train.checkpoint import load_checkpoint, save_checkpoint
from isoflop.train.config import TrainConfig
from isoflop.train.evaluate import evaluate
from isoflop.train.hardware import autocast_for, hardware_info, peak_flops_for, versions
from isoflop.train.optim import schedule_lr, set_lr
from isoflop.train.plan import Plan, plan_run
from isoflop.train.preempt import Deferred
from isoflop.train.record import RunRecord
from isoflop.train.trainer import LoopState, Trainer, isolated

Progress = Callable[[dict], None]
Outcome = tuple[str, "str | None"]  # (status, error)


@dataclass(frozen=True)
class RunContext:
    """What one run, trunk growth or branch trains, where, and under which plan: the loop's fixed inputs.

    ``warnings`` collects the run's notes as it goes (resumes, epochs, a crash's traceback)."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    data: Corpus
    plan: Plan
    device: torch.device
    threads: int
    seed: int
    lr_peak: float
    peak_flops: float | None = None
    warnings: list[str] = field(default_factory=list)
    t_start: float = field(default_factory=time.perf_counter)

    @classmethod
    def build(
        cls,
        model_cfg: ModelConfig,
        data: Corpus,
        train_cfg: TrainConfig,
        plan: Plan,
        device: str | torch.device,
        seed: int,
        *,
        measure_peak: bool = True,
        peak_flops: float | None = None,
        cache_dir: str | Path | None = None,
    ) -> RunContext:
        """Check the inputs (:func:`check_inputs`) and fix the threads, the peak LR and, when
        ``measure_peak``, the hardware's peak FLOP/s for MFU."""
        dev = check_inputs(model_cfg, data, train_cfg, device)
        threads = train_cfg.threads or torch.get_num_threads()
        if peak_flops is None and measure_peak:
            peak_flops = peak_flops_for(dev, threads, Path(cache_dir) if cache_dir is not None else None)
        lr_peak = train_cfg.peak_lr(model_cfg.d_model)
        return cls(
            model_cfg, train_cfg, data, plan, dev, threads, seed, lr_peak, peak_flops, _epoch_warnings(plan, data)
        )

    def isolated(self):
        """The block runs under this run's threads and precision, with the global RNG state restored."""
        return isolated(self.device, self.threads)

    def trainer(self) -> Trainer:
        return Trainer(self.model_cfg, self.train_cfg, self.lr_peak, self.device, self.seed)

    def crash_safe(self, fn: Callable[[], Outcome]) -> Outcome:
        """``fn()``, with a crash recorded rather than raised (status "failed", the error, and its traceback
        in ``warnings``): sweeps go on."""
        try:
            return fn()
        except Exception as e:  # a crash is recorded, not raised: sweeps go on
            self.warnings.append(traceback.format_exc(limit=5))
            return "failed", f"{type(e).__name__}: {e}"

    def record(self, st: LoopState, outcome: Outcome, *, start_step: int = 0, trunk_id: str | None = None) -> RunRecord:
        """The run record from the loop's final state. A branch (``trunk_id``) started at ``start_step`` from
        its trunk: its tokens and FLOPs count the trunk's prefix, its cost and throughput only its own steps."""
        status, error = outcome
        plan, data, model_cfg, train_cfg = self.plan, self.data, self.model_cfg, self.train_cfg
        steps_done = st.step  # completed optimiser steps (a diverged run counts the step that blew up)
        tokens_done = plan.tokens_at(steps_done)
        own_tokens = plan.tokens_at(max(0, steps_done - start_step))
        tps = own_tokens / st.t_train if st.t_train > 0 and steps_done > start_step else None
        # MFU is always under the PaLM count (6N + attention), whatever convention set the budget.
        mfu_fps = tps * flops_per_token(model_cfg, "6N+attn") if tps else None
        train_loss = st.train_loss if st.train_loss is not None and math.isfinite(st.train_loss) else None
        counts = param_counts(model_cfg)
        return RunRecord(
            status=status,
            model=model_cfg,
            train_config=train_cfg,
            corpus=data.name,
            tokenizer=data.tokenizer,
            seed=self.seed,
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
            train_loss=train_loss,
            train_bpb=data.bits_per_byte(train_loss, "train") if train_loss is not None else None,
            val_loss=st.val_loss if status == "ok" else None,
            val_bpb=data.bits_per_byte(st.val_loss) if status == "ok" and st.val_loss is not None else None,
            epochs=plan.tokens / data.train.size,
            lr=self.lr_peak,
            wall_time_s=time.perf_counter() - self.t_start,
            tokens_per_second=tps,
            flops_per_second=tps * plan.flops_per_token if tps else None,
            mfu=(mfu_fps / self.peak_flops) if (mfu_fps and self.peak_flops) else None,
            peak_flops=self.peak_flops,
            device=str(self.device),
            hardware=hardware_info(self.device, self.threads),
            versions=versions(),
            error=error,
            warnings=tuple(self.warnings),
            curve=tuple(st.curve),
            val_curve=tuple(st.val_curve),
            trunk_id=trunk_id,
            branch_step=start_step if trunk_id is not None else None,
            cost_flops=own_tokens * plan.flops_per_token,
        )


@dataclass(frozen=True)
class Stretch:
    """The steps one call of :func:`run_steps` trains: from the state's step up to ``end`` at ``lr(step)``.

    Attributes:
        warmup: steps before the divergence threshold applies.
        evals: steps after which the validation loss is measured.
        emit: called with new curve rows (``kind`` "train" or "val") as they are made.
        progress: called now and then with (step, steps, loss, lr, tokens_per_second, eta_s, val_loss).
        checkpoint: saves the run's state; called every ``checkpoint_every_s`` seconds before ``end``.
    """

    end: int
    lr: Callable[[int], float]
    warmup: int
    evals: frozenset[int] = frozenset()
    emit: Callable[[list[dict]], None] | None = None
    progress: Progress | None = None
    checkpoint: Callable[[], None] | None = None
    checkpoint_every_s: float = 300.0


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
    save: Callable[[Path, dict], None] = save_checkpoint,
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
        save: saves a checkpoint (:func:`~isoflop.train.checkpoint.save_checkpoint`; a sweep's worker passes it
            guarded by the run's claim, :meth:`~isoflop.runs.claim.Claim.guarded`).

    Returns:
        A :class:`RunRecord`; status "diverged" when the loss becomes NaN or
        explodes, "failed" when training raised (with the error).

    Raises:
        ConfigError: bad configuration (vocabulary mismatch, budget under one
            step, a device torch does not have).
    """
    plan = plan_run(budget_flops, model_cfg, train_cfg.batch_size, train_cfg.flops_convention)
    run = RunContext.build(model_cfg, data, train_cfg, plan, device, seed, peak_flops=peak_flops, cache_dir=cache_dir)
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    identity = {"model": model_cfg.to_dict(), "train": train_cfg.identity(), "steps": plan.steps}
    identity |= {"seed": seed, "corpus": data.name}
    st = LoopState()

    def steps() -> Outcome:
        nonlocal st
        tr = run.trainer()
        resumed = tr.resume(load_checkpoint(ckpt, identity, run.device, run.warnings), ckpt, run.warnings)
        if resumed is not None:
            st = resumed
            run.warnings.append(f"resumed from a checkpoint at step {st.step}")
        n = train_cfg.n_evals
        stretch = Stretch(
            end=plan.steps,
            lr=lambda s: schedule_lr(s, plan.steps, run.lr_peak, train_cfg),
            warmup=train_cfg.warmup_for(plan.steps),
            evals=frozenset(int(round(plan.steps * k / n)) for k in range(1, n + 1)),
            emit=on_metrics,
            progress=progress,
            checkpoint=(lambda: save(ckpt, tr.state(identity, st))) if ckpt else None,
            checkpoint_every_s=checkpoint_every_s,
        )
        return run_steps(tr, run, st, stretch)

    with run.isolated():
        outcome = run.crash_safe(steps)
    return run.record(st, outcome)


def run_steps(tr: Trainer, run: RunContext, st: LoopState, stretch: Stretch) -> Outcome:
    """Optimisation steps from ``st.step`` up to ``stretch.end``; updates ``st`` and returns (status, error).

    A preemption signal (:mod:`.preempt`) that arrives meanwhile is held to the end of its step; there the run
    saves its checkpoint (``stretch.checkpoint``) and the signal goes on to whoever listened before.
    """
    with Deferred() as preempt:
        return _steps(tr, run, st, stretch, preempt)


def _steps(tr: Trainer, run: RunContext, st: LoopState, stretch: Stretch, preempt: Deferred) -> Outcome:
    """:func:`run_steps` with its preemption signals held by ``preempt``."""
    model, opt, T, cfg, plan, data = tr.model, tr.opt, tr.model.cfg.seq_len, run.train_cfg, run.plan, run.data
    end, device = stretch.end, run.device
    emit = stretch.emit or (lambda rows: None)
    autocast = autocast_for(cfg.dtype)
    limit = cfg.diverge_factor * math.log(model.cfg.vocab_size)
    curve_every = max(1, plan.steps // cfg.max_curve_points)
    val_windows = fixed_windows(data.val.size, cfg.val_sequences, T)
    last_ckpt = time.monotonic()
    for step in range(st.step, end):
        t0 = time.perf_counter()
        lr = stretch.lr(step)
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
        st.loss_sum, st.loss_n = st.loss_sum + lv, st.loss_n + 1
        if not math.isfinite(lv) or (step >= stretch.warmup and lv > limit):
            st.curve.append(_curve_row(st, plan, lr, time.perf_counter() - run.t_start))
            emit([{"kind": "train", **st.curve[-1]}])
            why = "not finite" if not math.isfinite(lv) else f"above {limit:.3g} = {cfg.diverge_factor} ln V"
            return "diverged", f"training loss {lv:.4g} at step {st.step} ({why})"
        rows = []
        if st.step % curve_every == 0 or st.step == end:
            st.curve.append(_curve_row(st, plan, lr, time.perf_counter() - run.t_start))
            rows.append({"kind": "train", **st.curve[-1]})
        if st.step in stretch.evals:
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
        if stretch.checkpoint is not None and (
            preempt.pending or (st.step < end and time.monotonic() - last_ckpt >= stretch.checkpoint_every_s)
        ):
            stretch.checkpoint()
            last_ckpt = time.monotonic()
        if preempt.pending:
            preempt.deliver()  # submitit requeues and exits here; the default action ends the process
        if stretch.progress is not None and (st.step % max(1, plan.steps // 100) == 0 or st.step == end):
            tps = plan.tokens_at(st.step) / max(st.t_train, 1e-9)
            stretch.progress(
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


def check_inputs(model_cfg: ModelConfig, data: Corpus, train_cfg: TrainConfig, device) -> torch.device:
    """The torch device of ``device``, once the model, corpus, dtype and device are known to go together.

    Raises:
        ConfigError: a vocabulary mismatch, a device torch does not have, bf16 off CUDA, or a corpus
            shorter than one sequence.
    """
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


def _curve_row(st: LoopState, plan: Plan, lr: float, wall: float) -> dict:
    """The curve row of the step ``st`` is at: its loss and LR, and the mean training loss over the
    ``train_loss_steps`` steps since the previous row (this one's included); the mean then starts again."""
    loss = st.train_loss if st.train_loss is not None else math.nan
    mean = st.loss_sum / st.loss_n if st.loss_n else math.nan
    row = {
        "step": st.step,
        "tokens": plan.tokens_at(st.step),
        "flops": plan.flops_at(st.step),
        "train_loss": loss if math.isfinite(loss) else None,
        "train_loss_mean": mean if math.isfinite(mean) else None,
        "train_loss_steps": st.loss_n,
        "lr": lr,
        "wall_time_s": wall,
    }
    st.loss_sum, st.loss_n = 0.0, 0
    return row
