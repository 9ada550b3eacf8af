"""Every fitted method's bootstrap replicates, of the runs :func:`~isoflop.laws.analyze.analyze` fits.

A table whose losses a loss-curve law predicted carries the law's bootstrap draws (``RunTable.draws``), and
the resamples are spread over them, so that the replicates carry the law's uncertainty beside the runs' noise.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from isoflop.laws.fit.bootstrap import counts_from_indices, point_ids, resample_indices
from isoflop.laws.fit.correction import shift_samples
from isoflop.laws.fit.envelope import bootstrap_envelope
from isoflop.laws.fit.isoflop import bootstrap_isoflops_residuals
from isoflop.laws.fit.parametric import SAMPLE_KEYS, bootstrap_parametric
from isoflop.laws.fit.vpnls import bootstrap_vpnls
from isoflop.laws.table import RunTable


def bootstrap_methods(r, methods, fits: dict, a2, misfit: dict, notes: list, n_bootstrap, seed, progress) -> dict:
    """Every fitted method's bootstrap replicates (cases for Approach 1 and the parametric fits, residuals
    for Approach 2; the bias-corrected replicates are Approach 2's moved by the correction), of the used
    runs ``r`` (:func:`isoflop.laws.analyze.analyze`'s arrays of them) and the point fits ``fits``.

    A table whose losses a loss-curve law predicted (``table.draws``) spreads its resamples evenly over the
    law's M bootstrap draws: a resample of draw m resamples the table with draw m's losses, so the
    replicates carry the law's uncertainty beside the runs' noise."""
    sizes = np.bincount(r.g)
    if np.any(sizes == 1):
        notes.append(
            f"{int(np.sum(sizes == 1))} of {sizes.size} budgets hold a single run, which every "
            "resample repeats: intervals understate the spread from those runs"
        )
    rng = np.random.default_rng(seed)
    tick = progress or (lambda *a: None)
    draws = r.table.draws
    if draws is None or not len(draws):
        return _replicates(r, methods, fits, a2, misfit, n_bootstrap, rng, tick)
    m = min(len(draws), n_bootstrap)
    notes.append(
        f"intervals carry the loss-curve law's uncertainty: the resamples are spread over {m} "
        "bootstrap draws of the law, each giving the predicted points its losses (its fitting noise, and one "
        "run's noise where the folder's seeds measure it; a form error the seeds of a size share is not in "
        "them: Methods, 'The law's uncertainty in the intervals')"
    )
    chunks = [
        _replicates(replace(r, l=draws[k][r.table.used]), methods, fits, a2, misfit, size, rng, tick)
        for k, size in enumerate(np.diff(np.linspace(0, n_bootstrap, m + 1).round().astype(int)))
        if size
    ]
    return {
        key: {q: np.concatenate([c[key][q] for c in chunks]) for q in chunks[0][key]}
        for key in chunks[0]
        if all(key in c for c in chunks)
    }


def _replicates(r, methods, fits: dict, a2, misfit: dict, n_bootstrap, rng, tick) -> dict:
    """The replicates of :func:`bootstrap_methods` on the runs ``r``."""
    n, d, l, c, g, points, ps, screened = r.n, r.d, r.l, r.c, r.g, r.points, r.ps, r.screened
    ns, ds, ls = r.parametric
    samples: dict = {}
    idx = resample_indices(g, n_bootstrap, rng, points)
    tick("bootstrap: approach1", 0, 4)
    if fits["approach1"] is not None:
        samples["approach1"] = bootstrap_envelope(
            fits["approach1"], n, d, l, c, idx, curves=used_curves(r.table), points=points
        )
    fc = fits["approach2_corrected"]
    a2_samples = None
    flagged = any(t["flagged"] for t in misfit.values())
    tick("bootstrap: approach2", 1, 4)
    if (fits["approach2"] is not None or fc is not None or flagged) and a2 is not None and a2.params_law.success:
        a2_samples = bootstrap_isoflops_residuals(a2, n, d, l, c, n_bootstrap, rng)
    if (fits["approach2"] is not None or flagged) and a2_samples is not None:
        samples["approach2"] = a2_samples
    f3 = fits["approach3"]
    idx_s = idx if not screened else resample_indices(g[ps], n_bootstrap, rng, point_ids(g[ps], ns))
    counts = counts_from_indices(idx_s, ns.size)
    tick("bootstrap: approach3", 2, 4)
    if f3 is not None and f3.success:
        x = bootstrap_parametric(f3, ns, ds, ls, counts)
        samples["approach3"] = dict(zip(SAMPLE_KEYS, x.T))
    tick("bootstrap: vpnls", 3, 4)
    if fits["vpnls"] is not None and "vpnls" in methods:
        samples["vpnls"] = dict(zip(SAMPLE_KEYS, bootstrap_vpnls(fits["vpnls"], ns, ds, ls, counts).T))
    if fc is not None and a2_samples is not None:  # a correction exists only of a fitted Approach 2
        samples["approach2_corrected"] = shift_samples(a2_samples, fc)
    tick("bootstrap: done", 4, 4)
    return samples


def used_curves(table: RunTable):
    """Training curves re-indexed to the used runs (None when there are none)."""
    if table.curves is None or len(table.curves) == 0:
        return None
    pos = np.full(table.n_runs, -1)
    pos[table.used] = np.arange(table.n_used)
    cur = table.curves[table.curves["run"].isin(np.flatnonzero(table.used))].copy()
    cur["run"] = pos[cur["run"].to_numpy()]
    return cur
