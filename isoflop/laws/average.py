"""The average of several methods' predictions, with the spread between them counted as uncertainty.

Each method that passes its checks gives an estimate of N_opt (or D_opt) at a budget with an interval. Picking
the one with the narrowest interval picks, among methods whose intervals are all estimates, the one whose
interval most understates its error; and where methods that each pass their checks disagree, the disagreement is
uncertainty about the law's form that no one method's interval measures. So the methods are averaged as
distributions, each with equal weight (a method's interval is as good a measure of its error as the table
allows, and the table gives no ground to prefer one form):

* each method's prediction becomes a distribution in log space whose median is its estimate and whose
  (1 − level)/2 and (1 + level)/2 quantiles are its interval's ends: a normal on each side of the estimate,
  with its own scale, σ_lo = (log est − log lo)/z and σ_hi = (log hi − log est)/z, z the normal quantile of the
  level (so an asymmetric interval keeps its asymmetry);
* the average is their equal-weight mixture, and its median and central interval at the same level are the
  answer and its interval.

When the methods agree, the average's interval is about as wide as theirs; when they disagree, it spans them.
Nothing here is tuned: the weights are equal, the scales come from the methods' own intervals.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats


def _cdf(x: float, mu: np.ndarray, s_lo: np.ndarray, s_hi: np.ndarray) -> float:
    """The equal-weight mixture's CDF at log value x."""
    s = np.where(x < mu, s_lo, s_hi)
    return float(np.mean(stats.norm.cdf((x - mu) / s)))


def average(predictions, level: float) -> tuple[float, float, float]:
    """The median and central ``level`` interval of the equal-weight mixture of the predictions.

    Args:
        predictions: per method, (estimate, lo, hi) with 0 < lo ≤ estimate ≤ hi, all finite.
        level: the level of the methods' intervals, and of the average's.

    Returns:
        (median, lo, hi), in the predictions' units.

    Raises:
        ValueError: no predictions, or one that is not positive and ordered.
    """
    p = np.asarray(list(predictions), dtype=float).reshape(-1, 3)
    if p.size == 0:
        raise ValueError("nothing to average")
    if not (np.all(np.isfinite(p)) and np.all(p > 0) and np.all(p[:, 1] <= p[:, 0]) and np.all(p[:, 0] <= p[:, 2])):
        raise ValueError(f"predictions must be finite, positive and lo <= estimate <= hi: {p.tolist()}")
    z = float(stats.norm.ppf(0.5 + level / 2))
    mu, lo, hi = np.log(p[:, 0]), np.log(p[:, 1]), np.log(p[:, 2])
    tiny = 1e-12  # an interval with no width on one side is a step there, not a division by zero
    s_lo, s_hi = np.maximum((mu - lo) / z, tiny), np.maximum((hi - mu) / z, tiny)
    a, b = float(np.min(lo)) - 1.0, float(np.max(hi)) + 1.0  # the mixture's quantiles lie inside its members'

    def quantile(q: float) -> float:
        return float(np.exp(optimize.brentq(lambda x: _cdf(x, mu, s_lo, s_hi) - q, a, b, xtol=1e-10)))

    return quantile(0.5), quantile(0.5 - level / 2), quantile(0.5 + level / 2)
