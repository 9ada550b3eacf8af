"""Do the 95% intervals cover the truth at held-out scales?

Run:  python benchmarks/bench_coverage.py [--tables 60] [--bootstrap 200] [--holdout 2] [--methods all]

For each of three kinds of synthetic table, draws --tables replicate sweeps (8 budgets from 1e17 to 3e20
FLOPs, 7 sizes per budget spanning 16x around the true optimum, C = 6ND), fits every method on all but
the --holdout largest budgets, and checks whether each method's 95% interval on N_opt at each held-out
budget holds the true optimum there. Three kinds of table:

* independent: L = E + A/N^α + B/D^β (Epoch's refit of Chinchilla) times log-normal noise, σ = 1%;
* seed-shared: the same surface, two seeds per point; each seed tilts the loss by a shared term
  (σ = 1% at the grid's edges, correlated across all of the seed's runs) plus 0.5% independent noise;
* misspecified: Kaplan et al. (2020)'s L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D + 1, which the Chinchilla
  form does not describe exactly, with 1% independent noise.

Prints, per kind and method: the coverage (share of held-out budgets whose true N_opt lies inside the
interval) and median width (decades) of the calibrated interval that scaling reports by default and of
the plain percentile interval (``--raw-intervals``), and the median error of the estimate (decades); and the
same for the answer line (:func:`isoflop.laws.answer.choose_answer`, the average of the usable methods), which
has no plain interval.
The calibration factors (isoflop/laws/fit/calibration.py) were chosen on --seed 1 and --seed 2 with the
default design; check them on other seeds and designs (--sizes, --span, --noise).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from isoflop import analyze, load_runs
from isoflop.laws.answer import choose_answer

EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
KAPLAN = {"Nc": 8.8e13, "Dc": 5.4e13, "aN": 0.076, "aD": 0.095, "E": 1.0}
BUDGETS = np.logspace(17, 20.5, 8)
METHODS = ("approach1", "approach2", "approach2_corrected", "approach3", "vpnls")


def chinchilla(n, d, t=EPOCH):
    return t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]


def kaplan(n, d, k=KAPLAN):
    return ((k["Nc"] / n) ** (k["aN"] / k["aD"]) + k["Dc"] / d) ** k["aD"] + k["E"]


def true_nopt(surface, c):
    grid = np.logspace(4, 14, 40001)
    return float(grid[np.argmin(surface(grid, c / (6 * grid)))])


def table(kind, rng, sizes=7, span=4.0, noise=0.01):
    surface = kaplan if kind == "misspecified" else chinchilla
    seeds = 2 if kind == "seed-shared" else 1
    tilt = rng.normal(0, noise, size=(seeds, 2))  # per seed: a level and a slope in log N, shared by its runs
    rows = []
    for c in BUDGETS:
        centre = true_nopt(surface, c)
        for n in centre * np.logspace(-np.log10(span), np.log10(span), sizes):
            d = c / (6 * n)
            for s in range(seeds):
                if kind == "seed-shared":
                    u = (np.log10(n) - 8.0) / 3.0  # about -1 .. 1 over the grid
                    eps = tilt[s, 0] + tilt[s, 1] * u + rng.normal(0, noise / 2)
                else:
                    eps = rng.normal(0, noise)
                rows.append(
                    {"params": n, "tokens": d, "flops": c, "budget": c, "loss": surface(n, d) * np.exp(eps), "seed": s}
                )
    return pd.DataFrame(rows), surface


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=60)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--holdout", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="all", help="methods to fit (comma-separated; default all)")
    ap.add_argument("--sizes", type=int, default=7, help="sizes per budget")
    ap.add_argument("--span", type=float, default=4.0, help="sizes over [N*/span, N*·span] about the true optimum")
    ap.add_argument(
        "--noise",
        type=float,
        default=0.01,
        help="log-normal noise per run (the seed-shared kind tilts by this and adds half of it)",
    )
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    held = BUDGETS[-args.holdout :]
    print(
        f"{args.tables} tables per kind, {len(BUDGETS) - args.holdout} budgets fitted, held out "
        f"{', '.join(f'{c:.3g}' for c in held)}; {args.bootstrap} bootstrap resamples; 95% intervals"
    )
    print(f"{args.sizes} sizes per budget over x{args.span:g} either way of the optimum, {args.noise:.1%} noise")
    print("coverage of the calibrated intervals (scaling's default), then of the plain percentile ones")
    print(
        f"\n{'kind':13s} {'method':20s} {'calibrated':>10s} {'width (dec)':>12s} {'plain':>7s} {'width':>6s} "
        f"{'|error| (dec)':>14s} {'fitted':>7s}"
    )
    t0 = time.perf_counter()
    for kind in ("independent", "seed-shared", "misspecified"):
        hits = {m: [] for m in (*METHODS, "answer")}
        widths = {m: [] for m in (*METHODS, "answer")}
        raw_hits = {m: [] for m in METHODS}
        raw_widths = {m: [] for m in METHODS}
        flagged = {m: [] for m in ("approach3", "vpnls")}
        errs = {m: [] for m in (*METHODS, "answer")}
        for _ in range(args.tables):
            df, surface = table(kind, rng, args.sizes, args.span, args.noise)
            fit_df = df[df.budget < held[0] * 0.999]
            res = analyze(
                load_runs(fit_df),
                targets=list(held),
                n_bootstrap=args.bootstrap,
                seed=int(rng.integers(1 << 30)),
                methods=args.methods,
            )
            for m in flagged:
                if m in res.misfit:
                    flagged[m].append(res.misfit[m]["flagged"])
            for c in held:
                truth = true_nopt(surface, c)
                for m in res.fitted:
                    p = res.prediction(m, c)
                    if not p["params_ci"] or p["params_ci"][0] is None:
                        continue
                    lo, hi = p["params_ci"]
                    hits[m].append(lo <= truth <= hi)
                    widths[m].append(np.log10(hi / lo))
                    lo, hi = p.get("params_ci_raw") or p["params_ci"]
                    raw_hits[m].append(lo <= truth <= hi)
                    raw_widths[m].append(np.log10(hi / lo))
                    errs[m].append(abs(np.log10(p["optimal_params"] / truth)))
                a = choose_answer(res, c)
                if a.params_ci:
                    hits["answer"].append(a.params_ci[0] <= truth <= a.params_ci[1])
                    widths["answer"].append(np.log10(a.params_ci[1] / a.params_ci[0]))
                    errs["answer"].append(abs(np.log10(a.params / truth)))
        for m in (*METHODS, "answer"):
            if hits[m]:
                raw = (
                    f"{np.mean(raw_hits[m]):7.1%} {np.median(raw_widths[m]):6.3f}"
                    if raw_hits.get(m)
                    else f"{'-':>7s} {'-':>6s}"
                )
                print(
                    f"{kind:13s} {m:20s} {np.mean(hits[m]):10.1%} {np.median(widths[m]):12.3f} {raw} "
                    f"{np.median(errs[m]):14.3f} {len(hits[m]):7d}"
                )
        print(
            f"{kind:13s} the form failed its lack-of-fit test in "
            + ", ".join(f"{np.mean(v):.0%} of tables ({m})" for m, v in flagged.items() if v)
        )
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
