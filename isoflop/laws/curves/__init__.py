"""Loss curves: every logged step of every run, and the laws that predict a run's loss at any step.

* :mod:`~isoflop.laws.curves.table`: the loss-curve table (:class:`CurveTable`), read from sweep folders
  and from CSV, TSV, JSON, JSON Lines or Parquet files.
"""

from isoflop.laws.curves.table import Curve, CurveTable, load_curves

__all__ = ["Curve", "CurveTable", "load_curves"]
