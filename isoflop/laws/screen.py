"""Screening runs far up one side of their IsoFLOP profile, before the parametric fits.

Published IsoFLOP grids often run far past the optimum on one side: Porian et al.'s tables hold models trained
on a fiftieth of a token per parameter, with losses 4–5 nats above their budget's minimum and near the loss of
an untrained model. No smooth law of (N, D) meant for the region of the optimum describes those runs: they pull
a parabola in log N off its vertex, and a parametric surface (Approach 3, VPNLS) fitted to every run spends its
exponents on them, which put its optima ten times off on those tables.

The rule is taken from the table's own profiles, with no constant fitted to any table. Walking out from a
budget's lowest run, each side of its profile rises to some highest excess loss over the minimum; the lower of
the two is the height to which that budget's profile is sampled on both sides. The table's profile height h is
the largest of those heights over the budgets that have runs on both sides of their minimum: how far up its
parabolas the sweep samples on both sides somewhere. A run whose loss exceeds its budget's minimum by more
than h sits higher up its profile than any balanced profile of the table reaches: far from every IsoFLOP
minimum. Those runs are screened, except that at least two runs are kept on each side of a budget's minimum where it has them (a
side's shape needs two). Runs of one size (seeds) are kept or screened together, by their mean. A budget
sampled off-centre, with one short side, keeps its runs up to the table's height, not its own; and with h
fixed, applying the rule again screens nothing more.

:func:`isoflop.laws.analyze.analyze` fits Approach 3 and VPNLS (and the surface on which Approach 2's correction
is measured) to the screened runs, and lists each screened run with its reason under ``screened``. Approaches 1
and 2 keep every run: a parabola's vertex is a local reading of its budget, and on Porian et al.'s tables
screening its far runs moved the vertices (the held-out ones too) more than it helped, measured by
``benchmarks/bench_real.py``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from isoflop.laws.table import Exclusion, RunTable

#: Runs kept on each side of a budget's lowest run, whatever their height.
MIN_PER_SIDE = 2


def _profiles(table: RunTable):
    """Per budget with at least 3 sizes: (the budget's row positions among the used runs, the size of each run's
    point, the sizes, the mean loss per size)."""
    n, _, _, l, g = table.used_arrays()
    for k in range(table.budgets.size):
        sel = np.flatnonzero(g == k)
        sizes, inv = np.unique(n[sel], return_inverse=True)
        if sizes.size >= 3:
            yield sel, inv, sizes, np.bincount(inv, weights=l[sel]) / np.bincount(inv)


def side_height(loss) -> float:
    """The height one budget's profile is sampled to on both sides: the lower of its two sides' highest excess
    loss over its minimum (NaN when the minimum is at an edge). ``loss`` is per size, by increasing size."""
    loss = np.asarray(loss, dtype=float)
    i = int(np.argmin(loss))
    if i == 0 or i == loss.size - 1:
        return float("nan")
    return float(min(np.max(loss[:i]), np.max(loss[i + 1 :])) - loss[i])


def profile_height(table: RunTable) -> float:
    """The table's profile height h: the largest over budgets of :func:`side_height` (NaN when no budget has
    runs on both sides of its minimum)."""
    h = [side_height(m) for *_, m in _profiles(table)]
    h = [x for x in h if np.isfinite(x)]
    return float(np.max(h)) if h else float("nan")


def off_centre(loss, height: float) -> np.ndarray:
    """Which sizes of one budget's profile (``loss`` per size, by increasing size) lie more than ``height``
    above its minimum, beyond the first :data:`MIN_PER_SIDE` on each side."""
    loss = np.asarray(loss, dtype=float)
    i = int(np.argmin(loss))
    out = (loss - loss[i]) > height
    out[max(i - MIN_PER_SIDE, 0) : i + MIN_PER_SIDE + 1] = False
    return out


def screen_runs(table: RunTable, height: float | None = None) -> RunTable:
    """A copy of the table whose runs far up their budget's profile are excluded, with reasons.

    Args:
        table: the runs.
        height: the profile height h to screen at (default: :func:`profile_height` of this table).

    Runs already excluded stay so; budgets keep their numbering, and no budget loses its lowest run.
    """
    h = profile_height(table) if height is None else float(height)
    if not np.isfinite(h):
        return table
    rows = np.flatnonzero(table.used)
    l = table.loss[rows]
    used = table.used.copy()
    new: list[Exclusion] = []
    for sel, inv, sizes, mean in _profiles(table):
        drop = off_centre(mean, h)
        i = int(np.argmin(mean))
        for j in np.flatnonzero(drop[inv]):
            r = int(rows[sel[j]])
            used[r] = False
            new.append(
                Exclusion(
                    table.row(r),
                    f"off-centre: loss {l[sel[j]]:.4g} is {l[sel[j]] - mean[i]:.3g} above "
                    f"its budget's minimum ({mean[i]:.4g} at N = {sizes[i]:.3g}), over the "
                    f"table's profile height {h:.3g}",
                )
            )
    if not new:
        return table
    group = np.where(used, table.group, -1)
    excluded = tuple(sorted(table.excluded + tuple(new), key=lambda e: e.index))
    return replace(table, used=used, group=group, excluded=excluded)
