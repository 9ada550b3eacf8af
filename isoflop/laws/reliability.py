"""How far each method's law can be trusted beyond the table, measured on the table itself.

A bootstrap interval measures how the fit moves when the runs are resampled: noise, not the error of
extrapolating a law that is not exactly right. On published tables that error dominates, and it can only be
measured by extrapolating. So each method is backtested inside the table in hand (rolling origin): fitted on
the budgets below each origin and asked for the optimum at every budget from the origin up, where the
budget's own IsoFLOP vertex is the reference.

A law fitted through k budgets at log budgets x_i (mean x̄, S_xx = Σ(x_i − x̄)²) predicts at x with the error of
a line through scattered points, whose standard deviation is σ·√(1/k + (x − x̄)²/S_xx), where σ is the scatter of
the budgets' optima about the law; the reference vertex adds its own scatter, σ again. So each in-table error
e = log10(N̂ / N_vertex) is divided by √(1 + 1/k + (x − x̄)²/S_xx) of its origin's fit, and their root mean
square, σ̂, is the scatter measured out of sample: noise, and the drift of a law that is not exactly right,
as far as the table shows it. At a target budget C* the extrapolation half-width in log10 N is

    w_ext = t · σ̂ · √(1/K + (log10 C* − x̄)²/S_xx)

for the whole fit's K budgets, where t is the Student quantile of the interval's level with one degree of
freedom per origin (the predictions of one origin are not independent of each other). The interval is the
bootstrap's, with each side widened to w_ext where that is wider (the in-table errors already hold the noise the
bootstrap measures, so the two are not added). The same is done for D_opt. Nothing here is a constant tuned to
a benchmark: σ̂ comes from the table, t from the level and the number of origins, the rest from the design.

Origins are cut at every reference budget with at least 3 of the table's budgets below it (a fit needs 3
budgets to be backtested at all). The budgets below count whether or not their own parabola has a vertex:
Approach 3 and VPNLS fit every run, and a budget sampled off-centre still constrains their surface, while
Approach 2 uses the budgets with a vertex and gives no prediction from an origin that leaves it fewer than 2
(each method's degrees of freedom count its own origins). Counting only the budgets with a vertex, as this
module first did, left the off-centre tables of Porian et al. unbacktested when half their budgets were
fitted: the far split of ``benchmarks/bench_real.py`` covered 25/32 that way, 30/32 this way. The leverage
term lets fits of few budgets and of many be pooled. With fewer than 2 origins nothing is measured, and the
intervals stay the bootstrap's (a note says so).

The same scale carries the in-table median error to a target: the median |z| times
√(1 + 1/K + (log10 C* − x̄)²/S_xx) is the median error expected there against a budget's vertex
(:meth:`Reliability.expected_error`), which the answer line holds to :data:`MISS` as it holds the in-table
median (a law that errs by 10% a budget out may err by far more 30× beyond its table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoflop.jsonio import json_float
from isoflop.laws.fit.isoflop import BudgetFit, fit_budget
from isoflop.laws.table import RunTable

#: The fewest reference budgets a rolling origin fits on.
MIN_ORIGIN = 3
#: The fewest origins whose errors are trusted to measure σ̂ (one origin gives one degree of freedom, and its
#: Student quantile, 12.7 at 95%, says only that nothing was measured).
MIN_ORIGINS = 2
#: A method whose in-table median |error| on N_opt exceeds this is set aside by the answer line.
MISS = 0.30


def reference_fits(table: RunTable) -> dict[int, BudgetFit]:
    """Budget group -> its own IsoFLOP parabolas, for the groups (increasing) whose parabola is ``ok``: the ones
    with an optimum to predict."""
    n, d, _, l, g = table.used_arrays()
    fits = {
        k: fit_budget(table.budgets[k], n[g == k], d[g == k], l[g == k])
        for k in range(table.budgets.size)
        if np.sum(g == k) >= 3
    }
    return {k: b for k, b in fits.items() if b.status == "ok"}


def reference_budgets(table: RunTable) -> list[int]:
    """The budget groups, increasing, of :func:`reference_fits`."""
    return list(reference_fits(table))


def cuts(below) -> list[int]:
    """The positions among the reference budgets at which rolling origins are cut, given how many of the
    table's budgets lie below each (``below``, by reference budget): those with at least :data:`MIN_ORIGIN`,
    when there are :data:`MIN_ORIGINS` of them."""
    out = [o for o, b in enumerate(below) if b >= MIN_ORIGIN]
    return out if len(out) >= MIN_ORIGINS else []


def budgets_below(table: RunTable, ref: list[int]) -> list[int]:
    """For each reference budget group in ``ref``, how many budget groups with used runs lie below it."""
    present = table.budgets[np.unique(table.used_arrays()[4])]
    return [int(np.sum(present < table.budgets[k])) for k in ref]


def origins(table: RunTable) -> list[int]:
    """The positions in :func:`reference_budgets` at which rolling origins are cut."""
    ref = reference_budgets(table)
    return cuts(budgets_below(table, ref))


@dataclass(frozen=True)
class Reliability:
    """One method's in-table extrapolation errors.

    Attributes:
        method: the method.
        n_origins: rolling origins backtested (the Student quantile's degrees of freedom).
        n_pairs: (origin, budget) predictions scored.
        sigma_params, sigma_tokens: out-of-sample scatter σ̂ of log10 N_opt and log10 D_opt about the laws.
        median_error, worst_error: median and largest |N̂ − N_vertex| / N_vertex over the predictions.
        design: the whole fit's budgets (k, mean log10 C, S_xx), which set the leverage at a target.
        errors: the scored predictions, as (origin budget C, budget C, relative error of N_opt, of D_opt).
        typical_params: the median |z| of N_opt's scaled in-table errors (decades per unit of the scale
            √(1 + 1/k + (x − x̄)²/S_xx)): with the scale at a target, the median error expected there
            (:meth:`expected_error`). NaN in documents written before it was kept.
    """

    method: str
    n_origins: int
    n_pairs: int
    sigma_params: float
    sigma_tokens: float
    median_error: float
    worst_error: float
    design: tuple
    errors: tuple = ()
    typical_params: float = float("nan")

    def halfwidth(self, flops: float, level: float, key: str = "params") -> float:
        """The extrapolation half-width w_ext in log10 at budget C."""
        from scipy import stats

        sigma = self.sigma_params if key == "params" else self.sigma_tokens
        t = float(stats.t.ppf(0.5 + level / 2, max(self.n_origins, 1)))
        k, xbar, sxx = self.design
        return t * sigma * float(np.sqrt(1.0 / k + (np.log10(flops) - xbar) ** 2 / sxx))

    def widen(self, estimate: float, interval, flops: float, level: float, key: str = "params"):
        """The bootstrap interval (lo, hi) with each side widened to the extrapolation half-width where narrower."""
        w = self.halfwidth(flops, level, key)
        x = np.log10(estimate)
        if interval is None or interval[0] is None:
            return (10 ** (x - w), 10 ** (x + w))
        lo, hi = np.log10(interval[0]), np.log10(interval[1])
        return (
            float(interval[0]) if x - lo >= w else float(10 ** (x - w)),
            float(interval[1]) if hi - x >= w else float(10 ** (x + w)),
        )

    @property
    def misses(self) -> bool:
        """Whether the method's in-table median error exceeds :data:`MISS`."""
        return bool(self.median_error > MISS)

    def expected_error(self, flops: float) -> float:
        """The median |N̂ − N_vertex| / N_vertex expected at budget C: the in-table errors' median scaled |z|
        times the scale √(1 + 1/K + (log10 C − x̄)²/S_xx) of the whole fit at C (NaN without ``typical_params``).

        It is the in-table median error carried to the target's distance by the same leverage the intervals
        use, so it can be held to :data:`MISS` like the in-table median: a law that errs by 10% one budget out
        and is asked for a budget 30× beyond its table is asked for more than its backtest measured.
        """
        k, xbar, sxx = self.design
        scale = float(np.sqrt(1.0 + 1.0 / k + (np.log10(flops) - xbar) ** 2 / sxx))
        return float(10 ** (self.typical_params * scale) - 1)

    def misses_at(self, flops: float) -> bool:
        """Whether the method misses (:attr:`misses`), or is expected to miss at C by more than :data:`MISS`."""
        return self.misses or bool(self.expected_error(flops) > MISS)

    def describe(self) -> str:
        return (
            f"in-table backtest over {self.n_origins} origins ({self.n_pairs} predictions): median error "
            f"{self.median_error:.0%}, worst {self.worst_error:.0%}; out-of-sample scatter of N_opt "
            f"{self.sigma_params:.3f} decades"
        )

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "n_origins": self.n_origins,
            "n_pairs": self.n_pairs,
            "sigma_params": self.sigma_params,
            "sigma_tokens": self.sigma_tokens,
            "median_error": self.median_error,
            "worst_error": self.worst_error,
            "design": list(self.design),
            "errors": [list(e) for e in self.errors],
            "typical_params": json_float(self.typical_params),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Reliability:
        return cls(
            str(d["method"]),
            int(d["n_origins"]),
            int(d["n_pairs"]),
            float(d["sigma_params"]),
            float(d["sigma_tokens"]),
            float(d["median_error"]),
            float(d["worst_error"]),
            tuple(float(x) for x in d["design"]),
            tuple(tuple(float(x) for x in e) for e in d.get("errors") or ()),
            float(d["typical_params"]) if d.get("typical_params") is not None else float("nan"),
        )


def design_of(log_budgets) -> tuple[float, float, float]:
    """(k, mean, S_xx) of a fit's log10 budgets."""
    x = np.asarray(log_budgets, dtype=float)
    return float(x.size), float(x.mean()), float(np.sum((x - x.mean()) ** 2))


def reliability(method: str, scored: list, design: tuple, n_origins: int) -> Reliability | None:
    """A method's :class:`Reliability` from its scored in-table predictions.

    Args:
        method: the method.
        scored: per prediction, (the origin fit's design (k, x̄, S_xx), origin budget C, budget C, relative error
            of N_opt, of D_opt).
        design: the whole fit's design.
        n_origins: origins that gave predictions.

    Returns:
        None when nothing was scored.
    """
    rows = [s for s in scored if np.isfinite(s[3]) and np.isfinite(s[4]) and s[3] > -1 and s[4] > -1]
    if not rows:
        return None
    k, xbar, sxx = (np.array(v, dtype=float) for v in zip(*[r[0] for r in rows]))
    co, c, en, ed = (np.array(v, dtype=float) for v in zip(*[r[1:] for r in rows]))
    scale = np.sqrt(1.0 + 1.0 / k + (np.log10(c) - xbar) ** 2 / sxx)
    zn, zd = np.log10(1 + en) / scale, np.log10(1 + ed) / scale
    return Reliability(
        method,
        int(n_origins),
        len(rows),
        float(np.sqrt(np.mean(zn**2))),
        float(np.sqrt(np.mean(zd**2))),
        float(np.median(np.abs(en))),
        float(np.max(np.abs(en))),
        tuple(design),
        tuple(zip(co.tolist(), c.tolist(), en.tolist(), ed.tolist())),
        float(np.median(np.abs(zn))),
    )
