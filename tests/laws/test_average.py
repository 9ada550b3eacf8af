"""The model average: an equal-weight mixture of the methods' intervals read as distributions."""

import numpy as np
import pytest

from isoflop.laws.average import average


def test_one_method_is_its_own_average():
    med, lo, hi = average([(2.0, 1.0, 5.0)], 0.95)
    assert (med, lo, hi) == pytest.approx((2.0, 1.0, 5.0), rel=1e-8)  # an asymmetric interval keeps its shape


def test_agreeing_methods_average_to_their_interval_and_disagreeing_ones_span_each_other():
    assert average([(3.0, 2.0, 4.5)] * 3, 0.95) == pytest.approx((3.0, 2.0, 4.5), rel=1e-8)
    med, lo, hi = average([(1.0, 0.9, 1.1), (4.0, 3.6, 4.4)], 0.95)
    assert med == pytest.approx(2.0, rel=0.1)  # between two equal members, on the log scale
    assert lo < 1.0 and hi > 4.0 and lo >= 0.9 * 0.99 and hi <= 4.4 * 1.01


def test_the_average_is_the_mixture_of_normals_in_log_space():
    rng = np.random.default_rng(0)
    members = [(np.exp(m), np.exp(m - 1.96 * s), np.exp(m + 1.96 * s)) for m, s in ((0.0, 0.2), (0.5, 0.1), (1.0, 0.3))]
    draws = np.concatenate([rng.normal(m, s, 200_000) for m, s in ((0.0, 0.2), (0.5, 0.1), (1.0, 0.3))])
    want = np.exp(np.quantile(draws, [0.5, 0.025, 0.975]))
    got = average(members, 0.95)
    assert got == pytest.approx(tuple(want), rel=0.01)
    # The members' intervals are read at the level asked: one member at 90% gives back its own ends.
    assert average(members[:1], 0.90) == pytest.approx(members[0], rel=1e-8)


@pytest.mark.parametrize("bad", [[], [(1.0, 2.0, 3.0)], [(1.0, 0.5, float("nan"))], [(-1.0, -2.0, 1.0)]])
def test_bad_predictions_are_refused(bad):
    with pytest.raises(ValueError):
        average(bad, 0.95)
