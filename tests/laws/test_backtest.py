"""Rolling-origin backtests, the in-table reliability that widens intervals, and the held-out vertex's own
uncertainty."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_runs, true_nopt

from isoflop import analyze, load_runs
from isoflop.laws.answer import AVERAGE, choose_answer
from isoflop.laws.backtest import SPLITS, backtest, backtest_source, rolling_backtest
from isoflop.laws.reliability import MISS, origins, reference_budgets
from isoflop.laws.result import AnalysisResult
from isoflop.laws.vertex import observed_vertex

BUDGETS = np.logspace(17, 20.5, 8)


def test_porian_ships_with_the_package():
    t = load_runs("example:porian2024")
    assert t.n_runs == 1745
    raw = pd.read_csv("isoflop/examples/porian2024_isoflops.csv")
    assert raw.experiment.nunique() == 15
    one = load_runs("example:porian2024", where=("experiment=rw__tuned__short__const__standard__val",))
    assert one.budgets.size == 12 and one.budgets[0] == pytest.approx(1.25e16)


def test_rolling_backtest_on_a_known_surface_is_small_and_covered():
    runs = load_runs(synthetic_runs(budgets=BUDGETS, noise=0.005, rng=np.random.default_rng(0)))
    rb = rolling_backtest(runs, methods="approach2,approach3", n_bootstrap=100)
    assert {b.split for b in rb.splits} == set(SPLITS) and not rb.errors
    far = next(b for b in rb.splits if b.split == "far")
    assert len(far.train_budgets) == 4 and sorted({r.flops for r in far.rows}) == pytest.approx(BUDGETS[-2:])
    for r in rb.rows:
        assert abs(r.params_error) < 0.15 and abs(r.tokens_error) < 0.15
        assert r.distance > 0 and r.width >= 1
    k1 = [s for s in rb.summaries() if s.split == "K1"]
    assert {s.method for s in k1} == {"approach2", "approach3", "answer"}
    assert all(s.covered_allowing >= s.covered for s in rb.summaries())
    # A method's rows say whether the answer at that budget stood on it, as the answer's own row names it.
    for a in (r for r in rb.rows if r.method == "answer"):
        stood_on = {r.method for r in rb.rows if r.split == a.split and r.flops == a.flops and r.in_answer}
        named = a.chosen[len(AVERAGE) + 1 : -1].split(", ") if a.chosen.startswith(AVERAGE) else [a.chosen]
        assert stood_on == set(named)
    for s in rb.summaries():
        assert s.in_answer_covered <= s.in_answer_covered_allowing <= s.in_answer <= s.n
        assert s.tokens_covered <= s.tokens_covered_allowing <= s.n and s.tokens_covered_allowing >= 1
        assert s.method != "answer" or (s.in_answer, s.in_answer_covered) == (s.n, s.covered)
    doc = json.loads(json.dumps(rb.to_dict()))
    assert doc["summary"][0]["n"] >= 1 and doc["splits"][0]["rows"][0]["observed"]["params"] > 0


def test_the_vertex_interval_holds_the_true_optimum_of_a_noisy_budget():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(40):
        df = synthetic_runs(budgets=(1e19,), noise=0.01, rng=rng)
        v = observed_vertex(1e19, df.params, df.tokens, df.loss, rng)
        hits += v is not None and v.params_ci is not None and v.params_ci[0] <= true_nopt(1e19) <= v.params_ci[1]
    assert hits >= 34  # about 95% of 40, with room for the parabola's bias on this grid


def test_the_vertex_interval_follows_its_own_budgets_noise():
    """A budget's vertex interval is set by its own runs' scatter: ten times the noise, a wider interval; three
    runs leave no degree of freedom and no interval."""
    rng = np.random.default_rng(2)
    df = synthetic_runs(budgets=(1e19,), noise=0.0, rng=rng)
    quiet_l = df.loss * np.exp(rng.normal(0, 0.001, len(df)))
    loud_l = df.loss * np.exp(rng.normal(0, 0.01, len(df)))
    width = lambda v: v.params_ci[1] / v.params_ci[0]  # noqa: E731
    quiet = observed_vertex(1e19, df.params, df.tokens, quiet_l, np.random.default_rng(0))
    loud = observed_vertex(1e19, df.params, df.tokens, loud_l, np.random.default_rng(0))
    assert 1 < width(quiet) < width(loud)
    three = df.iloc[[0, len(df) // 2, len(df) - 1]]
    v = observed_vertex(1e19, three.params, three.tokens, three.loss, rng)
    assert v is not None and v.params_ci is None


def test_in_table_reliability_widens_the_intervals():
    rng = np.random.default_rng(2)
    good = analyze(
        load_runs(synthetic_runs(budgets=BUDGETS, noise=0.005, rng=rng)),
        methods="approach2",
        targets=[1e22],
        n_bootstrap=100,
    )
    rel = good.reliability["approach2"]
    assert rel.n_origins == len(origins(good.table)) == len(reference_budgets(good.table)) - 3
    assert rel.median_error < 0.15 and not rel.misses
    p = good.prediction("approach2", 1e22)
    assert p["params_ci"][0] <= p["params_ci_bootstrap"][0] and p["params_ci"][1] >= p["params_ci_bootstrap"][1]
    assert "in-table backtest" in p["extrapolation"]
    w = rel.halfwidth(1e22, 0.95)
    assert w == pytest.approx(rel.halfwidth(1e22, 0.95, "params")) and rel.halfwidth(1e23, 0.95) > w > 0
    back = AnalysisResult.from_dict(json.loads(json.dumps(good.to_dict())))
    assert back.reliability["approach2"] == rel
    assert back.prediction("approach2", 1e22)["params_ci"] == pytest.approx(p["params_ci"])
    raw = analyze(good.table, methods="approach2", targets=[1e22], n_bootstrap=100, calibrate=False)
    assert not raw.reliability and "extrapolation" not in raw.prediction("approach2", 1e22)


def _fitted_at_1e22(methods: str, seed: int, n_bootstrap: int) -> AnalysisResult:
    """A synthetic table's fit, with its predictions at 1e22 FLOPs."""
    runs = load_runs(synthetic_runs(budgets=BUDGETS, noise=0.005, rng=np.random.default_rng(seed)))
    return analyze(runs, methods=methods, targets=[1e22], n_bootstrap=n_bootstrap)


def _missing(res: AnalysisResult, *methods: str) -> AnalysisResult:
    """``res`` with the in-table backtests of ``methods`` made to miss (median error over :data:`MISS`)."""
    bad = {m: dataclasses.replace(res.reliability[m], median_error=MISS + 0.1) for m in methods}
    return dataclasses.replace(res, reliability={**res.reliability, **bad})


def test_the_answer_sets_aside_a_method_whose_in_table_backtest_misses():
    res = _fitted_at_1e22("approach2,approach3", seed=3, n_bootstrap=100)
    first = choose_answer(res, 1e22)
    assert first.method == AVERAGE and set(first.members) == {"approach2", "approach3"}
    other = choose_answer(_missing(res, "approach3"), 1e22)
    assert other.method == "approach2" and other.members == ("approach2",)
    assert "in-table backtest misses" in other.set_aside["approach3"] and "the only usable interval" in other.reason
    assert other.params_ci == tuple(res.prediction("approach2", 1e22)["params_ci"])
    # Every method misses its backtest: the rough answer is still their average, not the narrowest alone.
    rough = choose_answer(_missing(res, *res.reliability), 1e22)
    assert rough.method == AVERAGE and set(rough.members) == {"approach2", "approach3"}
    assert rough.reason.startswith("a rough answer") and len(rough.set_aside) == 2
    for m in ("approach2", "approach3"):
        n = res.prediction(m, 1e22)["optimal_params"]
        assert rough.params_ci[0] <= n <= rough.params_ci[1]


def test_a_method_expected_to_miss_at_a_far_target_is_set_aside_there_only():
    """The in-table median error is measured a budget or a few out; carried to a target by the intervals' own
    leverage, it sets a method aside at a target far enough out, and not at one near the table."""
    res = _fitted_at_1e22("approach2,approach3", seed=3, n_bootstrap=100)
    rel = res.reliability["approach3"]
    assert not rel.misses and np.isfinite(rel.typical_params)
    k, xbar, sxx = rel.design
    assert rel.expected_error(10**xbar) < rel.expected_error(1e22) < rel.expected_error(1e24)
    # At the table's centre the expected error is its scaled median times √(1 + 1/k): the in-table errors' size.
    assert rel.expected_error(10**xbar) == pytest.approx(10 ** (rel.typical_params * np.sqrt(1 + 1 / k)) - 1)
    # A backtest whose typical error puts MISS between 1e21 and 1e23: set aside at 1e23 only.
    typical = float(np.log10(1 + MISS) / np.sqrt(1 + 1 / k + (22 - xbar) ** 2 / sxx))
    tilted = dataclasses.replace(
        res, reliability={**res.reliability, "approach3": dataclasses.replace(rel, typical_params=typical)}
    )
    near, far = choose_answer(tilted, 1e21), choose_answer(tilted, 1e23)
    assert near.method == AVERAGE and "approach3" in near.members
    assert far.members == ("approach2",) and "carried to this budget" in far.set_aside["approach3"]
    back = AnalysisResult.from_dict(json.loads(json.dumps(tilted.to_dict())))
    assert back.reliability["approach3"].typical_params == pytest.approx(typical)


def test_vpnls_votes_for_the_parametric_form_only_where_approach3_cannot():
    res = _fitted_at_1e22("approach2,approach3,vpnls", seed=4, n_bootstrap=60)
    assert {"approach2", "approach3", "vpnls"} <= set(res.fitted)
    both = choose_answer(res, 1e22)
    assert set(both.members) == {"approach2", "approach3"} and "one vote per form" in both.set_aside["vpnls"]
    stand_in = choose_answer(_missing(res, "approach3"), 1e22)
    assert set(stand_in.members) == {"approach2", "vpnls"} and "vpnls" not in stand_in.set_aside


def test_the_bias_corrected_approach2_votes_only_where_approach2_was_not_asked_for():
    """A variant of Approach 2's law (its vertices moved by the surface's bias) is set aside beside Approach 2,
    with its reason, and judged like any method when asked for alone."""
    res = _fitted_at_1e22("approach2,approach2_corrected,approach3", seed=4, n_bootstrap=60)
    assert {"approach2", "approach2_corrected", "approach3"} <= set(res.fitted)
    a = choose_answer(res, 1e22)
    assert (
        set(a.members) == {"approach2", "approach3"} and "variant of Approach 2" in a.set_aside["approach2_corrected"]
    )
    alone = choose_answer(_fitted_at_1e22("approach2_corrected,approach3", seed=4, n_bootstrap=60), 1e22)
    assert "approach2_corrected" in alone.members and "approach2_corrected" not in alone.set_aside


def test_origins_count_the_off_centre_budgets_below_them():
    # The three smallest budgets sampled only above their optimum: no vertex, but a parametric surface still
    # fits them, so the budgets just above are origins although only 0, 1, 2 budgets with a vertex lie below.
    df = synthetic_runs(budgets=BUDGETS, noise=0.002, rng=np.random.default_rng(5))
    low = df.budget.isin(BUDGETS[:3]) & (df.params <= df.budget.map(lambda c: true_nopt(c)) * 1.01)
    table = load_runs(df[~low])
    ref = reference_budgets(table)
    assert ref == list(range(3, 8)) and origins(table) == [0, 1, 2, 3, 4]
    res = analyze(table, methods="approach2,approach3", targets=[1e22], n_bootstrap=20)
    # Approach 2 needs two budgets with a vertex below an origin, Approach 3 any three budgets.
    assert res.reliability["approach3"].n_origins == 5 and res.reliability["approach2"].n_origins == 3
    assert not any("too few to backtest" in n for n in res.notes)
    short = analyze(load_runs(df[df.budget.isin(BUDGETS[:4])]), methods="approach2", n_bootstrap=20)
    assert not short.reliability
    assert any(n.startswith("1 of the 4 budgets") and "too few to backtest" in n for n in short.notes)


def test_backtest_source_pools_groups_and_records_those_it_cannot_run(tmp_path):
    rng = np.random.default_rng(4)
    a = synthetic_runs(budgets=BUDGETS, noise=0.005, rng=rng).assign(experiment="long")
    b = synthetic_runs(budgets=BUDGETS[:2], noise=0.005, rng=rng).assign(experiment="short")
    p = tmp_path / "two.csv"
    pd.concat([a, b]).to_csv(p, index=False)
    rep = backtest_source(p, by="experiment", splits=("K1",), methods="approach2", n_bootstrap=50)
    assert set(rep.tables) == {"long", "short"}
    assert "K1" in rep.tables["short"].errors and not rep.tables["long"].errors
    s = [x for x in rep.summaries() if x.method == "answer"]
    assert len(s) == 1 and s[0].n == 1


def test_a_single_backtest_refuses_too_few_budgets():
    from isoflop.errors import FitError

    runs = load_runs(synthetic_runs(budgets=(1e17, 1e18, 1e19)))
    with pytest.raises(FitError, match="needs 4 budgets with an IsoFLOP vertex"):
        backtest(runs, 2)


def test_a_misfitting_form_is_judged_by_its_in_table_backtest_when_it_has_one():
    res = analyze(
        load_runs(synthetic_runs(budgets=BUDGETS, noise=0.005, rng=np.random.default_rng(5))),
        methods="approach2,approach3",
        targets=[1e22],
        n_bootstrap=100,
    )
    assert "approach3" in res.reliability
    flagged = {**res.misfit, "approach3": {**res.misfit["approach3"], "flagged": True, "p": 1e-9}}
    judged = choose_answer(dataclasses.replace(res, misfit=flagged), 1e22)
    assert "approach3" not in judged.set_aside
    short = {m: r for m, r in res.reliability.items() if m != "approach3"}
    untested = choose_answer(dataclasses.replace(res, misfit=flagged, reliability=short), 1e22)
    assert "lack-of-fit" in untested.set_aside["approach3"]


def test_vpnls_is_no_longer_ten_times_off_on_a_porian_table():
    # The issue's own case: at K = 1 on this table VPNLS said 5.5e7 for a held-out vertex of 5.7e8.
    t = load_runs("example:porian2024", where=("experiment=rw__tuned__short__const__standard__val",))
    kw = dict(methods="approach2,approach3,vpnls", n_bootstrap=50)
    after = {r.method: r for r in backtest(t, 1, **kw).rows}
    before = {r.method: r for r in backtest(t, 1, screen=False, **kw).rows}
    assert 1 + before["vpnls"].params_error < 0.2  # the failure, as measured, without the screening: 10x low
    for m in ("approach3", "vpnls"):  # within 3x now (VPNLS still sits 2x low on this table)
        assert 1 / 3 < 1 + after[m].params_error < 3, (m, after[m].params_error)
    assert after["answer"].params_inside and after["answer"].width < 2.5  # the spread to VPNLS widens it
