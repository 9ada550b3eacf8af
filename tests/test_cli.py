"""The CLI end to end through click's CliRunner, on real files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_runs

from isoflop.cli import main


@pytest.fixture
def runs_csv(tmp_path):
    rng = np.random.default_rng(0)
    df = synthetic_runs(budgets=np.logspace(17, 21, 5), n_sizes=7, noise=0.003, rng=rng)
    df.loc[len(df)] = {"params": 1e8, "tokens": 1e9, "flops": 6e17, "loss": float("nan"), "budget": 1e18}
    p = tmp_path / "runs.csv"
    df.to_csv(p, index=False)
    return p


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_fit_json_schema(runs_csv):
    r = run(
        "fit",
        runs_csv,
        "--method",
        "all",
        "--bootstrap",
        100,
        "--seed",
        0,
        "--json",
        "--target",
        1e23,
        "--target",
        1e15,
        "--no-screen",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["n_runs"] == 36 and doc["n_used"] == 35
    assert doc["excluded"] == [{"index": 35, "reason": "loss is missing or NaN"}]
    b = doc["approach2"]["budgets"][0]
    assert set(b) >= {"flops", "n_points", "optimal_params", "optimal_tokens", "min_loss", "status"}
    assert b["status"] in ("ok", "edge", "concave", "too_few")
    for m in ("approach1", "approach2"):
        for law in ("params_law", "tokens_law"):
            lw = doc[m][law]
            assert set(lw) >= {"exponent", "coefficient", "ci"}
            assert lw["ci"][0] <= lw["exponent"] <= lw["ci"][1]
    a3 = doc["approach3"]
    assert set(a3) >= {"E", "A", "B", "alpha", "beta", "a", "b", "objective", "ci"}
    assert a3["ci"]["alpha"][0] <= a3["alpha"] <= a3["ci"]["alpha"][1]
    preds = doc["predictions"]
    methods = ("approach1", "approach2", "approach2_corrected", "approach3", "vpnls")
    assert {(p["method"], p["flops"]) for p in preds} == {(m, c) for m in methods for c in (1e23, 1e15)}
    assert all(p["counting"] == "6ND" for p in preds if p["method"] in ("approach3", "vpnls"))
    assert doc["counting"]["name"] == "6ND" and doc["vpnls"]["objective_kind"] == "sum of squared loss residuals"
    fix = doc["approach2_corrected"]
    assert fix["surface"] == "vpnls" and len(fix["bias"]) == len(
        [b for b in doc["approach2"]["budgets"] if b["status"] == "ok"]
    )
    for p in preds:
        assert p["params_ci"][0] <= p["optimal_params"] <= p["params_ci"][1]
        assert p["optimal_params"] * p["optimal_tokens"] * 6 == pytest.approx(p["flops"], rel=0.05)


def test_fit_without_bootstrap_has_null_intervals(runs_csv):
    doc = json.loads(run("fit", runs_csv, "--bootstrap", 0, "--json", "--target", 1e20).output)
    assert doc["approach2"]["params_law"]["ci"] is None and doc["approach3"]["ci"] is None
    assert all(p["params_ci"] is None for p in doc["predictions"])


def test_weight_vertices_weights_approach2s_budgets_and_round_trips(runs_csv):
    plain = json.loads(run("fit", runs_csv, "--method", "approach2", "--bootstrap", 0, "--json").output)
    doc = json.loads(
        run("fit", runs_csv, "--method", "approach2", "--bootstrap", 0, "--weight-vertices", "--json").output
    )
    law, ok = doc["approach2"]["params_law"], [b for b in doc["approach2"]["budgets"] if b["status"] == "ok"]
    assert law["weighted"] and not plain["approach2"]["params_law"]["weighted"] and law["tau2"] >= 0
    assert all(b["params_var"] > 0 and b["tokens_var"] > 0 for b in ok)
    assert law["exponent"] != plain["approach2"]["params_law"]["exponent"]
    from isoflop.laws.result import AnalysisResult

    back = AnalysisResult.from_dict(doc, "fit.json")
    assert back.approach2.weights("params") is not None and back.approach2.params_law.tau2 == law["tau2"]
    r = run("backtest", runs_csv, "--split", "K1", "--bootstrap", 20, "--weight-vertices")
    assert r.exit_code == 0, r.output


def test_fit_tables_holdout_and_plots(runs_csv, tmp_path):
    r = run("fit", runs_csv, "--bootstrap", 50, "--holdout", 2, "--target", 1e22, "--plot-dir", tmp_path / "figs")
    assert r.exit_code == 0, r.output
    assert "Approach 2 (IsoFLOP parabolas)" in r.output and "Backtest" in r.output
    assert "row 35: loss is missing or NaN" in r.output
    for name in ("isoflops", "optimal_params", "optimal_tokens", "parametric"):
        png = tmp_path / "figs" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_holdout_json_reports_errors_and_coverage(runs_csv):
    doc = json.loads(run("fit", runs_csv, "--bootstrap", 100, "--holdout", 1, "--json").output)
    rows = doc["backtest"]["rows"]
    assert {r["method"] for r in rows} == {
        "approach1",
        "approach2",
        "approach2_corrected",
        "approach3",
        "vpnls",
        "answer",
    }
    for r in rows:
        assert r["flops"] == pytest.approx(1e21)
        assert abs(r["params_error"]) < 0.5 and isinstance(r["params_inside"], bool)
        assert isinstance(r["params_inside_allowing"], bool) and r["width"] >= 1
    chosen = next(r for r in rows if r["method"] == "answer")["chosen"]
    assert chosen.startswith("average(approach2") or chosen in {
        "approach2",
        "approach2_corrected",
        "approach3",
        "vpnls",
    }


def test_example_and_drop_highest():
    r = run(
        "fit",
        "--example",
        "chinchilla",
        "--drop-highest",
        5,
        "--method",
        "approach3",
        "--bootstrap",
        0,
        "--json",
        "--no-screen",
    )
    doc = json.loads(r.output)
    assert doc["n_used"] == 240 and len(doc["excluded"]) == 5
    assert round(doc["approach3"]["E"], 3) == 1.817


@pytest.mark.parametrize(
    "args,pattern",
    [
        (["fit", "nope.csv"], "nope.csv: file not found"),
        (["fit", "{bad_format}"], "unknown format"),
        (["fit", "{no_loss}"], "no loss column"),
        (["fit", "{bad_n}"], "row 1 (line 3): column 'params' (params) value 'x' is not a number"),
        (["fit", "{neg_c}"], "column 'flops' (flops) must be positive"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, pattern):
    files = {
        "bad_format": ("runs.xlsx", "a"),
        "no_loss": ("a.csv", "params,tokens\n1,2\n"),
        "bad_n": ("b.csv", "params,tokens,loss\n1e6,1e8,3\nx,1e8,3\n"),
        "neg_c": ("c.csv", "params,flops,loss\n1e6,-1,3\n"),
    }
    real = []
    for a in args:
        if a.startswith("{"):
            name, content = files[a[1:-1]]
            (tmp_path / name).write_text(content)
            a = str(tmp_path / name)
        real.append(a)
    r = CliRunner().invoke(main, real)
    assert r.exit_code == 2
    assert pattern in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_audit_with_preset_and_fit_json(runs_csv, tmp_path):
    r = run("audit", "--params", 1.2e7, "--tokens", 6.6e6, "--preset", "chinchilla")
    assert r.exit_code == 0, r.output
    assert "over-parameterised" in r.output and "predicted loss" in r.output
    fit_json = tmp_path / "fit.json"
    fit_json.write_text(run("fit", runs_csv, "--bootstrap", 100, "--json").output)
    r = run("audit", "--params", 1e7, "--tokens", 1e11, "--law", fit_json, "--json")
    doc = json.loads(r.output)
    assert doc["verdict"] == "under-parameterised" and doc["params_ci"][0] < doc["optimal_params"] < doc["params_ci"][1]
    r = run("audit", "--params", 1e9, "--tokens", 1e9, "--law", fit_json, "--method", "approach2")
    assert r.exit_code == 0 and "approach2" in r.output
    r = run("audit", "--params", 1e9, "--tokens", 1e9, "--law", tmp_path / "missing.json")
    assert r.exit_code == 2 and "missing.json: file not found" in r.output


def test_user_starting_grid(runs_csv, tmp_path):
    grid = tmp_path / "grid.csv"
    grid.write_text("a,b,e,alpha,beta\n5,7,0.5,0.3,0.3\n6,8,0.6,0.4,0.4\n")
    doc = json.loads(
        run("fit", runs_csv, "--method", "approach3", "--init-grid", grid, "--bootstrap", 0, "--json").output
    )
    assert doc["approach3"]["n_starts"] == 2 and doc["approach3"]["alpha"] == pytest.approx(0.34, rel=0.05)
    grid.write_text("a,b,e,alpha\n5,7,0.5,0.3\n")
    r = run("fit", runs_csv, "--init-grid", grid)
    assert r.exit_code == 2 and "missing beta" in r.output


def test_backtest_command_on_porian_json_and_table():
    args = (
        "backtest",
        "--example",
        "porian2024",
        "--where",
        "experiment=rw__tuned__short__const__standard__val",
        "--split",
        "K1",
        "--bootstrap",
        50,
        "--method",
        "approach2,approach3",
    )
    r = run(*args, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    s = {x["method"]: x for x in doc["summary"]}
    assert set(s) == {"approach2", "approach3", "answer"} and all(
        x["split"] == "K1" and x["n"] == 1 for x in s.values()
    )
    assert 0 <= s["answer"]["covered"] <= s["answer"]["covered_allowing"] <= 1
    assert "posterior given the parabola's residuals" in doc["vertex_uncertainty"]
    text = run(*args).output
    assert "allowing vertex" in text and "answer" in text


def test_backtest_bad_input_is_one_line_exit_2(tmp_path):
    r = run("backtest", tmp_path / "nope.csv")
    assert r.exit_code == 2 and "nope.csv: file not found" in r.output and len(r.output.strip().splitlines()) == 1
    r = run("backtest", "--example", "porian2024", "--by", "nosuchcolumn", "--bootstrap", 10)
    assert r.exit_code == 2 and "no such column" in r.output
