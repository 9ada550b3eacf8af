"""Fit results round-trip through their classes; audit reads a law through them."""

import json

import numpy as np
import pytest
from conftest import FIXTURES, synthetic_runs

from isoflop import AnalysisResult, analyze, load_runs
from isoflop.errors import LawError, RecordError
from isoflop.laws.audit import Law, load_law


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(7)
    df = synthetic_runs(noise=0.004, rng=rng)
    return analyze(load_runs(df), n_bootstrap=60, seed=3, targets=[1e22, 1e24])


def test_analysis_round_trips_through_its_dict(result):
    doc = json.loads(json.dumps(result.to_dict()))  # through real JSON text
    back = AnalysisResult.from_dict(doc)
    assert back.to_dict() == doc
    assert back.approach3 == result.approach3 and back.approach2.params_law == result.approach2.params_law
    assert back.vpnls == result.vpnls and back.approach2_corrected.budgets == result.approach2_corrected.budgets
    assert back.approach2_corrected.fit.params_law == result.approach2_corrected.fit.params_law
    assert back.approach2.budgets == result.approach2.budgets and back.approach1.loss_law == result.approach1.loss_law
    for m, s in result.samples.items():
        for k, v in s.items():
            np.testing.assert_array_equal(back.samples[m][k], v)
    for f in ("n_params", "n_tokens", "flops", "loss", "used", "group", "budgets"):
        np.testing.assert_array_equal(getattr(back.table, f), getattr(result.table, f))
    assert back.predictions() == result.predictions()
    assert (back.targets, back.level, back.seed, back.n_bootstrap) == (result.targets, result.level, 3, 60)


def test_a_and_b_mean_one_thing(result):
    doc = result.to_dict()
    a3 = doc["approach3"]
    assert a3["a"] == pytest.approx(a3["beta"] / (a3["alpha"] + a3["beta"]))
    assert set(doc["bootstrap_samples"]["approach3"]) == {"log_A", "log_B", "log_E", "alpha", "beta"}


def test_audit_law_from_file_predicts_what_the_fit_predicts(result, tmp_path):
    p = tmp_path / "fit.json"
    p.write_text(json.dumps(result.to_dict()))
    for method in ("approach2", "approach3", "approach1", "vpnls", "approach2_corrected"):
        law = load_law(p, method)
        direct = Law.from_result(result, method)
        assert law.optimum(1e23) == direct.optimum(1e23)
        pred = result.prediction(method, 1e23)
        assert law.optimum(1e23)["optimal_params"] == pytest.approx(pred["optimal_params"], rel=1e-12)
        assert list(law.optimum(1e23)["params_ci"]) == pytest.approx(pred["params_ci"], rel=1e-12)


def test_old_or_broken_fit_files_are_named(result, tmp_path):
    doc = result.to_dict()
    with pytest.raises(RecordError, match="schema_version 1"):
        AnalysisResult.from_dict({**doc, "schema_version": 1}, "old.json")
    broken = dict(doc)
    broken["approach3"] = {k: v for k, v in doc["approach3"].items() if k != "beta"}
    p = tmp_path / "broken.json"
    p.write_text(json.dumps(broken))
    with pytest.raises(LawError, match=r"broken.json: approach3: missing key 'beta'"):
        load_law(p, "approach3")


def test_an_interval_over_100x_is_labelled_unconstrained_not_printed():
    """The Pig Latin sweep's table: Approach 2's interval on N_opt(1e15) spans hundreds of times."""
    from isoflop.laws import analyze, load_runs
    from isoflop.laws.report import format_analysis
    from isoflop.laws.result import UNCONSTRAINED

    res = analyze(
        load_runs(FIXTURES / "piglatin.csv"),
        methods="approach2,approach3",
        targets=[1e15],
        n_bootstrap=200,
        seed=0,
        screen=False,
    )
    p2, p3 = res.prediction("approach2", 1e15), res.prediction("approach3", 1e15)
    lo, hi = p2["params_ci"]
    assert hi / lo > UNCONSTRAINED and "over 100x" in p2["unconstrained"]["params"]
    lo3, hi3 = p3["params_ci"]
    assert hi3 / lo3 < UNCONSTRAINED and "params" not in p3.get("unconstrained", {})
    text = format_analysis(res)
    row = next(line for line in text.splitlines() if line.startswith("1e+15") and " approach2 " in line)
    assert "unconstrained (spans" in row and f"{lo:.3g}" not in row
    assert "unconstrained" not in next(
        line for line in text.splitlines() if line.startswith("1e+15") and " approach3 " in line
    )


def test_the_whole_fit_document_round_trips_and_is_the_one_reader_of_fit_files(tmp_path):
    """`scaling fit --json` with a backtest, a sensitivity report and answers reads back whole; every reader
    of a fit file (audit's law, a simulated sweep's surface, the planner's prior) reads it through read_fit."""
    from click.testing import CliRunner

    from isoflop.cli import main
    from isoflop.design.prior import load_prior
    from isoflop.errors import LawError
    from isoflop.laws.audit import load_law
    from isoflop.laws.document import FitDocument, read_fit
    from isoflop.laws.surface import parse_surface

    df = synthetic_runs(budgets=np.logspace(17, 20, 6), noise=0.005, rng=np.random.default_rng(0))
    table = tmp_path / "t.csv"
    df.to_csv(table, index=False)
    args = ["fit", str(table), "--json", "--target", "1e22", "--holdout", "1", "--sensitivity", "--bootstrap", "40"]
    r = CliRunner().invoke(main, [*args, "--method", "approach2,approach3"])
    assert r.exit_code == 0, r.output
    path = tmp_path / "fit.json"
    path.write_text(r.stdout)
    doc = read_fit(path)
    assert doc.backtest is not None and doc.backtest.rows and doc.sensitivity is not None and doc.sensitivity.rows
    assert [a.flops for a in doc.answers] == [1e22] and doc.answers[0].params_ci is not None
    again = FitDocument.from_dict(json.loads(json.dumps(doc.to_dict())))
    assert again.to_dict() == doc.to_dict()
    assert doc.to_dict() == json.loads(r.stdout)
    assert load_law(path).method == "approach3"
    assert parse_surface(str(path)).alpha == pytest.approx(doc.result.approach3.alpha)
    assert "replicates" in load_prior(str(path)).source
    for bad, why in (("[1, 2]", "JSON object"), ("{oops", "not valid JSON")):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(LawError, match=why):
            read_fit(tmp_path / "bad.json")
