"""Does the planner tell the truth, and do its designs and adaptive sweeps buy more certainty per FLOP?

Run:  python benchmarks/bench_planner.py [--prior results/cpu-shakespeare] [--cost 40min] [--truths 12] [--target 1e15]

On the simulated backend, with hidden truths drawn from the prior (a surface per truth, and the prior's
noise), three measurements:

1. Honest predictions: the planner's predicted median 95% interval width (hi/lo) on N_opt at the target for
   its best design, against the width obtained by running that design through ``run_sweep --simulate`` and
   ``analyze`` on each hidden truth.
2. Better designs: at the cost of ``sweeps/cpu-shakespeare.toml`` ("cpu.toml" below: the default grid before the
   LR ladder and the code corpus; its plan under the same cost model), the
   planner's best design against cpu.toml's grid, both run on the same hidden truths; and the other way
   round, the planner's best design for half that cost (``--half``, default on) against cpu.toml at full cost.
3. Adaptive pays: the planner's design run adaptively (refit after each budget; stop once the widest interval
   is at most the width the fixed design reached on three truths in four, its 75th percentile; extend within
   1.5x its cost when not), against running the fixed design in full. With --adaptive-start F the adaptive
   sweep starts from the planner's best design for F times the cap instead, and extends as it needs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from isoflop.data import load_corpus
from isoflop.design import load_prior, plan_sweep
from isoflop.design.adaptive import run_adaptive
from isoflop.design.candidates import design_cost, parse_duration, plan_specs
from isoflop.laws.analyze import analyze
from isoflop.laws.table_io import load_runs
from isoflop.runs.throughput import default_throughput
from isoflop.sweep import load_sweep, run_sweep
from isoflop.sweep.executors import make_executor
from isoflop.sweep.simulate import Simulator

DEFAULT_TP = default_throughput()
METHODS = ("approach2", "approach3")


def obtained(sweep, surface, prior, target, seed, root):
    """Run a design on one hidden truth through the simulated backend; the widest interval and each method's."""
    sim = Simulator(surface, sigma=prior.sigma, seed_sigma=prior.seed_sigma, seed=seed, throughput=DEFAULT_TP)
    run_sweep(sweep, make_executor("local", threads_per_run=1), results_root=root, simulate=sim)
    res = analyze(
        load_runs(Path(root) / sweep.name), methods=",".join(METHODS), targets=[target], n_bootstrap=200, seed=seed
    )
    w = {}
    for m in METHODS:
        ci = res.prediction(m, target).get("params_ci") if m in res.fitted else None
        w[m] = ci[1] / ci[0] if ci and ci[0] and ci[0] > 0 else np.inf
    return max(w.values()), w


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", default="results/cpu-shakespeare")
    ap.add_argument(
        "--cost", default=None, help="cap (default: what sweeps/cpu-shakespeare.toml costs under the cost model)"
    )
    ap.add_argument("--target", type=float, default=1e15)
    ap.add_argument("--truths", type=int, default=12)
    ap.add_argument("--replicates", type=int, default=24)
    ap.add_argument("--screen", type=int, default=6)
    ap.add_argument("--finalists", type=int, default=6)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-half", action="store_true", help="skip the design for half cpu.toml's cost")
    ap.add_argument(
        "--adaptive-start",
        type=float,
        default=1.0,
        help="start adaptive sweeps from the planner's best design for this fraction of the cap",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    prior = load_prior(args.prior)
    cpu = load_sweep("sweeps/cpu-shakespeare.toml")
    vocab = load_corpus(cpu.corpus, cpu.tokenizer).vocab_size
    cpu_fixed = replace(cpu, sizes=replace(cpu.sizes, refine=False), name="cpu")
    cpu_cost = design_cost(plan_specs(cpu_fixed, vocab), DEFAULT_TP, 2)
    cap_s = parse_duration(args.cost) if args.cost else cpu_cost.wall_s
    print(f"prior: {prior.describe()}")
    print(f"cost model: {DEFAULT_TP.describe()}")
    print(
        f"sweeps/cpu-shakespeare.toml: {cpu_cost.runs} runs, {cpu_cost.flops:.3g} FLOPs, {cpu_cost.wall_s / 60:.1f} min on 2 "
        f"workers; cap {cap_s / 60:.1f} min; target {args.target:.3g}; {args.truths} hidden truths\n"
    )
    plan = plan_sweep(
        prior,
        cpu,
        vocab,
        args.target,
        cap_s=cap_s,
        methods=METHODS,
        throughput=DEFAULT_TP,
        replicates=args.replicates,
        screen=args.screen,
        finalists=args.finalists,
        processes=args.processes,
    )
    best = plan.best
    print(
        f"planner's best: {best.design.label}, {best.cost.runs} runs, {best.cost.flops:.3g} FLOPs, "
        f"{best.cost.wall_s / 60:.1f} min; predicted width " + ", ".join(f"{m} {best.width[m]:.2f}x" for m in METHODS)
    )
    half = None
    if not args.no_half:
        half = plan_sweep(
            prior,
            cpu,
            vocab,
            args.target,
            cap_s=0.5 * cap_s,
            methods=METHODS,
            throughput=DEFAULT_TP,
            replicates=args.replicates,
            screen=args.screen,
            finalists=args.finalists,
            processes=args.processes,
        ).best
        print(
            f"planner's best for half the cost: {half.design.label}, {half.cost.runs} runs, {half.cost.flops:.3g} "
            f"FLOPs, {half.cost.wall_s / 60:.1f} min; predicted width "
            + ", ".join(f"{m} {half.width[m]:.2f}x" for m in METHODS)
        )
    rng = np.random.default_rng(12345)
    truths = [prior.draw(rng) for _ in range(args.truths)]
    got_best, got_cpu, got_half = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(truths):
            got_best.append(obtained(replace(best.sweep, name=f"best{i}"), s, prior, args.target, i, tmp)[1])
            got_cpu.append(obtained(replace(cpu, name=f"cpu{i}"), s, prior, args.target, i, tmp)[1])
            if half:
                got_half.append(obtained(replace(half.sweep, name=f"half{i}"), s, prior, args.target, i, tmp)[1])
        print("\n1. Honest predictions (planner's best design; median over hidden truths)")
        print(f"{'method':12s} {'predicted':>10s} {'obtained':>10s} {'obtained/predicted':>19s}")
        for m in METHODS:
            med = float(np.median([g[m] for g in got_best]))
            print(f"{m:12s} {best.width[m]:9.2f}x {med:9.2f}x {med / best.width[m]:19.2f}")
        print("\n2. Better designs at the same cost (median obtained width over the same hidden truths)")
        print(f"{'method':12s} {'cpu.toml':>10s} {'planner':>10s} {'cpu/planner':>12s}")
        for m in METHODS:
            a, b = np.median([g[m] for g in got_cpu]), np.median([g[m] for g in got_best])
            print(f"{m:12s} {a:9.2f}x {b:9.2f}x {a / b:12.2f}")
        print(f"cost: cpu.toml {cpu_cost.wall_s / 60:.1f} min, planner {best.cost.wall_s / 60:.1f} min")
        if half:
            print("\n2b. The same width for half the cost? (planner's design for half cpu.toml's cost)")
            print(f"{'method':12s} {'cpu.toml':>10s} {'planner/2':>10s} {'cpu/planner':>12s} {'FLOPs ratio':>12s}")
            for m in METHODS:
                a, b = np.median([g[m] for g in got_cpu]), np.median([g[m] for g in got_half])
                print(f"{m:12s} {a:9.2f}x {b:9.2f}x {a / b:12.2f} {half.cost.flops / cpu_cost.flops:12.2f}")
            print(
                f"cost: cpu.toml {cpu_cost.wall_s / 60:.1f} min and {cpu_cost.flops:.3g} FLOPs, planner "
                f"{half.cost.wall_s / 60:.1f} min and {half.cost.flops:.3g} FLOPs"
            )
        fixed = [max(g.values()) for g in got_best]
        goal = float(np.percentile(fixed, 75))
        small = None
        if args.adaptive_start < 1:  # the adaptive sweep starts from the best design for a fraction of the cap
            small = plan_sweep(
                prior,
                cpu,
                vocab,
                args.target,
                cap_s=args.adaptive_start * cap_s,
                methods=METHODS,
                throughput=DEFAULT_TP,
                replicates=args.replicates,
                screen=args.screen,
                finalists=args.finalists,
                processes=args.processes,
            ).best
            print(f"\nadaptive start: {small.design.label}, {small.cost.wall_s / 60:.1f} min")
        start_name = "the smaller design" if small else "the planner's design"
        print(
            f"\n3. Adaptive sweeps: {start_name}, stopping at {goal:.2f}x (the fixed design's 75th percentile "
            f"width), cap 1.5x its cost"
        )
        print(
            f"{'truth':>5s} {'stopped after':>14s} {'width':>7s} {'cost min':>9s} {'fixed width':>12s} "
            f"{'fixed min':>10s} {'ratio':>6s}"
        )
        ratios, reached = [], 0
        for i, s in enumerate(truths):
            sim = Simulator(s, sigma=prior.sigma, seed_sigma=prior.seed_sigma, seed=i, throughput=DEFAULT_TP)
            start = replace(small.sweep if small else best.sweep, name=f"ad{i}")
            res = run_adaptive(
                start,
                lambda: make_executor("local", threads_per_run=1),
                target=args.target,
                until_width=goal,
                cap_s=1.5 * best.cost.wall_s,
                methods=METHODS,
                results_root=tmp,
                simulate=sim,
                replicates=6,
                seed=i,
            )
            f = res.final
            w = max(f.width.values()) if f.width else np.inf
            reached += w <= goal
            ratios.append(f.cost_wall_s / best.cost.wall_s)
            print(
                f"{i:5d} {f.budgets_done:>8d} budg. {w:6.2f}x {f.cost_wall_s / 60:9.1f} {fixed[i]:11.2f}x "
                f"{best.cost.wall_s / 60:10.1f} {ratios[-1]:6.2f}"
            )
        print(
            f"reached {goal:.2f}x: adaptive {reached}/{len(truths)}, fixed {sum(f <= goal for f in fixed)}/"
            f"{len(truths)}; adaptive cost: median {np.median(ratios):.2f}x, mean {np.mean(ratios):.2f}x "
            f"the fixed design's"
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
