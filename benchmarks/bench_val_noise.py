"""How much noise does a finite validation set add to each run's loss?

Run:  python benchmarks/bench_val_noise.py [--corpus python] [--d-model 64] [--layers 1] [--steps 2000]
      [--seeds 3] [--lr 0.0048] [--sizes 256 1024 4096]

Every run's loss is measured on the same fixed validation windows, so the windows' own difficulty is common to
all runs and cancels in any comparison; what does not cancel is how *this* model's errors fall on *these*
windows. That part is noise in each run's loss, specific to the model, and a law fitted to the losses (or a
loss-curve law predicting held-out ends) sees it as run-to-run noise.

The benchmark trains ``--seeds`` models of one of the default sweep's sizes (65,728 parameters; WSD, 1−√ cooldown over the
last 20% of the steps, the sweep's batch of 16 sequences of 128 tokens) and, at the end of each, evaluates
the model on K disjoint sets of n windows for each n of ``--sizes`` (windows that do not overlap, drawn at
random from the validation split). For each n it takes the two-way table loss[model, set]: its interaction
(what is left after each model's mean and each set's mean) is the model-specific noise, with variance
σ²·(1 − 1/K)(1 − 1/M) per cell for M models, so σ = √(SS / ((K − 1)(M − 1))). It prints σ relative to the
loss for each n, which should fall as 1/√n, and the spread between sets common to all models.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from isoflop.data.batches import gather, random_windows
from isoflop.data.corpus import load_corpus
from isoflop.model.config import ModelConfig
from isoflop.train.config import TrainConfig
from isoflop.train.evaluate import evaluate
from isoflop.train.hardware import autocast_for
from isoflop.train.optim import schedule_lr, set_lr
from isoflop.train.trainer import Trainer


def train_model(data, cfg: ModelConfig, tcfg: TrainConfig, steps: int, seed: int) -> torch.nn.Module:
    """One WSD run of ``steps`` steps under ``tcfg`` (its schedule, batch, clipping and optimiser), from the
    seeded model, optimiser and batch generator a sweep's run starts from (:class:`Trainer`)."""
    peak = tcfg.peak_lr(cfg.d_model)
    tr = Trainer(cfg, tcfg, peak, torch.device("cpu"), seed)
    for step in range(steps):
        set_lr(tr.opt, schedule_lr(step, steps, peak, tcfg))
        x, y, m = gather(
            data.train,
            data.train_mask,
            random_windows(data.train.size, tcfg.batch_size, cfg.seq_len, tr.rng),
            cfg.seq_len,
        )
        _, loss = tr.step_model(torch.from_numpy(x), torch.from_numpy(y), None if m is None else torch.from_numpy(m))
        tr.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tr.model.parameters(), tcfg.grad_clip)
        tr.opt.step()
    return tr.model


def interaction_sd(loss: np.ndarray) -> float:
    """σ of the model × set interaction of a (models, sets) table of relative losses."""
    m, k = loss.shape
    r = loss - loss.mean(axis=1, keepdims=True) - loss.mean(axis=0, keepdims=True) + loss.mean()
    return float(np.sqrt((r**2).sum() / ((k - 1) * (m - 1))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="python")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.0048, help="peak LR (the default sweep's at this size)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = load_corpus(args.corpus, "byte")
    T = 128
    cfg = ModelConfig(n_layers=args.layers, d_model=args.d_model, n_heads=4, vocab_size=data.vocab_size, seq_len=T)
    tcfg = TrainConfig(batch_size=16, lr=args.lr, schedule="wsd", cooldown_frac=0.2, cooldown_shape="1-sqrt")
    models = [train_model(data, cfg, tcfg, args.steps, seed) for seed in range(args.seeds)]
    n_windows = (data.val.size - 1) // (T + 1)
    order = np.random.default_rng(12345).permutation(n_windows) * (T + 1)  # disjoint windows, in random order
    print(
        f"{args.corpus}: {len(models)} models of {sum(p.numel() for p in models[0].parameters()):,} parameters "
        f"({args.layers}x{args.d_model}), {args.steps} WSD steps each; {n_windows:,} disjoint validation windows"
    )
    print(f"{'sequences':>10s} {'sets':>5s} {'model-specific sd':>18s} {'x sqrt(n/256)':>14s} {'between sets':>13s}")
    for n in args.sizes:
        k = min(16, n_windows // n)
        if k < 2:
            print(f"{n:>10d}   too few windows for two disjoint sets")
            continue
        sets = [np.sort(order[i * n : (i + 1) * n]) for i in range(k)]
        loss = np.array(
            [
                [evaluate(mdl, data, s, T, torch.device("cpu"), autocast_for("fp32"), batch=64) for s in sets]
                for mdl in models
            ]
        )
        rel = loss / loss.mean() - 1
        sd = interaction_sd(rel)
        print(f"{n:>10d} {k:>5d} {sd:>17.3%} {sd * np.sqrt(n / 256):>13.3%} {rel.mean(axis=0).std(ddof=1):>12.3%}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
