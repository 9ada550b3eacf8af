"""The analysis side: loss tables in, compute-optimal laws, intervals, backtests and audits out.

* :mod:`~scaling.laws.table`: :class:`RunTable`, the validated table, and budget grouping.
* :mod:`~scaling.laws.table_io`: :func:`load_runs` (files, sweep folders, examples; aliases, exclusions).
* :mod:`~scaling.laws.fit`: the pure estimators (Approaches 1-3, power laws, bootstrap).
* :mod:`~scaling.laws.analyze`: :func:`analyze`, every approach with bootstrap intervals.
* :mod:`~scaling.laws.result`: :class:`AnalysisResult` and its JSON both ways (:mod:`~scaling.laws.schema`).
* :mod:`~scaling.laws.backtest`, :mod:`~scaling.laws.audit`, :mod:`~scaling.laws.report`,
  :mod:`~scaling.laws.plots` (the only module that imports matplotlib; loaded on first use).
"""

from scaling.laws.analyze import analyze
from scaling.laws.audit import PRESETS, Audit, Law, audit_run, load_law, preset_law
from scaling.laws.backtest import Backtest, BacktestRow, backtest
from scaling.laws.result import AnalysisResult
from scaling.laws.table import Exclusion, RunTable, group_by_flops
from scaling.laws.table_io import load_runs, read_grid, read_table

__all__ = ["AnalysisResult", "Audit", "Backtest", "BacktestRow", "Exclusion", "Law", "PRESETS", "RunTable", "analyze",
           "audit_run", "backtest", "group_by_flops", "load_law", "load_runs", "preset_law", "read_grid", "read_table"]
