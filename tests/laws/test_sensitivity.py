"""The sensitivity report: the answer under every choice, its spread, and warnings on conditioning."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, synthetic_runs, true_nopt

from isoflop import analyze, load_runs
from isoflop.cli import main
from isoflop.laws.sensitivity import sensitivity


def test_every_choice_gives_a_row_and_a_well_specified_table_barely_moves():
    df = synthetic_runs(noise=0.002, rng=np.random.default_rng(0))
    table = load_runs(df)
    base = analyze(table, targets=[1e22], n_bootstrap=40)
    s = sensitivity(table, base, n_bootstrap=20)
    choices = {(r.choice, r.variant, r.method) for r in s.rows}
    assert {("estimator", "as fitted", m) for m in base.fitted} <= choices
    assert sum(r.choice == "loss" for r in s.rows) == 4
    assert sum(r.choice == "budgets" for r in s.rows) == 5 * 2  # each of 5 budgets out, Approaches 2 and 3
    assert any("recounted 6N" in m for m in s.missing)  # a plain table cannot be recounted
    # Noise-free up to 0.2%: every choice but the envelope lands near the truth.
    assert s.spread[1e22]["params_without_approach1"] < 1.25
    for r in s.rows:
        if r.method != "approach1":
            assert r.optimal_params == pytest.approx(true_nopt(1e22), rel=0.15), (r.variant, r.method)


def test_a_sweep_folder_adds_the_recount_and_the_cli_writes_report_json_and_figure(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "fit",
            str(FIXTURES / "quick-shakespeare"),
            "--target",
            "1e15",
            "--bootstrap",
            "30",
            "--sensitivity",
            "--json",
            "--plot-dir",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{") : r.output.rindex("}") + 1])
    sens = doc["sensitivity"]
    assert any(row["variant"] == "recounted 6N (non-embedding N)" for row in sens["rows"])
    assert any(row["variant"] == "frontier under C = 6ND" for row in sens["rows"])  # a Chinchilla-counted sweep
    assert sens["spread"]["1e+15"]["params"] >= sens["spread"]["1e+15"]["params_without_approach1"] >= 1
    assert (tmp_path / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(main, ["fit", str(FIXTURES / "quick-shakespeare"), "--sensitivity", "--bootstrap", "0"])
    assert r.exit_code == 2 and "--sensitivity reports N_opt and D_opt at the targets" in r.output


def test_a_poorly_constrained_fit_is_warned_about():
    df = synthetic_runs(budgets=(1e17, 1e18), n_sizes=5, noise=0.02, rng=np.random.default_rng(3))
    table = load_runs(df)
    base = analyze(table, targets=[1e22], n_bootstrap=60, methods=("approach3", "approach2"))
    s = sensitivity(table, base, n_bootstrap=10)
    assert any("interval on a spans" in w or "ridge" in w for w in s.warnings)
    assert any("leaving one out needs 3 or more budgets" in m for m in s.missing)
