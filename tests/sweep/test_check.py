"""Check runs beyond a sweep: the plan, the verdict on known truths, and `scaling validate` end to end."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import COSINE_SWEEP, synthetic_runs, true_loss, true_nopt, write

from isoflop.cli import main
from isoflop.laws.analyze import analyze
from isoflop.laws.check import judge_check
from isoflop.laws.table_io import load_runs
from isoflop.runs import finished_records
from isoflop.sweep import SweepError, load_sweep
from isoflop.sweep.check import check_sweep

SWEEP = COSINE_SWEEP.replace('name = "t"', 'name = "v"').replace("k = 3,", "k = 5,")


def test_check_sweep_centres_three_sizes_and_refuses_a_budget_inside_the_sweep(tmp_path):
    sw = load_sweep(write(tmp_path, SWEEP))
    chk = check_sweep(sw, 3e4, 5e9)
    assert chk.name == "v-check" and chk.budgets == (5e9,) and chk.sizes.params == (1e4, 3e4, 9e4)
    assert chk.corpus == sw.corpus and chk.train == sw.train
    with pytest.raises(SweepError, match="below the sweep's top budget"):
        check_sweep(sw, 3e4, 5e8)


def _result(target):
    rng = np.random.default_rng(1)
    df = synthetic_runs(noise=0.002, rng=rng)
    return analyze(load_runs(df), methods="approach2,approach3", targets=[target], n_bootstrap=100, seed=0)


def test_a_check_on_the_truth_lands_inside_and_one_off_the_law_does_not():
    c = 1e22  # ten times the top budget of the synthetic sweep
    res = _result(c)
    n_star = true_nopt(c)
    sizes = n_star * np.array([1 / 3, 1, 3])
    good = judge_check(res, sizes, [true_loss(n, c / (6 * n)) for n in sizes], c)
    assert good.status == "ok" and good.measured_params == pytest.approx(n_star, rel=0.35)
    assert all(v["size_inside"] for v in good.methods.values())
    assert all(v["loss_inside"] for v in good.methods.values())
    # a world whose optimum is 10x larger: the check's smallest sizes lose, the minimum lies beyond the check
    far = judge_check(res, sizes, [true_loss(n / 10, c / (6 * n)) for n in sizes], c)
    assert far.status == "edge" and "beyond" in far.reason
    # a minimum inside the check's sizes but 1.6x off the truth: outside every (tight) interval
    centre = np.log10(1.6 * n_star)
    moved = judge_check(res, sizes, [2.0 + 0.05 * (np.log10(n) - centre) ** 2 for n in sizes], c)
    assert moved.status == "ok" and moved.measured_params == pytest.approx(1.6 * n_star, rel=1e-6)
    assert not any(v["size_inside"] for v in moved.methods.values()), moved.methods


def test_validate_trains_the_check_and_writes_its_verdict(tmp_path, cache_dir):
    f = write(tmp_path, SWEEP)
    res = tmp_path / "r"
    r = CliRunner().invoke(main, ["sweep", "run", str(f), "--results", str(res), "--cache-dir", str(cache_dir)])
    assert r.exit_code == 0, r.output
    bad = CliRunner().invoke(main, ["validate", str(f), "--budget", "5e8", "--results", str(res)])
    assert bad.exit_code == 2 and "below the sweep's top budget" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    # tiny synthetic budgets give no IsoFLOP parabolas, so Approach 2 cannot centre the check: one line, exit 2
    a2 = CliRunner().invoke(
        main, ["validate", str(f), "--budget", "5e9", "--results", str(res), "--bootstrap", "50", "--dry-run"]
    )
    assert a2.exit_code in (0, 2) and (a2.exit_code == 0 or "pick another with --centre" in a2.output)
    r = CliRunner().invoke(
        main,
        [
            "validate",
            str(f),
            "--budget",
            "5e9",
            "--results",
            str(res),
            "--bootstrap",
            "100",
            "--centre",
            "approach3",
            "--method",
            "approach3",
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert r.exit_code == 0, r.output
    recs = finished_records(res / "v-check")
    assert len(recs) == 3 and {x.budget_flops for x in recs} == {5e9}
    doc = json.loads((res / "v-check" / "verdict.json").read_text())
    assert doc["budget"] == 5e9 and len(doc["sizes"]) == 3 and doc["status"] in ("ok", "edge")
    assert "check at 5e+09 FLOPs" in r.output and "check cost: 3 runs" in r.output
    again = CliRunner().invoke(main, ["fit", str(res / "v-check"), "--bootstrap", "0", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["n_runs"] == 3
