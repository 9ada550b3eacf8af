"""Loss curves: every logged step of every run, and the laws that predict a run's loss at any step.

* :mod:`~isoflop.laws.curves.table`: the loss-curve table (:class:`CurveTable`), read from sweep folders
  and from CSV, TSV, JSON, JSON Lines or Parquet files.
* :mod:`~isoflop.laws.curves.law`: the multi-power law L(t) under any LR schedule (:class:`MultiPowerLaw`),
  fitted to one model's curves (:func:`fit_multipower`).
"""

from isoflop.laws.curves.law import CurveFit, MultiPowerLaw, Schedule, fit_multipower
from isoflop.laws.curves.table import Curve, CurveTable, load_curves

__all__ = ["Curve", "CurveFit", "CurveTable", "MultiPowerLaw", "Schedule", "fit_multipower", "load_curves"]
