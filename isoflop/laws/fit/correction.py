"""Approach 2's grid bias, measured on a fitted surface, and Approach 2 corrected for it.

An IsoFLOP vertex is the optimum of a parabola fitted in log N to a curve that is
not a parabola, so it is biased: more so when the grid is wide, asymmetric, or
off-centre (Czech et al. 2026, Open-Athena, arXiv 2603.22339, report D* errors of
−0.3% to −5% for centred grids of ±2× to ±16× and up to +12% for drifting ones).

The bias of *this* table's grid can be measured: sample a fitted surface
L̂(N, D) (VPNLS or Approach 3) at exactly the table's (N, D) points, run the very
same Approach 2 on it, and compare each budget's vertex with the surface's true
optimum at that budget (under the table's own FLOP counting, see
:mod:`~isoflop.laws.fit.frontier`). Dividing the table's vertices by those
ratios gives the corrected vertices, and the power laws through them are
Approach 2 corrected (``approach2_corrected``). The loss law is not corrected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from isoflop.laws.fit.frontier import Counting, frontier
from isoflop.laws.fit.isoflop import IsoFLOPFit, _budget_values, fit_isoflops
from isoflop.laws.fit.parametric import ParametricFit
from isoflop.laws.fit.powerlaw import fit_loss_law, fit_power_law

#: A vertex further than this from the middle of the sampled log-range (0 = smallest size, 1 = largest) is off-centre.
OFF_CENTRE = 0.25
#: A grid spanning more than this ratio of sizes is wide (±4×).
WIDE = 16.0
#: Log-spacings of the sizes differing by more than this ratio make the grid asymmetric.
UNEVEN = 2.0
#: Positions moving by more than this from the first budget to the last are drifting.
DRIFT = 0.2


@dataclass(frozen=True)
class BudgetBias:
    """Where one budget's vertex sits in its grid, and how biased that grid makes it.

    Attributes:
        flops: the budget C.
        position: the vertex's place in the sampled log N range, 0 (smallest size) to 1 (largest).
        span: largest / smallest N sampled.
        flags: "off-centre", "wide", "asymmetric" (uneven spacing of the sizes).
        params_bias, tokens_bias: Approach 2's relative error in N* and D* on the surface (vertex / truth − 1);
            NaN when the surface's profile has no usable vertex.
    """

    flops: float
    position: float
    span: float
    flags: tuple[str, ...]
    params_bias: float
    tokens_bias: float


@dataclass(frozen=True)
class Approach2Correction:
    """Approach 2 corrected for its grid's bias.

    Attributes:
        surface: the method whose surface measured the bias ("vpnls" or "approach3").
        budgets: one :class:`BudgetBias` per budget the raw fit used.
        fit: the corrected Approach 2 (corrected vertices; the raw loss law).
        flags: fit-level flags ("drifting": the vertex moves across the grid from budget to budget).
        shift: the line through log10(truth / vertex) against log10 C, for N and D: ``{"params": (slope,
            intercept), "tokens": ...}``; added to a bootstrap replicate's exponent and log10 coefficient,
            it corrects that replicate.
    """

    surface: str
    budgets: tuple[BudgetBias, ...]
    fit: IsoFLOPFit
    flags: tuple[str, ...]
    shift: dict

    def predict(self, flops) -> dict[str, np.ndarray]:
        return self.fit.predict(flops)


def grid_shape(n_params, budget, raw: IsoFLOPFit) -> list[tuple[float, float, float, tuple[str, ...]]]:
    """(C, position, span, flags) of each budget the raw fit used."""
    n = np.asarray(n_params, dtype=float)
    values, inv = _budget_values(budget)
    out = []
    for b in raw.used:
        sizes = np.unique(n[inv == int(np.flatnonzero(values == b.flops)[0])])
        lo, hi = np.log(sizes[0]), np.log(sizes[-1])
        pos = float((np.log(b.optimal_params) - lo) / (hi - lo)) if hi > lo else np.nan
        gaps = np.diff(np.log(sizes))
        flags = []
        if np.isfinite(pos) and abs(pos - 0.5) > OFF_CENTRE:
            flags.append("off-centre")
        if sizes[-1] / sizes[0] > WIDE:
            flags.append("wide")
        if gaps.size >= 2 and gaps.max() > UNEVEN * gaps.min():
            flags.append("asymmetric")
        out.append((b.flops, pos, float(sizes[-1] / sizes[0]), tuple(flags)))
    return out


def correct_isoflops(
    raw: IsoFLOPFit,
    surface: ParametricFit,
    n_params,
    n_tokens,
    budget,
    *,
    counting: Counting = Counting(),
    surface_name: str = "vpnls",
) -> Approach2Correction:
    """Measure Approach 2's bias on ``surface`` at the table's own points and correct ``raw`` for it.

    Args:
        raw: Approach 2 on the table.
        surface: a parametric fit of the same table.
        n_params, n_tokens, budget: the table's runs (N, D, and each run's budget C), as given to Approach 2.
        counting: the table's FLOP counting, which defines the true optimum at each budget.
        surface_name: which method ``surface`` came from, for the report.
    """
    n, d = np.asarray(n_params, dtype=float), np.asarray(n_tokens, dtype=float)
    on_surface = fit_isoflops(n, d, surface.loss(n, d), budget, allow_edge=True)
    by_c = {b.flops: b for b in on_surface.budgets}
    shape = {c: (pos, span, flags) for c, pos, span, flags in grid_shape(n, budget, raw)}
    budgets, corrected, dn, dd, cs = [], [], [], [], []
    for b in raw.used:
        s = by_c.get(b.flops)
        truth = frontier(surface.E, surface.A, surface.B, surface.alpha, surface.beta, b.flops, counting)
        tn, td = float(truth["optimal_params"][0]), float(truth["optimal_tokens"][0])
        ok = s is not None and s.status in ("ok", "edge") and bool(np.isfinite(s.optimal_params))
        bn = bd = np.nan
        if s is not None and ok:
            bn, bd = s.optimal_params / tn - 1, s.optimal_tokens / td - 1
        pos, span, flags = shape[b.flops]
        budgets.append(BudgetBias(b.flops, pos, span, flags, float(bn), float(bd)))
        if ok:
            corrected.append(
                replace(b, optimal_params=b.optimal_params / (1 + bn), optimal_tokens=b.optimal_tokens / (1 + bd))
            )
            dn.append(-np.log10(1 + bn))
            dd.append(-np.log10(1 + bd))
            cs.append(b.flops)
        else:  # the surface gives this grid no vertex to compare: keep the raw one
            corrected.append(b)
    c = np.array([b.flops for b in corrected])
    # Weighted as the raw law was, with its τ², so that the corrected law is the raw one moved by the weighted
    # line through the corrections (what shift_samples does to its replicates).
    laws = {
        key: fit_power_law(
            c,
            [getattr(b, f"optimal_{key}") for b in corrected],
            [getattr(b, f"{key}_var") for b in corrected] if law.weighted else None,
            law.tau2 if law.weighted else None,
        )
        for key, law in (("params", raw.params_law), ("tokens", raw.tokens_law))
    }
    fit = IsoFLOPFit(
        tuple(corrected),
        laws["params"],
        laws["tokens"],
        fit_loss_law(c, [b.min_loss for b in corrected]) if len(c) else raw.loss_law,
        raw.allow_edge,
    )
    shift: dict[str, tuple[float, float]] = {}
    at = [c.tolist().index(f) for f in cs]  # the corrected budgets' places among the used ones
    for key, delta in (("params", dn), ("tokens", dd)):
        w = raw.weights(key)
        if len(cs) >= 2:
            slope, intercept = np.polyfit(np.log10(cs), delta, 1, w=None if w is None else np.sqrt(w[at]))
        else:
            slope, intercept = 0.0, float(delta[0]) if delta else 0.0
        shift[key] = (float(slope), float(intercept))
    positions = [b.position for b in budgets if np.isfinite(b.position)]
    flags = ("drifting",) if len(positions) >= 2 and abs(positions[-1] - positions[0]) > DRIFT else ()
    return Approach2Correction(surface_name, tuple(budgets), fit, flags, shift)


def shift_samples(samples: dict, correction: Approach2Correction) -> dict:
    """Approach 2's bootstrap replicates corrected: each law's exponent and log10 coefficient moved by the
    correction's line (exact for a replicate that used every budget: least squares is linear in the vertices)."""
    out = {k: np.asarray(v, dtype=float).copy() for k, v in samples.items()}
    for key in ("params", "tokens"):
        slope, intercept = correction.shift[key]
        out[f"{key}_exponent"] = out[f"{key}_exponent"] + slope
        out[f"{key}_log10_coefficient"] = out[f"{key}_log10_coefficient"] + intercept
    return out
