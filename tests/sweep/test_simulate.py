"""The simulated backend: a sweep's plan run without training, its losses drawn from a known surface."""

import numpy as np
import pytest
from conftest import WSD_SWEEP, write

from isoflop import analyze, load_runs
from isoflop.errors import ConfigError
from isoflop.laws.surface import Surface
from isoflop.runs import finished_records
from isoflop.runs.throughput import Throughput
from isoflop.sweep import load_sweep, run_sweep, sweep_status
from isoflop.sweep.executors import make_executor
from isoflop.sweep.simulate import Simulator

SWEEP = """
name = "sim"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [2e9, 4e9, 8e9, 1.6e10]
threads = 1
schedule = "{schedule}"
seeds = {seeds}
[sizes]
params = [4e3, 8e3, 1.6e4, 3.2e4, 6.4e4, 1.28e5, 2.56e5]
"""
SURFACE = Surface(E=1.5, A=60.0, B=300.0, alpha=0.35, beta=0.35, name="test")


def _run(tmp_path, sim, schedule="cosine", seeds=1, results="res"):
    sw = load_sweep(write(tmp_path, SWEEP.format(schedule=schedule, seeds=seeds)))
    st = run_sweep(sw, make_executor("local", threads_per_run=1), results_root=tmp_path / results, simulate=sim)
    return sw, st, tmp_path / results / "sim"


def test_noise_free_simulation_reproduces_the_surface(tmp_path):
    sw, st, folder = _run(tmp_path, Simulator(SURFACE, sigma=0.0))
    assert st.ok == st.planned == 28
    recs = finished_records(folder)
    assert all(r.simulated["surface"]["name"] == "test" and r.device == "simulated" for r in recs)
    for r in recs:
        assert r.val_loss == pytest.approx(float(SURFACE.loss(r.n_params, r.tokens)), rel=1e-12)
        assert r.tokens * r.flops_per_token["chinchilla"] == pytest.approx(r.flops, rel=1e-9)
    res = analyze(load_runs(folder), methods="approach2,vpnls", n_bootstrap=0)
    assert any("simulated" in note for note in res.notes)
    # VPNLS recovers the surface exactly: the table is the surface at the runs' own N and D
    assert res.vpnls.alpha == pytest.approx(0.35, rel=1e-4) and res.vpnls.beta == pytest.approx(0.35, rel=1e-4)


def test_noise_is_deterministic_and_shared_within_a_seed(tmp_path):
    sim = Simulator(SURFACE, sigma=0.0, seed_sigma=0.02, seed=3)
    _, _, folder = _run(tmp_path, sim, seeds=2)
    _, _, again = _run(tmp_path, sim, seeds=2, results="again")
    by_id = {r.run_id: r.val_loss for r in finished_records(folder)}
    assert by_id == {r.run_id: r.val_loss for r in finished_records(again)}
    # each seed's log-ratio to the surface is a line in log N, and the two seeds' lines differ
    for seed in (0, 1):
        rs = [r for r in finished_records(folder) if r.seed == seed]
        x = np.log10([r.n_params for r in rs])
        y = np.log([r.val_loss / float(SURFACE.loss(r.n_params, r.tokens)) for r in rs])
        slope, icpt = np.polyfit(x, y, 1)
        assert np.allclose(y, icpt + slope * x, atol=1e-9)
    noisy = Simulator(SURFACE, sigma=0.01, seed=1)
    a, b = noisy.noise(1e4, "run-a", 0), noisy.noise(1e4, "run-b", 0)
    assert a != b and a == noisy.noise(1e4, "run-a", 0)


def test_wsd_simulation_counts_each_trunk_once(tmp_path):
    sim = Simulator(SURFACE, sigma=0.0)
    sw, st, folder = _run(tmp_path, sim, schedule="wsd")
    assert st.ok == 28 and st.trunks >= 4
    assert st.cost_flops < 0.7 * st.independent_flops  # trunks shared across budgets
    assert st.cost_wall_s > 0


def test_a_folder_holds_simulated_or_trained_runs_not_both(tmp_path):
    _run(tmp_path, Simulator(SURFACE))
    sw = load_sweep(write(tmp_path, SWEEP.format(schedule="cosine", seeds=1)))
    with pytest.raises(ConfigError, match="holds simulated runs"):
        run_sweep(sw, make_executor("local", threads_per_run=1), results_root=tmp_path / "res")


def test_throughput_model_from_records(tmp_path):
    n = np.array([1e4, 1e5, 1e6])
    tp = Throughput.fit(n, 1e12 * np.ones(3), 1e12 / (1e9 * n**0.3), "synthetic")
    assert tp.c1 == pytest.approx(0.3) and tp.flops_per_second(1e5) == pytest.approx(1e9 * 1e5**0.3)
    assert tp.flops_per_second(1e9) == pytest.approx(tp.flops_per_second(1e6))  # held flat past its range
    assert Throughput.from_dict(tp.to_dict()) == tp
    with pytest.raises(ConfigError, match="two or more"):
        Throughput.fit([1e4], [1e12], [3.0], "one run")


def test_simulate_cli(tmp_path):
    from click.testing import CliRunner

    from isoflop.cli import main

    path = write(tmp_path, WSD_SWEEP)
    r = CliRunner().invoke(
        main,
        [
            "sweep",
            "run",
            str(path),
            "--results",
            str(tmp_path / "r"),
            "--simulate",
            "E=1.5,A=60,B=300,alpha=0.35,beta=0.35",
            "--noise",
            "0.005",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "simulated from" in r.output and "9 runs finished (9 ok" in r.output
    r = CliRunner().invoke(
        main,
        ["sweep", "run", str(path), "--results", str(tmp_path / "r2"), "--simulate", "E=1.5,A=60,B=300,alpha=0.35"],
    )
    assert r.exit_code == 2 and "missing beta" in r.output and "Traceback" not in r.output
    assert sweep_status(load_sweep(path), tmp_path / "r").ok == 9


def test_the_sweep_status_is_an_api_with_each_budgets_runs_and_best(tmp_path):
    """sweep_status gives what `scaling sweep status` prints: per budget, the runs by status and the lowest loss."""
    from click.testing import CliRunner
    from conftest import COSINE_SWEEP, write

    from isoflop.cli import main
    from isoflop.runs import finished_records
    from isoflop.sweep import load_sweep, sweep_status

    f = write(tmp_path, COSINE_SWEEP)
    res = tmp_path / "res"
    assert (
        CliRunner().invoke(main, ["sweep", "run", str(f), "--results", str(res), "--simulate", "epoch"]).exit_code == 0
    )
    sw = load_sweep(f)
    st = sweep_status(sw, res)
    recs = list(finished_records(res / sw.name))
    assert [b.flops for b in st.per_budget] == sorted(sw.budgets)
    assert sum(b.ok + b.diverged + b.failed for b in st.per_budget) == st.done == len(recs)
    for b in st.per_budget:
        mine = [r for r in recs if r.budget_flops == b.flops and r.status == "ok"]
        assert b.best_loss == min(r.val_loss for r in mine)
    out = CliRunner().invoke(main, ["sweep", "status", str(f), "--results", str(res)]).output.splitlines()
    assert out == "\n".join(st.lines(str(f))).splitlines()
