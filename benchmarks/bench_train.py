"""Training throughput: achieved FLOP/s against the machine's measured matmul peak.

Run:  python benchmarks/bench_train.py [--threads 2] [--steps 40] [--device cuda]

On CPU it measures the fp32 matmul peak (1024² GEMMs at the chosen thread
count) and then trains byte-level Shakespeare models of width d = 32, 64, 128
and 256 (depth d/32, the family's rule) through the real trainer, for a fixed
number of steps of batch × seq_len tokens. It prints tokens/s, achieved
FLOP/s and MFU = achieved / peak, with FLOPs counted as in PaLM (6N + 12·L·d·T,
the convention MFU is quoted in), all in one run.

On CUDA it uses bf16 autocast and the GPU's dense bf16 peak from the table in
isoflop.train, over a ladder of models from about 1M to 100M+ parameters.
"""

from __future__ import annotations

import argparse
import platform

import torch

from isoflop.data.corpus import load_corpus
from isoflop.model.config import ModelConfig
from isoflop.model.flops import flops_per_token, param_counts
from isoflop.train.config import TrainConfig
from isoflop.train.hardware import gpu_peak, measure_cpu_peak
from isoflop.train.loop import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--widths", default=None, help="comma-separated d_model values")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()

    dev = torch.device(args.device)
    data = load_corpus("shakespeare", "byte", args.cache_dir)
    torch.set_num_threads(args.threads)
    if dev.type == "cuda":
        peak = gpu_peak(dev)
        name = torch.cuda.get_device_name(dev)
        widths = [int(w) for w in (args.widths or "128,256,512,768,1024,1536").split(",")]
        dtype = "bf16"
        print(f"device {name}; dense bf16 peak {peak / 1e12:.0f} TFLOP/s (data sheet)")
    else:
        peak = measure_cpu_peak(args.threads, seconds=2.0)
        widths = [int(w) for w in (args.widths or "32,64,128,256").split(",")]
        dtype = "fp32"
        print(
            f"device cpu ({platform.processor() or platform.machine()}), {args.threads} threads, torch {torch.__version__}; "
            f"measured fp32 matmul peak {peak / 1e9:.1f} GFLOP/s"
        )
    print(
        f"{args.batch_size} x {args.seq_len} = {args.batch_size * args.seq_len} tokens per step, {args.steps} steps\n"
    )
    print(
        f"{'d_model':>7} {'layers':>6} {'params':>11} {'tokens/s':>11} {'GFLOP/s (PaLM)':>15} {'MFU':>7} {'GFLOP/s (chinchilla)':>21}"
    )
    for d in widths:
        L = max(1, d // 32) if dev.type == "cpu" else max(2, d // 64)
        cfg = ModelConfig(
            n_layers=L,
            d_model=d,
            n_heads=max(1, d // 64 if dev.type == "cuda" else d // 32),
            vocab_size=256,
            seq_len=args.seq_len,
        )
        budget = args.steps * args.batch_size * args.seq_len * flops_per_token(cfg, "6N+attn")
        tc = TrainConfig(
            batch_size=args.batch_size,
            flops_convention="6N+attn",
            threads=args.threads,
            dtype=dtype,
            compile=args.compile,
            n_evals=1,
            val_sequences=4,
        )
        # A short warm-up run first: allocator, kernels (and compilation) settle before timing.
        train(cfg, budget / 4, data, tc, device=dev, peak_flops=peak)
        r = train(cfg, budget, data, tc, device=dev, peak_flops=peak)
        palm = r.tokens_per_second * flops_per_token(cfg, "6N+attn")
        chin = r.tokens_per_second * flops_per_token(cfg, "chinchilla")
        print(
            f"{d:>7} {L:>6} {param_counts(cfg).total:>11,} {r.tokens_per_second:>11,.0f} {palm / 1e9:>15.1f} "
            f"{palm / peak:>7.1%} {chin / 1e9:>21.1f}"
        )


if __name__ == "__main__":
    main()
