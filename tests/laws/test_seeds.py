"""Several seeds per (N, C) point: the seed-to-seed noise is estimated and the bootstrap resamples seeds too."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_runs

from isoflop import AnalysisResult, analyze, load_runs
from isoflop.laws.fit.bootstrap import point_ids, resample_indices, seed_noise
from isoflop.laws.report import format_analysis


def _seeded(sigma=0.02, seeds=3, rng=None):
    base = synthetic_runs(budgets=(1e17, 1e18, 1e19, 1e20), n_sizes=5)
    rows = [base.assign(loss=base.loss + rng.normal(0, sigma, len(base)), seed=s) for s in range(seeds)]
    return pd.concat(rows, ignore_index=True)


def test_seed_noise_is_the_pooled_within_point_spread():
    rng = np.random.default_rng(0)
    df = _seeded(sigma=0.02, seeds=4, rng=rng)
    pts = point_ids(df.budget, df.params)
    assert np.unique(pts).size == 20
    est = seed_noise(df.loss, pts)
    assert est["dof"] == 20 * 3 and est["n_points"] == 20
    assert est["sigma"] == pytest.approx(0.02, rel=0.15)
    assert np.isnan(seed_noise([1.0, 2.0], [0, 1])["sigma"])  # no point with two runs


def test_the_bootstrap_draws_points_then_seeds_within_them():
    rng = np.random.default_rng(1)
    df = _seeded(seeds=3, rng=rng)
    g = np.unique(df.budget, return_inverse=True)[1]
    pts = point_ids(g, df.params.to_numpy())
    idx = resample_indices(g, 300, np.random.default_rng(2), pts)
    assert np.all(g[idx] == g)  # every budget keeps its runs
    for r in range(0, 300, 37):  # a slot (one point's seeds) is filled from one point
        for p in np.unique(pts):
            members = np.flatnonzero(pts == p)
            assert np.unique(pts[idx[r, members]]).size == 1
    # Seeds vary within a point across resamples: some slot repeats a seed, and every run is drawn somewhere.
    slot = np.flatnonzero(pts == pts[0])
    assert any(np.unique(idx[r, slot]).size < slot.size for r in range(300))
    assert np.unique(idx).size == len(df)
    # One run per point: the same scheme as before (runs within budgets).
    one = resample_indices(g[:20], 5, np.random.default_rng(3), np.arange(20))
    assert np.array_equal(one, resample_indices(g[:20], 5, np.random.default_rng(3)))


def test_an_analysis_reports_seed_noise_and_it_round_trips():
    rng = np.random.default_rng(4)
    df = _seeded(sigma=0.01, seeds=3, rng=rng)
    res = analyze(load_runs(df), n_bootstrap=50, targets=[1e21], methods="approach2,approach3")
    assert res.seed_noise["dof"] == 40 and res.seed_noise["sigma"] == pytest.approx(0.01, rel=0.3)
    text = format_analysis(res)
    assert "seed noise: sigma = " in text and "points, then seeds" in text
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["bootstrap"]["resampling"].startswith("(N, C) points resampled")
    assert AnalysisResult.from_dict(doc).seed_noise == res.seed_noise


def test_approach1_averages_seeds():
    from isoflop.laws.fit.envelope import fit_envelope

    # one budget, three sizes, two seeds each: size 2 has the lowest single run, size 1 the lowest mean
    n = np.array([1e6, 1e6, 2e6, 2e6, 4e6, 4e6])
    loss = np.array([2.00, 2.02, 1.95, 2.20, 2.10, 2.12])
    c = np.full(6, 1e18)
    d = c / (6 * n)
    pts = point_ids(np.zeros(6, dtype=int), n)
    f = fit_envelope(n, d, loss, c, points=pts)
    assert f.optimal_params[0] == 1e6 and f.min_loss[0] == pytest.approx(2.01)
    assert fit_envelope(n, d, loss, c).optimal_params[0] == 2e6  # without points: the lowest run
    df = _seeded(sigma=0.01, seeds=3, rng=np.random.default_rng(1))
    res = analyze(load_runs(df), methods="approach1", targets=[1e21], n_bootstrap=100, seed=0)
    assert "mean over its seeds" in res.approach1.source
    lo, hi = res.prediction("approach1", 1e21)["params_ci"]
    assert lo < hi
