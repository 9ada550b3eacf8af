"""Preemption with real signals: the run checkpoints at the step the warning arrives, then the signal goes on to
whoever listened before (the default action, or submitit's requeue), and the run resumes from there."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from isoflop.train.preempt import Deferred


def _spec():
    from isoflop.model.config import ModelConfig
    from isoflop.train import TrainConfig
    from isoflop.train.spec import RunSpec

    cfg = ModelConfig(n_layers=2, d_model=64, n_heads=2, vocab_size=64, seq_len=32)
    # No periodic checkpoint within the test's time: any checkpoint is the one the signal asked for.
    return RunSpec(cfg, 3e10, TrainConfig(batch_size=4, threads=1), "synthetic", "byte", 0, "cpu", 1e6)


def _logged_steps(path) -> list[int]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["step"] for r in rows if r.get("kind") == "train"]


def _wait_for_steps(path, deadline, at_least=2) -> int:
    while time.time() < deadline:
        steps = _logged_steps(path)
        if len(steps) >= at_least:
            return steps[-1]
        time.sleep(0.05)
    raise AssertionError("the run logged no steps in time")


def _resumed_at(rec) -> int:
    [m] = [re.search(r"resumed from a checkpoint at step (\d+)", w) for w in rec.warnings if "resumed" in w]
    return int(m.group(1))


def test_a_signal_is_held_until_delivered_then_reaches_the_earlier_handler():
    got = []
    before = signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
    try:
        with Deferred() as d:
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.01)  # Python runs handlers between bytecodes: by now it has run
            assert d.pending and got == []
            d.deliver()
            assert got == [signal.SIGUSR1] and not d.pending
            os.kill(os.getpid(), signal.SIGUSR1)  # held again: the earlier handler let the run go on
            time.sleep(0.01)
            assert d.pending and got == [signal.SIGUSR1]
        time.sleep(0.01)
        assert got == [signal.SIGUSR1] * 2  # still held at the end: delivered on the way out, not lost
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        assert got == [signal.SIGUSR1] * 3  # the earlier handler is back
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_sigterm_checkpoints_the_step_it_arrived_at_then_ends_the_run_as_before(tmp_path, cache_dir):
    from isoflop.runs.folder import run_folder
    from isoflop.sweep import execute_run

    spec = _spec()
    root = tmp_path / "sweep"
    folder = run_folder(root, spec.run_id)
    code = (
        "import json, sys\nfrom isoflop.sweep import execute_run\n"
        "execute_run(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, json.dumps(spec.to_dict()), str(root), str(cache_dir)])
    try:
        seen = _wait_for_steps(folder.metrics_path, time.time() + 120)
        assert not folder.checkpoint_path.exists()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == -signal.SIGTERM  # the default action, as without the deferral
    finally:
        p.kill()
    assert folder.checkpoint_path.exists() and not folder.has_result()
    rec = execute_run(spec.to_dict(), str(root), str(cache_dir))
    assert rec["status"] == "ok"
    resumed = _resumed_at(folder.read_result())
    assert resumed >= seen
    steps = _logged_steps(folder.metrics_path)
    assert steps == sorted(set(steps))  # no step logged twice


def test_a_preempted_submitit_job_checkpoints_at_the_signal_and_resumes_there(tmp_path, cache_dir):
    pytest.importorskip("submitit")
    from submitit.local.local import LocalJobEnvironment

    from isoflop.runs.claim import attempts
    from isoflop.runs.folder import run_folder
    from isoflop.sweep import execute_run
    from isoflop.sweep.executors import SlurmExecutor

    ex = SlurmExecutor(tmp_path / "submitit", cluster="local", timeout_min=10, array_parallelism=1)
    spec = _spec()
    root = tmp_path / "sweep"
    folder = run_folder(root, spec.run_id)
    handle = ex.start(execute_run, (spec.to_dict(), str(root), str(cache_dir)))
    deadline = time.time() + 120
    seen = _wait_for_steps(folder.metrics_path, deadline)
    [start] = attempts(root)
    os.kill(start["pid"], LocalJobEnvironment._usr_sig())
    [(_, out)] = ex.wait([handle])
    assert not isinstance(out, BaseException), out
    rec = folder.read_result()
    assert rec.status == "ok" and _resumed_at(rec) >= seen
    steps = _logged_steps(folder.metrics_path)
    assert steps == sorted(set(steps)) and steps[-1] == rec.steps
    assert [e["pid"] != start["pid"] for e in attempts(root)] == [False, True]  # requeued as a new process
