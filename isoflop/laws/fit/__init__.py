"""Fitting: pure functions from arrays to frozen results. No torch, no matplotlib.

* :mod:`~isoflop.laws.fit.powerlaw`: the building blocks (quadratic vertex, log–log line, power law).
* :mod:`~isoflop.laws.fit.isoflop`: Approach 2, IsoFLOP parabolas.
* :mod:`~isoflop.laws.fit.envelope`: Approach 1, the lower envelope.
* :mod:`~isoflop.laws.fit.parametric`: Approach 3, L(N, D) = E + A/N^α + B/D^β.
* :mod:`~isoflop.laws.fit.bootstrap`: stratified resampling and percentile intervals.
"""

from isoflop.laws.fit.envelope import EnvelopeFit, fit_envelope
from isoflop.laws.fit.isoflop import BudgetFit, IsoFLOPFit, fit_budget, fit_isoflops
from isoflop.laws.fit.parametric import ParametricFit, fit_parametric
from isoflop.laws.fit.powerlaw import LogLinear, PowerLaw, Quadratic, find_optimal_params, fit_linear_log, fit_power_law

__all__ = [
    "BudgetFit",
    "EnvelopeFit",
    "IsoFLOPFit",
    "LogLinear",
    "ParametricFit",
    "PowerLaw",
    "Quadratic",
    "find_optimal_params",
    "fit_budget",
    "fit_envelope",
    "fit_isoflops",
    "fit_linear_log",
    "fit_parametric",
    "fit_power_law",
]
