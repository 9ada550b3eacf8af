"""Does the planner's simulation of a ``cooldowns = "law"`` design tell the truth?

Run:  python benchmarks/bench_plan_law.py [--prior results/answer] [--replicates 12] [--bootstrap 100]

The planner simulates a law design as the grid its folder is read as (every size at every budget): the
trained points as simulated runs, the predicted ones moved by the law's error (a bump per trunk between each
two trained budgets, :func:`isoflop.design.law_error.law_errors`, with
:data:`isoflop.design.law_error.LAW_BUMP`).

First it measures that bump (:func:`isoflop.design.law_error.measure_bump`) on the two law folders, each
against the trained cooldowns of the same trunks in ``results/answer``: the default joint law fitted to
``results/answer-law`` (two cooldowns per trunk) and to ``results/answer-law3`` (three), with the gap to the
power 1 (the model's) and 2, and the pooled (mean, sd) of a over both folders' trunks.

Then it simulates the three sweeps that were also run for real, from the prior fitted to ``results/answer``
(its VPNLS surface and bootstrap surfaces, and its noise):

* ``sweeps/answer.toml`` (every cooldown, 3 seeds), run as ``results/answer``;
* ``sweeps/answer-law.toml`` (two cooldowns per trunk, 2 seeds), run as ``results/answer-law``;
* ``sweeps/answer-law3.toml`` (three cooldowns per trunk, 2 seeds), run as ``results/answer-law3``;

and the two-cooldown design again with the law taken as exact (no bump), to show what the law's error costs.
Beside each simulated median width of Approach 2's and VPNLS's 95% interval on N_opt at 1e15 it prints the
width the real folder gave (``analyze`` with the same number of resamples), and each design's FLOPs.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from isoflop.data import load_corpus
from isoflop.design import load_prior
from isoflop.design.candidates import design_cost, grid_specs, plan_specs
from isoflop.design.law_error import measure_bump
from isoflop.design.planner import evaluate_design
from isoflop.laws.analyze import analyze
from isoflop.laws.curves import load_curves
from isoflop.laws.curves.profiles import check_against, profiles
from isoflop.laws.table_io import load_runs
from isoflop.runs.store import read_manifest, runs_frame
from isoflop.runs.throughput import default_throughput
from isoflop.sweep import load_sweep

TARGET = 1e15
LAW_FOLDERS = ("results/answer-law", "results/answer-law3")
METHODS = ("approach2", "vpnls")


def _real_widths(folder: str, n_bootstrap: int) -> dict[str, float]:
    r = analyze(load_runs(folder), methods=",".join(METHODS), targets=(TARGET,), n_bootstrap=n_bootstrap)
    out = {}
    for m in METHODS:
        ci = r.prediction(m, TARGET).get("params_ci") if m in r.fitted else None
        out[m] = ci[1] / ci[0] if ci and ci[0] else float("nan")
    return out


def measured_bumps(full_dir: str = "results/answer") -> None:
    """The bump's a per trunk on each law folder, with the gap to the power 1 and 2, and pooled."""
    runs = runs_frame(full_dir)
    pooled: dict[float, list[float]] = {1.0: [], 2.0: []}
    for law_dir in LAW_FOLDERS:
        check = check_against(profiles(load_curves(law_dir), tuple(read_manifest(law_dir)["budgets"])), runs)
        for power in pooled:
            m = measure_bump(check, power)
            pooled[power] += list(m.per_trunk.values())
            print(f"bump on {law_dir} against {full_dir}, A = a*ln(hi/lo)^{power:g}: {m.describe()}")
    for power, a in pooled.items():
        print(
            f"pooled, A = a*ln(hi/lo)^{power:g}: a ~ N({np.mean(a):.4f}, {np.std(a, ddof=1):.4f}) over {len(a)} trunks"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prior", default="results/answer")
    ap.add_argument("--replicates", type=int, default=12)
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args()
    t0 = time.perf_counter()
    prior = load_prior(args.prior)
    measured_bumps()
    print(f"prior: {prior.describe()}; law error: bump a ~ N{prior.law_bump} per ln(hi/lo)")
    full, law = load_sweep("sweeps/answer.toml"), load_sweep("sweeps/answer-law.toml")
    law3 = load_sweep("sweeps/answer-law3.toml")
    vocab = load_corpus(full.corpus, full.tokenizer).vocab_size
    tp = default_throughput()
    cases = [
        ("sweeps/answer.toml (every cooldown)", full, prior, "results/answer"),
        ("sweeps/answer-law.toml (law grid)", law, prior, "results/answer-law"),
        ("sweeps/answer-law3.toml (law grid)", law3, prior, "results/answer-law3"),
        ("sweeps/answer-law.toml, law exact", law, replace(prior, law_bump=(0.0, 0.0)), None),
    ]
    print(f"{'design':40s} {'FLOPs':>9s}  " + "  ".join(f"{m + ' sim / real':>24s}" for m in METHODS))
    for name, sweep, pr, folder in cases:
        specs = plan_specs(sweep, vocab)
        out = evaluate_design(
            specs, pr, TARGET, METHODS, args.replicates, args.bootstrap, 0, grid=grid_specs(sweep, vocab)
        )
        real = _real_widths(folder, args.bootstrap) if folder else {}
        cells = []
        for m in METHODS:
            sim = float(np.median(out[m]["width"])) if out[m]["width"] else float("nan")
            cover = float(np.mean(out[m]["hit"])) if out[m]["hit"] else float("nan")
            got = f"{real[m]:.2f}x" if m in real else "-"
            cells.append(f"{sim:.2f}x ({cover:.0%} cover) / {got}")
        flops = design_cost(specs, tp, 2).flops
        print(f"{name:40s} {flops:9.3g}  " + "  ".join(f"{c:>24s}" for c in cells))
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
