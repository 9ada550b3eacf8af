"""Train one model to one FLOP budget and return what happened as a :class:`RunResult`.

The budget C buys D = C / (FLOPs per token) tokens under the chosen FLOP
convention (:mod:`scaling.flops`), i.e. ``steps = round(D / (batch × T))``
optimiser steps; the run trains exactly that many, so the achieved FLOPs lie
within half a step of the budget. The learning-rate schedule (linear warmup,
cosine decay to 10% of the peak) ends exactly at the last step: Hoffmann et
al. (2022), Section 3.1 / Fig. A1, show that a schedule longer than the run
overestimates the loss of short runs.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch

from scaling.config import ModelConfig
from scaling.data import Corpus, fixed_windows, gather, random_windows
from scaling.flops import CONVENTIONS, DEFAULT_CONVENTION, all_flops_per_token, flops_per_token, param_counts
from scaling.model import Transformer

#: Dense bf16 peaks of common GPUs, in FLOP/s (vendor data sheets, without sparsity).
GPU_PEAK_FLOPS = {
    "H200": 989e12, "H100 SXM": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12,
    "L40S": 362e12, "A10G": 125e12, "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12, "T4": 65e12,
}


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
        lr: peak learning rate; None uses :func:`default_lr`.
        warmup_frac: fraction of the steps spent warming up linearly.
        final_lr_frac: the cosine decays to this fraction of the peak (Chinchilla: 0.1).
        weight_decay: AdamW decoupled weight decay on matrices (not norms).
        grad_clip: clip the global gradient norm to this (0 turns it off).
        betas: AdamW's (β1, β2).
        flops_convention: how FLOPs are counted (see :mod:`scaling.flops`).
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
            raise ValueError(f"batch_size ({self.batch_size}) must be a positive integer")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr ({self.lr}) must be positive")
        if not 0 <= self.warmup_frac < 1:
            raise ValueError(f"warmup_frac ({self.warmup_frac}) must be in [0, 1)")
        if not 0 <= self.final_lr_frac <= 1:
            raise ValueError(f"final_lr_frac ({self.final_lr_frac}) must be in [0, 1]")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("weight_decay and grad_clip must be non-negative")
        if self.flops_convention not in CONVENTIONS:
            raise ValueError(f"flops_convention ({self.flops_convention!r}) must be one of {', '.join(CONVENTIONS)}")
        if self.dtype not in ("fp32", "bf16"):
            raise ValueError(f"dtype ({self.dtype!r}) must be 'fp32' or 'bf16'")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads ({self.threads}) must be a positive integer")
        if self.n_evals < 1 or self.val_sequences < 1:
            raise ValueError("n_evals and val_sequences must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """What a budget buys: the one place budgets become steps."""

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


def plan_run(budget_flops: float, model_cfg: ModelConfig, batch_size: int, convention: str) -> Plan:
    """Turn a FLOP budget into a number of steps (rounded to the nearest step).

    Raises:
        ValueError: the budget buys less than one step.
    """
    if not (budget_flops > 0 and math.isfinite(budget_flops)):
        raise ValueError(f"budget ({budget_flops}) must be a positive number of FLOPs")
    fpt = flops_per_token(model_cfg, convention)
    tps = batch_size * model_cfg.seq_len
    steps = int(round(budget_flops / (fpt * tps)))
    if steps < 1:
        raise ValueError(f"budget {budget_flops:.3g} FLOPs is smaller than one step ({fpt * tps:.3g} FLOPs: "
                         f"{batch_size} x {model_cfg.seq_len} tokens at {fpt:.3g} FLOPs/token)")
    return Plan(float(budget_flops), fpt, tps, steps)


def lr_at(step: int, steps: int, peak: float, warmup_frac: float, final_frac: float) -> float:
    """Linear warmup then cosine decay from ``peak`` to ``final_frac · peak`` at the last step."""
    warm = max(1, int(round(warmup_frac * steps))) if warmup_frac > 0 else 0
    if step < warm:
        return peak * (step + 1) / warm
    span = max(1, steps - 1 - warm)
    progress = min(1.0, (step - warm) / span)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class RunResult:
    """Everything one training run did, as written to ``result.json``.

    Losses are in nats per token; ``val_bpb`` in bits per byte. ``status`` is
    "ok", "diverged" or "failed"; ``error`` says why when it is not ok.
    """

    status: str
    model: dict
    train_config: dict
    corpus: str
    tokenizer: str
    seed: int
    flops_convention: str
    budget_flops: float
    flops: float
    tokens: int
    steps: int
    steps_done: int
    n_params: int
    n_params_non_embedding: int
    n_params_embedding: int
    flops_per_token: dict
    train_loss: float | None
    train_bpb: float | None
    val_loss: float | None
    val_bpb: float | None
    val_curve: list
    curve: list
    epochs: float
    lr: float
    wall_time_s: float
    tokens_per_second: float | None
    flops_per_second: float | None
    mfu: float | None
    peak_flops: float | None
    device: str
    hardware: dict
    versions: dict
    error: str | None = None
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> Path:
        """Write atomically as JSON (temp file, then rename); NaN becomes null."""
        from scaling.results import finite_json, write_json_atomic

        p = Path(path)
        write_json_atomic(p, finite_json(self.to_dict()))
        return p


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def measure_cpu_peak(threads: int | None = None, size: int = 1024, seconds: float = 1.0) -> float:
    """fp32 matmul FLOP/s of this CPU at the current thread count (best of several runs)."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        dt = time.perf_counter() - t0
        best = max(best, 4 * 2 * size**3 / dt)
    return best


def cpu_peak(cache_dir: Path | None, threads: int) -> float:
    """The fp32 matmul peak for this machine and thread count, measured once and cached."""
    key = f"{platform.node()}-{platform.machine()}-torch{torch.__version__}-t{threads}"
    path = Path(cache_dir) / "cpu_peak.json" if cache_dir is not None else None
    table = {}
    if path is not None and path.exists():
        try:
            table = json.loads(path.read_text())
        except json.JSONDecodeError:
            table = {}
    if key not in table:
        table[key] = measure_cpu_peak()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(table, indent=1))
    return float(table[key])


def gpu_peak(device: torch.device) -> float | None:
    """Dense bf16 peak of a known GPU, or None."""
    name = torch.cuda.get_device_name(device)
    for k in sorted(GPU_PEAK_FLOPS, key=len, reverse=True):
        if k.lower() in name.lower():
            return GPU_PEAK_FLOPS[k]
    return None


def _evaluate(model, corpus: Corpus, windows, seq_len, device, autocast) -> float:
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad(), autocast():
        for i in range(0, len(windows), 16):
            x, y, m = gather(corpus.val, corpus.val_mask, windows[i : i + 16], seq_len)
            xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            mt = None if m is None else torch.from_numpy(m).to(device)
            _, loss = model(xt, yt, mt)
            w = float(m.sum()) if m is not None else float(y.size)
            total += float(loss) * w
            count += w
    model.train()
    return total / max(count, 1.0)


Progress = Callable[[dict], None]


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
) -> RunResult:
    """Train ``model_cfg`` on ``data`` for exactly the steps ``budget_flops`` buys.

    Args:
        model_cfg: the shape; its vocab_size must match the corpus.
        budget_flops: C, in FLOPs under ``train_cfg.flops_convention``.
        data: from :func:`scaling.data.load_corpus`.
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
        A :class:`RunResult`; status "diverged" when the loss becomes NaN or
        explodes, "failed" when training raised (with the error).

    Raises:
        ValueError: bad configuration (vocabulary mismatch, budget under one step).
    """
    if model_cfg.vocab_size != data.vocab_size:
        raise ValueError(f"model vocab_size ({model_cfg.vocab_size}) must equal the corpus's ({data.vocab_size})")
    plan = plan_run(budget_flops, model_cfg, train_cfg.batch_size, train_cfg.flops_convention)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but torch sees no CUDA GPU")
    if train_cfg.dtype == "bf16" and device.type != "cuda":
        raise ValueError("dtype bf16 is for CUDA; use fp32 on CPU")
    T = model_cfg.seq_len
    if data.val.size < T + 2 or data.train.size < T + 2:
        raise ValueError(f"corpus {data.name} is shorter than one sequence of {T + 1} tokens")
    prev_threads = torch.get_num_threads()
    threads = train_cfg.threads or prev_threads
    counts = param_counts(model_cfg)
    warnings: list[str] = []
    epochs = plan.tokens / data.train.size
    if epochs > 1:
        warnings.append(f"the run makes {epochs:.2f} epochs over the {data.train.size}-token training split")
    if peak_flops is None:
        if device.type == "cuda":
            peak_flops = gpu_peak(device)
        else:
            torch.set_num_threads(threads)
            peak_flops = cpu_peak(Path(cache_dir) if cache_dir is not None else None, threads)
            torch.set_num_threads(prev_threads)
    lr_peak = train_cfg.lr if train_cfg.lr is not None else default_lr(model_cfg.d_model)

    curve: list[dict] = []
    val_curve: list[dict] = []
    status, error = "ok", None
    step = 0
    train_loss = val_loss = None
    eval_steps = sorted({int(round(plan.steps * k / train_cfg.n_evals)) for k in range(1, train_cfg.n_evals + 1)})
    curve_every = max(1, plan.steps // train_cfg.max_curve_points)
    val_windows = fixed_windows(data.val.size, train_cfg.val_sequences, T)
    rng = np.random.default_rng(seed)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if train_cfg.dtype == "bf16" else _null_ctx
    devices = [device] if device.type == "cuda" else []
    t_start = time.perf_counter()
    t_train = 0.0
    try:
        torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if device.type == "cuda":
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
            model = Transformer(model_cfg).to(device)
            decay = [p for p in model.parameters() if p.dim() >= 2]
            no_decay = [p for p in model.parameters() if p.dim() < 2]
            opt = torch.optim.AdamW(
                [{"params": decay, "weight_decay": train_cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                lr=lr_peak, betas=train_cfg.betas, fused=device.type == "cuda",
            )
            step_model = torch.compile(model) if train_cfg.compile else model
            limit = train_cfg.diverge_factor * math.log(model_cfg.vocab_size)
            warm = int(round(train_cfg.warmup_frac * plan.steps))
            ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
            identity = {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(), "steps": plan.steps, "seed": seed,
                        "corpus": data.name}
            start = 0
            if ckpt is not None and ckpt.exists():
                state = torch.load(ckpt, map_location=device, weights_only=False)
                if state.get("identity") == identity:
                    model.load_state_dict(state["model"])
                    opt.load_state_dict(state["optimizer"])
                    rng.bit_generator.state = state["np_rng"]
                    torch.set_rng_state(state["torch_rng"])
                    start, curve, val_curve = state["step"], state["curve"], state["val_curve"]
                    t_train, train_loss, val_loss = state["t_train"], state["train_loss"], state["val_loss"]
                    warnings.append(f"resumed from a checkpoint at step {start}")
            last_ckpt = time.monotonic()
            step = start - 1
            for step in range(start, plan.steps):
                t0 = time.perf_counter()
                lr = lr_at(step, plan.steps, lr_peak, train_cfg.warmup_frac, train_cfg.final_lr_frac)
                for g in opt.param_groups:
                    g["lr"] = lr
                x, y, m = gather(data.train, data.train_mask, random_windows(data.train.size, train_cfg.batch_size, T, rng), T)
                xt, yt = torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(y).to(device, non_blocking=True)
                mt = None if m is None else torch.from_numpy(m).to(device)
                with autocast():
                    _, loss = step_model(xt, yt, mt)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if train_cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
                opt.step()
                lv = loss.detach().item()  # synchronises: the step's time is real
                t_train += time.perf_counter() - t0
                train_loss = lv
                if not math.isfinite(lv) or (step >= warm and lv > limit):
                    status = "diverged"
                    error = f"training loss {lv:.4g} at step {step + 1} ({'not finite' if not math.isfinite(lv) else f'above {limit:.3g} = {train_cfg.diverge_factor} ln V'})"
                    curve.append(_curve_row(step + 1, plan, lv, lr, time.perf_counter() - t_start))
                    if on_metrics is not None:
                        on_metrics([{"kind": "train", **curve[-1]}])
                    break
                new_rows = []
                if (step + 1) % curve_every == 0 or step + 1 == plan.steps:
                    curve.append(_curve_row(step + 1, plan, lv, lr, time.perf_counter() - t_start))
                    new_rows.append({"kind": "train", **curve[-1]})
                if step + 1 in eval_steps:
                    vl = _evaluate(model, data, val_windows, T, device, autocast)
                    val_curve.append({"step": step + 1, "tokens": (step + 1) * plan.tokens_per_step,
                                      "flops": (step + 1) * plan.tokens_per_step * plan.flops_per_token, "val_loss": vl})
                    new_rows.append({"kind": "val", **val_curve[-1]})
                    val_loss = vl
                if new_rows and on_metrics is not None:
                    on_metrics(new_rows)
                if ckpt is not None and step + 1 < plan.steps and time.monotonic() - last_ckpt >= checkpoint_every_s:
                    _save_checkpoint(ckpt, {
                        "identity": identity, "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step + 1,
                        "curve": curve, "val_curve": val_curve, "t_train": t_train, "train_loss": train_loss,
                        "val_loss": val_loss})
                    last_ckpt = time.monotonic()
                if progress is not None and ((step + 1) % max(1, plan.steps // 100) == 0 or step + 1 == plan.steps):
                    tps = (step + 1) * plan.tokens_per_step / max(t_train, 1e-9)
                    progress({"step": step + 1, "steps": plan.steps, "loss": lv, "lr": lr, "tokens_per_second": tps,
                              "eta_s": (plan.steps - step - 1) * plan.tokens_per_step / tps, "val_loss": val_loss})
    except Exception as e:  # a crash is recorded, not raised: sweeps go on
        status = "failed"
        error = f"{type(e).__name__}: {e}"
        warnings.append(traceback.format_exc(limit=5))
    finally:
        torch.set_num_threads(prev_threads)
    steps_done = step if status == "failed" else step + 1
    tokens_done = steps_done * plan.tokens_per_step
    tps = tokens_done / t_train if t_train > 0 and steps_done else None
    fps = tps * plan.flops_per_token if tps else None
    # MFU is always under the PaLM count (6N + attention), whatever convention set the budget.
    mfu_fps = tps * flops_per_token(model_cfg, "6N+attn") if tps else None
    return RunResult(
        status=status,
        model=model_cfg.to_dict(),
        train_config=train_cfg.to_dict(),
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
        train_loss=train_loss if train_loss is not None and math.isfinite(train_loss) else None,
        train_bpb=data.bits_per_byte(train_loss, "train") if train_loss is not None and math.isfinite(train_loss) else None,
        val_loss=val_loss if status == "ok" else None,
        val_bpb=data.bits_per_byte(val_loss) if status == "ok" and val_loss is not None else None,
        val_curve=val_curve,
        curve=curve,
        epochs=epochs,
        lr=lr_peak,
        wall_time_s=time.perf_counter() - t_start,
        tokens_per_second=tps,
        flops_per_second=fps,
        mfu=(mfu_fps / peak_flops) if (mfu_fps and peak_flops) else None,
        peak_flops=peak_flops,
        device=str(device),
        hardware=_hardware(device, threads),
        versions={"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
                  "scaling": _version(), "git_commit": _git_commit()},
        error=error,
        warnings=warnings,
    )


def _save_checkpoint(path: Path, state: dict) -> None:
    """Save atomically: a kill while saving leaves the previous checkpoint intact."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _curve_row(step: int, plan: Plan, loss: float, lr: float, wall: float) -> dict:
    tokens = step * plan.tokens_per_step
    return {"step": step, "tokens": tokens, "flops": tokens * plan.flops_per_token,
            "train_loss": loss if math.isfinite(loss) else None, "lr": lr, "wall_time_s": wall}


class _null_ctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _hardware(device: torch.device, threads: int) -> dict:
    hw = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "threads": threads}
    if device.type == "cuda":
        hw["gpu"] = torch.cuda.get_device_name(device)
    return hw


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("scaling")
    except Exception:  # not installed (running from a source tree)
        return "unknown"
