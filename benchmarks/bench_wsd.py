"""WSD trunks with cooldown branches against independent cosine runs, on the same grid, in one run.

    python benchmarks/bench_wsd.py --lr-search            # each schedule's best LR scale at two sizes
    python benchmarks/bench_wsd.py                        # the grid at the width rule's LR
    python benchmarks/bench_wsd.py --lr-scale 2 --tag lr2 # the grid at another LR scale (both schedules)
    python benchmarks/bench_wsd.py --lr-scale 2 --warmup largest-budget --tag lr2-matched
                                                          # cosine warmed up as long as the WSD trunks

Each schedule's grid is a real sweep (sweeps/compare.toml with schedule and name set), trained by the
local executor with two runs at a time, one thread each, into benchmarks/results/compare-<schedule>-<tag>/; runs
already there are skipped, so the wall time measured in this invocation is then shorter than the runs'
own. The report gives both: the wall time of this invocation and the run time the records hold. Then
per-point final losses side by side, and a and N_opt(1e15) with 95% bootstrap intervals by Approaches 1-3.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from isoflop import analyze, load_runs
from isoflop.laws.plots import save_figures
from isoflop.runs import runs_frame
from isoflop.sweep import load_sweep, run_sweep
from isoflop.sweep.executors import LocalExecutor


def run(sweep_file, overrides, results, cache_dir):
    sw = load_sweep(sweep_file, tuple(overrides))
    t0 = time.perf_counter()
    st = run_sweep(sw, LocalExecutor(1, max_workers=2), results_root=results, cache_dir=cache_dir)
    return sw, st, time.perf_counter() - t0


def lr_search(args):
    scales = [float(x) for x in args.scales.split(",")]
    rows = {}
    for sched in ("cosine", "wsd"):
        for sc in scales:
            _, st, wall = run(
                args.sweep,
                [
                    f"schedule={sched}",
                    f"name=lr-{sched}-{sc:g}",
                    f"train.lr_scale={sc}",
                    f"budgets=[{args.lr_budget}]",
                    f"sizes.params={args.lr_sizes}",
                ],
                args.results,
                args.cache_dir,
            )
            df = runs_frame(Path(args.results) / f"lr-{sched}-{sc:g}")
            for _, r in df.iterrows():
                rows[(sched, int(r["params"]), sc)] = r["loss"]
            print(
                f"  {sched:6s} lr x{sc:<4g} {wall:6.1f} s  "
                + "  ".join(f"N={int(r['params'])}: {r['loss']:.4f}" for _, r in df.sort_values("params").iterrows()),
                flush=True,
            )
    print(f"\nfinal validation loss at C = {args.lr_budget:g} FLOPs (nats/token), by LR scale of the width rule")
    sizes = sorted({k[1] for k in rows})
    print(f"{'schedule':8s} {'N':>8s} " + " ".join(f"{'x' + format(s, 'g'):>8s}" for s in scales) + "   best")
    best = {}
    for sched in ("cosine", "wsd"):
        for n in sizes:
            ls = [rows.get((sched, n, s), np.nan) for s in scales]
            b = scales[int(np.nanargmin(ls))]
            best.setdefault(sched, []).append(b)
            print(f"{sched:8s} {n:8d} " + " ".join(f"{x:8.4f}" for x in ls) + f"   x{b:g}")
    for sched in ("cosine", "wsd"):
        mean = {s: np.mean([rows[(sched, n, s)] for n in sizes]) for s in scales}
        print(f"{sched}: lowest mean loss at x{min(mean, key=mean.get):g}")


def grid(args):
    out = {}
    for sched in ("cosine", "wsd"):
        name = f"compare-{sched}-{args.tag}"
        over = [f"schedule={sched}", f"name={name}", f"train.lr_scale={args.lr_scale}"]
        if sched == "cosine" and args.warmup:
            over.append(f'warmup="{args.warmup}"')
        if sched == "wsd" and args.cooldown_frac:
            over.append(f"train.cooldown_frac={args.cooldown_frac}")
        sw, st, wall = run(args.sweep, over, args.results, args.cache_dir)
        folder = Path(args.results) / name
        res = analyze(load_runs(folder), targets=[args.target], n_bootstrap=args.bootstrap, seed=0)
        if args.figures:
            save_figures(res, Path(args.figures) / name)
        out[sched] = (st, wall, runs_frame(folder), res)
        print(f"{sched}: {st.ok}/{st.done} ok in {wall:.1f} s", flush=True)
    (sc, wc, dc, rc), (sw_, ww, dw, rw) = out["cosine"], out["wsd"]
    print(
        f"\ngrid: {args.sweep} at {args.lr_scale:g} x the width rule's LR; cosine warmup: {args.warmup or 'per-run'}; "
        f"WSD cooldown {sw.train_config().cooldown_frac:g}; python {platform.python_version()}, "
        f"torch {torch.__version__}, 2 runs at a time, 1 thread each"
    )
    print(f"\n{'':24s} {'cosine':>14s} {'WSD':>14s} {'WSD/cosine':>11s}")
    print(f"{'FLOPs spent':24s} {sc.cost_flops:14.4g} {sw_.cost_flops:14.4g} {sw_.cost_flops / sc.cost_flops:11.3f}")
    print(
        f"{'run time (records), s':24s} {sc.cost_wall_s:14.1f} {sw_.cost_wall_s:14.1f} "
        f"{sw_.cost_wall_s / sc.cost_wall_s:11.3f}"
    )
    print(f"{'wall time (this run), s':24s} {wc:14.1f} {ww:14.1f} {ww / wc if wc > 1 else float('nan'):11.3f}")
    key = lambda d: {(float(r["budget"]), int(r["params"])): float(r["loss"]) for _, r in d.iterrows()}  # noqa: E731
    kc, kw = key(dc), key(dw)
    print("\nfinal validation loss (nats/token)")
    print(f"{'C (FLOPs)':>10s} {'N':>8s} {'cosine':>8s} {'WSD':>8s} {'WSD/cos-1':>10s}")
    ratios = []
    for k in sorted(kc):
        if k in kw:
            ratios.append(kw[k] / kc[k] - 1)
            print(f"{k[0]:10.3g} {k[1]:8d} {kc[k]:8.4f} {kw[k]:8.4f} {ratios[-1]:+10.2%}")
    print(f"worst WSD/cosine - 1: {max(ratios):+.2%}; mean {np.mean(ratios):+.2%}")
    print(
        f"\n{'method':10s} {'a (cosine)':>28s} {'a (WSD)':>28s} {'delta a':>8s}   N_opt({args.target:g}) cosine / WSD"
    )
    for m in ("approach1", "approach2", "approach3"):
        cells = []
        for res in (rc, rw):
            if m not in res.fitted:
                cells.append(("-", None, "-"))
                continue
            a = res.approach3.a if m == "approach3" else res.fit(m).params_law.exponent
            ci = res.interval(m, "a" if m == "approach3" else "params_exponent")
            p = res.prediction(m, args.target)
            cells.append(
                (
                    f"{a:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{a:.3f}",
                    a,
                    f"{p['optimal_params']:.3g} [{p['params_ci'][0]:.3g}, {p['params_ci'][1]:.3g}]"
                    if p["params_ci"]
                    else f"{p['optimal_params']:.3g}",
                )
            )
        da = cells[1][1] - cells[0][1] if cells[0][1] is not None and cells[1][1] is not None else np.nan
        print(f"{m:10s} {cells[0][0]:>28s} {cells[1][0]:>28s} {da:+8.3f}   {cells[0][2]} / {cells[1][2]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", default="sweeps/compare.toml")
    ap.add_argument("--results", default="benchmarks/results")
    ap.add_argument("--figures", default="benchmarks/figures", help="write each grid's fit figures here ('' for none)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--lr-scale", type=float, default=1.0)
    ap.add_argument("--tag", default="rule")
    ap.add_argument(
        "--warmup",
        choices=["per-run", "largest-budget"],
        default=None,
        help="cosine's warmup: per run (default) or as long as the WSD trunks' (matched)",
    )
    ap.add_argument("--cooldown-frac", type=float, default=None, help="WSD's cooldown fraction (default: the sweep's)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--target", type=float, default=1e15)
    ap.add_argument("--lr-search", action="store_true")
    ap.add_argument("--scales", default="0.5,1,2,4")
    ap.add_argument("--lr-budget", type=float, default=1.2e12)
    ap.add_argument("--lr-sizes", default="[1.5e4, 6e4]")
    args = ap.parse_args()
    lr_search(args) if args.lr_search else grid(args)


if __name__ == "__main__":
    main()
