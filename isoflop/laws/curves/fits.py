"""One loss-curve law per model size, fitted to every curve of that size in a :class:`CurveTable`.

For each N, the law (:func:`~isoflop.laws.curves.law.fit_multipower`) is fitted to the rows of all its
curves: a run's own rows under its whole schedule (a WSD branch's schedule is its trunk's up to the branch
point, then its cooldown; only its own rows are observations, the trunk's being the trunk's). ``skip`` leaves
each parentless curve's first fraction of steps out, the fast early descent that the law's power term does
not follow (``benchmarks/bench_curves.py`` measures its effect). A size that cannot be fitted gets a status
and its reason; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.errors import FitError
from isoflop.laws.curves.law import CurveFit, Schedule, fit_multipower
from isoflop.laws.curves.table import CurveTable

#: Fewer rows than this at one size are not fitted (the law has eight parameters).
MIN_ROWS = 20


@dataclass(frozen=True)
class SizeFit:
    """The law of one model size, or why there is none (``fit`` None, ``error`` says why)."""

    n_params: float
    runs: tuple[str, ...]
    fit: CurveFit | None
    error: str = ""

    @property
    def status(self) -> str:
        if self.fit is None:
            return "not fitted"
        return "ok" if self.fit.success else "failed"

    def to_dict(self) -> dict:
        return {
            "n_params": self.n_params,
            "runs": list(self.runs),
            "status": self.status,
            "error": self.error or None,
            "fit": self.fit.to_dict() if self.fit is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SizeFit:
        fit = CurveFit.from_dict(d["fit"]) if d.get("fit") is not None else None
        return cls(float(d["n_params"]), tuple(d["runs"]), fit, d.get("error") or "")


@dataclass(frozen=True)
class CurveLaws:
    """``scaling curves fit``'s document: the table it read, the settings, and each size's law."""

    source: str
    skip: float
    sizes: tuple[SizeFit, ...]

    def to_dict(self) -> dict:
        return {"source": self.source, "skip": self.skip, "sizes": [s.to_dict() for s in self.sizes]}

    @classmethod
    def from_dict(cls, d: dict) -> CurveLaws:
        return cls(str(d["source"]), float(d["skip"]), tuple(SizeFit.from_dict(s) for s in d["sizes"]))

    def law(self, n_params: float) -> SizeFit:
        """The fit of the size nearest ``n_params`` (in log N)."""
        return min(self.sizes, key=lambda s: abs(np.log(s.n_params / n_params)))


def observations(table: CurveTable, run: str, *, skip: float = 0.0, mean: bool = True):
    """A run's own rows as the law's observations, under its whole schedule: (schedule, losses), or None when
    it has none. A branch's schedule is its parent's up to the branch point, then its own; a parentless run
    leaves out its first ``skip`` of its steps. ``mean`` takes the mean loss of the steps between rows where
    every row has one, else the logged step's loss.
    """
    c = table.curve(run)
    full = table.full(run)
    start = c.branch_step or 0
    use_mean = mean and c.loss_mean is not None and bool(np.all(np.isfinite(c.loss_mean)))
    obs = (c.loss_mean if use_mean and c.loss_mean is not None else c.loss)[c.step > start]
    y = np.concatenate([np.full(int((full.step <= start).sum()), np.nan), obs])  # as full() joins the rows
    keep = (full.step > start) & np.isfinite(y) & (y > 0)
    if c.parent is None:
        keep &= full.step > skip * full.step.max()
    if not keep.any():
        return None
    return Schedule.from_rows(full.step, full.lr, full.step[keep]), y[keep]


def fit_curves(table: CurveTable, *, skip: float = 0.0) -> CurveLaws:
    """Fit one multi-power law per model size of ``table``.

    Raises:
        FitError: ``skip`` is not in [0, 1).
    """
    if not 0 <= skip < 1:
        raise FitError(f"skip ({skip}) must be in [0, 1): the fraction of each trunk's first steps left out")
    out = []
    for n in table.sizes:
        curves = [c for c in table.curves if c.n_params == n]
        data = [d for d in (observations(table, c.run, skip=skip) for c in curves) if d is not None]
        rows = sum(y.size for _, y in data)
        runs = tuple(c.run for c in curves)
        if rows < MIN_ROWS:
            out.append(SizeFit(float(n), runs, None, f"{rows} rows with a loss; the law needs at least {MIN_ROWS}"))
            continue
        fit = fit_multipower(data)
        out.append(SizeFit(float(n), runs, fit, "" if fit.success else fit.message))
    return CurveLaws(table.source, float(skip), tuple(out))
