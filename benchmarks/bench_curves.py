"""Held-out cooldowns: does the multi-power law, fitted to a WSD trunk and two of its cooldowns, predict the
final validation loss of the trunk's other cooldowns?

Run:  python benchmarks/bench_curves.py [--folder results/answer] [--fit ends|inner] [--rows mean|logged]

For every trunk of a WSD sweep folder with four or more cooldown branches, the law
(:mod:`isoflop.laws.curves.law`) is fitted to the trunk's stable phase and two of its cooldowns: the shortest
and the longest (``--fit ends``: the others are interpolated), or the second and the second-longest
(``--fit inner``: the longest is 1.4x beyond them). The curve rows are training losses; a cooldown's end is
its validation loss, which the rows do not hold, so the prediction is the law's end plus the gap
(validation − law) of the two fitted cooldowns: their mean (``--gap constant``), or the line through them in
log steps (``--gap log-linear``). Reported: the mean and worst |relative error| of the
predicted ends against the trained ones, per size and overall, and the sweep's seed noise (the relative
spread of one point's final loss across seeds) for scale. ``--rows mean`` fits the mean loss of the steps
between rows where the folder logged it (runs trained since it was), else the logged step's loss.
``--skip F`` leaves the trunk's first F of its steps out of the fit (the fast early drop, which the law's
power term does not follow).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from isoflop.laws.curves import load_curves
from isoflop.laws.curves.fits import observations
from isoflop.laws.curves.law import Schedule, fit_multipower


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", default="results/answer")
    ap.add_argument("--fit", choices=("ends", "inner"), default="ends")
    ap.add_argument("--rows", choices=("mean", "logged"), default="mean")
    ap.add_argument("--gap", choices=("constant", "log-linear"), default="constant")
    ap.add_argument("--skip", type=float, default=0.0, help="leave out the trunk's first SKIP fraction of steps")
    args = ap.parse_args()
    t0 = time.perf_counter()
    table = load_curves(args.folder)
    errors: dict[float, list[float]] = defaultdict(list)
    finals: dict[tuple[float, int], list[float]] = defaultdict(list)
    for trunk in (c for c in table.curves if c.parent is None and table.branches(c.run)):
        branches = table.branches(trunk.run)
        for b in branches:
            finals[(b.n_params, len(table.full(b.run).step))].append(table.full(b.run).final_val or np.nan)
        if len(branches) < 4:
            continue
        fitted = [0, len(branches) - 1] if args.fit == "ends" else [1, len(branches) - 2]
        mean = args.rows == "mean"
        trunk_rows = observations(table, trunk.run, skip=args.skip, mean=mean)
        data = [trunk_rows] if trunk_rows is not None else []
        ends = []
        for i in fitted:
            rows = observations(table, branches[i].run, mean=mean)
            if rows is not None:
                data.append(rows)
            ends.append(table.full(branches[i].run))
        fit = fit_multipower(data)
        gaps = [e.final_val - fit.law.predict(Schedule.from_rows(e.step, e.lr, [e.end]))[0] for e in ends]
        logs = [np.log(e.end) for e in ends]

        def gap(end: int) -> float:  # the validation - law gap: constant, or linear in log steps between the two
            if args.gap == "constant":
                return float(np.mean(gaps))
            return float(gaps[0] + (gaps[1] - gaps[0]) * (np.log(end) - logs[0]) / (logs[1] - logs[0]))

        out = []
        for i, b in enumerate(branches):
            if i in fitted:
                continue
            full = table.full(b.run)
            pred = fit.law.predict(Schedule.from_rows(full.step, full.lr, [full.end]))[0] + gap(full.end)
            out.append(pred / full.final_val - 1)
        errors[trunk.n_params] += out
        print(
            f"N={trunk.n_params:9.0f} {trunk.run}: fit rms {fit.rms:.4f} ({'ok' if fit.success else fit.message}); "
            f"held-out ends " + " ".join(f"{e:+.2%}" for e in out),
            flush=True,
        )
    allerr = np.abs(np.concatenate([np.asarray(v) for v in errors.values()]))
    print("\nper size: N, mean |error|, worst |error|, held-out ends")
    for n in sorted(errors):
        e = np.abs(errors[n])
        print(f"  {n:9.0f}  {e.mean():.2%}  {e.max():.2%}  {e.size}")
    spread = [np.std(v, ddof=1) / np.mean(v) for v in finals.values() if len(v) > 1 and np.all(np.isfinite(v))]
    print(
        f"\nheld-out cooldown ends: mean |error| {allerr.mean():.2%}, worst {allerr.max():.2%}, n = {allerr.size} "
        f"(fit {args.fit}, rows {args.rows}, skip {args.skip:g}, gap {args.gap}); seed noise of one point's final loss {np.median(spread):.2%} "
        f"(median over {len(spread)} points); {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
