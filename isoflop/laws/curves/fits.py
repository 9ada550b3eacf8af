"""The loss-curve law of every model size in a :class:`CurveTable`, fitted jointly across sizes.

Each size's rows (all its curves: a run's own rows under its whole schedule; a WSD branch's schedule is its
trunk's up to the branch point, then its cooldown, and only its own rows are observations) form one group of
:func:`~isoflop.laws.curves.law.fit_joint`: the exponents, saturation and offset (α, C, β, γ, S0) are shared
by every size and fitted once, and each size has its own L0, A and B, so the size dependence enters through the
parameters. ``joint=False`` fits each size alone (:func:`~isoflop.laws.curves.law.fit_multipower`). ``skip``
leaves each parentless curve's first fraction of steps out, the fast early descent (``benchmarks/bench_curves.py``
measures its effect). A size that cannot be fitted gets a status and its reason; the others go on.

Intervals come from :func:`bootstrap_laws`: wild-bootstrap refits, every curve's residuals flipped in sign at
random (so a curve's run of correlated residuals, and the law's systematic misfit of it, stays whole), as the
IsoFLOP grids of :func:`~isoflop.laws.curves.profiles.profiles` draw them. :meth:`CurveLaws.predict` gives the
loss of a model of N parameters at any steps of any schedule, with the draws' interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.errors import FitError
from isoflop.laws.curves.law import CurveFit, Schedule, fit_joint, fit_multipower
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
    draws: tuple[CurveFit, ...] = ()  # the law's bootstrap refits (:func:`bootstrap_laws`)

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
            "draws": [f.to_dict() for f in self.draws],
        }

    @classmethod
    def from_dict(cls, d: dict) -> SizeFit:
        fit = CurveFit.from_dict(d["fit"]) if d.get("fit") is not None else None
        draws = tuple(CurveFit.from_dict(f) for f in d.get("draws") or ())
        return cls(float(d["n_params"]), tuple(d["runs"]), fit, d.get("error") or "", draws)


@dataclass(frozen=True)
class CurveLaws:
    """``scaling curves fit``'s document: the table it read, the settings, and each size's law.

    Attributes:
        source, skip: the table and the fraction of each parentless curve's first steps left out.
        sizes: each size's law, by increasing N.
        joint: whether the sizes share their exponents (one fit across sizes) or were fitted alone.
        seed: the seed of the bootstrap draws (each size's :attr:`SizeFit.draws`).
    """

    source: str
    skip: float
    sizes: tuple[SizeFit, ...]
    joint: bool = False
    seed: int | None = None

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "skip": self.skip,
            "joint": self.joint,
            "seed": self.seed,
            "sizes": [s.to_dict() for s in self.sizes],
        }

    @classmethod
    def from_dict(cls, d: dict) -> CurveLaws:
        sizes = tuple(SizeFit.from_dict(s) for s in d["sizes"])
        return cls(str(d["source"]), float(d["skip"]), sizes, bool(d.get("joint", False)), d.get("seed"))

    def law(self, n_params: float) -> SizeFit:
        """The fit of the size nearest ``n_params`` (in log N)."""
        return min(self.sizes, key=lambda s: abs(np.log(s.n_params / n_params)))

    def predict(self, n_params: float, schedule: Schedule, level: float = 0.95) -> dict[str, np.ndarray]:
        """The loss of a model of ``n_params`` parameters at ``schedule.at`` under ``schedule``.

        At a fitted size (within 1%) it is that size's law. Between two fitted sizes it is their laws' losses
        mixed linearly in log N (the sizes share their nonlinear parameters, so this is their L0, A and B
        interpolated in log N); the law is not extrapolated past the fitted sizes (that is what the IsoFLOP
        fits are for). Each size's law reads the schedule's LR against its own peak (``eta_ref``, the peak of
        the curves it was fitted to), so a schedule is best given at the peak LR the size was trained at.

        Returns:
            ``loss``, and with bootstrap draws ``lo`` and ``hi`` (:func:`normal_band` at ``level``) and ``draws``
            (draws × steps).

        Raises:
            FitError: ``n_params`` outside the fitted sizes, or no size fitted.
        """
        ok = [s for s in self.sizes if s.fit is not None and s.fit.success]
        if not ok:
            raise FitError(f"{self.source}: no size's law was fitted")
        ns = np.array([s.n_params for s in ok])
        if not ns.min() * 0.99 <= n_params <= ns.max() * 1.01:
            raise FitError(
                f"N = {n_params:.3g} is outside the fitted sizes [{ns.min():.3g}, {ns.max():.3g}]: the loss-curve "
                "law is not extrapolated in N"
            )
        hi = min(int(np.searchsorted(ns, n_params)), len(ok) - 1)
        lo = max(hi - 1, 0)
        w = 0.0 if ns[hi] == ns[lo] else float(np.clip(np.log(n_params / ns[lo]) / np.log(ns[hi] / ns[lo]), 0, 1))
        if abs(np.log(n_params / ns[hi])) <= np.log(1.01):
            lo, w = hi, 0.0

        def mix(a: CurveFit, b: CurveFit) -> np.ndarray:
            return (1 - w) * a.law.predict(schedule) + w * b.law.predict(schedule)

        a, b = ok[lo].fit, ok[hi].fit
        assert a is not None and b is not None  # ok holds the fitted sizes only
        out = {"loss": mix(a, b)}
        m = min(len(ok[lo].draws), len(ok[hi].draws))
        if m >= 2:
            draws = np.array([mix(ok[lo].draws[k], ok[hi].draws[k]) for k in range(m)])
            low, high = normal_band(out["loss"], draws, level)
            out.update(lo=low, hi=high, draws=draws)
        return out


def normal_band(estimate, draws, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The normal bootstrap interval of a loss from its draws (draws × points): ``estimate`` times exp(∓z·sd),
    sd the draws' standard deviation in log loss and z the normal quantile of ``level``. (A few draws' own
    percentiles lie inside their extremes, and 20 draws' extremes hold a fresh draw only 19 times in 21.)"""
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + level / 2))
    sd = np.log(np.asarray(draws, dtype=float)).std(axis=0, ddof=1)
    return estimate * np.exp(-z * sd), estimate * np.exp(z * sd)


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


def bootstrap_laws(
    data, fits: list[CurveFit], joint: bool, n: int, rng: np.random.Generator, own=(), offset=True
) -> tuple[int, list[list[CurveFit]]]:
    """``n`` wild-bootstrap refits of the groups' laws (the module docstring): each draw flips every curve's
    residuals from its group's law in sign at random and refits the fit's own form from its solution (the
    offset S0 only where the fit has one, not where it fell back to S0 = 0; all groups at once under ``joint``).

    Args:
        data: per group, (schedule, observed losses) per curve, as the fits were fitted to.
        fits: per group, its fit.

    Returns:
        How many draws every group's law survived, and per group its law in each of those.
    """
    keep: list[list[CurveFit]] = [[] for _ in fits]
    if not any(f.success for f in fits):
        return 0, keep
    for _ in range(n):
        flipped = []
        for group, fit in zip(data, fits):
            cur = []
            for sched, y in group:
                yhat = fit.law.predict(sched) if fit.success else y
                cur.append((sched, yhat + rng.choice((-1.0, 1.0)) * (y - yhat)))
            flipped.append(cur)
        if joint:
            laws = [f.law for f in fits] if own else None
            s0 = offset and any(f.law.S0 > 0 for f in fits)  # the groups' laws were fitted at once
            refit = fit_joint(flipped, (fits[0].law.start,), own, laws, s0, fall_back=False)
        else:
            refit = [
                fit_joint([g], (f.law.start,), offset=offset and f.law.S0 > 0, fall_back=False)[0] if f.success else f
                for g, f in zip(flipped, fits)
            ]
        if all(r.success for r, f in zip(refit, fits) if f.success):
            for k, r in zip(keep, refit):
                k.append(r)
    return len(keep[0]), keep


def fit_curves(
    table: CurveTable, *, skip: float = 0.0, joint: bool = True, draws: int = 0, seed: int | None = 0
) -> CurveLaws:
    """Fit the multi-power law of every model size of ``table``: jointly, the exponents shared (``joint``), or
    each size alone; with ``draws`` bootstrap refits (:func:`bootstrap_laws`, seeded by ``seed``).

    Raises:
        FitError: ``skip`` is not in [0, 1), or ``draws`` is negative.
    """
    if not 0 <= skip < 1:
        raise FitError(f"skip ({skip}) must be in [0, 1): the fraction of each trunk's first steps left out")
    if draws < 0:
        raise FitError(f"draws ({draws}) must be 0 or more")
    out: dict[float, SizeFit] = {}
    todo = []  # (size, its runs, its observations)
    for n in table.sizes:
        curves = [c for c in table.curves if c.n_params == n]
        data = [d for d in (observations(table, c.run, skip=skip) for c in curves) if d is not None]
        rows = sum(y.size for _, y in data)
        runs = tuple(c.run for c in curves)
        if rows < MIN_ROWS:
            out[n] = SizeFit(float(n), runs, None, f"{rows} rows with a loss; the law needs at least {MIN_ROWS}")
        else:
            todo.append((n, runs, data))
    fits = fit_joint([d for *_, d in todo]) if joint and todo else [fit_multipower(d) for *_, d in todo]
    made, drawn = (
        bootstrap_laws([d for *_, d in todo], fits, joint, draws, np.random.default_rng(seed))
        if draws and todo
        else (0, [[] for _ in todo])
    )
    for (n, runs, _), fit, laws in zip(todo, fits, drawn):
        out[n] = SizeFit(float(n), runs, fit, "" if fit.success else fit.message, tuple(laws) if made else ())
    return CurveLaws(table.source, float(skip), tuple(out[n] for n in table.sizes), joint, seed if draws else None)
