"""Backtests: fit on the smaller budgets, predict the largest, compare.

Extrapolation is what a scaling law is for, so the honest check of a law is how well it predicted budgets it
did not see. :func:`backtest` makes one split (the K largest budgets held out); :func:`rolling_backtest` makes
the rolling-origin splits a lab would try before betting a run on a law (K = 1, 2, 3, and a far split that fits
the lower half of the budgets and predicts the top two) and summarises, per method and for the answer line,
coverage, error and width.

The held-out optimum is itself an estimate: the vertex of the held-out budget's own IsoFLOP parabola, fitted
to a handful of runs. :func:`observed_vertex` gives it an interval that holds two things: the noise of the
budget's losses (its parabola bootstrapped, the losses redrawn with the budget's own residual scatter, whose
variance is itself drawn from its posterior given so few runs), and how much the vertex leans on single runs
(the delete-one-run jackknife, which does not assume the profile is a parabola), each side the wider of the two.
A prediction counts as *covered allowing for the vertex* when its interval, widened on each side in log space
by the vertex's own half-width in quadrature (√(w_pred² + w_vertex²)), holds the vertex. Both counts are
reported: the plain one (is the vertex inside the interval) and this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from isoflop.errors import FitError, ScalingError
from isoflop.jsonio import dataclass_from_json
from isoflop.laws.analyze import analyze
from isoflop.laws.answer import AVERAGE, choose_answer
from isoflop.laws.backtest_rows import ANSWER, SPLITS, BacktestRow, Summary, scored_row, summaries
from isoflop.laws.groups import column_values
from isoflop.laws.reliability import reference_budgets
from isoflop.laws.result import AnalysisResult
from isoflop.laws.table import RunTable
from isoflop.laws.table_io import load_runs
from isoflop.laws.vertex import VERTEX_RESAMPLES, observed_vertex


@dataclass(frozen=True, eq=False)
class Backtest:
    """One split: fitted on the budgets below the held-out ones, predicting those."""

    holdout: int
    train_budgets: tuple[float, ...]
    rows: tuple[BacktestRow, ...]
    split: str = ""
    unscored: tuple[str, ...] = ()
    analysis: AnalysisResult | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "holdout": self.holdout,
            "train_budgets": list(self.train_budgets),
            "rows": [r.to_dict() for r in self.rows],
            "unscored": list(self.unscored),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Backtest:
        """The split as :meth:`to_dict` wrote it (without the analysis it was fitted by, which is not written)."""
        return dataclass_from_json(cls, d, rows=lambda rows: tuple(BacktestRow.from_dict(r) for r in rows))


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
        a = choose_answer(ana, c)
        members = set(a.members) if a.method is not None else set()
        for m in ana.fitted:
            rows.append(scored_row(split, m, c, top, ana.prediction(m, c), v, in_answer=m in members))
        if a.method is not None:
            p = {
                "optimal_params": a.params,
                "optimal_tokens": a.tokens,
                "params_ci": a.params_ci,
                "tokens_ci": a.tokens_ci,
                "loss": a.loss,
            }
            chosen = a.method if a.method != AVERAGE else f"{AVERAGE}({', '.join(a.members)})"
            rows.append(scored_row(split, ANSWER, c, top, p, v, chosen=chosen))
        else:
            unscored.append(f"budget {c:.3g}: no answer ({a.reason})")
    return Backtest(
        holdout, tuple(float(table.budgets[k]) for k in fit_groups), tuple(rows), split, tuple(unscored), ana
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
            "posterior given the parabola's residuals, SS/chi2(n - 3)), each side widened to the "
            "delete-one-run jackknife's Student interval (t with m - 1 degrees of freedom over the m "
            "refits with a vertex) where that is wider; "
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
