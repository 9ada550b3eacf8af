"""Backtests: fit on the smaller budgets, predict the largest, compare.

Extrapolation is what a scaling law is for, so the honest check of a law is
how well it predicted budgets it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.errors import FitError
from isoflop.jsonio import json_float
from isoflop.laws.analyze import analyze
from isoflop.laws.fit.isoflop import fit_budget
from isoflop.laws.result import AnalysisResult
from isoflop.laws.table import RunTable


@dataclass(frozen=True)
class BacktestRow:
    """One held-out budget predicted by one approach.

    Attributes:
        method: the approach.
        flops: the held-out budget C, in FLOPs.
        reference: how the observed optimum was read off the held-out runs
            ("vertex" of their IsoFLOP parabola, or "lowest run" when the
            parabola is not trustworthy).
        predicted_params, observed_params: N_opt, in parameters.
        params_error: relative error (predicted − observed) / observed.
        params_ci, params_inside: the predicted interval and whether it holds the observed value.
        predicted_loss, observed_loss, loss_error, loss_ci, loss_inside: the same for the minimum loss.
    """

    method: str
    flops: float
    reference: str
    predicted_params: float
    observed_params: float
    params_error: float
    params_ci: tuple | None
    params_inside: bool | None
    predicted_loss: float
    observed_loss: float
    loss_error: float
    loss_ci: tuple | None
    loss_inside: bool | None


@dataclass(frozen=True, eq=False)
class Backtest:
    """Fit on all but the largest budgets, predict the held-out ones."""

    holdout: int
    train_budgets: tuple[float, ...]
    rows: tuple[BacktestRow, ...]
    analysis: AnalysisResult

    def to_dict(self) -> dict:
        return {
            "holdout": self.holdout,
            "train_budgets": list(self.train_budgets),
            "rows": [{k: (json_float(v) if isinstance(v, float) else (list(v) if isinstance(v, tuple) else v))
                      for k, v in r.__dict__.items()} for r in self.rows],
        }


def backtest(table: RunTable, holdout: int, **kwargs) -> Backtest:
    """Fit on all but the ``holdout`` largest budgets and predict those budgets.

    Args:
        table: runs from :func:`isoflop.load_runs`.
        holdout: number of largest budgets held out (K ≥ 1).
        **kwargs: passed to :func:`analyze` (methods, n_bootstrap, level, seed, ...).

    Returns:
        A :class:`Backtest` with relative errors of N_opt and the minimum loss,
        and whether each observed value fell inside its predicted interval.

    Raises:
        FitError: fewer than 2 budgets would remain to fit.
    """
    nb = table.budgets.size
    if holdout < 1:
        raise FitError(f"holdout ({holdout}) must be at least 1")
    if nb - holdout < 2:
        raise FitError(f"holdout {holdout} leaves {nb - holdout} budget(s) to fit; the power laws need at least 2 "
                         f"(the table has {nb} budgets)")
    train = table.subset_budgets(range(nb - holdout))
    kwargs = dict(kwargs)
    kwargs["targets"] = ()
    ana = analyze(train, **kwargs)
    n, d, _, l, g = table.used_arrays()
    rows = []
    for k in range(nb - holdout, nb):
        c = float(table.budgets[k])
        sel = g == k
        bf = fit_budget(c, n[sel], d[sel], l[sel])
        if bf.status == "ok":
            ref, obs_n, obs_l = "vertex", bf.optimal_params, bf.min_loss
        else:
            j = np.argmin(l[sel])
            ref, obs_n, obs_l = f"lowest run ({bf.status} profile)", float(n[sel][j]), float(l[sel][j])
        for m in ana.fitted:
            p = ana.prediction(m, c)
            pci, lci = p["params_ci"], p["loss_ci"]
            pci = tuple(pci) if pci and None not in pci else None
            lci = tuple(lci) if lci and None not in lci else None
            pn = p["optimal_params"] if p["optimal_params"] is not None else np.nan
            pl = p["loss"] if p["loss"] is not None else np.nan
            rows.append(BacktestRow(
                m, c, ref, float(pn), float(obs_n), float((pn - obs_n) / obs_n), pci,
                None if pci is None else bool(pci[0] <= obs_n <= pci[1]),
                float(pl), float(obs_l), float((pl - obs_l) / obs_l), lci,
                None if lci is None else bool(lci[0] <= obs_l <= lci[1]),
            ))
    return Backtest(holdout, tuple(float(b) for b in table.budgets[: nb - holdout]), tuple(rows), ana)
