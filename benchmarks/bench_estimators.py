"""Estimators: VPNLS against Approach 3 on published tables, and Approach 2's grid bias on synthetic ones.

Run:  python benchmarks/bench_estimators.py [--repeats 3] [--resamples 1000]

1. On Epoch's Chinchilla points (5 highest-loss runs dropped) and CS336's synthetic runs: the five
   parameters, a and N_opt(target) by VPNLS and by Approach 3 (4,500-start grid), and the time of
   each fit and of a bootstrap of each, measured in this one run (best of --repeats).
2. On noise-free synthetic IsoFLOP tables drawn from a known surface with centred, wide, asymmetric and
   drifting grids: the error of raw Approach 2 and of approach2_corrected in N* and D* at 1e23 FLOPs,
   and the per-budget bias the correction measured.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from isoflop import load_runs
from isoflop.laws.fit.bootstrap import counts_from_indices, resample_indices
from isoflop.laws.fit.correction import correct_isoflops
from isoflop.laws.fit.isoflop import fit_isoflops
from isoflop.laws.fit.parametric import bootstrap_parametric, fit_parametric
from isoflop.laws.fit.vpnls import bootstrap_vpnls, fit_vpnls

TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def best_time(fn, repeats):
    out, best = None, np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def published(args):
    for name, target in (("chinchilla", 1e24), ("cs336", 1e23)):
        t = load_runs(f"example:{name}", drop_highest=5 if name == "chinchilla" else 0)
        n, d, _, l, g = t.used_arrays()
        print(f"\n{t.source}: {n.size} runs, {t.budgets.size} budgets")
        a3, t3 = best_time(lambda: fit_parametric(n, d, l), args.repeats)
        vp, tv = best_time(lambda: fit_vpnls(n, d, l), args.repeats)
        idx = resample_indices(g, args.resamples, np.random.default_rng(0))
        w = counts_from_indices(idx, n.size)
        _, b3 = best_time(lambda: bootstrap_parametric(a3, n, d, l, w), 1)
        bv_x, bv = best_time(lambda: bootstrap_vpnls(vp, n, d, l, w), 1)
        print(
            f"{'':10s} {'E':>8s} {'A':>10s} {'B':>10s} {'alpha':>8s} {'beta':>8s} {'a':>7s} "
            f"{'N_opt(' + format(target, 'g') + ')':>14s} {'fit, s':>8s} {f'{args.resamples} boot, s':>14s}"
        )
        for label, f, tf, tb in (("approach3", a3, t3, b3), ("vpnls", vp, tv, bv)):
            print(
                f"{label:10s} {f.E:8.4f} {f.A:10.2f} {f.B:10.2f} {f.alpha:8.4f} {f.beta:8.4f} {f.a:7.4f} "
                f"{float(f.predict(target)['optimal_params']):14.4g} {tf:8.3f} {tb:14.2f}"
            )
        print(
            f"VPNLS / Approach 3 time: fit {tv / t3:.3f}, bootstrap {bv / b3:.3f}; "
            f"VPNLS replicates that converged: {np.isfinite(bv_x).all(axis=1).mean():.1%}"
        )


def true_nopt(c, t=TRUTH):
    g = (t["alpha"] * t["A"] / (t["beta"] * t["B"])) ** (1 / (t["alpha"] + t["beta"]))
    return g * (c / 6) ** (t["beta"] / (t["alpha"] + t["beta"]))


def true_loss(n, d, t=TRUTH):
    return t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]


GRIDS = {  # (sizes per budget as multiples of the budget's true N*, drift of the grid's centre by the top budget)
    "centred x2": (np.logspace(-np.log10(2), np.log10(2), 7), 1.0),
    "centred x4": (np.logspace(-np.log10(4), np.log10(4), 7), 1.0),
    "centred x16": (np.logspace(-np.log10(16), np.log10(16), 9), 1.0),
    "wide x48": (np.logspace(-np.log10(48), np.log10(48), 9), 1.0),
    "asymmetric /16..x1.5": (np.logspace(-np.log10(16), np.log10(1.5), 7), 1.0),
    "drifting 3x, x8": (np.logspace(-np.log10(8), np.log10(8), 7), 3.0),
    "drifting 4x, x4": (np.logspace(-np.log10(4), np.log10(4), 7), 4.0),
}


def bias_table(target=1e23):
    budgets = np.logspace(17, 21, 5)
    tn = true_nopt(target)
    td = target / (6 * tn)
    print(
        f"\nApproach 2's bias on noise-free tables from L = {TRUTH['E']} + {TRUTH['A']:g}/N^{TRUTH['alpha']} + "
        f"{TRUTH['B']:g}/D^{TRUTH['beta']} (budgets 1e17-1e21, 5), predicting {target:g} FLOPs"
    )
    print(f"{'grid':22s} {'raw N*':>8s} {'raw D*':>8s} {'corr N*':>8s} {'corr D*':>8s}  flags; per-budget N* bias")
    for name, (mult, drift) in GRIDS.items():
        rows = []
        for i, c in enumerate(budgets):
            centre = true_nopt(c) * drift ** (i / (len(budgets) - 1))
            rows += [(m * centre, c / (6 * m * centre), c) for m in mult]
        n, d, c = (np.array(v) for v in zip(*rows))
        l = true_loss(n, d)
        raw = fit_isoflops(n, d, l, c, allow_edge=True)
        fix = correct_isoflops(raw, fit_vpnls(n, d, l), n, d, c)
        p, q = raw.predict(target), fix.predict(target)
        flags = sorted({f for b in fix.budgets for f in b.flags} | set(fix.flags))
        print(
            f"{name:22s} {p['optimal_params'] / tn - 1:+8.2%} {p['optimal_tokens'] / td - 1:+8.2%} "
            f"{q['optimal_params'] / tn - 1:+8.2%} {q['optimal_tokens'] / td - 1:+8.2%}  "
            f"{', '.join(flags) or '-'}; " + " ".join(f"{b.params_bias:+.1%}" for b in fix.budgets)
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    published(args)
    bias_table()


if __name__ == "__main__":
    main()
