"""How much the answer moves with the analyst's choices.

Li et al. 2025 ("(Mis)Fitting: A Survey of Scaling Laws") show that published
exponents move with choices that papers rarely report: the estimator, how FLOPs
and parameters are counted, the loss minimised, and which runs enter. The
sensitivity report refits one table under each such choice and gives N_opt and
D_opt at every target, with intervals:

* **estimator**: Approaches 1, 2, 2-corrected, 3 and VPNLS (the base analysis);
* **counting**: the parametric optimum under C = 6ND instead of the table's own
  counting, and (sweep folders only) the runs recounted as Kaplan's 6N
  (non-embedding N, C = 6ND);
* **loss**: Approach 3's Huber δ over four decades (VPNLS is squared loss);
* **budgets**: each budget left out in turn (Approaches 2 and 3).

It ends with the spread (largest over smallest N_opt and D_opt) per target, with
and without Approach 1 (whose envelope of unfinished cosine runs is often the
outlier), and
warns when a fit is poorly conditioned: an interval on a spanning more than
0.25, or bootstrap replicates on a ridge (|correlation| above 0.98 between two
parameters of the surface).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from isoflop.errors import ScalingError
from isoflop.jsonio import dataclass_from_json, json_float
from isoflop.laws.analyze import analyze
from isoflop.laws.fit.frontier import Counting
from isoflop.laws.result import PARAMETRIC, AnalysisResult
from isoflop.laws.table import RunTable

#: Approach 3's Huber thresholds tried (the base is the analysis's own δ).
DELTAS = (1e-4, 1e-3, 1e-2, 1e-1)
#: Methods refitted for the choices other than the estimator.
REFERENCE = ("approach2", "approach3")
RIDGE = 0.98
WIDE_A = 0.25


@dataclass(frozen=True)
class SensitivityRow:
    """One choice's answer at one target."""

    choice: str
    variant: str
    method: str
    flops: float
    optimal_params: float
    params_ci: tuple | None
    optimal_tokens: float
    tokens_ci: tuple | None

    def to_dict(self) -> dict:
        return {
            "choice": self.choice,
            "variant": self.variant,
            "method": self.method,
            "flops": self.flops,
            "optimal_params": json_float(self.optimal_params),
            "params_ci": [json_float(v) for v in self.params_ci] if self.params_ci else None,
            "optimal_tokens": json_float(self.optimal_tokens),
            "tokens_ci": [json_float(v) for v in self.tokens_ci] if self.tokens_ci else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SensitivityRow:
        return dataclass_from_json(cls, d)


@dataclass(frozen=True)
class Sensitivity:
    """The answer under every choice, its spread per target, and what could not be varied."""

    rows: tuple[SensitivityRow, ...]
    spread: dict
    warnings: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "spread": {f"{c:g}": {k: json_float(v) for k, v in s.items()} for c, s in self.spread.items()},
            "warnings": list(self.warnings),
            "missing": list(self.missing),
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Sensitivity:
        return dataclass_from_json(
            cls,
            d,
            rows=lambda rows: tuple(SensitivityRow.from_dict(r) for r in rows),
            spread=lambda s: {float(c): {k: (np.nan if v is None else v) for k, v in x.items()} for c, x in s.items()},
        )


def _rows(result: AnalysisResult, choice: str, variant: str, methods=None) -> list[SensitivityRow]:
    out = []
    for m in result.fitted:
        if methods is not None and m not in methods:
            continue
        for c in result.targets:
            p = result.prediction(m, c)
            out.append(
                SensitivityRow(
                    choice,
                    variant,
                    m,
                    c,
                    p["optimal_params"],
                    tuple(p["params_ci"]) if p["params_ci"] and p["params_ci"][0] is not None else None,
                    p["optimal_tokens"],
                    tuple(p["tokens_ci"]) if p["tokens_ci"] and p["tokens_ci"][0] is not None else None,
                )
            )
    return out


def _spread(rows) -> dict:
    """Largest over smallest N_opt and D_opt among ``rows``."""
    out = {}
    for key, attr in (("params", "optimal_params"), ("tokens", "optimal_tokens")):
        v = np.array([getattr(r, attr) for r in rows], dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        out[key] = float(v.max() / v.min()) if v.size else float("nan")
    return out


def conditioning_warnings(result: AnalysisResult, label: str = "") -> list[str]:
    """Poorly conditioned parametric fits: a wide interval on a, or replicates on a ridge."""
    out = []
    for m in PARAMETRIC:
        s = result.samples.get(m)
        if m not in result.fitted or not s:
            continue
        iv = result.interval(m, "a")
        if iv and iv[1] - iv[0] > WIDE_A:
            out.append(
                f"{label}{m}: the interval on a spans {iv[1] - iv[0]:.2f} ([{iv[0]:.3g}, {iv[1]:.3g}]): the "
                "objective's profile is wide, so the table barely constrains the exponent"
            )
        x = np.column_stack([np.asarray(s[k], dtype=float) for k in ("log_A", "log_B", "alpha", "beta")])
        x = x[np.all(np.isfinite(x), axis=1)]
        if x.shape[0] > 10 and np.all(x.std(axis=0) > 0):
            c = np.corrcoef(x.T)
            names = ("log A", "log B", "alpha", "beta")
            worst = max((abs(c[i, j]), i, j) for i in range(4) for j in range(i + 1, 4))
            if worst[0] > RIDGE:
                out.append(
                    f"{label}{m}: bootstrap replicates lie on a ridge (corr({names[worst[1]]}, "
                    f"{names[worst[2]]}) = {c[worst[1], worst[2]]:+.3f}): those parameters trade off, "
                    "and only their combination is measured"
                )
    return out


def sensitivity(
    table: RunTable,
    base: AnalysisResult,
    *,
    recounted: RunTable | None = None,
    n_bootstrap: int = 200,
    seed: int | None = 0,
    **analyze_kw,
) -> Sensitivity:
    """Refit ``table`` under each choice and collect N_opt and D_opt at ``base``'s targets.

    Args:
        table: the table ``base`` was fitted to.
        base: the analysis with every estimator (its rows are the "estimator" choice).
        recounted: the same runs recounted as 6N (sweep folders), or None when the table cannot be recounted.
        n_bootstrap, seed: the bootstrap of each refit (smaller than the base's, to keep the report quick).
        analyze_kw: further arguments of :func:`~isoflop.laws.analyze.analyze` (allow_edge, init_grid, ...).
    """
    targets = base.targets
    kw = dict(targets=targets, n_bootstrap=n_bootstrap, seed=seed, level=base.level, **analyze_kw)
    rows = _rows(base, "estimator", "as fitted")
    warnings = conditioning_warnings(base)
    missing, errors = [], []
    # Counting: the parametric optimum under C = 6ND, and the runs recounted as 6N.
    if not base.counting.is_6nd:
        rows += _rows(dataclasses.replace(base, counting=Counting()), "counting", "frontier under C = 6ND", PARAMETRIC)
    if recounted is not None:
        try:
            rows += _rows(analyze(recounted, methods=REFERENCE, **kw), "counting", "recounted 6N (non-embedding N)")
        except ScalingError as e:
            errors.append(f"recounted 6N: {e}")
    else:
        missing.append(
            "counting: recounted 6N (non-embedding N, C = 6ND) needs a sweep folder, whose records "
            "hold non-embedding parameter counts"
        )
    # Loss: Approach 3's Huber threshold.
    for delta in DELTAS:
        try:
            r = analyze(table, methods=("approach3",), delta=delta, **{k: v for k, v in kw.items() if k != "delta"})
            rows += _rows(r, "loss", f"Huber delta = {delta:g}")
        except ScalingError as e:
            errors.append(f"Huber delta = {delta:g}: {e}")
    # Budgets: each left out in turn.
    groups = np.unique(table.group[table.used])
    if groups.size < 3:
        missing.append(f"budgets: leaving one out needs 3 or more budgets, the table has {groups.size}")
    else:
        for k in groups:
            try:
                r = analyze(table.subset_budgets([g for g in groups if g != k]), methods=REFERENCE, **kw)
                rows += _rows(r, "budgets", f"without {table.budgets[k]:.3g}")
            except ScalingError as e:
                errors.append(f"without {table.budgets[k]:.3g}: {e}")
    spread = {
        c: {
            **_spread([r for r in rows if r.flops == c]),
            **{
                f"{k}_without_approach1": v
                for k, v in _spread([r for r in rows if r.flops == c and r.method != "approach1"]).items()
            },
        }
        for c in targets
    }
    return Sensitivity(tuple(rows), spread, tuple(warnings), tuple(missing), tuple(errors))


def recounted_table(source, load: dict | None = None, unique_tokens: float | None = None) -> RunTable | None:
    """The runs of ``source`` recounted as 6N (non-embedding N, C = 6ND) for the sensitivity report, read with
    ``load`` (:func:`~isoflop.laws.table_io.load_runs`'s options); None when the source is not a sweep folder,
    was read recounted already, or is a ``cooldowns = "law"`` folder (its grid is the law's, counted as run)."""
    from isoflop.laws.table_files import is_law_sweep
    from isoflop.laws.table_io import load_runs
    from isoflop.runs.store import is_sweep_dir

    load = dict(load or {})
    if not is_sweep_dir(str(source)) or load.get("recount", "as-run") != "as-run" or is_law_sweep(source):
        return None
    table = load_runs(source, **{**load, "recount": "6N"})
    return table.with_unique_tokens(unique_tokens) if unique_tokens else table
