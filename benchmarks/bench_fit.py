"""Approach 3 speed: our batched multi-start fit against a plain scipy loop.

Run:  python benchmarks/bench_fit.py [--loop-sample 900] [--full-loop]

On Epoch's Chinchilla table (5 highest-loss runs dropped) it times
  1. fit_parametric over the full 4,500-start grid (batched L-BFGS + polish);
  2. a straightforward loop of scipy.optimize.minimize(method="L-BFGS-B") over
     the same starts with the same objective and analytic gradient (all 4,500
     with --full-loop, else an evenly spaced sample whose time is scaled up);
  3. a 4,000-resample bootstrap of the fit.
and prints both times, the speed-up and both best objectives, all measured in
this one run.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from scipy.optimize import minimize

from isoflop import fit_parametric, load_runs
from isoflop.laws.fit.bootstrap import counts_from_indices, resample_indices
from isoflop.laws.fit.parametric import CHINCHILLA_GRID, bootstrap_parametric, objective_and_grad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop-sample", type=int, default=900, help="starts timed in the scipy loop (scaled to 4,500)")
    ap.add_argument("--full-loop", action="store_true", help="loop over all 4,500 starts")
    ap.add_argument("--resamples", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of our fit (best time reported)")
    args = ap.parse_args()

    t = load_runs("example:chinchilla", drop_highest=5)
    n, d, _, l, g = t.used_arrays()
    print(f"data: {t.source}, {n.size} runs; python {platform.python_version()}, numpy {np.__version__}")

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = fit_parametric(n, d, l)
        times.append(time.perf_counter() - t0)
    t_ours = min(times)

    log = (np.log(n), np.log(d), np.log(l), 1e-3)

    def fg(x):
        f, gr = objective_and_grad(x[None], *log)
        return f[0], gr[0]

    starts = CHINCHILLA_GRID if args.full_loop else CHINCHILLA_GRID[:: max(1, 4500 // args.loop_sample)]
    t0 = time.perf_counter()
    best = min((minimize(fg, x0, jac=True, method="L-BFGS-B") for x0 in starts), key=lambda r: r.fun)
    t_loop_measured = time.perf_counter() - t0
    t_loop = t_loop_measured * len(CHINCHILLA_GRID) / len(starts)

    print(f"\nApproach 3, {len(CHINCHILLA_GRID)} starts")
    print(f"  ours (batched L-BFGS + polish): {t_ours:8.3f} s   best objective {ours.objective:.12g}")
    how = (
        "measured"
        if len(starts) == len(CHINCHILLA_GRID)
        else f"{t_loop_measured:.2f} s for {len(starts)} starts, scaled"
    )
    print(f"  scipy L-BFGS-B loop:            {t_loop:8.3f} s   best objective {best.fun:.12g}   ({how})")
    print(
        f"  speed-up: {t_loop / t_ours:.1f}x;  ours - loop objective: {ours.objective - best.fun:+.3e} "
        f"({'ok' if ours.objective <= best.fun + 1e-9 else 'WORSE'})"
    )
    print(f"  ours: E={ours.E:.4f} A={ours.A:.1f} B={ours.B:.1f} alpha={ours.alpha:.4f} beta={ours.beta:.4f}")
    bx = best.x
    print(
        f"  loop: E={np.exp(bx[2]):.4f} A={np.exp(bx[0]):.1f} B={np.exp(bx[1]):.1f} alpha={bx[3]:.4f} beta={bx[4]:.4f}"
    )

    idx = resample_indices(g, args.resamples, np.random.default_rng(0))
    w = counts_from_indices(idx, n.size)
    t0 = time.perf_counter()
    x = bootstrap_parametric(ours, n, d, l, w)
    t_boot = time.perf_counter() - t0
    ok = np.isfinite(x[:, 0])
    a = x[ok, 4] / (x[ok, 3] + x[ok, 4])
    print(
        f"\nbootstrap: {args.resamples} resamples in {t_boot:.2f} s ({1e3 * t_boot / args.resamples:.2f} ms each), "
        f"{ok.sum()} converged; a 95% CI [{np.percentile(a, 2.5):.4f}, {np.percentile(a, 97.5):.4f}]"
    )


if __name__ == "__main__":
    main()
