"""A loss table whose points a loss-curve law predicted carries the law's bootstrap draws, and the fits'
intervals carry their spread (RunTable.draws, spread over the resamples by analyze)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import synthetic_runs

from isoflop import analyze, load_runs
from isoflop.errors import TableError
from isoflop.laws.curves.grid import with_seed_noise
from isoflop.laws.curves.profiles import Point, Profiles, TrunkLaw
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


def _seed_profiles(seeds: int, sigma: float, rng) -> Profiles:
    """Three sizes, each with ``seeds`` trunks: trained points at the lowest and highest of four budgets, whose
    losses scatter by ``sigma`` in log between seeds, and predicted points between them with 20 draws 0.1% apart."""
    budgets = (1e12, 2e12, 4e12, 8e12)
    trunks = []
    for n in (1e5, 2e5, 4e5):
        for s in range(seeds):
            pts = []
            for k, c in enumerate(budgets):
                base = 2.0 * (c / 1e12) ** -0.05 * (n / 1e5) ** -0.02
                if k in (0, 3):
                    loss = float(base * np.exp(sigma * rng.standard_normal()))
                    pts.append(Point(f"t{n:g}-{s}", n, c, c, 100, 1e6, loss, base, "trained", (base,) * 20))
                else:
                    draws = tuple(base * np.exp(0.001 * rng.standard_normal(20)))
                    pts.append(Point(f"t{n:g}-{s}", n, c, c, 100, 1e6, base, base, "predicted", draws))
            trunks.append(TrunkLaw(f"t{n:g}-{s}", n, None, 2, tuple(pts), ()))
    return Profiles("synthetic", budgets, tuple(trunks), 20)


def test_predicted_points_carry_the_noise_the_folders_seeds_measure():
    """with_seed_noise: a folder whose seeds' trained points scatter by 0.4% gives its predicted points' draws
    that noise beside the law's 0.1% (their log spread about √(0.1² + σ²)%, σ the seeds' measured spread),
    and leaves the trained points' draws alone; a folder of one seed, which cannot measure it, is unchanged."""
    rng = np.random.default_rng(3)
    prof = _seed_profiles(2, 0.004, rng)
    out, sigma = with_seed_noise(prof, np.random.default_rng(0))
    assert sigma == pytest.approx(prof.seed_agreement()["trained"]["sigma"]) and 0.001 < sigma < 0.01
    pred = [p for p in out.points if p.source == "predicted"]
    spread = np.std(np.log([p.draws for p in pred]), axis=1, ddof=1)
    assert np.sqrt(np.mean(spread**2)) == pytest.approx(np.sqrt(0.001**2 + sigma**2), rel=0.2)
    before = {(p.trunk, p.budget): p.draws for p in prof.points if p.source == "trained"}
    assert all(p.draws == before[(p.trunk, p.budget)] for p in out.points if p.source == "trained")
    one = _seed_profiles(1, 0.004, rng)
    assert with_seed_noise(one, np.random.default_rng(0)) == (one, 0.0)
