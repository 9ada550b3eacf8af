"""A holder thought dead while it still trains (its heartbeat stalled, as on a shared folder that hangs): once
another driver takes its claim over, it writes nothing more, and the run is finished once by the new holder, each
step logged once."""

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace

from test_preempt import _logged_steps, _spec, _wait_for_steps

from isoflop.runs.claim import Claim, claim_path, try_claim

RUN = (
    "import json, sys\nfrom isoflop.sweep import execute_run\n"
    "print(json.dumps(execute_run(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])))\n"
)


def test_a_holder_whose_claim_was_taken_over_stops_and_writes_nothing_more(tmp_path, cache_dir, monkeypatch):
    from isoflop.runs.folder import run_folder
    from isoflop.sweep import execute_run

    # Saves often, logs rarely: after the takeover the old holder's next write is a checkpoint, not a row.
    base = _spec()
    spec = replace(base, train=replace(base.train, max_curve_points=4), checkpoint_every_s=0.2)
    root = tmp_path / "sweep"
    folder = run_folder(root, spec.run_id)
    p = subprocess.Popen(
        [sys.executable, "-c", RUN, json.dumps(spec.to_dict()), str(root), str(cache_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        _wait_for_steps(folder.metrics_path, deadline, at_least=1)
        while not folder.checkpoint_path.exists() and time.time() < deadline:
            time.sleep(0.05)
        # A driver on another host (so the holder's pid cannot be checked, only its heartbeat) finds the claim
        # stale (stale_s=-1: any heartbeat is too old) and takes it over.
        monkeypatch.setattr(socket, "gethostname", lambda: "another-host")
        taken = try_claim(claim_path(root, "run", spec.run_id), stale_s=-1)
        assert isinstance(taken, Claim) and taken.taken_over is not None and taken.taken_over.pid == p.pid
        rows_then = len(folder.metrics_path.read_text().splitlines())
        saved_then = folder.checkpoint_path.stat().st_mtime_ns
        out, _ = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 0
    res = json.loads(out.strip().splitlines()[-1])
    assert res["status"] == "claimed" and res["skipped"] and "taken over" in res["claimed_by"]
    # The old holder wrote no row, checkpoint or record after the takeover.
    assert len(folder.metrics_path.read_text().splitlines()) == rows_then and not folder.has_result()
    assert folder.checkpoint_path.stat().st_mtime_ns == saved_then
    taken.release()
    monkeypatch.undo()
    assert execute_run(spec.to_dict(), str(root), str(cache_dir))["status"] == "ok"
    steps = _logged_steps(folder.metrics_path)
    assert steps == sorted(set(steps)) and steps[-1] == folder.read_result().steps
