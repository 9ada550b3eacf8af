"""Run all three approaches on a loss table, with bootstrap intervals.

This is the layer the CLI calls: ``analyze(table, ...)`` returns an
:class:`~isoflop.laws.result.AnalysisResult` holding each approach's fit, the
bootstrap replicates and the predictions at target budgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from isoflop.errors import FitError
from isoflop.laws.fit.bootstrap import percentile_interval, point_ids, seed_noise
from isoflop.laws.fit.calibration import lack_of_fit
from isoflop.laws.fit.correction import correct_isoflops
from isoflop.laws.fit.envelope import fit_envelope
from isoflop.laws.fit.frontier import Counting
from isoflop.laws.fit.isoflop import fit_isoflops
from isoflop.laws.fit.parametric import fit_parametric
from isoflop.laws.fit.vpnls import fit_vpnls
from isoflop.laws.reliability import (
    MIN_ORIGIN,
    MIN_ORIGINS,
    budgets_below,
    cuts,
    design_of,
    reference_budgets,
    reference_fits,
    reliability,
)
from isoflop.laws.replicates import bootstrap_methods, used_curves
from isoflop.laws.result import METHODS, AnalysisResult
from isoflop.laws.screen import screen_runs
from isoflop.laws.table import RunTable


def parse_methods(methods) -> tuple[str, ...]:
    """Method names, as ``--method`` takes them ("approach2,approach3", "all", "2,3", or a sequence of those),
    in :data:`METHODS` order.

    Raises:
        FitError: an unknown name, named in the message.
    """
    if isinstance(methods, str):
        methods = (methods,)
    out: list[str] = []
    for m in methods:
        for part in str(m).split(","):
            part = part.strip()
            if part == "all":
                out.extend(METHODS)
            elif part in METHODS:
                out.append(part)
            elif part in ("1", "2", "3"):
                out.append(f"approach{part}")
            else:
                raise FitError(f"unknown method '{part}' (choose from all, {', '.join(METHODS)})")
    return tuple(m for m in METHODS if m in out)


def analyze(
    table: RunTable,
    *,
    methods=("all",),
    targets=(),
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
    allow_edge: bool = False,
    weight_vertices: bool = False,
    delta: float = 1e-3,
    init_grid: np.ndarray | None = None,
    calibrate: bool = True,
    screen: bool = True,
    in_table: bool = True,
    progress=None,
) -> AnalysisResult:
    """Fit the requested approaches and bootstrap them.

    Args:
        table: runs from :func:`isoflop.load_runs`.
        methods: any of "approach1", "approach2", "approach2_corrected", "approach3", "vpnls", or "all".
        targets: budgets C (FLOPs) at which to predict N_opt, D_opt and the loss.
        n_bootstrap: resamples (0 for no intervals).
        level: interval coverage, in (0, 1).
        seed: seed of the bootstrap's random generator.
        allow_edge: let Approach 2 use budgets whose vertex lies outside the sampled sizes.
        weight_vertices: weight Approach 2's budgets by how precisely their runs place their vertices
            (:func:`~isoflop.laws.fit.isoflop.fit_isoflops`, ``weighted``); off by default (docs/methods.md
            gives what it changed on the real tables).
        delta: Huber threshold of Approach 3.
        init_grid: Approach 3 starting points (default: the 4,500-point grid).
        calibrate: intervals on N_opt and D_opt carry each method's measured calibration factor
            (:mod:`isoflop.laws.fit.calibration`); False gives plain percentile intervals.
        screen: leave runs far up their budget's IsoFLOP profile out of the parametric fits (Approach 3, VPNLS,
            and the surface Approach 2's correction is measured on; :func:`isoflop.laws.screen.screen_runs`). They
            are listed in the result's ``screened`` with their reasons; Approaches 1 and 2 use every run.
        in_table: with ``calibrate``, backtest each method inside the table and widen its intervals on N_opt
            and D_opt by its extrapolation error (:mod:`isoflop.laws.reliability`).
        progress: called as ``progress(stage, done, total)`` as the bootstrap goes (for a progress bar).

    Returns:
        An :class:`AnalysisResult`. An approach that cannot be fitted (too few runs or
        budgets) is None, with the reason in ``errors``.

    Raises:
        FitError: an unknown method, a bad bootstrap setting or target, or no usable runs.
    """
    methods = parse_methods(methods)
    _check_settings(n_bootstrap, level, targets)
    r = _runs(table, screen)
    notes: list[str] = []
    if table.simulated:
        notes.append(
            f"{table.simulated} of {table.n_runs} runs are simulated: drawn from a known surface by "
            "'scaling sweep run --simulate', not trained"
        )
    if table.n_predicted:
        notes.append(
            f"{table.n_predicted} of {table.n_used} points are predicted by each trunk's loss-curve law "
            "(cooldowns = \"law\"), not trained; 'scaling curves profile' lists which"
        )
    a2_kw = {"allow_edge": allow_edge, "weighted": weight_vertices}
    fits, errors, a2 = _fit_methods(r, methods, a2_kw=a2_kw, delta=delta, init_grid=init_grid)
    misfit = _misfits(r, methods, fits, errors, a2, notes, a2_kw)
    samples = bootstrap_methods(r, methods, fits, a2, misfit, notes, n_bootstrap, seed, progress) if n_bootstrap else {}
    f1 = fits["approach1"]
    if f1 is not None and samples.get("approach1"):
        iv = percentile_interval(samples["approach1"]["params_exponent"], level)
        if iv is not None and not iv[0] <= f1.params_law.exponent <= iv[1]:
            notes.append(
                "Approach 1's interval does not hold its own estimate: the lowest run of a budget can only "
                "be lost by a resample, never bettered, so its replicates sit to one side; that interval "
                "is the spread of a minimum under resampling, not a confidence interval"
            )
    if r.screened:
        notes.append(
            f"{len(r.screened)} runs sit higher up their IsoFLOP profile than any budget's profile reaches on "
            "both sides: Approach 3 and VPNLS are fitted without them (listed under 'screened')"
        )
    rel = (
        _reliabilities(
            table,
            methods,
            screen=screen,
            allow_edge=allow_edge,
            weight_vertices=weight_vertices,
            delta=delta,
            init_grid=init_grid,
        )
        if calibrate and in_table and n_bootstrap
        else {}
    )
    if calibrate and in_table and n_bootstrap and not rel:
        ref = reference_budgets(table)
        cut = sum(b >= MIN_ORIGIN for b in budgets_below(table, ref))
        notes.append(
            f"{cut} of the {len(ref)} budgets with an IsoFLOP vertex have {MIN_ORIGIN} budgets below them, too "
            f"few to backtest the laws inside the table (at least {MIN_ORIGINS} must): intervals are the "
            "bootstrap's alone, with no allowance for the error of extrapolating"
        )
    return AnalysisResult(
        table=table,
        methods=methods,
        reliability=rel,
        screened=r.screened,
        approach1=fits["approach1"],
        # Approach 2's fit is kept, unlisted, when a misfitting form's intervals are taken from it.
        approach2=fits["approach2"] or (a2 if misfit and a2.params_law.success else None),
        approach3=fits["approach3"] if fits["approach3"] and fits["approach3"].success else None,
        errors=errors,
        samples=samples,
        targets=tuple(float(t) for t in targets),
        level=level,
        n_bootstrap=n_bootstrap,
        seed=seed,
        notes=tuple(notes),
        vpnls=fits["vpnls"] if "vpnls" in methods else None,
        approach2_corrected=fits["approach2_corrected"],
        counting=r.counting,
        seed_noise=r.noise,
        calibrated=calibrate,
        misfit=misfit,
    )


def _check_settings(n_bootstrap: int, level: float, targets) -> None:
    if n_bootstrap < 0:
        raise FitError(f"n_bootstrap ({n_bootstrap}) must be non-negative")
    if not 0 < level < 1:
        raise FitError(f"level ({level}) must be in (0, 1)")
    for c in targets:
        if not (np.isfinite(c) and c > 0):
            raise FitError(f"target ({c}) must be a positive number of FLOPs")


@dataclass(frozen=True)
class _Runs:
    """The used runs as arrays, and the subset (``ps``) the parametric fits see after screening."""

    table: RunTable
    n: np.ndarray
    d: np.ndarray
    l: np.ndarray
    c: np.ndarray
    g: np.ndarray
    points: np.ndarray
    counting: Counting
    noise: dict
    screened: tuple
    ps: np.ndarray

    @property
    def parametric(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.n[self.ps], self.d[self.ps], self.l[self.ps]


def _runs(table: RunTable, screen: bool) -> _Runs:
    n, d, c_run, l, g = table.used_arrays()
    if n.size == 0:
        from collections import Counter

        why = Counter(e.reason.split(":")[0] for e in table.excluded).most_common(3)
        first = table.excluded[0]
        raise FitError(
            f"{table.source}: no usable runs ({table.n_runs} rows, all excluded: "
            f"{', '.join(f'{c} x {r}' for r, c in why)}; e.g. row {first.index}: {first.reason})"
        )
    points = point_ids(g, n)
    # The parametric fits see the screened runs (the same runs when nothing is screened).
    st = screen_runs(table) if screen else table
    before = set(table.excluded)
    screened = tuple(e for e in st.excluded if e not in before)
    ps = st.used[table.used]  # which of the used runs the parametric fits keep
    counting = Counting.from_runs(n, d, c_run)
    return _Runs(table, n, d, l, table.budgets[g], g, points, counting, seed_noise(l, points), screened, ps)


def _fit_methods(r: _Runs, methods, *, a2_kw: dict, delta, init_grid) -> tuple[dict, dict[str, str], Any]:
    """Each method's point fit (None where it failed, with the reason in errors), and Approach 2's raw fit
    (:func:`~isoflop.laws.fit.isoflop.fit_isoflops` with ``a2_kw``)."""
    n, d, l, c = r.n, r.d, r.l, r.c
    ns, ds, ls = r.parametric
    fits: dict = {m: None for m in METHODS}
    errors: dict[str, str] = {}
    if "approach1" in methods:
        f1 = fit_envelope(n, d, l, c, curves=used_curves(r.table), points=r.points)
        if f1.params_law.success:
            fits["approach1"] = f1
        else:
            errors["approach1"] = f"cannot fit power laws: {f1.params_law.message}"
    # Approach 2's fit also serves approach2_corrected, which corrects it, and the parametric methods'
    # lack-of-fit test (and their interval when they fail it).
    a2 = (
        fit_isoflops(n, d, l, c, **a2_kw)
        if {"approach2", "approach2_corrected", "approach3", "vpnls"} & set(methods)
        else None
    )
    if "approach2" in methods and a2 is not None:
        fits["approach2"] = a2
        if not a2.params_law.success:
            bad = {s: sum(b.status == s for b in a2.budgets) for s in ("edge", "concave", "too_few")}
            detail = ", ".join(f"{v} {k}" for k, v in bad.items() if v)
            errors["approach2"] = f"cannot fit power laws: {a2.params_law.message} with status ok ({detail})"
    if "approach3" in methods:
        if ns.size < 5:
            errors["approach3"] = f"needs at least 5 runs, got {ns.size}"
        else:
            f3 = fit_parametric(ns, ds, ls, delta=delta, init_grid=init_grid)
            fits["approach3"] = f3
            if not f3.success:
                errors["approach3"] = f3.message
    surface_needed = "approach2_corrected" in methods
    if "vpnls" in methods or surface_needed:
        if ns.size < 5:
            errors["vpnls" if "vpnls" in methods else "approach2_corrected"] = f"needs at least 5 runs, got {ns.size}"
        else:
            fv = fit_vpnls(ns, ds, ls)
            fits["vpnls"] = fv if fv.success else None
            if not fv.success and "vpnls" in methods:
                errors["vpnls"] = fv.message
    if surface_needed:
        surface = next(((m, fits[m]) for m in ("vpnls", "approach3") if fits[m] is not None and m not in errors), None)
        if "approach2_corrected" in errors:
            pass
        elif a2 is None or not a2.params_law.success:
            errors["approach2_corrected"] = "Approach 2 has no power law to correct"
        elif surface is None:
            errors["approach2_corrected"] = "needs a parametric surface (VPNLS or Approach 3) to measure the bias on"
        else:
            fits["approach2_corrected"] = correct_isoflops(
                a2, surface[1], n, d, c, counting=r.counting, surface_name=surface[0]
            )
    return fits, errors, a2


def _misfits(r: _Runs, methods, fits: dict, errors: dict, a2, notes: list, a2_kw: dict) -> dict:
    """A parametric form that the IsoFLOP parabolas show does not describe the table gets Approach 2's interval."""
    ns, ds, ls = r.parametric
    c, ps, screened = r.c, r.ps, r.screened
    misfit = {}
    if a2 is not None:
        # On the runs the forms were fitted to, against the parabolas of those same runs.
        a2s = a2 if not screened else fit_isoflops(ns, ds, ls, c[ps], **a2_kw)
        for m in ("approach3", "vpnls"):
            if m in methods and fits[m] is not None and m not in errors:
                test = lack_of_fit(fits[m], ns, ds, ls, c[ps], a2s)
                if test is not None:
                    misfit[m] = test
                if test and test["flagged"]:
                    notes.append(
                        f"{m}: the Chinchilla form fails a lack-of-fit test against the IsoFLOP parabolas "
                        f"(F = {test['F']:.2f} on {test['df'][0]} and {test['df'][1]} dof, "
                        f"p = {test['p']:.2g}); its intervals on N_opt and D_opt are Approach 2's, stretched "
                        "to hold its estimate, where those are narrower"
                    )
    return misfit


def _reliabilities(table: RunTable, methods, **fit_kw) -> dict:
    """Each method's in-table rolling-origin backtest (:mod:`isoflop.laws.reliability`), by point fits alone."""
    vertex = reference_fits(table)
    ref = list(vertex)
    at = cuts(budgets_below(table, ref))
    if not at:
        return {}
    logc = np.log10(table.budgets)
    present = np.unique(table.used_arrays()[4])
    scored: dict[str, list] = {m: [] for m in methods}
    count = dict.fromkeys(methods, 0)
    for o in at:
        groups = [k for k in present if table.budgets[k] < table.budgets[ref[o]]]
        ana = analyze(table.subset_budgets(groups), methods=methods, n_bootstrap=0, calibrate=False, **fit_kw)
        design = design_of(logc[groups])
        later = ref[o:]
        for m in ana.fitted:
            p = ana.predict(m, table.budgets[later])
            count[m] += 1
            for k, pn, pt in zip(later, np.atleast_1d(p["optimal_params"]), np.atleast_1d(p["optimal_tokens"])):
                v = vertex[k]
                scored[m].append(
                    (
                        design,
                        float(table.budgets[ref[o]]),
                        float(table.budgets[k]),
                        float(pn / v.optimal_params - 1),
                        float(pt / v.optimal_tokens - 1),
                    )
                )
    out = {m: reliability(m, scored[m], design_of(logc[present]), count[m]) for m in methods}
    return {m: r for m, r in out.items() if r is not None}
