"""Is a run compute-optimal? Compare (N, D) with a scaling law's optimum at the run's C.

A law is either a published parametric fit (:data:`PRESETS`) or one read from
the JSON that ``scaling fit --json`` writes, with its bootstrap replicates
giving intervals on the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from isoflop.errors import LawError
from isoflop.laws.fit.bootstrap import percentile_interval
from isoflop.laws.fit.calibration import interval_scale, scale_interval
from isoflop.laws.fit.frontier import Counting
from isoflop.laws.fit.parametric import ParametricFit
from isoflop.laws.result import PARAMETRIC, AnalysisResult, sample_predictions
from isoflop.model.flops import complete_ndc

#: Published Approach 3 fits of L(N, D) = E + A/N^α + B/D^β.
PRESETS: dict[str, dict[str, float]] = {
    # Hoffmann et al. (2022), Eq. 10.
    "chinchilla": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    # Besiroglu et al. (2024), Table 1 (Huber likelihood with a fitted scale).
    "epoch": {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
}


@dataclass(frozen=True, eq=False)
class Law:
    """A compute-optimal law: the fit of one approach, N_opt(C), D_opt(C) and, when parametric, L(N, D).

    Attributes:
        name: where it came from ("preset chinchilla", "fit.json approach2", ...).
        method: one of :data:`~isoflop.laws.result.METHODS` (a preset is an Approach 3 fit).
        fit: the approach's fit object (:class:`ParametricFit`, :class:`IsoFLOPFit` or
            :class:`EnvelopeFit`); its ``predict`` gives the optimum.
        samples: bootstrap replicates of the approach (as in :attr:`AnalysisResult.samples`), or None.
        level: interval coverage for the replicates.
        counting: the FLOP counting under which a parametric law's optimum is found.
        calibrated: intervals carry the method's calibration factor (:mod:`isoflop.laws.fit.calibration`).
        seeded: the law was fitted to a table with several seeds per point (Approach 1's factor differs).
        result: the analysis it came from, whose intervals (calibrated, or a misfitting form's Approach 2
            interval) it then gives.
    """

    name: str
    method: str
    fit: Any
    samples: dict | None = None
    level: float = 0.95
    counting: Counting = Counting()
    calibrated: bool = True
    seeded: bool = False
    result: AnalysisResult | None = None

    @property
    def kind(self) -> str:
        """ "parametric" (Approach 3 or VPNLS: it predicts the loss of any N, D) or "powerlaw"."""
        return "parametric" if self.method in PARAMETRIC else "powerlaw"

    def optimum(self, flops: float) -> dict:
        """N_opt and D_opt at C FLOPs, with intervals when replicates exist."""
        if self.kind == "parametric":
            p = self.fit.predict(flops, self.counting)
        else:
            p = self.fit.predict(flops)
        out: dict[str, Any] = {
            "optimal_params": float(p["optimal_params"]),
            "optimal_tokens": float(p["optimal_tokens"]),
            "params_ci": None,
            "tokens_ci": None,
        }
        if self.result is not None and self.samples:  # exactly the intervals the fit's tables print
            pred = self.result.prediction(self.method, flops)
            out["params_ci"], out["tokens_ci"] = (
                tuple(pred[k]) if pred[k] and pred[k][0] is not None else None for k in ("params_ci", "tokens_ci")
            )
        elif self.samples:
            o = sample_predictions(self.method, self.samples, flops, self.counting)
            s = interval_scale(self.method, self.seeded) if self.calibrated else 1.0
            for key, ci in (("optimal_params", "params_ci"), ("optimal_tokens", "tokens_ci")):
                out[ci] = scale_interval(out[key], percentile_interval(o[key], self.level), s)
        return out

    @classmethod
    def from_result(cls, result: AnalysisResult, method: str | None = None, name: str = "fit") -> Law:
        """The law of one approach of an analysis: ``method``, or by default the first
        fitted of approach3, vpnls, approach2_corrected, approach2, approach1.

        Raises:
            LawError: the approach was not fitted.
        """
        order = [method] if method else ["approach3", "vpnls", "approach2_corrected", "approach2", "approach1"]
        chosen = next((m for m in order if m in result.fitted), None)
        if chosen is None:
            have = ", ".join(result.fitted) or "none"
            raise LawError(f"{name}: no fitted {' or '.join(order)} (fitted: {have})")
        return cls(
            f"{name} {chosen}",
            chosen,
            result.fit(chosen),
            result.samples.get(chosen) or None,
            result.level,
            result.counting,
            result.calibrated,
            bool(result.seed_noise.get("dof")),
            result,
        )


def preset_law(name: str) -> Law:
    """One of :data:`PRESETS` as a :class:`Law`."""
    if name not in PRESETS:
        raise LawError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    p = PRESETS[name]
    fit = ParametricFit(
        E=p["E"],
        A=p["A"],
        B=p["B"],
        alpha=p["alpha"],
        beta=p["beta"],
        objective=np.nan,
        n_points=0,
        success=True,
        message="published",
    )
    return Law(f"preset {name}", "approach3", fit)


def load_law(path: str | Path, method: str | None = None) -> Law:
    """Read a law from ``scaling fit --json`` output.

    Args:
        path: the JSON file.
        method: one of :data:`~isoflop.laws.result.METHODS`; by default the first
            of approach3, vpnls, approach2_corrected, approach2, approach1 present and fitted.

    Raises:
        LawError: unreadable file, or the chosen approach is missing or incomplete.
    """
    from isoflop.laws.document import read_fit

    result = read_fit(path).result
    return Law.from_result(result, method, Path(path).name)


@dataclass(frozen=True)
class Audit:
    """Verdict on one run.

    Attributes:
        n_params, n_tokens, flops: the run (C = 6ND unless given).
        tokens_per_param: D/N.
        optimal_params, optimal_tokens: the law's optimum at C.
        params_ci, tokens_ci: intervals on the optimum, or None.
        ratio: N / N_opt (> 1: more parameters than optimal).
        verdict: "compute-optimal", "over-parameterised" or "under-parameterised".
        sentence: the verdict in plain words.
        loss, optimal_loss: predicted losses of the run and of the optimum
            (parametric laws only; else None).
        law: the law's name.
        derived: which of "params", "tokens" and "flops" was derived from the other two (C = 6ND), or None.
    """

    n_params: float
    n_tokens: float
    flops: float
    tokens_per_param: float
    optimal_params: float
    optimal_tokens: float
    params_ci: tuple | None
    tokens_ci: tuple | None
    ratio: float
    verdict: str
    sentence: str
    loss: float | None
    optimal_loss: float | None
    law: str
    derived: str | None = None


def audit_run(
    n_params: float | None, n_tokens: float | None, law: Law, flops: float | None = None, tolerance: float = 1.1
) -> Audit:
    """Judge whether a run of N parameters on D tokens is compute-optimal under a law.

    The run is compute-optimal when N lies inside the law's interval on N_opt
    or, without an interval, within a factor ``tolerance`` of N_opt.

    Args:
        n_params: N, in parameters.
        n_tokens: D, in tokens.
        law: from :func:`preset_law` or :func:`load_law`.
        flops: C in FLOPs. Any two of N, D and C suffice; the third comes from C = 6ND
            (:func:`isoflop.model.flops.complete_ndc`), and ``derived`` says which.
        tolerance: factor within which a run counts as optimal when the law has no interval.

    Raises:
        LawError: non-positive inputs.
        ConfigError: fewer than two of N, D and C (from :func:`~isoflop.model.flops.complete_ndc`).
    """
    for name, v in (("params", n_params), ("tokens", n_tokens), ("flops", flops)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise LawError(f"--{name} ({v}) must be a positive number")
    if tolerance < 1:
        raise LawError(f"tolerance ({tolerance}) must be at least 1")
    n, d, c, derived = complete_ndc(n_params, n_tokens, flops)
    n_params, n_tokens, c = float(n), float(d), float(c)
    o = law.optimum(c)
    n_opt, d_opt = o["optimal_params"], o["optimal_tokens"]
    ratio = n_params / n_opt
    ci = o["params_ci"]
    inside = (ci[0] <= n_params <= ci[1]) if ci else (1 / tolerance <= ratio <= tolerance)
    tail = f"a {n_opt:.2g}-parameter model trained on {d_opt:.2g} tokens would be compute-optimal"
    if inside:
        verdict = "compute-optimal"
        how = "inside the interval on the optimum" if ci else f"within {tolerance:g}× of the optimum"
        sentence = f"compute-optimal: {ratio:.2g}× the optimal size for {c:.2g} FLOPs, {how} ({tail})"
    elif ratio > 1:
        verdict = "over-parameterised"
        sentence = f"over-parameterised: {ratio:.2g}× more parameters than optimal for {c:.2g} FLOPs; {tail}"
    else:
        verdict = "under-parameterised"
        sentence = f"under-parameterised: {1 / ratio:.2g}× fewer parameters than optimal for {c:.2g} FLOPs; {tail}"
    loss = opt_loss = None
    if law.kind == "parametric":
        loss = float(law.fit.loss(n_params, n_tokens))
        opt_loss = float(law.fit.loss(n_opt, d_opt))
    return Audit(
        float(n_params),
        float(n_tokens),
        c,
        n_tokens / n_params,
        n_opt,
        d_opt,
        ci,
        o["tokens_ci"],
        ratio,
        verdict,
        sentence,
        loss,
        opt_loss,
        law.name,
        derived,
    )
