"""scaling: compute-optimal scaling laws from loss tables.

Importing the package has no side effects: it reads no file, touches no
device and sets no global state.
"""

from scaling.analysis import Analysis, analyze
from scaling.backtest import Backtest, backtest
from scaling.audit import PRESETS, Audit, Law, audit_run, load_law, preset_law
from scaling.fit import (
    BudgetFit,
    EnvelopeFit,
    IsoFLOPFit,
    LogLinear,
    ParametricFit,
    PowerLaw,
    Quadratic,
    find_optimal_params,
    fit_budget,
    fit_envelope,
    fit_isoflops,
    fit_linear_log,
    fit_parametric,
    fit_power_law,
)
from scaling.tables import RunTable, TableError, load_runs

__all__ = [
    "Analysis", "Audit", "Backtest", "BudgetFit", "EnvelopeFit", "IsoFLOPFit", "Law", "LogLinear", "PRESETS",
    "ParametricFit", "PowerLaw", "Quadratic", "RunTable", "TableError", "analyze", "audit_run", "backtest",
    "find_optimal_params", "fit_budget", "fit_envelope", "fit_isoflops", "fit_linear_log", "fit_parametric",
    "fit_power_law", "load_law", "load_runs", "preset_law",
]
