"""Scored predictions of held-out budgets: one row per method and budget, and their summaries.

A :class:`BacktestRow` is one held-out budget predicted by one method (or the answer line) and compared with
the budget's own vertex (:mod:`isoflop.laws.vertex`); a :class:`Summary` is one method's coverage, error and
width over one split. :mod:`isoflop.laws.backtest` makes the splits that produce them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from isoflop.jsonio import dataclass_from_json, finite_json
from isoflop.laws.vertex import Vertex

#: The splits of :func:`rolling_backtest`: K largest budgets held out, and the far split.
SPLITS = ("K1", "K2", "K3", "far")
#: The answer line's rows carry this method name.
ANSWER = "answer"


@dataclass(frozen=True)
class BacktestRow:
    """One held-out budget predicted by one method (or by the answer line, method ``"answer"``).

    Attributes:
        split: the split ("K1", ..., "far"; "" for a single :func:`backtest`).
        method: the method, or "answer" for the answer line (then ``chosen`` names the method it picked).
        flops: the held-out budget C, in FLOPs.
        distance: log10 of C over the largest fitted budget (decades of extrapolation).
        predicted_params, params_ci: the predicted N_opt and its interval.
        predicted_tokens, tokens_ci: the same for D_opt.
        observed: the held-out budget's own vertex.
        params_error, tokens_error: relative errors (predicted − observed) / observed.
        params_inside: whether the interval holds the observed vertex (None without an interval).
        params_inside_allowing: the same, with the interval widened by the vertex's own uncertainty.
        tokens_inside, tokens_inside_allowing: the same for D_opt.
        width: hi/lo of the interval on N_opt.
        chosen: for the answer line, the method it picked, or "average(...)" naming the methods it averaged.
        in_answer: for a method's row, whether the answer line at this budget stood on it (picked it, or averaged
            it); None for the answer line's own rows.
        predicted_loss, observed_loss, loss_error, loss_ci, loss_inside: the minimum loss, likewise.
    """

    split: str
    method: str
    flops: float
    distance: float
    predicted_params: float
    params_ci: tuple | None
    predicted_tokens: float
    tokens_ci: tuple | None
    observed: Vertex
    params_error: float
    tokens_error: float
    params_inside: bool | None
    params_inside_allowing: bool | None
    width: float
    chosen: str | None = None
    in_answer: bool | None = None
    predicted_loss: float = float("nan")
    observed_loss: float = float("nan")
    loss_error: float = float("nan")
    loss_ci: tuple | None = None
    loss_inside: bool | None = None
    tokens_inside: bool | None = None
    tokens_inside_allowing: bool | None = None

    @property
    def observed_params(self) -> float:
        return self.observed.params

    def to_dict(self) -> dict:
        return finite_json({**asdict(self), "observed_params": self.observed.params})

    @classmethod
    def from_dict(cls, d: dict) -> BacktestRow:
        return dataclass_from_json(cls, d, observed=lambda v: dataclass_from_json(Vertex, v))


def _inside(ci, value) -> bool | None:
    return None if ci is None else bool(ci[0] <= value <= ci[1])


def _inside_allowing(pred: float, ci, obs: float, obs_ci) -> bool | None:
    """Whether the log-interval, widened on each side by the vertex's own half-width in quadrature, holds it."""
    if ci is None:
        return None
    if obs_ci is None:
        return _inside(ci, obs)
    lp, lo, hi = np.log(pred), np.log(ci[0]), np.log(ci[1])
    lv, vlo, vhi = np.log(obs), np.log(obs_ci[0]), np.log(obs_ci[1])
    if lv >= lp:  # the vertex above the prediction: the prediction's upper side against the vertex's lower side
        return bool(lv - lp <= np.hypot(hi - lp, lv - vlo))
    return bool(lp - lv <= np.hypot(lp - lo, vhi - lv))


def scored_row(
    split: str,
    method: str,
    c: float,
    top: float,
    p: dict,
    v: Vertex,
    chosen: str | None = None,
    in_answer: bool | None = None,
) -> BacktestRow:
    pn = p.get("optimal_params") or np.nan
    pt = p.get("optimal_tokens") or np.nan
    loss = p.get("loss")
    pl = float(loss) if loss is not None else np.nan
    ci = lambda key: tuple(p[key]) if p.get(key) and None not in p[key] else None  # noqa: E731
    pci, tci, lci = ci("params_ci"), ci("tokens_ci"), ci("loss_ci")
    vl = float(v.loss) if v.loss is not None else np.nan
    return BacktestRow(
        split,
        method,
        float(c),
        float(np.log10(c / top)),
        float(pn),
        pci,
        float(pt),
        tci,
        v,
        float((pn - v.params) / v.params),
        float((pt - v.tokens) / v.tokens),
        _inside(pci, v.params),
        _inside_allowing(pn, pci, v.params, v.params_ci) if np.isfinite(pn) else None,
        float(pci[1] / pci[0]) if pci else float("inf"),
        chosen,
        in_answer,
        float(pl),
        vl,
        float((pl - vl) / vl),
        lci,
        _inside(lci, v.loss),
        _inside(tci, v.tokens),
        _inside_allowing(pt, tci, v.tokens, v.tokens_ci) if np.isfinite(pt) else None,
    )


@dataclass(frozen=True)
class Summary:
    """Coverage, error and width of one method over one split's held-out budgets (``covered``: of N_opt;
    ``tokens_covered``: of D_opt).

    ``in_answer``, ``in_answer_covered`` and ``in_answer_covered_allowing`` count, for a method, only the budgets
    where the answer line stood on it: the method as the answer may pick it, after its checks (its in-table
    backtest, its lack-of-fit test) had their say. For the answer line they equal ``n`` and the coverages.
    """

    split: str
    method: str
    n: int
    covered: int
    covered_allowing: int
    params_median_error: float
    params_worst_error: float
    tokens_median_error: float
    tokens_worst_error: float
    median_width: float
    in_answer: int = 0
    in_answer_covered: int = 0
    in_answer_covered_allowing: int = 0
    in_answer_median_error: float = float("nan")
    tokens_covered: int = 0
    tokens_covered_allowing: int = 0

    def to_dict(self) -> dict:
        return finite_json(asdict(self))


def summaries(rows) -> list[Summary]:
    """Per split and method (the answer line last) over a set of rows."""
    methods = [m for m in dict.fromkeys(r.method for r in rows) if m != ANSWER] + [ANSWER]
    return [s for sp in SPLITS for m in methods if (s := summarize(rows, sp, m)) is not None]


def summarize(rows, split: str, method: str) -> Summary | None:
    """The summary of the rows of one split and method (None when there are none)."""
    rs = [r for r in rows if r.split == split and r.method == method]
    if not rs:
        return None
    en = np.abs([r.params_error for r in rs])
    et = np.abs([r.tokens_error for r in rs])
    w = np.array([r.width for r in rs])
    picked = [r for r in rs if r.in_answer or r.method == ANSWER]
    return Summary(
        split,
        method,
        len(rs),
        sum(bool(r.params_inside) for r in rs),
        sum(bool(r.params_inside_allowing) for r in rs),
        float(np.nanmedian(en)),
        float(np.nanmax(en)),
        float(np.nanmedian(et)),
        float(np.nanmax(et)),
        float(np.median(w)),
        len(picked),
        sum(bool(r.params_inside) for r in picked),
        sum(bool(r.params_inside_allowing) for r in picked),
        float(np.nanmedian(np.abs([r.params_error for r in picked]))) if picked else float("nan"),
        sum(bool(r.tokens_inside) for r in rs),
        sum(bool(r.tokens_inside_allowing) for r in rs),
    )
