"""Does the trunk's own validation loss help predict the cooldown ends it was not fitted to?

Run:  python benchmarks/bench_trunk_val.py [--folder results/answer-trunk-val]

A WSD trunk logs its validation loss at each branch point, at its stable LR (trunks trained since
2026-12-07; ``results/answer-trunk-val`` is seed 0 of ``sweeps/answer.toml`` trained that way, every cooldown
kept). For each trunk with three or more cooldowns, the joint multi-power law (each trunk its own α,
:func:`isoflop.laws.curves.profiles.profiles`) is fitted to the trunk and its shortest and longest cooldown,
and each middle cooldown's final validation loss is predicted three ways, all anchored on those two ends:

* **gap line** (what ``profiles`` does): the law's end plus the gap (validation − law) on the line in log T
  through the two ends' gaps;
* **trunk gap**: the law's end plus the trunk's own gap at the branch point (its validation loss there − the
  law's stable-phase loss there), plus the line through the two ends' remainders;
* **trunk loss**: the trunk's validation loss at the branch point minus the drop to the end (validation at
  the branch point − validation at the end) on the line through the two ends' drops; no law.

Prints the mean and worst |relative error| of each against the trained ends, and each trunk's gaps.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from isoflop.laws.curves import load_curves
from isoflop.laws.curves.law import Schedule
from isoflop.laws.curves.profiles import profiles, trained_budgets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", default="results/answer-trunk-val")
    args = ap.parse_args()
    t0 = time.perf_counter()
    curves = load_curves(args.folder)
    ends = {t.run: curves.trained_branches(t.run) for t in curves.curves if t.parent is None}
    two = {bs[i].run for bs in ends.values() if bs for i in (0, -1)}
    fits = {t.trunk: t.fit for t in profiles(curves, trained_budgets(curves), own=("alpha",), fit_runs=two).trunks}
    errors: dict[str, list[float]] = {"gap line": [], "trunk gap": [], "trunk loss": []}
    for run, bs in ends.items():
        fit, trunk = fits.get(run), curves.curve(run)
        at = dict(trunk.val)
        if len(bs) < 3 or fit is None or not fit.success or not all(b.branch_step in at for b in bs):
            continue
        fulls = [curves.full(b.run) for b in bs]
        x = np.log([f.end for f in fulls])
        val = np.array([b.final_val for b in bs], dtype=float)
        law = np.array([fit.law.predict(Schedule.from_rows(f.step, f.lr, [f.end]))[0] for f in fulls])
        at_branch = np.array([at[b.branch_step] for b in bs])
        law_branch = np.array(
            [fit.law.predict(Schedule.from_rows(trunk.step, trunk.lr, [b.branch_step]))[0] for b in bs]
        )

        def line(y):  # y on the line in log T through the two fitted ends
            return np.polyval(np.polyfit(x[[0, -1]], y[[0, -1]], 1), x)

        gap, trunk_gap, drop = val - law, at_branch - law_branch, at_branch - val
        pred = {
            "gap line": law + line(gap),
            "trunk gap": law + trunk_gap + line(gap - trunk_gap),
            "trunk loss": at_branch - line(drop),
        }
        for k, p in pred.items():
            errors[k] += list((p / val - 1)[1:-1])
        print(
            f"N={trunk.n_params:7.0f} {run}: gaps at the ends {' '.join(f'{g:.3f}' for g in gap)}; "
            f"the trunk's at the branch points {' '.join(f'{g:.3f}' for g in trunk_gap)}"
        )
    print(f"\nmiddle cooldown ends of {args.folder}, fitted to each trunk's shortest and longest:")
    for k, e in errors.items():
        a = np.abs(e)
        print(f"  {k:10s} mean {a.mean():.2%}, worst {a.max():.2%} (n={a.size})")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
