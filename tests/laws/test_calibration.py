"""Calibrated intervals: the measured factors, and the lack-of-fit test that hands a misfitting form Approach 2's interval."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_runs, true_nopt

from isoflop import analyze, load_runs
from isoflop.laws.fit.calibration import INTERVAL_SCALE, lack_of_fit, scale_interval
from isoflop.laws.result import AnalysisResult

KAPLAN = {"Nc": 8.8e13, "Dc": 5.4e13, "aN": 0.076, "aD": 0.095}


def kaplan_runs(rng, noise=0.01):
    rows = []
    for c in np.logspace(17, 20, 6):
        grid = np.logspace(4, 13, 20001)
        loss = ((KAPLAN["Nc"] / grid) ** (KAPLAN["aN"] / KAPLAN["aD"]) + KAPLAN["Dc"] / (c / (6 * grid))) ** KAPLAN[
            "aD"
        ] + 1
        centre = grid[np.argmin(loss)]
        for n in centre * np.logspace(-0.6, 0.6, 7):
            d = c / (6 * n)
            l = ((KAPLAN["Nc"] / n) ** (KAPLAN["aN"] / KAPLAN["aD"]) + KAPLAN["Dc"] / d) ** KAPLAN["aD"] + 1
            rows.append({"params": n, "tokens": d, "flops": c, "budget": c, "loss": l * np.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


def test_scaling_an_interval_about_its_estimate():
    lo, hi = scale_interval(100.0, (50.0, 400.0), 0.5)
    assert lo == pytest.approx(100 / 2**0.5) and hi == pytest.approx(200.0)
    assert scale_interval(100.0, (50.0, 400.0), 1.0) == (50.0, 400.0)
    assert scale_interval(100.0, None, 0.5) is None


def test_calibrated_and_plain_intervals():
    runs = load_runs(synthetic_runs(noise=0.01, rng=np.random.default_rng(1)))
    cal = analyze(runs, methods="approach1,approach3", targets=[1e22], n_bootstrap=100, seed=0)
    raw = analyze(runs, methods="approach1,approach3", targets=[1e22], n_bootstrap=100, seed=0, calibrate=False)
    for m in ("approach1", "approach3"):
        p, q = cal.prediction(m, 1e22), raw.prediction(m, 1e22)
        assert p["params_ci_raw"] == q["params_ci"] and p["interval_scale"] == INTERVAL_SCALE[m]
        est = p["optimal_params"]
        s = INTERVAL_SCALE[m]
        scaled = p.get("params_ci_bootstrap", p["params_ci"])  # before the in-table backtest widens it
        assert np.log(scaled[1] / est) == pytest.approx(s * np.log(q["params_ci"][1] / est))
        assert p["params_ci"][0] <= scaled[0] and p["params_ci"][1] >= scaled[1]
        assert p["loss_ci"] == q["loss_ci"]  # the loss interval is not calibrated
    back = AnalysisResult.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back.calibrated and back.prediction("approach3", 1e22)["params_ci"] == pytest.approx(
        cal.prediction("approach3", 1e22)["params_ci"]
    )


def test_lack_of_fit_flags_a_form_that_does_not_describe_the_table():
    rng = np.random.default_rng(0)
    good = [
        analyze(
            load_runs(synthetic_runs(budgets=np.logspace(17, 20, 6), noise=0.01, rng=rng)),
            methods="approach2,vpnls",
            n_bootstrap=0,
            screen=False,
        )
        for _ in range(10)
    ]
    bad = [
        analyze(load_runs(kaplan_runs(rng)), methods="approach2,vpnls", n_bootstrap=0, screen=False) for _ in range(10)
    ]
    p_good = [r.misfit["vpnls"]["p"] for r in good]
    p_bad = [r.misfit["vpnls"]["p"] for r in bad]
    assert sum(p < 0.05 for p in p_good) <= 2  # a 5% test on a correct form
    assert sum(p < 0.05 for p in p_bad) >= 8
    assert np.median([r.misfit["vpnls"]["rms_ratio"] for r in bad]) > 1.2
    f = good[0]
    t = good[0].table
    n, d, _, l, g = t.used_arrays()
    assert lack_of_fit(f.vpnls, n, d, l, t.budgets[g], f.approach2)["df"] == [13, 24]


def test_a_misfitting_form_gets_approach2s_interval():
    res = analyze(
        load_runs(kaplan_runs(np.random.default_rng(3))),
        methods="approach2,approach3,vpnls",
        targets=[1e21],
        n_bootstrap=100,
        seed=0,
        screen=False,
    )
    # The borrowing on its own: without the in-table backtests' widening, Approach 2's interval is the narrower.
    res = dataclasses.replace(res, reliability={})
    flagged = [m for m in ("approach3", "vpnls") if res.misfit[m]["flagged"]]
    assert flagged
    a2 = res.prediction("approach2", 1e21)
    for m in flagged:
        p = res.prediction(m, 1e21)
        assert p["interval_from"].startswith("approach2")
        lo, hi = p["params_ci"]
        assert lo == pytest.approx(min(a2["params_ci"][0], p["optimal_params"]))
        assert hi == pytest.approx(max(a2["params_ci"][1], p["optimal_params"]))
        assert any(m in note and "lack-of-fit" in note for note in res.notes)
    raw = analyze(
        load_runs(kaplan_runs(np.random.default_rng(3))),
        methods="approach2,approach3,vpnls",
        targets=[1e21],
        n_bootstrap=100,
        seed=0,
        calibrate=False,
    )
    assert "interval_from" not in raw.prediction(flagged[0], 1e21)


def test_truth_is_covered_on_a_correct_surface():
    res = analyze(
        load_runs(synthetic_runs(noise=0.005, rng=np.random.default_rng(5))), targets=[1e22], n_bootstrap=200, seed=0
    )
    for m in ("approach2", "approach3", "vpnls"):
        lo, hi = res.prediction(m, 1e22)["params_ci"]
        assert lo <= true_nopt(1e22) <= hi


def test_approach1_has_its_own_factor_when_the_table_holds_seeds():
    from isoflop.laws.fit.calibration import SEEDED_SCALE

    base = synthetic_runs(budgets=(1e17, 1e18, 1e19, 1e20), n_sizes=5)
    rng = np.random.default_rng(2)
    df = pd.concat(
        [base.assign(loss=base.loss * np.exp(rng.normal(0, 0.01, len(base)))) for _ in range(2)], ignore_index=True
    )
    res = analyze(load_runs(df), methods="approach1", targets=[1e21], n_bootstrap=100, seed=0)
    p = res.prediction("approach1", 1e21)
    assert res.seed_noise["dof"] > 0 and p["interval_scale"] == SEEDED_SCALE["approach1"] != INTERVAL_SCALE["approach1"]
    est, (lo, _), (raw_lo, _) = p["optimal_params"], p.get("params_ci_bootstrap", p["params_ci"]), p["params_ci_raw"]
    assert np.log(lo / est) == pytest.approx(SEEDED_SCALE["approach1"] * np.log(raw_lo / est))
