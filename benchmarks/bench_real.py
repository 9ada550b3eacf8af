"""Do the intervals hold on real published IsoFLOP tables?

Run:  python benchmarks/bench_real.py [--bootstrap 200] [--seed 0] [--before] [--weight-vertices]

Runs ``scaling backtest`` (:func:`isoflop.laws.backtest.backtest_source`) over every real table the package
ships: the 15 experiments of Porian et al. (2024), each fitted on its own, and Epoch's extraction of Chinchilla's
runs. For each split (K = 1, 2, 3 largest budgets held out; far: the lower half fitted, the top two predicted) it
prints, per method and for the answer line, pooled over the 16 tables:

* covered: held-out budgets whose own IsoFLOP vertex lies inside the 95% interval on N_opt;
* allowing vertex: the same with the interval's sides widened, in quadrature, by the vertex's own half-width
  (the wider, each side, of its parabola refitted to losses redrawn with the budget's own residual scatter, σ²
  drawn from its posterior, and the delete-one-run jackknife);
* the median and worst |error| of N_opt and D_opt, and the median width (hi/lo) of the interval on N_opt.

``--before`` switches off what the fits and intervals gained in issue 20 (the screening of runs far up their
profiles, and the widening by each method's in-table backtest), to print the methods' rows as they were; the
calibration factors, the lack-of-fit test, the answer line's rule (today: the average of the usable methods) and
the held-out vertex's own interval are today's in both. ``--weight-vertices`` weights Approach 2's budgets by
their vertices' jackknife variances (``scaling fit --weight-vertices``; off by default, see docs/methods.md).
"""

from __future__ import annotations

import argparse
import time

from isoflop.laws.backtest import BacktestReport, backtest_source
from isoflop.laws.backtest_report import format_backtest_report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", action="store_true", help="no screening, no in-table widening")
    ap.add_argument("--weight-vertices", action="store_true", help="weight Approach 2's budgets by their precision")
    args = ap.parse_args()
    kw = dict(
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        screen=not args.before,
        in_table=not args.before,
        weight_vertices=args.weight_vertices,
    )
    t0 = time.perf_counter()
    porian = backtest_source("example:porian2024", by="experiment", **kw)
    chin = backtest_source("example:chinchilla", **kw)
    # One pooled report: the 15 experiments and Chinchilla side by side.
    pooled = BacktestReport(
        "real tables (Porian et al.'s 15 experiments, Chinchilla)",
        "table",
        {**porian.tables, "chinchilla": next(iter(chin.tables.values()))},
        {**porian.errors, **chin.errors},
    )
    print(format_backtest_report(pooled))
    print(
        f"\n{time.perf_counter() - t0:.0f} s ({args.bootstrap} bootstrap resamples per fit, seed {args.seed}"
        f"{', before: no screening, no in-table widening' if args.before else ''}"
        f"{', Approach 2 weighted by the precision of its vertices' if args.weight_vertices else ''})"
    )


if __name__ == "__main__":
    main()
