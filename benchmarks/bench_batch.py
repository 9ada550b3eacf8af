"""Training throughput against batch size: what a batch rule costs or saves in wall time on this machine.

Run:  python benchmarks/bench_batch.py [--threads 1] [--tokens 131072] [--params 2.06e4,6.57e4,2.51e5]

Tiny models run small matrix products, so on a CPU their throughput depends on the batch. For each size (the
default sweep family's clean shape nearest each --params: head dimension 16, aspect ratio 32, byte tokens,
128-token sequences) it trains the same number of tokens through the real trainer at batches of 2, 4, 8, 16
and 32 sequences, after a warm-up run, and prints the median tokens/s of --repeats runs and the ratio to the
sweeps' fixed batch of 16 sequences, all measured in the same run. Time a training run at batch B as tokens / (tokens/s at B).
Do not run it beside other work: the ratios are only as clean as the machine is quiet.
"""

from __future__ import annotations

import argparse
import statistics
import time

from isoflop.data.corpus import load_corpus
from isoflop.model.flops import flops_per_token, param_counts
from isoflop.model.shapes import shape_for_params
from isoflop.train.config import TrainConfig
from isoflop.train.loop import train

BATCHES = (2, 4, 8, 16, 32)
REFERENCE = 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=131072, help="tokens trained per (size, batch) measurement")
    ap.add_argument("--params", default="2.06e4,6.57e4,2.51e5", help="comma-separated target sizes N")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per (size, batch); the median is printed")
    ap.add_argument("--corpus", default="python")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    data = load_corpus(args.corpus, "byte", args.cache_dir)
    t0 = time.perf_counter()
    print(
        f"{args.threads} thread(s), {args.tokens:,} tokens per measurement, median of {args.repeats}, sequences of "
        f"128 bytes ({args.corpus})"
    )
    print(f"{'N':>9} {'shape':>8} " + " ".join(f"{f'B={b}':>15}" for b in BATCHES))
    for target in (float(x) for x in args.params.split(",")):
        cfg = shape_for_params(target, vocab_size=data.vocab_size, seq_len=128, aspect_ratio=32, head_dim=16)
        speed = {}
        for b in BATCHES:
            tc = TrainConfig(batch_size=b, threads=args.threads, n_evals=1, val_sequences=4)
            budget = args.tokens * flops_per_token(cfg, tc.flops_convention)
            train(cfg, budget / 8, data, tc)  # warm-up: allocator and kernels settle before timing
            speed[b] = statistics.median(train(cfg, budget, data, tc).tokens_per_second for _ in range(args.repeats))
        cells = " ".join(f"{speed[b]:>8,.0f} {speed[b] / speed[REFERENCE]:>5.2f}x" for b in BATCHES)
        print(f"{param_counts(cfg).total:>9.3g} {cfg.n_layers}x{cfg.d_model:<5} {cells}")
    print(f"(tokens/s, and the ratio to B={REFERENCE} sequences; {time.perf_counter() - t0:.0f} s in all)")


if __name__ == "__main__":
    main()
