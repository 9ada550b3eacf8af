"""WSD sweeps: trunks shared across budgets, cooldown branches, honest cost, crash safety, executors."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import WSD_SWEEP, write

from isoflop import load_runs
from isoflop.cli import main
from isoflop.data import load_corpus
from isoflop.runs import RunFolder, finished_records, run_folders, trunk_folders
from isoflop.sweep import load_sweep, run_sweep
from isoflop.sweep.executors import LocalExecutor
from isoflop.train import train

WSD = WSD_SWEEP


def _steps_once(folder) -> bool:
    steps = [r["step"] for r in folder.read_metrics() if r.get("kind") == "train"]
    return steps == sorted(set(steps))


@pytest.fixture(scope="module")
def wsd_sweep(tmp_path_factory, cache_dir):
    tmp = tmp_path_factory.mktemp("wsd")
    sweep = load_sweep(write(tmp, WSD))
    st = run_sweep(sweep, LocalExecutor(1, max_workers=2), results_root=tmp / "res", cache_dir=str(cache_dir))
    return sweep, tmp / "res", st


def test_trunks_serve_every_budget_and_are_counted_once(wsd_sweep):
    sweep, res, st = wsd_sweep
    recs = finished_records(res / "w")
    assert st.done == 9 and st.ok == 9 and st.trunks == 3
    assert all(r.trunk_id and r.branch_step > 0 and r.train_config.schedule == "wsd" for r in recs)
    assert len({r.trunk_id for r in recs}) == 3  # one trunk per size, shared by its three budgets
    for r in recs:  # each branch ends at its budget, within a step; its cost is its cooldown only
        step_flops = r.flops / r.steps
        assert abs(r.flops - r.budget_flops) <= step_flops
        assert r.cost_flops == pytest.approx((r.steps - r.branch_step) * step_flops)
    trunk_cost = sum(tf.read_state().flops for tf in trunk_folders(res / "w"))
    largest = {r.trunk_id: r.branch_step * r.flops / r.steps for r in recs if r.budget_flops == 8e8}
    assert trunk_cost == pytest.approx(sum(largest.values()))  # each trunk step paid once, none twice
    assert st.cost_flops == pytest.approx(trunk_cost + sum(r.cost_flops for r in recs))
    assert st.cost_flops < 0.8 * st.independent_flops
    # No checkpoint is left once no branch needs it; every curve holds each step once.
    assert not list((res / "w").rglob("*.pt"))
    assert all(_steps_once(f) for f in run_folders(res / "w")) and all(_steps_once(t) for t in trunk_folders(res / "w"))


def test_every_config_json_is_one_spec_shape(wsd_sweep, tmp_path, cache_dir):
    """Run folders, trunk folders and ``scaling train --out`` write config.json through RunSpec/TrunkSpec: each
    reads back to the spec whose id names its folder, and a trunk's keys are its branches' less the budget's."""
    _, res, _ = wsd_sweep
    runs, trunks = run_folders(res / "w"), trunk_folders(res / "w")
    for f in runs:
        assert f.read_spec().run_id == f.run_id
    branch = runs[0].read_spec()
    for t in trunks:
        assert t.read_spec().trunk_id == t.trunk_id
    trunk_keys = set(json.loads(trunks[0].config_path.read_text()))
    branch_keys = set(json.loads(runs[0].config_path.read_text()))
    assert trunk_keys == branch_keys - {"budget", "run_id", "branch_step", "start_flops"}
    assert branch.trunk.trunk_id in {t.trunk_id for t in trunks}
    out = tmp_path / "one"
    args = ["train", "--n-layers", "1", "--d-model", "32", "--seq-len", "32", "--budget", "1e9", "--data"]
    args += ["synthetic", "--out", str(out), "--cache-dir", str(cache_dir), "--peak-tflops", "0.1", "--threads", "1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    one = RunFolder(out).read_spec()
    assert one.budget == 1e9 and one.trunk is None
    own = set(json.loads(RunFolder(out).config_path.read_text()))
    assert own == branch_keys - {"trunk_warmup_steps", "trunk_id", "branch_step", "start_flops"}


def test_a_wsd_sweep_reads_as_a_curve_table_that_counts_every_step_once(wsd_sweep):
    """Trunks are the parents of their branches, with a validation loss at each branch point; a branch's whole
    curve (trunk prefix, then its cooldown) holds the mean loss of every one of its steps exactly once, across the
    snapshot it started from."""
    from isoflop.laws.curves import load_curves

    _, res, _ = wsd_sweep
    ct = load_curves(res / "w")
    trunks = [c for c in ct.curves if c.run.startswith("trunk:")]
    recs = {r.run_id: r for r in finished_records(res / "w")}
    assert len(trunks) == 3 and len(ct) == 3 + len(recs)
    for t in trunks:
        # The trunk measured its validation loss at each of its branch points, at the stable LR.
        assert [s for s, _ in t.val] == sorted({b.branch_step for b in ct.branches(t.run)})
        assert all(np.isfinite(v) and v > 0 for _, v in t.val)
        for b in ct.branches(t.run):
            full = ct.full(b.run)
            assert full.final_val == pytest.approx(recs[b.run].val_loss)
            assert int(full.loss_steps.sum()) == full.end == recs[b.run].steps
            assert np.all(np.isfinite(full.loss_mean)) and np.all(np.diff(full.step) > 0)
    r = CliRunner().invoke(main, ["curves", "fit", str(res / "w"), "--skip", "0.05", "--json"])
    assert r.exit_code == 0, r.output
    sizes = json.loads(r.output)["sizes"]
    assert sorted(s["n_params"] for s in sizes) == sorted({t.n_params for t in trunks})
    assert all(s["status"] in ("ok", "failed", "not fitted") and len(s["runs"]) == 4 for s in sizes)
    assert any(s["status"] == "ok" and s["fit"]["rms"] < 0.1 for s in sizes)


def test_the_largest_budgets_branch_is_exactly_its_own_wsd_run(wsd_sweep, cache_dir):
    sweep, res, _ = wsd_sweep
    data = load_corpus("synthetic", cache_dir=cache_dir)
    for r in (r for r in finished_records(res / "w") if r.budget_flops == 8e8):
        alone = train(r.model, 8e8, data, r.train_config, seed=r.seed, peak_flops=1e11)
        assert alone.val_loss == r.val_loss and alone.flops == r.flops


def test_a_wsd_folder_fits_like_any_other_and_approach1_uses_branch_ends(wsd_sweep):
    _, res, _ = wsd_sweep
    table = load_runs(res / "w")
    assert table.n_used == 9 and table.curves is None  # branch ends only: no mid-schedule losses
    r = CliRunner().invoke(main, ["fit", str(res / "w"), "--bootstrap", "0", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert len(doc["approach2"]["budgets"]) == 3
    assert doc["approach1"]["source"] == "lowest-loss run per budget" and len(doc["approach1"]["points"]) == 3
    r = CliRunner().invoke(main, ["sweep", "status", str(res.parent / "s.toml"), "--results", str(res)])
    assert "3 WSD trunks, each counted once" in r.output and "saved" in r.output


def test_a_lost_branch_recreates_its_trunk_snapshot(wsd_sweep, tmp_path, cache_dir):
    sweep, res, _ = wsd_sweep
    import shutil

    shutil.copytree(res, tmp_path / "res")
    folder = next(f for f in run_folders(tmp_path / "res" / "w") if f.read_result().budget_flops == 4e8)
    before = folder.read_result()
    folder.result_path.write_text("{ torn")  # damaged: redone; its snapshot and the head are gone
    st = run_sweep(sweep, LocalExecutor(1, max_workers=1), results_root=tmp_path / "res", cache_dir=str(cache_dir))
    after = RunFolder(folder.path).read_result()
    assert st.ok == 9 and after.val_loss == before.val_loss and after.branch_step == before.branch_step
    tf = next(t for t in trunk_folders(tmp_path / "res" / "w") if t.trunk_id == before.trunk_id)
    assert tf.read_state().recreated_flops == pytest.approx(before.branch_step * before.flops / before.steps)
    assert _steps_once(tf) and not list((tmp_path / "res").rglob("*.pt"))


@pytest.mark.parametrize(
    "extra,msg",
    [
        ("cooldown_frac = 1.5\n", "train: cooldown_frac (1.5) must be in (0, 1)"),
        ('cooldown_shape = "cubic"\n', "train: cooldown_shape ('cubic') must be one of"),
        ("cooldown_frac = 0.5\nwarmup_frac = 0.6\n", "the cooldown would start before the warmup ends"),
        (
            "cooldown_frac = 0.25\nwarmup_frac = 0.2\n",
            "the cooldown of budget 2e+08 would start before the warmup ends",
        ),
        ("warmup_steps = 10\n", "train: unknown key 'warmup_steps'"),
    ],
)
def test_bad_wsd_keys_are_one_line(tmp_path, extra, msg):
    r = CliRunner().invoke(
        main, ["sweep", "status", str(write(tmp_path, WSD.replace("cooldown_frac = 0.25\n", extra)))]
    )
    assert r.exit_code == 2 and msg in r.output and len(r.output.strip().splitlines()) == 1, r.output


@pytest.mark.parametrize(
    "change,msg",
    [
        ('schedule = "wsd"\nwarmup = "per-run"', 'warmup ("per-run"): under WSD one trunk serves every budget'),
        ('schedule = "wsd"\nwarmup = "longest"', "warmup ('longest') must be one of per-run, largest-budget"),
        (
            'schedule = "cosine"\nwarmup = "largest-budget"\nbudgets = [1e8, 3e9]',
            "warmup_frac (0.05) of the largest budget's steps is the whole of budget 1e+08's run",
        ),
    ],
)
def test_bad_warmup_keys_are_one_line(tmp_path, change, msg):
    text = WSD.replace("budgets = [2e8, 4e8, 8e8]\n", "" if "budgets" in change else "budgets = [2e8, 4e8, 8e8]\n")
    r = CliRunner().invoke(main, ["sweep", "status", str(write(tmp_path, text.replace('schedule = "wsd"', change)))])
    assert r.exit_code == 2 and msg in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_cosine_at_matched_warmups_warms_up_like_the_wsd_trunks(tmp_path):
    from isoflop.sweep import budget_runs
    from isoflop.train.optim import schedule_lr

    wsd = load_sweep(write(tmp_path, WSD))
    cos = load_sweep(write(tmp_path, WSD.replace('schedule = "wsd"', 'schedule = "cosine"\nwarmup = "largest-budget"')))
    plain = load_sweep(write(tmp_path, WSD.replace('schedule = "wsd"', 'schedule = "cosine"')))
    for b in wsd.budgets:
        for w, c, p in zip(*(budget_runs(s, b, 64, []) for s in (wsd, cos, plain))):
            assert c.train.warmup_steps == w.trunk_warmup_steps and c.train.schedule == "cosine"
            assert p.train.warmup_steps is None and c.run_id != p.run_id
            lrs = [schedule_lr(i, c.steps, 1.0, c.train) for i in range(c.steps)]
            peak = lrs.index(max(lrs))
            assert peak == w.trunk_warmup_steps - 1  # the linear warmup ends where the trunk's does
            if b < max(wsd.budgets):  # longer than warmup_frac of the run's own steps
                assert c.train.warmup_steps > round(c.train.warmup_frac * c.steps)


def test_sizes_that_share_no_trunk_warn(tmp_path, cache_dir):
    text = WSD.replace("budgets = [2e8, 4e8, 8e8]", "budgets = [1e8, 1.2e9]").replace(
        "shapes = [{ n_layers = 1, d_model = 32, n_heads = 1 }, { n_layers = 2, d_model = 32, n_heads = 1 },\n"
        "          { n_layers = 2, d_model = 64, n_heads = 2 }]",
        "auto = { k = 3, span = 1.5, exponent = 0.9, anchor_flops = 1e8, anchor_params = 1e4 }",
    )
    r = CliRunner().invoke(
        main,
        [
            "sweep",
            "run",
            str(write(tmp_path, text)),
            "--results",
            str(tmp_path / "res"),
            "--cache-dir",
            str(cache_dir),
            "--set",
            "budgets=[1e8, 1.2e9]",
            "--set",
            "sizes.auto.k=3",
        ],
        catch_exceptions=False,
    )
    assert 'warning: schedule = "wsd" but no model size recurs across budgets' in r.output


def test_ray_runs_a_wsd_sweep(tmp_path, cache_dir):
    ray = pytest.importorskip("ray")
    from isoflop.sweep.executors import RayExecutor

    sweep = load_sweep(write(tmp_path, WSD), ("budgets=[2e8, 4e8]",))
    try:
        st = run_sweep(sweep, RayExecutor(num_cpus=2), results_root=tmp_path / "res", cache_dir=str(cache_dir))
    finally:
        ray.shutdown()
    assert st.ok == 6 and st.trunks == 3 and st.cost_flops < st.independent_flops
    assert math.isfinite(sum(r.val_loss for r in finished_records(tmp_path / "res" / "w")))
