"""The result of an analysis, :class:`AnalysisResult`, and its JSON document both ways.

``AnalysisResult.from_dict(result.to_dict())`` gives back the same fits,
replicates, table and predictions; ``scaling audit --law`` reads a fit through
it. The document is described in README.md ("JSON schema"). Schema 2 (this
one) stores the table's runs and the bootstrap replicates at full precision,
and names Approach 3's log-space parameters ``log_A``, ``log_B``, ``log_E``
so that ``a`` and ``b`` only ever mean the exponents of N_opt and D_opt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from isoflop.errors import RecordError
from isoflop.jsonio import json_float
from isoflop.laws import schema
from isoflop.laws.fit.bootstrap import percentile_interval
from isoflop.laws.fit.calibration import interval_scale, misfit_interval, scale_interval
from isoflop.laws.fit.correction import Approach2Correction
from isoflop.laws.fit.envelope import EnvelopeFit
from isoflop.laws.fit.frontier import Counting, frontier
from isoflop.laws.fit.isoflop import IsoFLOPFit
from isoflop.laws.fit.parametric import ParametricFit, derived_quantities
from isoflop.laws.reliability import Reliability
from isoflop.laws.table import Exclusion, RunTable

METHODS = ("approach1", "approach2", "approach2_corrected", "approach3", "vpnls")
#: Methods that fit the surface L(N, D) = E + A/N^α + B/D^β (their replicates are its five parameters).
PARAMETRIC = ("approach3", "vpnls")
SCHEMA_VERSION = 2
RESAMPLING = "runs resampled with replacement within each budget"
RESAMPLING_SEEDS = "(N, C) points resampled within each budget, then seeds within each point"


#: An interval on N_opt or D_opt wider than this (hi/lo) is reported as "unconstrained", not as numbers.
UNCONSTRAINED = 100.0


@dataclass(frozen=True, eq=False)
class AnalysisResult:
    """Fits of one table by the requested approaches, with bootstrap replicates.

    Attributes:
        table: the input.
        methods: approaches run.
        approach1, approach2, approach3: the fits (None when not run or failed).
        vpnls: the same surface as Approach 3 fitted by variable projection (squared loss residuals).
        approach2_corrected: Approach 2 corrected for its grid's bias, measured on the VPNLS (else
            Approach 3) surface at the table's own points.
        counting: the table's FLOP counting; the parametric methods' optima are found under it.
        seed_noise: the seed-to-seed σ of the loss, pooled over (N, C) points with several runs
            (``sigma``, ``sigma_log``, ``dof``, ``n_points``; see :func:`~isoflop.laws.fit.bootstrap.seed_noise`).
        errors: approach -> why it could not be fitted.
        samples: approach -> bootstrap replicates (arrays of shape (R,)):
            for Approaches 1 and 2 the ``{params,tokens,loss}_exponent`` and
            ``..._log10_coefficient`` of each law (and ``loss_E``); for Approach 3
            and VPNLS the parameters ``log_A, log_B, log_E, alpha, beta``.
        targets: budgets C (FLOPs) to predict at.
        level: interval coverage.
        n_bootstrap: resamples drawn (0: no intervals).
        seed: the bootstrap seed.
        notes: remarks on the data worth showing the user.
        calibrated: intervals on N_opt and D_opt in :meth:`prediction` carry each method's calibration factor
            (:mod:`~isoflop.laws.fit.calibration`); False gives the plain percentile intervals.
        screened: runs left out of the parametric fits (:class:`~isoflop.laws.table.Exclusion`, with reasons):
            far up their IsoFLOP profiles (:mod:`isoflop.laws.screen`).
        reliability: method -> its in-table rolling-origin backtest
            (:class:`~isoflop.laws.reliability.Reliability`); calibrated intervals on N_opt and D_opt are widened
            by its extrapolation error.
        misfit: parametric method -> its lack-of-fit test against the IsoFLOP parabolas
            (:func:`~isoflop.laws.fit.calibration.lack_of_fit`); a flagged method's intervals are Approach 2's.
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
    vpnls: ParametricFit | None = None
    approach2_corrected: Approach2Correction | None = None
    counting: Counting = Counting()
    seed_noise: dict = field(default_factory=dict)
    calibrated: bool = True
    misfit: dict = field(default_factory=dict)
    reliability: dict = field(default_factory=dict)
    screened: tuple = ()

    def __repr__(self) -> str:  # a summary, not every array and bootstrap replicate
        fitted = ", ".join(self.fitted) or "none"
        return (
            f"AnalysisResult({self.table.source!r}: {self.table.n_used} runs; fitted {fitted}; "
            f"{self.n_bootstrap} bootstrap resamples; targets {[f'{c:.3g}' for c in self.targets]})"
        )

    def fit(self, method: str):
        """The fit object of an approach (or None)."""
        return getattr(self, method)

    def predict(self, method: str, flops) -> dict[str, np.ndarray]:
        """N_opt, D_opt and the loss at budgets C by one approach (the parametric ones under the table's counting)."""
        f = self.fit(method)
        return f.predict(flops, self.counting) if method in PARAMETRIC else f.predict(flops)

    def sample_predictions(self, method: str, flops: float) -> dict[str, np.ndarray] | None:
        """N_opt, D_opt and the loss at C for every replicate of an approach (None without replicates)."""
        s = self.samples.get(method)
        return sample_predictions(method, s, flops, self.counting) if s else None

    def prediction(self, method: str, flops: float) -> dict:
        """Point predictions and intervals of one approach at budget C (FLOPs)."""
        point = self.predict(method, flops)
        samp = self.sample_predictions(method, flops)
        rec: dict[str, Any] = {"method": method, "flops": float(flops)}
        if method in PARAMETRIC:
            rec["counting"] = self.counting.name
        for key in ("optimal_params", "optimal_tokens", "loss"):
            rec[key] = json_float(point[key])
        scale = interval_scale(method, bool(self.seed_noise.get("dof"))) if self.calibrated else 1.0
        # A form that fails its lack-of-fit test may take Approach 2's interval (stretched to hold its estimate)
        # where that is narrower than its own, widened by its in-table backtest.
        misfit = self.calibrated and (self.misfit.get(method) or {}).get("flagged") and self.samples.get("approach2")
        a2 = self.prediction("approach2", flops) if misfit else None
        rel = self.reliability.get(method) if self.calibrated else None
        for key, ci in (("optimal_params", "params_ci"), ("optimal_tokens", "tokens_ci"), ("loss", "loss_ci")):
            iv = percentile_interval(samp[key], self.level) if samp else None
            if key != "loss" and iv is not None and (scale != 1.0 or misfit or rel is not None):
                rec[f"{ci}_raw"] = list(iv)
                iv = scale_interval(rec[key], iv, scale)
                if rel is not None:
                    rec[f"{ci}_bootstrap"] = list(iv)
                    iv = rel.widen(rec[key], iv, flops, self.level, "params" if key == "optimal_params" else "tokens")
                    rec["extrapolation"] = rel.describe()
                other = misfit_interval(rec[key], a2[ci]) if a2 is not None else None
                if other is not None and other[1] / other[0] < iv[1] / iv[0]:
                    iv = other  # Approach 2's, already widened by its own in-table backtest
                    rec["interval_from" if key == "optimal_params" else "tokens_interval_from"] = (
                        "approach2 (this form fails its lack-of-fit test)"
                    )
            if iv is not None and rec[key] is not None and None not in iv:
                iv = _hold(rec[key], iv)
            rec[ci] = list(iv or (None, None)) if samp else None
        if samp and scale != 1.0:
            rec["interval_scale"] = scale
        wide = {
            k: ci[1] / ci[0]
            for k, ci in (("params", rec.get("params_ci")), ("tokens", rec.get("tokens_ci")))
            if ci and ci[0] and ci[1] and ci[0] > 0 and ci[1] / ci[0] > UNCONSTRAINED
        }
        if wide:  # an interval this wide is no answer: flagged here, labelled in tables and left out of figures
            rec["unconstrained"] = {
                k: f"its {self.level:.0%} interval spans {v:.3g}x (over {UNCONSTRAINED:g}x)" for k, v in wide.items()
            }
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
        if method in PARAMETRIC:
            return percentile_interval(derived_quantities(s)[key], self.level)
        return percentile_interval(s[key], self.level)

    def params_exponent(self, method: str) -> tuple[float, tuple[float, float] | None]:
        """N_opt's exponent a (N_opt ∝ C^a) by a fitted method, and its bootstrap interval (None without one)."""
        f = self.fit(method)
        if method in PARAMETRIC:
            return float(f.a), self.interval(method, "a")
        law = (f.fit if method == "approach2_corrected" else f).params_law
        return float(law.exponent), self.interval(method, "params_exponent")

    # -- the JSON document ---------------------------------------------------------------------

    def to_dict(self, include_samples: bool = True) -> dict:
        """The JSON document described in README.md ("JSON schema"); :meth:`from_dict` reads it back."""
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
            "excluded": [e.to_dict() for e in t.excluded],
            "methods": list(self.methods),
            "errors": dict(self.errors),
            "notes": list(self.notes),
            "targets": list(self.targets),
            "seed_noise": {k: json_float(v) if isinstance(v, float) else v for k, v in self.seed_noise.items()},
            "misfit": self.misfit,
            "reliability": {m: r.to_dict() for m, r in self.reliability.items()},
            "screened": [e.to_dict() for e in self.screened],
            "bootstrap": {
                "n_resamples": self.n_bootstrap,
                "seed": self.seed,
                "level": self.level,
                "calibrated": self.calibrated,
                "resampling": RESAMPLING if not self.seed_noise.get("dof") else RESAMPLING_SEEDS,
                "failed": {m: int(np.sum(~np.isfinite(next(iter(s.values()))))) for m, s in self.samples.items()},
            },
        }
        if "approach1" in self.methods:
            doc["approach1"] = (
                None
                if self.approach1 is None
                else self._with_law_cis("approach1", schema.envelope_to_dict(self.approach1))
            )
        if "approach2" in self.methods:
            doc["approach2"] = (
                None
                if self.approach2 is None
                else self._with_law_cis("approach2", schema.isoflop_to_dict(self.approach2))
            )
        if "approach2_corrected" in self.methods:
            f = self.approach2_corrected
            doc["approach2_corrected"] = (
                None
                if f is None
                else schema.correction_to_dict(
                    f, self._with_law_cis("approach2_corrected", schema.isoflop_to_dict(f.fit))
                )
            )
        for m in PARAMETRIC:
            if m in self.methods:
                f = self.fit(m)
                doc[m] = (
                    None
                    if f is None
                    else {
                        **schema.parametric_to_dict(f),
                        "ci": None
                        if not self.samples.get(m)
                        else {
                            k: list(self.interval(m, k) or (None, None))
                            for k in ("E", "A", "B", "alpha", "beta", "a", "b", "G")
                        },
                    }
                )
        doc["counting"] = {**self.counting.to_dict(), "description": self.counting.describe()}
        doc["predictions"] = self.predictions()
        if include_samples and self.samples:
            doc["bootstrap_samples"] = {
                m: {k: [json_float(x) for x in v] for k, v in s.items()} for m, s in self.samples.items()
            }
        doc["table"] = t.to_dict()
        return doc

    def _with_law_cis(self, method: str, d: dict) -> dict:
        """Add the bootstrap intervals of the laws of Approach 1 or 2 to their JSON."""
        boot = bool(self.samples.get(method))
        iv = lambda key: list(self.interval(method, key) or (None, None)) if boot else None  # noqa: E731
        d["loss_law"].update({"ci": iv("loss_exponent"), "E_ci": iv("loss_E")})
        for key in ("params", "tokens"):
            lc = self.interval(method, f"{key}_log10_coefficient") if boot else None
            d[f"{key}_law"].update({"ci": iv(f"{key}_exponent"), "coefficient_ci": [10**v for v in lc] if lc else None})
        return d

    @classmethod
    def from_dict(cls, doc: dict, where: str = "fit result") -> AnalysisResult:
        """Inverse of :meth:`to_dict` (the table's training curves are not stored, so ``table.curves`` is None).

        Raises:
            RecordError: not a fit-result document, one from an older schema, or a missing key (named).
        """
        if not isinstance(doc, dict):
            raise RecordError(f"{where}: expected the JSON object written by 'scaling fit --json'")
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(
                f"{where}: schema_version {version!r}, but this version reads {SCHEMA_VERSION} "
                "(re-run 'scaling fit --json' to write it again)"
            )
        table = RunTable.from_dict(schema.need(doc, "table", where))
        methods = tuple(schema.need(doc, "methods", where))
        boot = schema.need(doc, "bootstrap", where)
        fits: dict[str, Any] = {m: None for m in METHODS}
        readers = {
            "approach1": schema.envelope_from_dict,
            "approach2": schema.isoflop_from_dict,
            "approach2_corrected": schema.correction_from_dict,
            "approach3": schema.parametric_from_dict,
            "vpnls": schema.parametric_from_dict,
        }
        for m in METHODS:
            if doc.get(m) is not None:
                fits[m] = readers[m](doc[m], f"{where}: {m}")
        samples = {
            m: {k: np.array([np.nan if x is None else x for x in v], dtype=float) for k, v in s.items()}
            for m, s in (doc.get("bootstrap_samples") or {}).items()
        }
        return cls(
            table=table,
            methods=methods,
            approach1=fits["approach1"],
            approach2=fits["approach2"],
            approach3=fits["approach3"],
            errors=dict(doc.get("errors") or {}),
            samples=samples,
            targets=tuple(float(t) for t in doc.get("targets") or ()),
            level=float(boot.get("level", 0.95)),
            n_bootstrap=int(boot.get("n_resamples") or 0),
            seed=boot.get("seed"),
            calibrated=bool(boot.get("calibrated", False)),
            misfit=dict(doc.get("misfit") or {}),
            reliability={m: Reliability.from_dict(r) for m, r in (doc.get("reliability") or {}).items()},
            screened=tuple(Exclusion.from_dict(e) for e in doc.get("screened") or ()),
            notes=tuple(doc.get("notes") or ()),
            vpnls=fits["vpnls"],
            approach2_corrected=fits["approach2_corrected"],
            counting=Counting.from_dict(doc.get("counting")),
            seed_noise={k: (float("nan") if v is None else v) for k, v in (doc.get("seed_noise") or {}).items()},
        )


def sample_predictions(
    method: str, samples: dict, flops: float, counting: Counting = Counting()
) -> dict[str, np.ndarray]:
    """N_opt, D_opt and the minimum loss at C FLOPs for every bootstrap replicate.

    Args:
        method: the approach the replicates belong to.
        samples: replicates as in :attr:`AnalysisResult.samples` (lists or arrays; None is NaN).
        flops: the budget C.
        counting: the FLOP counting under which the parametric methods' optima are found.
    """
    if method in PARAMETRIC:
        q = derived_quantities(samples)
        return frontier(q["E"], q["A"], q["B"], q["alpha"], q["beta"], flops, counting)
    s = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
    lc = np.log10(flops)
    out = {}
    with np.errstate(over="ignore"):
        for key, name in (("params", "optimal_params"), ("tokens", "optimal_tokens")):
            out[name] = 10.0 ** (s[f"{key}_log10_coefficient"] + s[f"{key}_exponent"] * lc)
        if "loss_E" in s:
            out["loss"] = s["loss_E"] + 10.0 ** (s["loss_log10_coefficient"] + s["loss_exponent"] * lc)
    return out


def _hold(estimate: float, iv) -> tuple:
    """An interval that misses its own estimate by rounding alone (replicates that equal the estimate up to the
    last bits, as noise-free tables give) is widened to hold it; a real miss is kept."""
    lo, hi = float(iv[0]), float(iv[1])
    tol = 1e-9 * abs(estimate)
    if estimate < lo <= estimate + tol:
        lo = estimate
    if estimate - tol <= hi < estimate:
        hi = estimate
    return lo, hi
