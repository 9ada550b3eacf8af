"""The analysis side: loss tables in, compute-optimal laws, intervals, backtests and audits out.

* :mod:`~isoflop.laws.table`: :class:`RunTable`, the validated table, and budget grouping.
* :mod:`~isoflop.laws.table_io`: :func:`load_runs` (files, sweep folders, examples; aliases, exclusions).
* :mod:`~isoflop.laws.fit`: the pure estimators (Approaches 1-3, power laws, bootstrap).
* :mod:`~isoflop.laws.analyze`: :func:`analyze`, every approach with bootstrap intervals.
* :mod:`~isoflop.laws.result`: :class:`AnalysisResult` and its JSON both ways (:mod:`~isoflop.laws.schema`).
* :mod:`~isoflop.laws.screen` (runs far up their profiles, left out of the parametric fits),
  :mod:`~isoflop.laws.reliability` (each method's in-table backtest, which widens its intervals).
* :mod:`~isoflop.laws.backtest` (one split, the rolling-origin splits, a grouped report), :mod:`~isoflop.laws.audit`, :mod:`~isoflop.laws.report`,
  :mod:`~isoflop.laws.plots` (the only module that imports matplotlib; loaded on first use).
"""

from isoflop.laws.analyze import analyze
from isoflop.laws.audit import PRESETS, Audit, Law, audit_run, load_law, preset_law
from isoflop.laws.backtest import Backtest, BacktestReport, backtest, backtest_source, rolling_backtest
from isoflop.laws.backtest_rows import BacktestRow
from isoflop.laws.result import AnalysisResult
from isoflop.laws.table import Exclusion, RunTable, group_by_flops
from isoflop.laws.table_files import read_table
from isoflop.laws.table_io import load_runs, read_grid

__all__ = [
    "PRESETS",
    "AnalysisResult",
    "Audit",
    "Backtest",
    "BacktestReport",
    "BacktestRow",
    "Exclusion",
    "Law",
    "RunTable",
    "analyze",
    "audit_run",
    "backtest",
    "backtest_source",
    "group_by_flops",
    "load_law",
    "load_runs",
    "preset_law",
    "read_grid",
    "read_table",
    "rolling_backtest",
]
