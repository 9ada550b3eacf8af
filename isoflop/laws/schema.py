"""The fit-result JSON, both ways: each fit class to plain data and back.

Numbers are floats; NaN and infinities are written as null and read back as
NaN. Interval (``ci``) keys are derived from the bootstrap replicates and are
ignored when reading: the replicates themselves are stored and read back.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from isoflop.errors import RecordError
from isoflop.jsonio import json_float
from isoflop.laws.fit.correction import Approach2Correction, BudgetBias
from isoflop.laws.fit.envelope import EnvelopeFit
from isoflop.laws.fit.isoflop import BudgetFit, IsoFLOPFit
from isoflop.laws.fit.parametric import ParametricFit
from isoflop.laws.fit.powerlaw import LossLaw, PowerLaw


def num(x) -> float:
    """A JSON number back to a float (null is NaN)."""
    return float("nan") if x is None else float(x)


def need(doc, key: str, where: str):
    """``doc[key]``, or a :class:`RecordError` that names the key."""
    if not isinstance(doc, dict) or key not in doc:
        raise RecordError(f"{where}: missing key '{key}'")
    return doc[key]


def power_law_to_dict(law: PowerLaw) -> dict:
    return {
        "exponent": json_float(law.exponent),
        "coefficient": json_float(law.coefficient),
        "r2": json_float(law.r2),
        "n_points": law.n_points,
        "success": law.success,
        "message": law.message,
        "tau2": law.tau2,
        "weighted": law.weighted,
    }


def power_law_from_dict(d: dict, where: str) -> PowerLaw:
    return PowerLaw(
        num(need(d, "exponent", where)),
        num(need(d, "coefficient", where)),
        num(d.get("r2")),
        int(d.get("n_points") or 0),
        bool(d.get("success", True)),
        str(d.get("message", "ok")),
        float(d.get("tau2") or 0.0),
        bool(d.get("weighted", False)),
    )


def loss_law_to_dict(law: LossLaw) -> dict:
    return {
        "E": json_float(law.E),
        "exponent": json_float(law.exponent),
        "coefficient": json_float(law.coefficient),
        "r2": json_float(law.r2),
        "n_points": law.n_points,
        "success": law.success,
        "message": law.message,
    }


def loss_law_from_dict(d: dict, where: str) -> LossLaw:
    return LossLaw(
        num(need(d, "E", where)),
        num(need(d, "coefficient", where)),
        num(need(d, "exponent", where)),
        num(d.get("r2")),
        int(d.get("n_points") or 0),
        bool(d.get("success", True)),
        str(d.get("message", "ok")),
    )


def budget_to_dict(b: BudgetFit) -> dict:
    return {
        "flops": b.flops,
        "n_points": b.n_points,
        "optimal_params": json_float(b.optimal_params),
        "optimal_tokens": json_float(b.optimal_tokens),
        "min_loss": json_float(b.min_loss),
        "status": b.status,
        "reason": b.reason,
        "curvature": json_float(b.curvature),
        "tokens_curvature": json_float(b.tokens_curvature),
        "residual_rms": json_float(b.residual_rms),
        "inside_range": b.inside_range,
        "params_range": [b.params_range[0], b.params_range[1]],
        "coeffs": None if b.coeffs is None else [json_float(c) for c in b.coeffs],
        "params_var": b.params_var,
        "tokens_var": b.tokens_var,
    }


def budget_from_dict(d: dict, where: str) -> BudgetFit:
    c = d.get("coeffs")
    return BudgetFit(
        flops=num(need(d, "flops", where)),
        n_points=int(need(d, "n_points", where)),
        optimal_params=num(d.get("optimal_params")),
        optimal_tokens=num(d.get("optimal_tokens")),
        min_loss=num(d.get("min_loss")),
        curvature=num(d.get("curvature")),
        tokens_curvature=num(d.get("tokens_curvature")),
        residual_rms=num(d.get("residual_rms")),
        params_range=cast("tuple[float, float]", tuple(num(x) for x in need(d, "params_range", where))),
        inside_range=bool(d.get("inside_range")),
        status=str(need(d, "status", where)),
        reason=str(d.get("reason", "")),
        coeffs=None if c is None else cast("tuple[float, float, float]", tuple(num(x) for x in c)),
        params_var=None if d.get("params_var") is None else float(d["params_var"]),
        tokens_var=None if d.get("tokens_var") is None else float(d["tokens_var"]),
    )


def isoflop_to_dict(f: IsoFLOPFit) -> dict:
    return {
        "budgets": [budget_to_dict(b) for b in f.budgets],
        "allow_edge": f.allow_edge,
        "params_law": power_law_to_dict(f.params_law),
        "tokens_law": power_law_to_dict(f.tokens_law),
        "loss_law": loss_law_to_dict(f.loss_law),
    }


def isoflop_from_dict(d: dict, where: str) -> IsoFLOPFit:
    return IsoFLOPFit(
        budgets=tuple(budget_from_dict(b, f"{where}.budgets[{i}]") for i, b in enumerate(need(d, "budgets", where))),
        params_law=power_law_from_dict(need(d, "params_law", where), f"{where}.params_law"),
        tokens_law=power_law_from_dict(need(d, "tokens_law", where), f"{where}.tokens_law"),
        loss_law=loss_law_from_dict(need(d, "loss_law", where), f"{where}.loss_law"),
        allow_edge=bool(d.get("allow_edge", False)),
    )


def envelope_to_dict(f: EnvelopeFit) -> dict:
    return {
        "source": f.source,
        "points": [
            {
                "flops": json_float(c),
                "optimal_params": json_float(n),
                "optimal_tokens": json_float(t),
                "min_loss": json_float(l),
            }
            for c, n, t, l in zip(f.flops, f.optimal_params, f.optimal_tokens, f.min_loss)
        ],
        "params_law": power_law_to_dict(f.params_law),
        "tokens_law": power_law_to_dict(f.tokens_law),
        "loss_law": loss_law_to_dict(f.loss_law),
    }


def envelope_from_dict(d: dict, where: str) -> EnvelopeFit:
    pts = need(d, "points", where)
    col = lambda k: np.array([num(p.get(k)) for p in pts], dtype=float)  # noqa: E731
    return EnvelopeFit(
        col("flops"),
        col("optimal_params"),
        col("optimal_tokens"),
        col("min_loss"),
        power_law_from_dict(need(d, "params_law", where), f"{where}.params_law"),
        power_law_from_dict(need(d, "tokens_law", where), f"{where}.tokens_law"),
        loss_law_from_dict(need(d, "loss_law", where), f"{where}.loss_law"),
        str(d.get("source", "")),
    )


PARAMETRIC_KEYS = ("E", "A", "B", "alpha", "beta")


def parametric_to_dict(f: ParametricFit) -> dict:
    """Approach 3's fit; ``a``, ``b`` and ``G`` are derived (the exponents of N_opt and D_opt, and the
    coefficient of N_opt) and written for the reader, not read back."""
    return {
        "E": f.E,
        "A": f.A,
        "B": f.B,
        "alpha": f.alpha,
        "beta": f.beta,
        "a": f.a,
        "b": f.b,
        "G": f.G,
        "objective": json_float(f.objective),
        "delta": f.delta,
        "n_points": f.n_points,
        "n_starts": f.n_starts,
        "success": bool(f.success),
        "message": f.message,
        "objective_kind": f.extras.get("objective_kind", "Huber on log loss"),
    }


def parametric_from_dict(d: dict, where: str) -> ParametricFit:
    vals = {}
    for k in PARAMETRIC_KEYS:
        v = need(d, k, where)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise RecordError(f"{where}: key '{k}' is not a number")
        vals[k] = float(v)
    return ParametricFit(
        **vals,
        objective=num(d.get("objective")),
        n_points=int(d.get("n_points") or 0),
        success=bool(d.get("success", True)),
        message=str(d.get("message", "")),
        n_starts=int(d.get("n_starts") or 0),
        delta=float(d.get("delta", 1e-3)),
        extras={"objective_kind": str(d.get("objective_kind", "Huber on log loss"))},
    )


def correction_to_dict(c: Approach2Correction, fit_doc: dict) -> dict:
    """Approach 2 corrected: the corrected fit's document (``fit_doc``) with the bias of each budget."""
    return {
        **fit_doc,
        "surface": c.surface,
        "flags": list(c.flags),
        "shift": {k: list(v) for k, v in c.shift.items()},
        "bias": [
            {
                "flops": b.flops,
                "position": json_float(b.position),
                "span": json_float(b.span),
                "flags": list(b.flags),
                "params_bias": json_float(b.params_bias),
                "tokens_bias": json_float(b.tokens_bias),
            }
            for b in c.budgets
        ],
    }


def correction_from_dict(d: dict, where: str) -> Approach2Correction:
    bias = tuple(
        BudgetBias(
            num(need(b, "flops", where)),
            num(b.get("position")),
            num(b.get("span")),
            tuple(b.get("flags") or ()),
            num(b.get("params_bias")),
            num(b.get("tokens_bias")),
        )
        for b in need(d, "bias", where)
    )
    return Approach2Correction(
        str(d.get("surface", "")),
        bias,
        isoflop_from_dict(d, where),
        tuple(d.get("flags") or ()),
        {k: tuple(float(x) for x in v) for k, v in need(d, "shift", where).items()},
    )
