"""Bootstrap intervals are honest: they contain the truth at about their nominal rate."""

import numpy as np
from conftest import TRUTH, synthetic_runs

from isoflop import analyze, load_runs
from isoflop.laws.fit.parametric import CHINCHILLA_GRID


def test_95_percent_intervals_cover_the_truth_in_at_least_85_percent_of_40_datasets():
    a_true = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
    truths = {
        ("approach3", "alpha"): TRUTH["alpha"],
        ("approach3", "beta"): TRUTH["beta"],
        ("approach3", "a"): a_true,
        ("approach2", "params_exponent"): a_true,
    }
    hits = dict.fromkeys(truths, 0)
    widths = []
    n_sets = 40
    for k in range(n_sets):
        rng = np.random.default_rng(1000 + k)
        df = synthetic_runs(budgets=np.logspace(17, 21, 5), n_sizes=7, span=4.0, noise=0.005, rng=rng)
        a = analyze(
            load_runs(df), methods=("approach2", "approach3"), n_bootstrap=200, seed=k, init_grid=CHINCHILLA_GRID[::9]
        )
        for key, true in truths.items():
            lo, hi = a.interval(*key)
            hits[key] += lo <= true <= hi
        widths.append(np.subtract(*a.interval("approach2", "params_exponent")[::-1]))
    for key, h in hits.items():
        assert h >= 0.85 * n_sets, (key, h)
    # Not trivially wide: the intervals are informative about the exponent.
    assert np.median(widths) < 0.15
