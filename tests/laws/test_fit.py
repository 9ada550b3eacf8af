"""Approaches 1 and 2 and the building blocks recover known truths."""

import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH, synthetic_runs, true_loss, true_nopt

from isoflop import find_optimal_params, fit_envelope, fit_isoflops, fit_linear_log, fit_power_law, load_runs


def test_find_optimal_params_recovers_a_known_vertex():
    x = np.logspace(6, 8, 9)
    y = 2.0 * (np.log10(x) - 7.3) ** 2 + 3.1
    q = find_optimal_params(x, y)
    assert q.x_opt == pytest.approx(10**7.3, rel=1e-9)
    assert q.y_opt == pytest.approx(3.1, abs=1e-12)
    assert q.curvature == pytest.approx(2.0) and q.residual_rms < 1e-12
    with pytest.raises(ValueError, match="3 distinct"):
        find_optimal_params([1, 1, 2], [1, 2, 3])


def test_fit_linear_log_and_power_law_recover_slope():
    c = np.logspace(17, 21, 5)
    ll = fit_linear_log(c, 0.2 * c**0.5)
    assert ll.slope == pytest.approx(0.5) and 10**ll.intercept == pytest.approx(0.2) and ll.r2 == pytest.approx(1.0)
    pl = fit_power_law(c, 0.2 * c**0.5)
    assert pl.predict(1e23) == pytest.approx(0.2 * 1e23**0.5)
    bad = fit_power_law([1e18], [1e6])
    assert not bad.success and "at least 2" in bad.message


def test_approach2_noise_free_exponent_matches_truth():
    df = synthetic_runs(budgets=np.logspace(17, 22, 6), n_sizes=9, span=3.0)
    f = fit_isoflops(df["params"], df["tokens"], df["loss"], df["budget"])
    a_true = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
    assert all(b.status == "ok" for b in f.budgets)
    assert abs(f.params_law.exponent - a_true) < 0.005
    assert abs(f.tokens_law.exponent - (1 - a_true)) < 0.005
    # The vertices sit near the true optimum of each budget.
    np.testing.assert_allclose([b.optimal_params for b in f.budgets], true_nopt(np.logspace(17, 22, 6)), rtol=0.05)


def test_edge_concave_and_too_few_budgets_are_flagged_and_excluded():
    df = synthetic_runs(budgets=(1e17, 1e18, 1e19, 1e20), n_sizes=7)
    c = 1e21
    # edge: every size far below the optimum, so the loss falls monotonically.
    sizes = true_nopt(c) * np.logspace(-2.5, -1.5, 5)
    edge = pd.DataFrame(
        {"params": sizes, "tokens": c / (6 * sizes), "loss": true_loss(sizes, c / (6 * sizes)), "budget": c}
    )
    c2 = 1e22
    s2 = true_nopt(c2) * np.logspace(-0.5, 0.5, 5)
    concave = pd.DataFrame(
        {
            "params": s2,
            "tokens": c2 / (6 * s2),
            "loss": 3.0 - 0.1 * (np.log10(s2) - np.log10(s2).mean()) ** 2,
            "budget": c2,
        }
    )
    c3 = 1e23
    few = pd.DataFrame({"params": [1e10, 2e10], "tokens": [c3 / 6e10, c3 / 12e10], "loss": [2.0, 2.1], "budget": c3})
    # Three sizes but two token counts (a table that rounded D): no quadratic in D, so no vertex, and no abort.
    c4 = 1e24
    two_d = pd.DataFrame(
        {"params": [1e10, 2e10, 4e10], "tokens": [1e12, 1e12, 5e11], "loss": [2.0, 1.9, 2.0], "budget": c4}
    )
    all_ = pd.concat([df, edge, concave, few, two_d], ignore_index=True)
    f = fit_isoflops(all_["params"], all_["tokens"], all_["loss"], all_["budget"])
    status = {b.flops: b.status for b in f.budgets}
    assert status[1e21] == "edge" and status[1e22] == "concave" and status[1e23] == "too_few"
    four = next(b for b in f.budgets if b.flops == 1e24)
    assert four.status == "too_few" and four.reason == "budget 1e+24: 2 distinct token count(s); a quadratic needs 3"
    assert {b.flops for b in f.used} == {1e17, 1e18, 1e19, 1e20}
    assert f.params_law.n_points == 4
    assert "outside the sampled range" in next(b for b in f.budgets if b.flops == 1e21).reason
    assert np.isnan(next(b for b in f.budgets if b.flops == 1e22).optimal_params)  # no fallback to the raw minimum
    allowed = fit_isoflops(all_["params"], all_["tokens"], all_["loss"], all_["budget"], allow_edge=True)
    assert allowed.params_law.n_points == 5


def test_approach1_lowest_run_and_curve_envelope():
    df = synthetic_runs(budgets=np.logspace(17, 21, 5), n_sizes=9, span=4.0)
    f = fit_envelope(df["params"], df["tokens"], df["loss"], df["budget"])
    assert f.source == "lowest-loss run per budget"
    for c, n in zip(f.flops, f.optimal_params):
        sel = df["budget"] == c
        assert n == df.loc[sel, "params"].iloc[df.loc[sel, "loss"].argmin()]
    # Curves: each run's loss as it trains (constant-LR idealisation: L(N, D(t))).
    sizes = np.logspace(6, 9, 13)
    rows, runs = [], []
    for i, n in enumerate(sizes):
        d_end = 20 * n * 4
        runs.append({"params": n, "tokens": d_end, "loss": true_loss(n, d_end), "budget": 6 * n * d_end})
        for d in np.logspace(np.log10(d_end) - 2, np.log10(d_end), 40):
            rows.append({"run": i, "flops": 6 * n * d, "tokens": d, "loss": true_loss(n, d)})
    r = pd.DataFrame(runs)
    env = fit_envelope(r["params"], r["tokens"], r["loss"], r["budget"], curves=pd.DataFrame(rows), n_points=150)
    assert env.source == "envelope of training curves"
    a_true = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
    # A discrete set of sizes makes the envelope a staircase; the slope is still close.
    assert abs(env.params_law.exponent - a_true) < 0.05
    assert np.all(np.diff(env.min_loss) <= 1e-12)  # the envelope never rises with compute


def test_approaches_on_cs336_reproduce_reference_figures():
    t = load_runs("example:cs336")
    n, d, _, l, g = t.used_arrays()
    c = t.budgets[g]
    f1 = fit_envelope(n, d, l, c)
    f2 = fit_isoflops(n, d, l, c)
    assert f1.params_law.exponent == pytest.approx(0.469, abs=5e-4)
    assert f1.params_law.predict(1e23) == pytest.approx(70.0e9, rel=2e-3)
    assert f1.params_law.predict(1e24) == pytest.approx(206e9, rel=3e-3)
    assert f2.params_law.exponent == pytest.approx(0.515, abs=5e-4)
    assert f2.params_law.predict(1e23) == pytest.approx(91.1e9, rel=2e-3)
    assert f2.params_law.predict(1e24) == pytest.approx(298e9, rel=2e-3)
    # Weighting each budget by its vertex's jackknife variance moves the law, but not far on this clean table.
    fw = fit_isoflops(n, d, l, c, weighted=True)
    assert fw.params_law.weighted and not f2.params_law.weighted
    assert fw.params_law.exponent != f2.params_law.exponent
    assert fw.params_law.exponent == pytest.approx(0.515, abs=0.01)


def test_loss_law_recovers_its_asymptote_and_slope():
    from isoflop.laws.fit.powerlaw import batched_loss_law, fit_loss_law

    c = np.logspace(17, 22, 7)
    loss = 1.7 + 300 * c**-0.15
    f = fit_loss_law(c, loss)
    assert f.E == pytest.approx(1.7, rel=1e-6) and f.exponent == pytest.approx(-0.15, rel=1e-6)
    assert f.predict(1e25) == pytest.approx(1.7 + 300 * 1e25**-0.15, rel=1e-6)
    rows = np.tile(loss, (3, 1))
    rows[1, 2] = np.nan  # a budget missing from one resample
    rows[2, 2:] = np.nan  # too few budgets left
    E, lk, ex = batched_loss_law(c, rows)
    assert E[:2] == pytest.approx([1.7, 1.7], rel=2e-3) and ex[:2] == pytest.approx([-0.15, -0.15], rel=1e-2)
    assert np.isnan(E[2])
    assert not fit_loss_law(c[:2], loss[:2]).success


def test_approach2_residual_bootstrap_keeps_the_design_and_widens_with_the_noise():
    from isoflop.laws.fit.bootstrap import percentile_interval
    from isoflop.laws.fit.isoflop import bootstrap_isoflops_residuals

    rng = np.random.default_rng(0)
    clean = synthetic_runs(budgets=np.logspace(17, 21, 5), n_sizes=7)
    f = fit_isoflops(clean.params, clean.tokens, clean.loss, clean.budget)
    s = bootstrap_isoflops_residuals(f, clean.params, clean.tokens, clean.loss, clean.budget, 100, rng)
    # Noise-free: the residuals are the parabolas' own misfit, tiny, so every replicate is nearly the fit.
    assert np.nanstd(s["params_exponent"]) < 0.01
    noisy = synthetic_runs(budgets=np.logspace(17, 21, 5), n_sizes=7, noise=0.01, rng=np.random.default_rng(1))
    f = fit_isoflops(noisy.params, noisy.tokens, noisy.loss, noisy.budget)
    res = bootstrap_isoflops_residuals(f, noisy.params, noisy.tokens, noisy.loss, noisy.budget, 400, rng)
    lo, hi = percentile_interval(res["params_exponent"])
    assert lo < f.params_law.exponent < hi
    assert hi - lo > 4 * np.nanstd(s["params_exponent"])
    assert set(res) == set(s) and all(v.shape == (400,) for v in res.values())


def test_random_effects_line_recovers_its_slope_and_the_scatter_beyond_the_points_variances():
    from isoflop.laws.fit.powerlaw import random_effects_line

    rng = np.random.default_rng(0)
    u = np.linspace(17, 21, 9)
    var = np.where(np.arange(9) % 3 == 0, 0.05**2, 0.005**2)  # every third point ten times less precise
    ols, wls, tau2s = [], [], []
    for _ in range(400):
        v = 0.5 * u - 2.0 + rng.normal(0, np.sqrt(var + 0.01**2))  # τ = 0.01 beyond the points' own noise
        ols.append(np.polyfit(u, v, 1)[0])
        slope, _, tau2 = random_effects_line(u, v, var)
        wls.append(slope)
        tau2s.append(tau2)
    assert abs(np.mean(wls) - 0.5) < 0.002
    # Weighting the precise points more makes the slope less noisy than ordinary least squares.
    assert np.std(wls) < 0.8 * np.std(ols)
    assert np.median(tau2s) == pytest.approx(0.01**2, rel=0.5)
    # With no scatter beyond the variances, τ² is mostly 0; with two points the line is exact.
    v = 0.5 * u - 2.0 + rng.normal(0, np.sqrt(var))
    assert random_effects_line(u, v, var)[2] < 0.005**2
    assert random_effects_line(u[:2], 0.5 * u[:2], var[:2]) == pytest.approx((0.5, 0.0, 0.0), abs=1e-9)


def test_weighted_approach2_gives_a_budget_of_noisy_runs_less_say():
    """Seven budgets on Hoffmann et al.'s surface; one of them has its losses ten times noisier. Weighted by
    the vertices' jackknife variances, Approach 2 recovers the true exponent closer than unweighted."""
    rng = np.random.default_rng(1)
    budgets = np.logspace(18, 21, 7)
    a_true = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
    err_w, err_o, ratio = [], [], []
    for _ in range(40):
        rows = []
        for i, c in enumerate(budgets):
            ns = true_nopt(c) * np.logspace(-0.6, 0.6, 7)
            sigma = 0.02 if i == 5 else 0.002
            rows += [(n, c / (6 * n), c, true_loss(n, c / (6 * n)) + rng.normal(0, sigma)) for n in ns]
        n, d, c, l = (np.array(v) for v in zip(*rows))
        w, o = fit_isoflops(n, d, l, c, weighted=True), fit_isoflops(n, d, l, c)
        ratio.append(w.weights("params")[5] / np.median(w.weights("params")))
        assert o.weights("params") is None and o.used[5].params_var is None
        err_w.append(abs(w.params_law.exponent - a_true))
        err_o.append(abs(o.params_law.exponent - a_true))
    assert np.median(ratio) < 0.1  # the noisy budget's vertex counts for a tenth of a typical one's, or less
    assert np.mean(err_w) < 0.5 * np.mean(err_o)
