"""Backtests: fit on the smaller budgets, predict the largest, compare.

Extrapolation is what a scaling law is for, so the honest check of a law is how well it predicted budgets it
did not see. :func:`backtest` makes one split (the K largest budgets held out); :func:`rolling_backtest` makes
the rolling-origin splits a lab would try before betting a run on a law (K = 1, 2, 3, and a far split that fits
the lower half of the budgets and predicts the top two) and summarises, per method and for the answer line,
coverage, error and width.

The held-out optimum is itself an estimate: the vertex of the held-out budget's own IsoFLOP parabola, fitted
to a handful of runs. :func:`observed_vertex` bootstraps that parabola (its losses redrawn with the budget's own
residual scatter, whose variance is itself drawn from its posterior given so few runs), and
a prediction counts as *covered allowing for the vertex* when its interval, widened on each side in log space
by the vertex's own half-width in quadrature (√(w_pred² + w_vertex²)), holds the vertex. Both counts are
reported: the plain one (is the vertex inside the interval) and this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from isoflop.errors import FitError, ScalingError
from isoflop.jsonio import finite_json
from isoflop.laws.analyze import analyze
from isoflop.laws.answer import AVERAGE, choose_answer
from isoflop.laws.groups import column_values
from isoflop.laws.reliability import reference_budgets
from isoflop.laws.result import AnalysisResult
from isoflop.laws.table import RunTable
from isoflop.laws.table_io import load_runs
from isoflop.laws.vertex import VERTEX_RESAMPLES, Vertex, observed_vertex

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
        width: hi/lo of the interval on N_opt.
        chosen: for the answer line, the method it picked, or "average(...)" naming the methods it averaged.
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
    predicted_loss: float = float("nan")
    observed_loss: float = float("nan")
    loss_error: float = float("nan")
    loss_ci: tuple | None = None
    loss_inside: bool | None = None

    @property
    def observed_params(self) -> float:
        return self.observed.params

    def to_dict(self) -> dict:
        return finite_json({**asdict(self), "observed_params": self.observed.params})


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


def _row(split: str, method: str, c: float, top: float, p: dict, v: Vertex, chosen: str | None = None) -> BacktestRow:
    pn = p.get("optimal_params") or np.nan
    pt = p.get("optimal_tokens") or np.nan
    pl = p.get("loss") if p.get("loss") is not None else np.nan
    ci = lambda key: tuple(p[key]) if p.get(key) and None not in p[key] else None  # noqa: E731
    pci, tci, lci = ci("params_ci"), ci("tokens_ci"), ci("loss_ci")
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
        float(pl),
        float(v.loss),
        float((pl - v.loss) / v.loss),
        lci,
        _inside(lci, v.loss),
    )


@dataclass(frozen=True, eq=False)
class Backtest:
    """One split: fitted on the budgets below the held-out ones, predicting those."""

    holdout: int
    train_budgets: tuple[float, ...]
    rows: tuple[BacktestRow, ...]
    analysis: AnalysisResult
    split: str = ""
    unscored: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "holdout": self.holdout,
            "train_budgets": list(self.train_budgets),
            "rows": [r.to_dict() for r in self.rows],
            "unscored": list(self.unscored),
        }


def backtest(
    table: RunTable, holdout: int, *, split: str = "", train: int | None = None, seed: int | None = 0, **kwargs
) -> Backtest:
    """Fit on the budgets below the ``holdout`` largest reference budgets, and predict those.

    A reference budget is one whose own IsoFLOP parabola is ``ok`` (:func:`reference_budgets`): only there is
    there an optimum to compare with. Budgets without one are fitted when they lie below the held-out ones and
    dropped when above.

    Args:
        table: runs from :func:`isoflop.load_runs`.
        holdout: number of largest reference budgets predicted (K ≥ 1).
        split: a label for the rows.
        train: fit only on the budgets below the ``train``-th reference budget (the far split); default: all
            budgets below the held-out ones.
        seed: seed of the analysis' bootstrap and of the held-out vertices' own.
        **kwargs: passed to :func:`analyze` (methods, n_bootstrap, level, calibrate, ...).

    Returns:
        A :class:`Backtest` with each method's and the answer line's rows.

    Raises:
        FitError: too few reference budgets, or fewer than 2 budgets would remain to fit.
    """
    if holdout < 1:
        raise FitError(f"holdout ({holdout}) must be at least 1")
    ref = reference_budgets(table)
    if len(ref) < holdout + 2:
        raise FitError(
            f"holdout {holdout} needs {holdout + 2} budgets with an IsoFLOP vertex; the table has "
            f"{len(ref)} of {table.budgets.size}"
        )
    held = ref[-holdout:]
    cut = ref[train] if train is not None else held[0]
    fit_groups = [k for k in range(table.budgets.size) if table.budgets[k] < table.budgets[cut]]
    if len(fit_groups) < 2:
        raise FitError(f"holdout {holdout} leaves {len(fit_groups)} budget(s) to fit; the power laws need at least 2")
    sub = table.subset_budgets(fit_groups)
    kwargs = dict(kwargs)
    kwargs["targets"] = ()
    ana = analyze(sub, seed=seed, **kwargs)
    n, d, _, l, g = table.used_arrays()
    rng = np.random.default_rng(seed)
    top = float(table.budgets[fit_groups[-1]])
    rows, unscored = [], []
    for k in held:
        c = float(table.budgets[k])
        sel = g == k
        v = observed_vertex(c, n[sel], d[sel], l[sel], rng)
        if v is None:
            unscored.append(f"budget {c:.3g}: no vertex")
            continue
        for m in ana.fitted:
            rows.append(_row(split, m, c, top, ana.prediction(m, c), v))
        a = choose_answer(ana, c)
        if a.method is not None:
            p = {
                "optimal_params": a.params,
                "optimal_tokens": a.tokens,
                "params_ci": a.params_ci,
                "tokens_ci": a.tokens_ci,
                "loss": a.loss,
            }
            chosen = a.method if a.method != AVERAGE else f"{AVERAGE}({', '.join(a.members)})"
            rows.append(_row(split, ANSWER, c, top, p, v, chosen=chosen))
        else:
            unscored.append(f"budget {c:.3g}: no answer ({a.reason})")
    return Backtest(
        holdout, tuple(float(table.budgets[k]) for k in fit_groups), tuple(rows), ana, split, tuple(unscored)
    )


@dataclass(frozen=True)
class Summary:
    """Coverage, error and width of one method over one split's held-out budgets."""

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
    )


@dataclass(frozen=True, eq=False)
class RollingBacktest:
    """The rolling-origin splits of one table."""

    source: str
    splits: tuple[Backtest, ...]
    errors: dict

    @property
    def rows(self) -> tuple[BacktestRow, ...]:
        return tuple(r for b in self.splits for r in b.rows)

    def summaries(self) -> list[Summary]:
        return summaries(self.rows)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "errors": dict(self.errors),
            "splits": [b.to_dict() for b in self.splits],
            "summary": [s.to_dict() for s in self.summaries()],
        }


def rolling_backtest(table: RunTable, splits=SPLITS, **kwargs) -> RollingBacktest:
    """The rolling-origin backtest of a table: each split of :data:`SPLITS` by :func:`backtest`.

    ``K1``–``K3`` hold out the 1–3 largest reference budgets and fit the rest; ``far`` fits the lower half of the
    reference budgets and predicts the top two. A split the table cannot make (too few budgets) is recorded in
    ``errors`` and the others go on.

    Args:
        table: runs from :func:`isoflop.load_runs`.
        splits: which of :data:`SPLITS` to run.
        **kwargs: passed to :func:`backtest` and :func:`analyze`.
    """
    out, errors = [], {}
    nref = len(reference_budgets(table))
    for sp in splits:
        if sp not in SPLITS:
            raise FitError(f"unknown split '{sp}' (choose from {', '.join(SPLITS)})")
        try:
            if sp == "far":
                out.append(backtest(table, 2, split=sp, train=nref // 2, **kwargs))
            else:
                out.append(backtest(table, int(sp[1:]), split=sp, **kwargs))
        except FitError as e:
            errors[sp] = str(e)
    return RollingBacktest(table.source, tuple(out), errors)


@dataclass(frozen=True, eq=False)
class BacktestReport:
    """Rolling-origin backtests of one table, or of each group of a table (``by``), pooled.

    Attributes:
        source: the table.
        by: the grouping column, or None for one table.
        tables: group value (or the source) -> its :class:`RollingBacktest`.
        errors: group value -> why it could not be backtested at all.
    """

    source: str
    by: str | None
    tables: dict
    errors: dict

    @property
    def rows(self) -> tuple[BacktestRow, ...]:
        return tuple(r for rb in self.tables.values() for r in rb.rows)

    def summaries(self) -> list[Summary]:
        """Per split and method (the answer line last), pooled over the tables."""
        return summaries(self.rows)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "by": self.by,
            "errors": dict(self.errors),
            "summary": [s.to_dict() for s in self.summaries()],
            "tables": {k: rb.to_dict() for k, rb in self.tables.items()},
            "vertex_uncertainty": "a held-out vertex's own 95% interval is the percentile interval of its "
            f"parabola's vertex over {VERTEX_RESAMPLES} redraws of the budget's losses "
            "(its fitted parabola plus normal noise whose variance is drawn from its "
            "posterior given the parabola's residuals, SS/chi2(n - 3)); "
            "'covered allowing for the vertex' widens each side of the predicted "
            "log-interval by the vertex's half-width on the facing side, in quadrature",
        }


def backtest_source(
    source, *, by: str | None = None, where: tuple[str, ...] = (), load: dict | None = None, splits=SPLITS, **kwargs
) -> BacktestReport:
    """:func:`rolling_backtest` of a table, or of each value of column ``by`` as its own table, pooled.

    Args:
        source: as :func:`isoflop.load_runs` (a path, ``example:NAME``, a sweep folder, a DataFrame).
        by: fit each value of this column on its own (Porian et al.'s 15 experiments: ``experiment``).
        where: row filters applied first.
        load: further keyword arguments of :func:`isoflop.load_runs`.
        splits: which of :data:`SPLITS`.
        **kwargs: passed to :func:`backtest` and :func:`analyze`.

    Raises:
        TableError: the table cannot be read, or ``by`` names no column.
    """
    load = dict(load or {})
    if by is None:  # one table: its bad input is the command's, and a table with no split to run is an error
        rb = rolling_backtest(load_runs(source, where=tuple(where), **load), splits=splits, **kwargs)
        if not rb.splits:
            raise FitError(f"{source}: no split can be run ({'; '.join(f'{k}: {v}' for k, v in rb.errors.items())})")
        name = str(source) + (f" where {', '.join(where)}" if where else "")
        return BacktestReport(name, None, {name: rb}, {})
    tables, errors = {}, {}
    for v in column_values(source, by, where):
        try:
            t = load_runs(source, where=(*where, f"{by}={v}"), **load)
            tables[v] = rolling_backtest(t, splits=splits, **kwargs)
        except ScalingError as e:  # one group that cannot be backtested is its status; the others go on
            errors[v] = str(e)
    return BacktestReport(str(source), by, tables, errors)
