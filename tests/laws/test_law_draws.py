"""A loss table whose points a loss-curve law predicted carries the law's bootstrap draws, and the fits'
intervals carry their spread (RunTable.draws, spread over the resamples by analyze)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import synthetic_runs

from isoflop import analyze, load_runs
from isoflop.errors import TableError
from isoflop.laws.table import RunTable


def _width(result, method="approach2", c=1e23):
    lo, hi = result.prediction(method, c)["params_ci"]
    return np.log10(hi / lo)


def test_the_draws_widen_the_intervals_by_their_spread_and_round_trip():
    rng = np.random.default_rng(5)
    table = load_runs(synthetic_runs(noise=0.002, rng=rng))
    pred = ~np.isin(np.arange(table.n_runs) % 7, (0, 6))  # each budget's end sizes "trained", the rest predicted
    m = 10
    fit = dict(n_bootstrap=200, seed=1, methods="approach2", targets=[1e23], calibrate=False)
    plain = analyze(table, **fit)
    same = analyze(replace(table, predicted=pred, draws=np.tile(table.loss, (m, 1))), **fit)
    noisy_draws = table.loss * np.exp(np.where(pred, rng.normal(0.0, 0.01, (m, table.n_runs)), 0.0))
    noisy = analyze(replace(table, predicted=pred, draws=noisy_draws), **fit)
    # Draws equal to the losses change nothing but the random stream; a law 1% uncertain at each predicted
    # point (5x the runs' noise) widens the interval well beyond it.
    assert 0.7 < _width(same) / _width(plain) < 1.4
    assert _width(noisy) > 1.5 * _width(plain)
    assert any("bootstrap draws of the law" in n for n in noisy.notes)
    assert noisy.samples["approach2"]["params_exponent"].shape == (200,)
    doc = json.loads(json.dumps(replace(table, draws=noisy_draws).to_dict()))
    np.testing.assert_allclose(RunTable.from_dict(doc).draws, noisy_draws)
    with pytest.raises(TableError, match="draws must be"):
        replace(table, draws=noisy_draws[:, :5])
