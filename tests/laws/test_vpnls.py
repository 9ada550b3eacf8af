"""VPNLS (variable projection with NNLS), the frontier under a table's own FLOP counting, and
Approach 2 corrected for its grid's bias: each recovers known truths from synthetic tables."""

import numpy as np
import pytest
from conftest import TRUTH, synthetic_runs, true_loss, true_nopt
from scipy.optimize import nnls

from isoflop.laws.fit.correction import correct_isoflops, shift_samples
from isoflop.laws.fit.frontier import Counting, frontier
from isoflop.laws.fit.isoflop import bootstrap_isoflops_residuals, fit_isoflops
from isoflop.laws.fit.vpnls import bootstrap_vpnls, fit_vpnls, nnls3


def test_nnls3_matches_scipys_nnls_including_active_constraints():
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = rng.normal(size=(1, 12, 3)) * rng.uniform(0.01, 100, size=3)
        y = rng.normal(size=12)
        w = rng.integers(0, 3, size=12).astype(float)
        c, rss = nnls3(x, y, w)
        ref, rnorm = nnls(x[0] * np.sqrt(w)[:, None], y * np.sqrt(w))
        assert np.all(c >= 0)
        assert rss[0] == pytest.approx(rnorm**2, rel=1e-7, abs=1e-10)
        assert np.allclose(c[0], ref, rtol=1e-5, atol=1e-8)


def test_vpnls_recovers_a_noise_free_truth_to_a_millionth():
    df = synthetic_runs()
    f = fit_vpnls(df.params, df.tokens, df.loss)
    assert f.success, f.message
    for k, v in TRUTH.items():
        assert getattr(f, k) == pytest.approx(v, rel=1e-6), k
    assert f.objective < 1e-20 and f.extras["objective_kind"] == "sum of squared loss residuals"


def test_vpnls_is_deterministic_and_weights_are_counts():
    df = synthetic_runs(noise=0.01, rng=np.random.default_rng(1))
    a = fit_vpnls(df.params, df.tokens, df.loss)
    b = fit_vpnls(df.params, df.tokens, df.loss)
    assert (a.E, a.A, a.alpha) == (b.E, b.A, b.alpha)
    # Weight 2 on every run is the same problem; a run of weight 2 is that run twice.
    twice = fit_vpnls(df.params, df.tokens, df.loss, weights=np.full(len(df), 2.0))
    assert twice.alpha == pytest.approx(a.alpha, rel=1e-6) and twice.beta == pytest.approx(a.beta, rel=1e-6)
    w = np.ones(len(df))
    w[3] = 2.0
    dup = df.iloc[list(range(len(df))) + [3]]
    one = fit_vpnls(df.params, df.tokens, df.loss, weights=w)
    two = fit_vpnls(dup.params, dup.tokens, dup.loss)
    assert one.alpha == pytest.approx(two.alpha, rel=1e-5) and one.E == pytest.approx(two.E, rel=1e-5)


def test_vpnls_bootstrap_brackets_the_truth_under_noise():
    rng = np.random.default_rng(2)
    df = synthetic_runs(noise=0.005, rng=rng)
    f = fit_vpnls(df.params, df.tokens, df.loss)
    counts = rng.multinomial(len(df), np.full(len(df), 1 / len(df)), size=200).astype(float)
    x = bootstrap_vpnls(f, df.params, df.tokens, df.loss, counts)
    assert np.isfinite(x).all(axis=1).mean() > 0.95
    al = x[:, 3][np.isfinite(x[:, 3])]
    assert al.std() > 0  # replicates vary
    lo, hi = np.percentile(al, [2.5, 97.5])
    assert lo < TRUTH["alpha"] < hi


def test_the_frontier_under_6nd_is_the_closed_form_and_under_a_table_counting_its_argmin():
    t = TRUTH
    six = frontier(t["E"], t["A"], t["B"], t["alpha"], t["beta"], 1e20, Counting())
    assert six["optimal_params"][0] == pytest.approx(true_nopt(1e20), rel=1e-12)
    # A counting with c(N) = 6N(1 + 0.8 (N/1e6)^-0.3): the optimum is the argmin of L(N, C / c(N)) (brute
    # force on a fine grid), not the 6ND one.
    cnt = Counting("table", 0.8 * 1e6**0.3, -0.3, (1e6, 1e9))
    got = frontier(t["E"], t["A"], t["B"], t["alpha"], t["beta"], 1e18, cnt)
    grid = np.logspace(5, 11, 200001)
    brute = grid[np.argmin(true_loss(grid, 1e18 / cnt.per_token(grid)))]
    assert got["optimal_params"][0] == pytest.approx(brute, rel=1e-4)
    assert got["optimal_tokens"][0] == pytest.approx(1e18 / cnt.per_token(brute), rel=1e-3)
    assert (
        abs(
            got["optimal_params"][0]
            / frontier(t["E"], t["A"], t["B"], t["alpha"], t["beta"], 1e18, Counting())["optimal_params"][0]
            - 1
        )
        > 0.02
    )
    # The frontier is smooth in C: its local slope changes gradually (no jumps from a kinked c(N)).
    cs = np.logspace(15, 21, 61)
    nn = np.array([frontier(t["E"], t["A"], t["B"], t["alpha"], t["beta"], c, cnt)["optimal_params"][0] for c in cs])
    slopes = np.diff(np.log(nn)) / np.diff(np.log(cs))
    assert np.all(np.abs(np.diff(slopes)) < 0.01)


def test_counting_is_read_from_a_tables_runs():
    n, d = np.array([1e6, 2e6, 4e6]), np.array([1e9, 1e9, 1e9])
    assert Counting.from_runs(n, d, 6 * n * d).is_6nd
    r = 0.5 * (n / 1e6) ** -0.4
    c = 6 * n * d * (1 + r)
    cnt = Counting.from_runs(n, d, c)
    assert cnt.name == "table" and cnt.rho == pytest.approx(-0.4) and cnt.per_token(n) == pytest.approx(c / d)
    assert Counting.from_runs(n, d, 6 * n * d * np.array([1.2, 0.9, 1.1])).rho == 0  # a ratio below 6N: constant
    assert Counting.from_dict(cnt.to_dict()) == cnt


def _grid(kind):
    """Noise-free IsoFLOP tables whose grids bias Approach 2: wide, asymmetric, drifting off-centre."""
    budgets = np.logspace(17, 21, 5)
    rows = []
    for i, c in enumerate(budgets):
        centre = true_nopt(c)
        if kind == "wide":
            ns = centre * np.logspace(-np.log10(48), np.log10(48), 9)
        elif kind == "asymmetric":
            ns = centre * np.logspace(-np.log10(16), np.log10(1.5), 7)
        else:  # drifting: centred at the smallest budget, 3x off by the largest
            ns = centre * 3.0 ** (i / (len(budgets) - 1)) * np.logspace(-np.log10(8), np.log10(8), 7)
        rows += [(n, c / (6 * n), c) for n in ns]
    n, d, c = (np.array(v) for v in zip(*rows))
    return n, d, true_loss(n, d), c


@pytest.mark.parametrize("kind", ["wide", "asymmetric", "drifting"])
def test_corrected_approach2_is_within_one_percent_where_raw_errs_by_more_than_three(kind):
    n, d, l, c = _grid(kind)
    raw = fit_isoflops(n, d, l, c, allow_edge=True)
    surface = fit_vpnls(n, d, l)
    fix = correct_isoflops(raw, surface, n, d, c)
    target = 1e23
    t_n = true_nopt(target)
    t_d = target / (6 * t_n)
    raw_err = max(
        abs(raw.predict(target)["optimal_params"] / t_n - 1), abs(raw.predict(target)["optimal_tokens"] / t_d - 1)
    )
    fixed = fix.predict(target)
    assert raw_err > 0.03, raw_err
    assert fixed["optimal_params"] == pytest.approx(t_n, rel=0.01)
    assert fixed["optimal_tokens"] == pytest.approx(t_d, rel=0.01)
    flags = {f for b in fix.budgets for f in b.flags} | set(fix.flags)
    assert {"wide": "wide", "asymmetric": "off-centre", "drifting": "drifting"}[kind] in flags
    # Weighted by the vertices' jackknife variances, the correction lands as close.
    weighted = correct_isoflops(fit_isoflops(n, d, l, c, allow_edge=True, weighted=True), surface, n, d, c)
    weighted = weighted.predict(target)
    assert weighted["optimal_params"] == pytest.approx(t_n, rel=0.01)
    assert weighted["optimal_tokens"] == pytest.approx(t_d, rel=0.01)


def test_corrected_replicates_move_by_the_correction_line():
    n, d, l, c = _grid("asymmetric")
    raw = fit_isoflops(n, d, l, c)
    fix = correct_isoflops(raw, fit_vpnls(n, d, l), n, d, c)
    s = bootstrap_isoflops_residuals(raw, n, d, l, c, 50, np.random.default_rng(0))
    moved = shift_samples(s, fix)
    # The uncorrected fit's own laws, moved, are the corrected fit's (least squares is linear in the vertices).
    own = {"params_exponent": [raw.params_law.exponent], "params_log10_coefficient": [0.0]}
    own |= {"tokens_exponent": [0.0], "tokens_log10_coefficient": [0.0]}
    assert shift_samples(own, fix)["params_exponent"][0] == pytest.approx(fix.fit.params_law.exponent, rel=1e-9)
    assert moved["params_exponent"] - s["params_exponent"] == pytest.approx(
        np.full(50, fix.fit.params_law.exponent - raw.params_law.exponent), rel=1e-9
    )


def test_a_table_counted_otherwise_gets_its_parametric_optimum_under_its_own_counting():
    import json

    from isoflop import AnalysisResult, analyze, load_runs

    df = synthetic_runs(budgets=(1e17, 1e18, 1e19, 1e20))
    r = 0.5 * (df.params / df.params.min()) ** -0.3  # c(N) = 6N(1 + r(N)), as attention and embeddings add
    df = df.assign(flops=6 * df.params * df.tokens * (1 + r))
    res = analyze(load_runs(df), n_bootstrap=20, targets=[1e21], methods="approach3,vpnls")
    assert res.counting.name == "table"
    for m in ("approach3", "vpnls"):
        p = res.prediction(m, 1e21)
        f = res.fit(m)
        grid = np.logspace(7, 12, 100001)
        brute = grid[np.argmin(f.loss(grid, 1e21 / res.counting.per_token(grid)))]
        assert p["optimal_params"] == pytest.approx(brute, rel=1e-3) and p["counting"] == "table"
        assert p["optimal_params"] != pytest.approx(float(f.predict(1e21)["optimal_params"]), rel=1e-3)
        assert p["params_ci"][0] <= p["optimal_params"] <= p["params_ci"][1]
    back = AnalysisResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.counting == res.counting and back.predictions() == res.predictions()
