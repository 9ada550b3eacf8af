"""Sweeps: config validation, centred auto grids, resume after SIGKILL, failures, executors, end to end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import COSINE_SWEEP, write

from isoflop.cli import main
from isoflop.model.config import ModelConfig
from isoflop.model.flops import param_counts
from isoflop.runs import RunFolder, RunRecord, finished_records, run_folder, trunk_folders
from isoflop.sweep import SweepError, budget_models, load_sweep, predicted_optimum, sweep_from_dict

BASE = COSINE_SWEEP


@pytest.mark.parametrize(
    "text,msg",
    [
        (BASE + "\nfoo = 1\n", "unknown key 'foo' (allowed: "),
        (BASE.replace("seq_len = 32", "seq_len = -3"), "seq_len (-3) must be a positive integer"),
        (BASE.replace("budgets = [1e8, 3e8, 1e9]", "budgets = []"), "budgets ([]) must be a non-empty list"),
        (BASE.replace("k = 3,", "k = 2,"), "sizes.auto.k (2) must be an integer of at least 3"),
        (BASE.replace("auto = {", "autox = {"), "sizes: unknown key 'autox'"),
        (BASE + "[train]\nlr = -1\n", "train: lr (-1) must be positive"),
        (BASE + "[train]\nlrr = 1\n", "train: unknown key 'lrr'"),
        (
            BASE.replace(
                "auto = { k = 3, span = 3.0, exponent = 0.5, anchor_flops = 3e8, anchor_params = 2e4 }",
                "shapes = [{ n_layers = 2, d_model = 100, n_heads = 3 }]",
            ),
            "d_model (100) must be divisible by n_heads (3)",
        ),
        ("name = [", "invalid TOML"),
        (BASE + '[train]\ncooldown_shape = "exp"\n', "cooldown_shape ('exp') must be one of 1-sqrt, linear, cosine"),
        (BASE.replace('schedule = "cosine"', 'schedule = "step"'), "schedule ('step') must be one of cosine, wsd"),
        (BASE + '[train]\nschedule = "wsd"\n', "train: unknown key 'schedule'"),
        (BASE.replace("threads = 1", 'threads = 1\ndevice = "gpu"'), "device ('gpu') must be cpu, cuda, cuda:N or mps"),
        (BASE.replace("threads = 1", "threads = 100000"), "threads (100000) must be at most 1024 per run"),
    ],
)
def test_bad_sweep_files_name_the_key_value_and_rule(tmp_path, text, msg):
    with pytest.raises(SweepError, match=None) as e:
        load_sweep(write(tmp_path, text))
    assert msg in str(e.value) and "s.toml" in str(e.value)


def test_a_sweep_file_without_a_schedule_runs_wsd(tmp_path):
    assert load_sweep(write(tmp_path, BASE.replace('schedule = "cosine"\n', ""))).schedule == "wsd"


def test_overrides(tmp_path):
    sw = load_sweep(write(tmp_path, BASE), ("seq_len=64", "train.lr=1e-3", "sizes.auto.k=5", "budgets=[1e9, 2e9]"))
    assert sw.seq_len == 64 and sw.train == {"lr": 1e-3} and sw.sizes.k == 5 and sw.budgets == (1e9, 2e9)
    r = CliRunner().invoke(main, ["sweep", "status", str(write(tmp_path, BASE)), "--set", "nope=1"])
    assert r.exit_code == 2 and "unknown key 'nope'" in r.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_a_device_this_machine_lacks_stops_the_sweep_before_any_run(tmp_path):
    r = CliRunner().invoke(
        main, ["sweep", "run", str(write(tmp_path, BASE)), "--results", str(tmp_path / "res"), "--set", "device=cuda"]
    )
    assert r.exit_code == 2 and "torch sees no CUDA GPU" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "res" / "t" / "runs").exists()


def test_auto_grid_is_centred_on_the_predicted_optimum():
    sw = sweep_from_dict(
        {
            "name": "c",
            "budgets": [1e13],
            "seq_len": 128,
            "sizes": {"auto": {"k": 5, "span": 4.0, "anchor_flops": 1e13, "anchor_params": 1e6}},
        }
    )
    models = budget_models(sw, 1e13, 256, [])
    sizes = np.array([param_counts(m).total for m in models])
    assert len(models) == 5
    # Geometric centre within the shapes' granularity of the prediction; the ends near ×4 either way.
    assert abs(np.log(np.exp(np.mean(np.log(sizes))) / 1e6)) < np.log(1.25)
    assert 3 < sizes[-1] / 1e6 < 5.5 and 3 < 1e6 / sizes[0] < 5.5
    # Refinement: finished budgets whose optimum follows N* = 2e3·C^0.4 move the centre there.
    finished = []
    for c in (1e11, 1e12):
        n_star = 2e3 * c**0.4
        for n in n_star * np.logspace(-0.6, 0.6, 5):
            finished.append(
                RunRecord(
                    status="ok",
                    n_params=n,
                    tokens=c / (6 * n),
                    budget_flops=c,
                    val_loss=2.0 + 0.3 * (np.log10(n / n_star)) ** 2,
                )
            )
    centre, source = predicted_optimum(sw, 1e13, finished)
    assert source.startswith("fit to 2") and centre == pytest.approx(2e3 * 1e13**0.4, rel=0.02)
    # Two budgets whose optima say a = 1.0 (as the quick sweep's did): the slope is clamped, the centre kept.
    steep = []
    for c in (1e11, 1e12):
        n_star = 1e-7 * c
        for n in n_star * np.logspace(-0.6, 0.6, 5):
            steep.append(
                RunRecord(
                    status="ok",
                    n_params=n,
                    tokens=c / (6 * n),
                    budget_flops=c,
                    val_loss=2.0 + 0.3 * (np.log10(n / n_star)) ** 2,
                )
            )
    centre, source = predicted_optimum(sw, 1e13, steep)
    assert "exponent 1.00 clamped to 0.85" in source
    mid = np.sqrt(1e-7 * 1e11 * 1e-7 * 1e12)  # the fitted optima's centre, at C = sqrt(1e11 * 1e12)
    assert centre == pytest.approx(mid * (1e13 / np.sqrt(1e23)) ** 0.85, rel=0.02)


def _run_cli(args, **kw):
    return subprocess.run([sys.executable, "-m", "isoflop.cli", *args], capture_output=True, text=True, **kw)


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_resume_after_sigkill_finishes_every_run_exactly_once(tmp_path, cache_dir, schedule):
    # Checkpoints every half second, so killed runs (and WSD trunks) also resume from checkpoints.
    sweep = write(
        tmp_path,
        BASE.replace('name = "t"', 'name = "kill"')
        .replace('schedule = "cosine"', f'schedule = "{schedule}"')
        .replace("threads = 1", "threads = 1\ncheckpoint_every_s = 0.5"),
    )
    res = tmp_path / "res"
    args = ["sweep", "run", str(sweep), "--results", str(res), "--cache-dir", str(cache_dir), "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "isoflop.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    runs = res / "kill" / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and not any(runs.glob("*/result.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-flight
    proc.wait()
    first = {p.parent.name for p in runs.glob("*/result.json")}
    assert first, "no run finished before the kill"
    mtimes = {rid: (runs / rid / "result.json").stat().st_mtime_ns for rid in first}
    r = _run_cli(args)
    assert r.returncode == 0, r.stderr
    dirs = [p for p in runs.iterdir() if p.is_dir()]
    assert all((d / "result.json").exists() for d in dirs)
    # Runs finished before the kill were not run again.
    assert all((runs / rid / "result.json").stat().st_mtime_ns == t for rid, t in mtimes.items())
    for d in dirs:
        steps = [
            json.loads(l)["step"]
            for l in (d / "metrics.jsonl").read_text().splitlines()
            if json.loads(l)["kind"] == "train"
        ]
        assert steps == sorted(set(steps)), f"{d.name}: a step was logged twice"
    table = (res / "kill" / "runs.csv").read_text().splitlines()
    assert len(table) == 1 + len(dirs) == 1 + 3 * 3  # 3 budgets x 3 sizes, each once
    for tf in trunk_folders(res / "kill"):  # a trunk's stable phase too holds every step once
        for kind in ("train", "val"):  # a trunk's validation loss at a branch point shares its step's train row
            steps = [r["step"] for r in tf.read_metrics() if r.get("kind", "train") == kind]
            assert steps == sorted(set(steps)), f"trunk {tf.trunk_id}: a {kind} step was logged twice"
    if schedule == "wsd":
        assert all(r.trunk_id for r in finished_records(res / "kill")) and not list((res / "kill").rglob("*.pt"))


def test_failed_runs_are_recorded_and_retried(tmp_path, cache_dir):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("to be or not to be\n" * 30)  # validation split shorter than a sequence: every run fails
    text = BASE.replace('corpus = "synthetic"', f'corpus = "text:{corpus}"').replace('name = "t"', 'name = "fail"')
    text = text.replace("budgets = [1e8, 3e8, 1e9]", "budgets = [1e9]").replace("seq_len = 32", "seq_len = 128")
    sweep = write(tmp_path, text)
    args = ["sweep", "run", str(sweep), "--results", str(tmp_path / "res"), "--cache-dir", str(cache_dir)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    folder = tmp_path / "res" / "fail"
    recs = finished_records(folder)
    assert recs and all(x.status == "failed" and "shorter than one sequence" in x.error for x in recs)
    assert "failed" in r.output
    # A folder of failed runs is a table whose rows are all excluded, with their errors: one line, exit 2.
    r = CliRunner().invoke(main, ["fit", str(folder), "--bootstrap", "0"])
    assert r.exit_code == 2 and "no usable runs" in r.output and "shorter than one sequence" in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    corpus.write_text("to be or not to be, that is the question\n" * 400)
    r = CliRunner().invoke(main, args)  # without --retry-failed: nothing reruns
    assert all(x.status == "failed" for x in finished_records(folder))
    r = CliRunner().invoke(main, args + ["--retry-failed"])
    assert r.exit_code == 0, r.output
    recs = finished_records(folder)
    assert recs and all(x.status == "ok" for x in recs)


def test_diverged_runs_are_excluded_from_fits_with_the_reason(tmp_path, cache_dir):
    sweep = write(
        tmp_path, BASE.replace('name = "t"', 'name = "div"') + "[train]\nlr = 1e4\nwarmup_frac = 0.0\ngrad_clip = 0.0\n"
    )
    r = CliRunner().invoke(
        main,
        [
            "sweep",
            "run",
            str(sweep),
            "--results",
            str(tmp_path / "res"),
            "--cache-dir",
            str(cache_dir),
            "--set",
            "budgets=[1e9]",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "res" / "div"), "--bootstrap", "0"])
    assert "status 'diverged': training loss" in r.output


def test_end_to_end_tiny_sweep_produces_a_fit(tmp_path, cache_dir):
    sweep = write(tmp_path, BASE.replace('name = "t"', 'name = "e2e"').replace("k = 3", "k = 5"))
    res = tmp_path / "res"
    r = CliRunner().invoke(main, ["sweep", "run", str(sweep), "--results", str(res), "--cache-dir", str(cache_dir)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["sweep", "status", str(sweep), "--results", str(res)])
    assert "0 failed" in r.output and "1e+09 FLOPs" in r.output
    r = CliRunner().invoke(
        main,
        [
            "fit",
            str(res / "e2e"),
            "--bootstrap",
            "50",
            "--json",
            "--target",
            "1e10",
            "--plot-dir",
            str(tmp_path / "figs"),
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n_runs"] >= 12 and doc["grouping"] == "by column 'budget'"
    assert len(doc["approach2"]["budgets"]) == 3 and doc["approach3"] is not None
    assert doc["approach1"] is None or doc["approach1"]["source"] == "envelope of training curves"
    r = CliRunner().invoke(main, ["fit", str(res / "e2e"), "--bootstrap", "0", "--json", "--envelope", "runs"])
    assert json.loads(r.stdout)["approach1"]["source"] == "lowest-loss run per budget"
    assert any(p["method"] == "approach3" for p in doc["predictions"])
    # A damaged record (a torn result.json) is reported by status and redone by the next run, alone.
    runs = sorted((res / "e2e" / "runs").iterdir())
    torn = runs[0] / "result.json"
    torn.write_text(torn.read_text()[:40])
    others = {p.name: (p / "result.json").stat().st_mtime_ns for p in runs[1:]}
    r = CliRunner().invoke(main, ["sweep", "status", str(sweep), "--results", str(res)])
    assert r.exit_code == 0 and "1 damaged run folder" in r.output, r.output
    r = CliRunner().invoke(main, ["sweep", "run", str(sweep), "--results", str(res), "--cache-dir", str(cache_dir)])
    assert r.exit_code == 0, r.output
    assert RunFolder(runs[0]).read_result().status == "ok"
    assert {p.name: (p / "result.json").stat().st_mtime_ns for p in runs[1:]} == others
    # sweep.json is read back: status says when the TOML no longer matches the folder.
    r = CliRunner().invoke(main, ["sweep", "status", str(sweep), "--results", str(res), "--set", "seq_len=64"])
    assert "differs from" in r.output and "seq_len" in r.output
    r = CliRunner().invoke(main, ["sweep", "status", str(sweep), "--results", str(res)])
    assert "differs from" not in r.output


def _tiny_specs(tmp_path, cache_dir, n=3):
    from isoflop.sweep import RunSpec
    from isoflop.train import TrainConfig

    cfg = ModelConfig(n_layers=1, d_model=32, n_heads=1, vocab_size=64, seq_len=32)
    return [
        RunSpec(cfg, 2e8 * (i + 1), TrainConfig(batch_size=4, threads=1), "synthetic", "byte", 0, "cpu")
        for i in range(n)
    ]


def test_ray_executor_on_a_local_cluster(tmp_path, cache_dir):
    ray = pytest.importorskip("ray")
    from isoflop.sweep import execute_run
    from isoflop.sweep.executors import RayExecutor

    try:
        ex = RayExecutor(num_cpus=2)
        specs = _tiny_specs(tmp_path, cache_dir)
        out = ex.map(execute_run, [(s.to_dict(), str(tmp_path / "ray"), str(cache_dir)) for s in specs])
    finally:
        ray.shutdown()
    assert [o["status"] for o in out] == ["ok"] * 3
    for s in specs:
        rec = run_folder(tmp_path / "ray", s.run_id).read_result()
        assert rec.status == "ok" and rec.budget_flops == s.budget and rec.run_id == s.run_id


def test_submitit_executor_with_its_local_backend(tmp_path, cache_dir):
    pytest.importorskip("submitit")
    from isoflop.sweep import execute_run
    from isoflop.sweep.executors import SlurmExecutor

    ex = SlurmExecutor(tmp_path / "submitit", cluster="local", timeout_min=10, array_parallelism=2)
    specs = _tiny_specs(tmp_path, cache_dir)
    out = ex.map(execute_run, [(s.to_dict(), str(tmp_path / "slurm"), str(cache_dir)) for s in specs])
    assert [o["status"] for o in out] == ["ok"] * 3
    assert all((tmp_path / "slurm" / "runs" / s.run_id / "result.json").exists() for s in specs)


def test_checkpoint_resume_gives_the_same_losses(tmp_path, cache_dir):
    from isoflop.data import load_corpus
    from isoflop.train import TrainConfig, train

    data = load_corpus("synthetic", cache_dir=cache_dir)
    cfg = ModelConfig(n_layers=1, d_model=32, n_heads=1, vocab_size=64, seq_len=32)
    tc = TrainConfig(batch_size=4, threads=1)
    full = train(cfg, 1e9, data, tc, seed=3, peak_flops=1e11)
    ckpt = tmp_path / "ck.pt"

    def stop(p):
        if p["step"] >= full.steps // 2:
            raise KeyboardInterrupt  # an interruption, as a kill would be

    with pytest.raises(KeyboardInterrupt):
        train(cfg, 1e9, data, tc, seed=3, peak_flops=1e11, checkpoint_path=ckpt, checkpoint_every_s=0.0, progress=stop)
    assert ckpt.exists()
    resumed = train(cfg, 1e9, data, tc, seed=3, peak_flops=1e11, checkpoint_path=ckpt, checkpoint_every_s=0.0)
    assert any("resumed from a checkpoint" in w for w in resumed.warnings)
    assert resumed.val_loss == pytest.approx(full.val_loss, rel=1e-6)
    assert [r["train_loss"] for r in resumed.curve] == pytest.approx([r["train_loss"] for r in full.curve], rel=1e-6)
    # The mean of the steps between rows survives the interruption too (its sum is in the checkpoint).
    assert [r["train_loss_steps"] for r in resumed.curve] == [r["train_loss_steps"] for r in full.curve]
    assert [r["train_loss_mean"] for r in resumed.curve] == pytest.approx(
        [r["train_loss_mean"] for r in full.curve], rel=1e-6
    )


@pytest.mark.parametrize(
    "extra,msg",
    [("[train]\nbatch_size = 8\n", "train: unknown key 'batch_size'"), ('[train]\nlr = "fast"\n', "train: ")],
)
def test_train_table_errors(tmp_path, extra, msg):
    with pytest.raises(SweepError) as e:
        load_sweep(write(tmp_path, BASE + extra))
    assert msg in str(e.value)


class _Payload:
    """A pickle that calls a function when loaded (here: creates a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_planted_checkpoint_runs_no_code_and_the_run_starts_over(tmp_path, cache_dir):
    from isoflop.data import load_corpus
    from isoflop.train import TrainConfig, train
    from isoflop.train.checkpoint import checkpoint_step

    marker = tmp_path / "pwned"
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"identity": {}, "state": {}, "step": 5, "x": _Payload(marker)}, ckpt)
    data = load_corpus("synthetic", cache_dir=cache_dir)
    cfg = ModelConfig(n_layers=1, d_model=32, n_heads=1, vocab_size=64, seq_len=32)
    rec = train(cfg, 3e8, data, TrainConfig(batch_size=4, threads=1), seed=0, peak_flops=1e11, checkpoint_path=ckpt)
    assert not marker.exists()
    assert rec.status == "ok" and rec.steps_done == rec.steps
    assert any(str(ckpt) in w and "refused" in w for w in rec.warnings)
    assert not any("resumed" in w for w in rec.warnings)
    # the sweep's reader of a run's step refuses it too, and removes it
    torch.save({"step": _Payload(marker)}, ckpt)
    assert checkpoint_step(ckpt) == 0 and not ckpt.exists() and not marker.exists()
