"""Adaptive sweeps on the simulated backend: stop at the target width, extend within the cap, resume from the log."""

import json

import pytest
from click.testing import CliRunner
from conftest import write

from isoflop.cli import main
from isoflop.design.adaptive import run_adaptive
from isoflop.design.decisions import LOG, read_log
from isoflop.errors import ConfigError
from isoflop.laws.surface import Surface
from isoflop.runs import finished_records
from isoflop.runs.throughput import Throughput
from isoflop.sweep import load_sweep
from isoflop.sweep.executors import make_executor
from isoflop.sweep.simulate import Simulator

SWEEP = """
name = "ad"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [1e9, 2e9, 4e9, 8e9, 1.6e10]
threads = 1
head_dim = 16
schedule = "cosine"
[sizes]
auto = {{ k = 5, span = 3.0, exponent = 0.5, anchor_flops = 2e9, anchor_params = 1.8e4 }}
"""
TP = Throughput(20.0, 0.0, (1e3, 1e7), 2, "test")  # ~4.85e8 FLOP/s
SIM = Simulator(Surface(E=1.0, A=100.0, B=100.0, alpha=0.35, beta=0.35, name="truth"), sigma=0.003, throughput=TP)
METHODS = ("approach2", "vpnls")


def _run(tmp_path, **kw):
    sw = load_sweep(write(tmp_path, SWEEP.format()))
    args = dict(target=1e12, methods=METHODS, results_root=tmp_path / "r", simulate=SIM, n_bootstrap=60, replicates=3)
    return run_adaptive(sw, lambda: make_executor("local", threads_per_run=1), **{**args, **kw})


def test_stops_once_the_interval_is_narrow_enough(tmp_path):
    res = _run(tmp_path, until_width=50.0)
    f = res.final
    assert f.action == "stop" and "at most 50x" in f.reason and f.budgets_done == 3
    assert max(f.width.values()) <= 50
    recs = finished_records(tmp_path / "r" / "ad")
    assert {r.budget_flops for r in recs} == {1e9, 2e9, 4e9}  # the two planned budgets above were never run
    log = read_log(tmp_path / "r" / "ad")
    assert [d.action for d in log] == ["continue", "continue", "stop"]
    assert all(d.reason for d in log)


def test_extends_within_the_cap_and_resumes_from_its_log(tmp_path):
    cap = 4.0 * 3.1e11 / 4.85e8 / 2  # run time over 2 workers: about four times the planned sweep's FLOPs
    res = _run(tmp_path, until_width=1.01, cap_s=cap)
    actions = [d.action for d in res.decisions]
    moves = [d for d in res.decisions if d.action in ("add-budget", "add-seed")]
    assert moves and all(set(d.predicted) <= {"add-budget", "add-seed"} and d.predicted for d in moves)
    assert actions[-1] == "stop"
    assert res.final.cost_wall_s <= cap * 1.05
    folder = tmp_path / "r" / "ad"
    recs = finished_records(folder)
    if any(d.action == "add-budget" for d in moves):
        assert max(r.budget_flops for r in recs) > 1.6e10
    if any(d.action == "add-seed" for d in moves):
        assert max(r.seed for r in recs) >= 1
    # a stopped sweep stays stopped
    again = _run(tmp_path, until_width=1.01, cap_s=cap)
    assert [d.to_dict() for d in again.decisions] == [d.to_dict() for d in res.decisions]
    # killed after its first move: the log loses what came after, and the last line is torn
    lines = (folder / LOG).read_text().splitlines()
    first_move = next(i for i, line in enumerate(lines) if json.loads(line)["action"] in ("add-budget", "add-seed"))
    (folder / LOG).write_text("\n".join(lines[: first_move + 1]) + "\n" + lines[first_move + 1][:20])
    resumed = _run(tmp_path, until_width=1.01, cap_s=cap)
    assert [d.to_dict() for d in resumed.decisions] == [d.to_dict() for d in res.decisions]
    assert {r.run_id: r.val_loss for r in finished_records(folder)} == {r.run_id: r.val_loss for r in recs}


def test_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match="greater than 1"):
        _run(tmp_path, until_width=1.0)
    path = write(tmp_path, SWEEP.format())
    r = CliRunner().invoke(
        main,
        [
            "sweep",
            "run",
            str(path),
            "--results",
            str(tmp_path / "c"),
            "--simulate",
            "E=1,A=100,B=100,alpha=0.35,beta=0.35",
            "--adaptive",
            "--target",
            "1e12",
            "--until-width",
            "0.5",
        ],
    )
    assert r.exit_code == 2 and "--until-width (0.5) must be greater than 1" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["sweep", "run", str(path), "--results", str(tmp_path / "c"), "--adaptive"])
    assert r.exit_code == 2 and "--adaptive needs --target" in r.output
    r = CliRunner().invoke(main, ["sweep", "run", str(path), "--results", str(tmp_path / "c"), "--until-width", "2"])
    assert r.exit_code == 2 and "go with --adaptive" in r.output


def test_adaptive_cli_logs_each_decision(tmp_path):
    path = write(tmp_path, SWEEP.format())
    r = CliRunner().invoke(
        main,
        [
            "sweep",
            "run",
            str(path),
            "--results",
            str(tmp_path / "c"),
            "--simulate",
            "E=1,A=100,B=100,alpha=0.35,beta=0.35",
            "--noise",
            "0.003",
            "--adaptive",
            "--target",
            "1e12",
            "--until-width",
            "50",
            "--method",
            "approach2,vpnls",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "[adaptive] after 3 budgets: stop" in r.output and "adaptive sweep stopped" in r.output
    assert len(read_log(tmp_path / "c" / "ad")) == 3


def test_a_wsd_sweep_grows_each_trunk_once_across_steps(tmp_path):
    from isoflop.runs.store import run_folders, trunk_folders

    sw = load_sweep(write(tmp_path, SWEEP.format().replace('schedule = "cosine"', 'schedule = "wsd"')))
    res = run_adaptive(
        sw,
        lambda: make_executor("local", threads_per_run=1),
        target=1e12,
        until_width=1.01,
        cap_flops=2e12,
        methods=METHODS,
        results_root=tmp_path / "r",
        simulate=SIM,
        n_bootstrap=60,
        replicates=3,
    )
    folder = tmp_path / "r" / "ad"
    recs = finished_records(folder)
    # every step planned its budget as part of the whole sweep (the trunks' warmup pinned to the planned top
    # budget), so no run was trained twice under another warmup, and each size and seed has one trunk
    assert len(run_folders(folder)) == len(recs)
    assert len(trunk_folders(folder)) == len({(r.n_params, r.seed) for r in recs})
    assert max(r.budget_flops for r in recs) > 1.6e10 or max(r.seed for r in recs) > 0  # it was extended
    assert res.sweep.warmup_budget == 1.6e10
    assert any(d.action in ("add-budget", "add-seed", "stop") for d in res.decisions)


def test_an_error_cut_short_carries_what_finished(tmp_path):
    """A ScalingError raised once runs have started (here by the caller's progress hook, at the third budget)
    carries what was computed before it: a sweep's SweepStatus (its runs tabled in runs.csv), an adaptive
    sweep's logged decisions; the CLI's one line ends with its summary."""
    from isoflop.cli import _one_line
    from isoflop.sweep import run_sweep

    def third_budget_fails(event):
        if event.get("event") == "budget" and event["budget"] == 4e9:
            raise ConfigError("budget 4e9: cannot be planned")

    sw = load_sweep(write(tmp_path, SWEEP.format()))
    with pytest.raises(ConfigError) as e:
        run_sweep(
            sw,
            make_executor("local", threads_per_run=1),
            results_root=tmp_path / "s",
            simulate=SIM,
            progress=third_budget_fails,
        )
    st = e.value.partial
    assert st.done == st.ok == 10  # the auto sizes refine: budgets are planned and run one at a time
    assert (tmp_path / "s" / "ad" / "runs.csv").read_text().count("\n") == 11  # header + the 10 finished runs
    assert (
        _one_line(e.value)
        == "budget 4e9: cannot be planned (kept from before it: " + st.summary().splitlines()[0] + ")"
    )
    with pytest.raises(ConfigError) as e:
        _run(tmp_path, until_width=1.01, progress=third_budget_fails)
    res = e.value.partial
    assert [d.action for d in res.decisions] == ["continue", "continue"] and res.final.budgets_done == 2
    assert [d.action for d in read_log(tmp_path / "r" / "ad")] == ["continue", "continue"]
    assert "2 decision(s)" in _one_line(e.value)
