"""Many drivers on one results folder, as real `scaling sweep run` processes: each run trained exactly once,
no step logged twice, no trunk grown twice; with drivers killed at random and restarted, every run still ends
finished once, resumed only by the driver that took over a dead one's claim."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import COSINE_SWEEP, WSD_SWEEP, write

from isoflop.runs import run_folders
from isoflop.runs.claim import attempts
from isoflop.runs.store import trunk_folders


def _driver(args):
    return subprocess.Popen(
        [sys.executable, "-m", "isoflop.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _train_steps(folder):
    return [json.loads(l)["step"] for l in folder.read_text().splitlines() if json.loads(l)["kind"] == "train"]


def _check_once(root, n_runs):
    """Every run finished, its steps logged once; each run and trunk growth started once per holder, any later
    start a takeover of a dead holder; no trunk step trained twice."""
    dirs = run_folders(root)
    assert len(dirs) == n_runs and all(d.has_result() for d in dirs)
    for d in dirs:
        steps = _train_steps(d.metrics_path)
        assert steps == sorted(set(steps)), f"{d.run_id}: a step was logged twice"
    for tf in trunk_folders(root):
        for kind in ("train", "val"):  # a trunk's validation loss at a branch point shares its step's train row
            steps = [r["step"] for r in tf.read_metrics() if r.get("kind", "train") == kind]
            assert steps == sorted(set(steps)), f"trunk {tf.trunk_id}: a {kind} step was logged twice"
        assert tf.read_state().recreated_flops == 0, f"trunk {tf.trunk_id} was grown twice"
    log = attempts(root)
    runs = Counter(e["key"] for e in log if e["key"].startswith("run-") and not e.get("yielded"))
    assert set(runs) == {f"run-{d.run_id}" for d in dirs}
    seen: set = set()
    for e in log:
        key = (e["key"], e.get("step"))
        if e.get("yielded"):  # stopped before training (its trunk was another driver's): may start again
            seen.discard(key)
            continue
        # A run or a trunk's growth to one branch point is started again only by a driver taking over a dead one.
        assert key not in seen or e["taken_over"] is not None, f"{e['key']} started twice by live drivers"
        seen.add(key)
    assert not list((root / "claims").glob("*.json")), "a claim was left behind"
    return log


def test_two_drivers_share_a_sweep_and_train_each_run_once(tmp_path, cache_dir):
    sweep = write(tmp_path, COSINE_SWEEP.replace('name = "t"', 'name = "two"'))
    res = tmp_path / "res"
    args = ["sweep", "run", str(sweep), "--results", str(res), "--cache-dir", str(cache_dir), "--workers", "1"]
    first = _driver(args)
    time.sleep(0.5)
    second = _driver(args)
    for p in (first, second):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    log = _check_once(res / "two", 9)
    assert all(e["taken_over"] is None for e in log) and len(log) == 9
    # They cooperated: each driver trained some of the runs.
    assert len({e["pid"] for e in log}) == 2
    assert len((res / "two" / "runs.csv").read_text().splitlines()) == 1 + 9


def _live_holders(root, drivers):
    """The drivers (in-process workers: the claim's pid is the driver's) holding a claim now."""
    pids = set()
    for p in (root / "claims").glob("*.json"):
        try:
            pids.add(json.loads(p.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            continue
    return [d for d in drivers if d.poll() is None and d.pid in pids]


@pytest.mark.parametrize("seed", [0, 1])
def test_drivers_killed_at_random_and_restarted_finish_each_run_once(tmp_path, cache_dir, seed):
    # WSD: three trunks whose growths and branches the drivers share; checkpoints every half second, so a
    # killed run (or growth) resumes from its checkpoint under the driver that takes it over.
    text = WSD_SWEEP.replace("threads = 1", "threads = 1\ncheckpoint_every_s = 0.5")
    sweep = write(tmp_path, text.replace("budgets = [2e8, 4e8, 8e8]", "budgets = [1e9, 2e9, 4e9]"))
    res = tmp_path / "res"
    args = ["sweep", "run", str(sweep), "--results", str(res), "--cache-dir", str(cache_dir), "--workers", "1"]
    rng = random.Random(seed)
    drivers = []
    for _ in range(3):
        drivers.append(_driver(args))
        time.sleep(rng.uniform(0.2, 1.0))
    kills = 0
    deadline = time.time() + 300
    while kills < 3 and time.time() < deadline and any(p.poll() is None for p in drivers):
        holders = _live_holders(res / "w", drivers)
        if not holders:
            time.sleep(0.1)
            continue
        time.sleep(rng.uniform(0.2, 1.2))  # mid-run (or mid-growth)
        victim = rng.choice(holders)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        kills += 1
        drivers.append(_driver(args))  # restarted, as a requeued job would be
    for p in drivers:
        if p.poll() is None:
            _, err = p.communicate(timeout=600)
            assert p.returncode == 0, err
    last = subprocess.run([sys.executable, "-m", "isoflop.cli", *args], capture_output=True, text=True)
    assert last.returncode == 0, last.stderr
    assert kills == 3
    log = _check_once(res / "w", 9)
    # The killed drivers' work was taken over (not started afresh beside them), by more than one driver.
    assert sum(e.get("taken_over") is not None for e in log) >= 1 and len({e.get("pid") for e in log} - {None}) >= 2


def test_sweep_status_lists_live_and_stale_claims(tmp_path):
    from click.testing import CliRunner

    from isoflop.cli import main
    from isoflop.runs.claim import claim_path, try_claim

    sweep = write(tmp_path, COSINE_SWEEP.replace('name = "t"', 'name = "st"'))
    root = tmp_path / "res" / "st"
    code = (
        "import sys; from isoflop.runs.claim import try_claim; try_claim(sys.argv[1]); print('ok', flush=True); input()"
    )
    dead = subprocess.Popen(
        [sys.executable, "-c", code, str(claim_path(root, "trunk", "t0"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert dead.stdout.readline().strip() == b"ok"
    dead.kill()
    dead.wait()
    mine = try_claim(claim_path(root, "run", "r0"))
    try:
        r = CliRunner().invoke(main, ["sweep", "status", str(sweep), "--results", str(tmp_path / "res")])
    finally:
        mine.release()
    assert r.exit_code == 0, r.output
    assert "claims (2;" in r.output
    assert f"run-r0: live, held by {os.uname().nodename}:{os.getpid()}" in r.output
    assert f"trunk-t0: stale, held by {os.uname().nodename}:{dead.pid}" in r.output


def _claimed_pid(root, run_id, deadline):
    from isoflop.runs.claim import claim_path, read_claim

    while time.time() < deadline:
        h = read_claim(claim_path(root, "run", run_id))
        if h is not None:
            return h.pid
        time.sleep(0.05)
    raise AssertionError("the run was never claimed")


def _interrupted_run(tmp_path, cache_dir, executor, interrupt):
    """One run (checkpointing every 0.3 s) started on ``executor``; once it is claimed and has a checkpoint, its
    holder's pid is passed to ``interrupt``. Checks that it finished once, resumed from its checkpoint, with
    every step logged once; returns (the interrupted pid, the attempt log, the sweep folder)."""
    from isoflop.model.config import ModelConfig
    from isoflop.runs.folder import run_folder
    from isoflop.sweep import execute_run
    from isoflop.train import TrainConfig
    from isoflop.train.spec import RunSpec

    cfg = ModelConfig(n_layers=2, d_model=64, n_heads=2, vocab_size=64, seq_len=32)
    spec = RunSpec(cfg, 3e10, TrainConfig(batch_size=4, threads=1), "synthetic", "byte", 0, "cpu", 0.3)
    root = tmp_path / "sweep"
    folder = run_folder(root, spec.run_id)
    handle = executor.start(execute_run, (spec.to_dict(), str(root), str(cache_dir)))
    deadline = time.time() + 120
    pid = _claimed_pid(root, spec.run_id, deadline)
    while time.time() < deadline and not folder.checkpoint_path.exists():
        time.sleep(0.05)
    assert folder.checkpoint_path.exists(), "no checkpoint before the interruption"
    interrupt(pid)
    [(_, out)] = executor.wait([handle])
    assert not isinstance(out, BaseException), out
    rec = folder.read_result()
    assert rec.status == "ok" and any("resumed from a checkpoint" in w for w in rec.warnings)
    steps = _train_steps(folder.metrics_path)
    assert steps == sorted(set(steps)) and steps[-1] == rec.steps
    log = attempts(root)
    assert [e["key"] for e in log] == [f"run-{spec.run_id}"] * 2
    return pid, log, root


def test_a_ray_worker_killed_mid_run_is_retried_and_resumes_once(tmp_path, cache_dir):
    ray = pytest.importorskip("ray")
    from isoflop.sweep.executors import RayExecutor

    try:
        ex = RayExecutor(num_cpus=1, max_retries=2)
        pid, log, _ = _interrupted_run(tmp_path, cache_dir, ex, lambda p: os.kill(p, signal.SIGKILL))
    finally:
        ray.shutdown()
    assert log[0]["pid"] == pid and log[1]["taken_over"]["pid"] == pid


def test_a_preempted_submitit_job_requeues_and_resumes_once(tmp_path, cache_dir):
    pytest.importorskip("submitit")
    from submitit.local.local import LocalJobEnvironment

    from isoflop.sweep.executors import SlurmExecutor

    ex = SlurmExecutor(tmp_path / "submitit", cluster="local", timeout_min=10, array_parallelism=1)
    # The job's process (the claim's holder) gets the signal SLURM sends on preemption, the one submitit
    # listens for (USR2 unless SUBMITIT_PREEMPT_SIGNAL says otherwise).
    pid, log, root = _interrupted_run(tmp_path, cache_dir, ex, lambda p: os.kill(p, LocalJobEnvironment._usr_sig()))
    # Two starts: the preempted job (which released its claim on the way out) and its requeued self.
    assert log[0]["pid"] == pid != log[1]["pid"]
    assert not list((root / "claims").glob("*.json"))
