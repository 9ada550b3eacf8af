"""Run all three approaches on a loss table, with bootstrap intervals.

This is the layer the CLI calls: ``analyze(table, ...)`` returns an
:class:`Analysis` holding each approach's fit, the bootstrap replicates, the
predictions at target budgets, and ``to_dict()`` with the JSON schema
documented in README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scaling.fit.bootstrap import counts_from_indices, percentile_interval, resample_indices
from scaling.fit.envelope import EnvelopeFit, bootstrap_envelope, fit_envelope
from scaling.fit.isoflop import BudgetFit, IsoFLOPFit, bootstrap_isoflops, fit_isoflops
from scaling.fit.parametric import (
    ParametricFit,
    bootstrap_parametric,
    derived_quantities,
    fit_parametric,
    optimum_from_samples,
)
from scaling.fit.powerlaw import PowerLaw
from scaling.tables import RunTable

METHODS = ("approach1", "approach2", "approach3")
SCHEMA_VERSION = 1


def _parse_methods(methods) -> tuple[str, ...]:
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
                raise ValueError(f"unknown method '{part}' (choose from all, {', '.join(METHODS)})")
    return tuple(m for m in METHODS if m in out)


def _budget_of_runs(table: RunTable) -> np.ndarray:
    _, _, _, _, g = table.used_arrays()
    return table.budgets[g]


@dataclass(frozen=True, eq=False)
class Analysis:
    """Fits of one table by the requested approaches, with bootstrap replicates.

    Attributes:
        table: the input.
        methods: approaches run.
        approach1, approach2, approach3: the fits (None when not run or failed).
        errors: approach -> why it could not be fitted.
        samples: approach -> bootstrap replicates (arrays of shape (R,)):
            for Approaches 1 and 2 the ``{params,tokens,loss}_exponent`` and
            ``..._log10_coefficient`` of each law; for Approach 3 the
            parameters ``a, b, e, alpha, beta`` (log-space A, B, E).
        targets: budgets C (FLOPs) to predict at.
        level: interval coverage.
        n_bootstrap: resamples drawn (0: no intervals).
        seed: the bootstrap seed.
        notes: remarks on the data worth showing the user.
    """

    table: RunTable
    methods: tuple[str, ...]
    approach1: EnvelopeFit | None
    approach2: IsoFLOPFit | None
    approach3: ParametricFit | None
    errors: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)
    targets: tuple[float, ...] = ()
    level: float = 0.95
    n_bootstrap: int = 0
    seed: int | None = None
    notes: tuple[str, ...] = ()

    def fit(self, method: str):
        """The fit object of an approach (or None)."""
        return getattr(self, method)

    def _sample_predictions(self, method: str, flops: float) -> dict[str, np.ndarray] | None:
        s = self.samples.get(method)
        return sample_predictions(method, s, flops) if s else None

    def prediction(self, method: str, flops: float) -> dict:
        """Point predictions and intervals of one approach at budget C (FLOPs)."""
        f = self.fit(method)
        point = f.predict(flops)
        samp = self._sample_predictions(method, flops)
        rec = {"method": method, "flops": float(flops)}
        for key in ("optimal_params", "optimal_tokens", "loss"):
            rec[key] = json_float(point[key])
        for key, ci in (("optimal_params", "params_ci"), ("optimal_tokens", "tokens_ci"), ("loss", "loss_ci")):
            rec[ci] = list(percentile_interval(samp[key], self.level) or (None, None)) if samp else None
        return rec

    def predictions(self) -> list[dict]:
        """Predictions of every fitted approach at every target."""
        return [self.prediction(m, c) for c in self.targets for m in self.fitted]

    @property
    def fitted(self) -> tuple[str, ...]:
        """Approaches that produced a usable law."""
        return tuple(m for m in self.methods if self.fit(m) is not None and m not in self.errors)

    def interval(self, method: str, key: str) -> tuple[float, float] | None:
        """Percentile interval of a bootstrap quantity, e.g. ("approach2", "params_exponent")
        or ("approach3", "alpha")."""
        s = self.samples.get(method)
        if not s:
            return None
        if method == "approach3":
            return percentile_interval(derived_quantities(s)[key], self.level)
        return percentile_interval(s[key], self.level)

    def to_dict(self, include_samples: bool = True) -> dict:
        """The JSON document described in README.md ("JSON schema")."""
        t = self.table
        doc: dict = {
            "schema_version": SCHEMA_VERSION,
            "source": t.source,
            "n_runs": t.n_runs,
            "n_used": t.n_used,
            "derived": t.derived,
            "columns": dict(t.columns),
            "grouping": t.grouping,
            "n_budgets": int(t.budgets.size),
            "excluded": [{"index": e.index, "reason": e.reason} for e in t.excluded],
            "methods": list(self.methods),
            "errors": dict(self.errors),
            "notes": list(self.notes),
            "bootstrap": {"n_resamples": self.n_bootstrap, "seed": self.seed, "level": self.level,
                          "resampling": "runs resampled with replacement within each budget",
                          "failed": {m: int(np.sum(~np.isfinite(next(iter(s.values()))))) for m, s in self.samples.items()}},
        }
        if "approach1" in self.methods:
            doc["approach1"] = None if self.approach1 is None else {
                "source": self.approach1.source,
                "points": [{"flops": json_float(c), "optimal_params": json_float(n), "optimal_tokens": json_float(d), "min_loss": json_float(l)}
                           for c, n, d, l in zip(self.approach1.flops, self.approach1.optimal_params,
                                                 self.approach1.optimal_tokens, self.approach1.min_loss)],
                **self._laws("approach1", self.approach1),
            }
        if "approach2" in self.methods:
            doc["approach2"] = None if self.approach2 is None else {
                "budgets": [_budget_dict(b) for b in self.approach2.budgets],
                "allow_edge": self.approach2.allow_edge,
                **self._laws("approach2", self.approach2),
            }
        if "approach3" in self.methods:
            f = self.approach3
            doc["approach3"] = None if f is None else {
                "E": f.E, "A": f.A, "B": f.B, "alpha": f.alpha, "beta": f.beta, "a": f.a, "b": f.b, "G": f.G,
                "objective": f.objective, "delta": f.delta, "n_points": f.n_points, "n_starts": f.n_starts,
                "success": bool(f.success), "message": f.message,
                "ci": None if not self.samples.get("approach3") else {
                    k: list(self.interval("approach3", k) or (None, None)) for k in ("E", "A", "B", "alpha", "beta", "a", "b", "G")
                },
            }
        doc["predictions"] = self.predictions()
        if include_samples and self.samples:
            doc["bootstrap_samples"] = {m: {k: [json_float(float(f"{x:.7g}")) for x in v] for k, v in s.items()}
                                        for m, s in self.samples.items()}
        return doc

    def _laws(self, method: str, fit) -> dict:
        out = {}
        boot = bool(self.samples.get(method))
        ll = fit.loss_law
        out["loss_law"] = {
            "E": json_float(ll.E), "exponent": json_float(ll.exponent), "coefficient": json_float(ll.coefficient), "r2": json_float(ll.r2),
            "n_points": ll.n_points, "success": ll.success, "message": ll.message,
            "ci": list(self.interval(method, "loss_exponent") or (None, None)) if boot else None,
            "E_ci": list(self.interval(method, "loss_E") or (None, None)) if boot else None,
        }
        for key in ("params", "tokens"):
            law: PowerLaw = getattr(fit, f"{key}_law")
            out[f"{key}_law"] = {
                "exponent": json_float(law.exponent), "coefficient": json_float(law.coefficient), "r2": json_float(law.r2),
                "n_points": law.n_points, "success": law.success, "message": law.message,
                "ci": list(self.interval(method, f"{key}_exponent") or (None, None)) if boot else None,
                "coefficient_ci": ([10**v for v in self.interval(method, f"{key}_log10_coefficient")]
                                   if boot and self.interval(method, f"{key}_log10_coefficient") else None),
            }
        return out


def sample_predictions(method: str, samples: dict, flops: float) -> dict[str, np.ndarray]:
    """N_opt, D_opt and the minimum loss at C FLOPs for every bootstrap replicate.

    Args:
        method: the approach the replicates belong to.
        samples: replicates as in :attr:`Analysis.samples` (lists or arrays; None is NaN).
        flops: the budget C.
    """
    if method == "approach3":
        return optimum_from_samples(samples, flops)
    s = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
    lc = np.log10(flops)
    out = {}
    for key, name in (("params", "optimal_params"), ("tokens", "optimal_tokens")):
        out[name] = 10.0 ** (s[f"{key}_log10_coefficient"] + s[f"{key}_exponent"] * lc)
    if "loss_E" in s:
        out["loss"] = s["loss_E"] + 10.0 ** (s["loss_log10_coefficient"] + s["loss_exponent"] * lc)
    return out


def json_float(x) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    x = float(x)
    return x if np.isfinite(x) else None


def _budget_dict(b: BudgetFit) -> dict:
    return {
        "flops": b.flops, "n_points": b.n_points, "optimal_params": json_float(b.optimal_params),
        "optimal_tokens": json_float(b.optimal_tokens), "min_loss": json_float(b.min_loss), "status": b.status,
        "reason": b.reason, "curvature": json_float(b.curvature), "tokens_curvature": json_float(b.tokens_curvature),
        "residual_rms": json_float(b.residual_rms), "inside_range": b.inside_range,
        "params_range": [b.params_range[0], b.params_range[1]],
    }


def analyze(
    table: RunTable,
    *,
    methods=("all",),
    targets=(),
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
    allow_edge: bool = False,
    delta: float = 1e-3,
    init_grid: np.ndarray | None = None,
) -> Analysis:
    """Fit the requested approaches and bootstrap them.

    Args:
        table: runs from :func:`scaling.load_runs`.
        methods: any of "approach1", "approach2", "approach3", or "all".
        targets: budgets C (FLOPs) at which to predict N_opt, D_opt and the loss.
        n_bootstrap: resamples (0 for no intervals).
        level: interval coverage, in (0, 1).
        seed: seed of the bootstrap's random generator.
        allow_edge: let Approach 2 use budgets whose vertex lies outside the sampled sizes.
        delta: Huber threshold of Approach 3.
        init_grid: Approach 3 starting points (default: the 4,500-point grid).

    Returns:
        An :class:`Analysis`. An approach that cannot be fitted (too few runs or
        budgets) is None, with the reason in ``errors``.
    """
    methods = _parse_methods(methods)
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap ({n_bootstrap}) must be non-negative")
    if not 0 < level < 1:
        raise ValueError(f"level ({level}) must be in (0, 1)")
    for c in targets:
        if not (np.isfinite(c) and c > 0):
            raise ValueError(f"target ({c}) must be a positive number of FLOPs")
    n, d, _, l, g = table.used_arrays()
    if n.size == 0:
        from collections import Counter

        why = Counter(e.reason.split(":")[0] for e in table.excluded).most_common(3)
        first = table.excluded[0]
        raise ValueError(f"{table.source}: no usable runs ({table.n_runs} rows, all excluded: "
                         f"{', '.join(f'{c} x {r}' for r, c in why)}; e.g. row {first.index}: {first.reason})")
    c = table.budgets[g]
    fits: dict = {m: None for m in METHODS}
    errors: dict[str, str] = {}
    notes: list[str] = []

    if "approach1" in methods:
        f1 = fit_envelope(n, d, l, c, curves=_used_curves(table))
        if f1.params_law.success:
            fits["approach1"] = f1
        else:
            errors["approach1"] = f"cannot fit power laws: {f1.params_law.message}"
    if "approach2" in methods:
        f2 = fit_isoflops(n, d, l, c, allow_edge=allow_edge)
        fits["approach2"] = f2
        if not f2.params_law.success:
            bad = {s: sum(b.status == s for b in f2.budgets) for s in ("edge", "concave", "too_few")}
            detail = ", ".join(f"{v} {k}" for k, v in bad.items() if v)
            errors["approach2"] = f"cannot fit power laws: {f2.params_law.message} with status ok ({detail})"
    if "approach3" in methods:
        if n.size < 5:
            errors["approach3"] = f"needs at least 5 runs, got {n.size}"
        else:
            f3 = fit_parametric(n, d, l, delta=delta, init_grid=init_grid)
            fits["approach3"] = f3
            if not f3.success:
                errors["approach3"] = f3.message

    samples: dict = {}
    if n_bootstrap:
        sizes = np.bincount(g)
        if np.any(sizes == 1):
            notes.append(f"{int(np.sum(sizes == 1))} of {sizes.size} budgets hold a single run, which every "
                         "resample repeats: intervals understate the spread from those runs")
        rng = np.random.default_rng(seed)
        idx = resample_indices(g, n_bootstrap, rng)
        if fits["approach1"] is not None:
            samples["approach1"] = bootstrap_envelope(fits["approach1"], n, d, l, c, idx, curves=_used_curves(table))
        f2 = fits["approach2"]
        if f2 is not None and f2.params_law.success:
            samples["approach2"] = bootstrap_isoflops(f2, n, d, l, c, idx)
        f3 = fits["approach3"]
        if f3 is not None and f3.success:
            x = bootstrap_parametric(f3, n, d, l, counts_from_indices(idx, n.size))
            samples["approach3"] = dict(zip(("a", "b", "e", "alpha", "beta"), x.T))
    return Analysis(
        table=table, methods=methods, approach1=fits["approach1"],
        approach2=fits["approach2"], approach3=fits["approach3"] if fits["approach3"] and fits["approach3"].success else None,
        errors=errors, samples=samples, targets=tuple(float(t) for t in targets), level=level,
        n_bootstrap=n_bootstrap, seed=seed, notes=tuple(notes),
    )


def _used_curves(table: RunTable):
    """Training curves re-indexed to the used runs (None when there are none)."""
    if table.curves is None or len(table.curves) == 0:
        return None
    pos = np.full(table.n_runs, -1)
    pos[table.used] = np.arange(table.n_used)
    cur = table.curves[table.curves["run"].isin(np.flatnonzero(table.used))].copy()
    cur["run"] = pos[cur["run"].to_numpy()]
    return cur
