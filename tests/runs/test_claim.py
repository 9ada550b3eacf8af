"""Claims on runs and trunks, between real processes: one holder at a time, a dead holder's claim taken over,
a heartbeat that keeps a claim live across hosts, and the attempt log."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from isoflop.runs.claim import Claim, Holder, attempts, claim_path, claim_state, claims, read_claim, try_claim

HOLD = """
import sys, time
from isoflop.runs.claim import Claim, try_claim
got = try_claim(sys.argv[1], beat_s=0.1)
print("claimed" if isinstance(got, Claim) else "held", flush=True)
time.sleep(float(sys.argv[2]))
if isinstance(got, Claim):
    got.release()
"""


def _holder(path, wait_s):
    """A separate process that tries the claim at ``path`` and keeps it ``wait_s`` seconds; its first line."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(wait_s)], stdout=subprocess.PIPE, text=True)
    return p, p.stdout.readline().strip()


def test_one_holder_at_a_time_between_processes(tmp_path):
    path = claim_path(tmp_path, "run", "r1")
    other, said = _holder(path, 30)
    try:
        assert said == "claimed"
        got = try_claim(path)
        assert isinstance(got, Holder) and got.pid == other.pid and got.host == socket.gethostname()
        assert claim_state(path)[0] == "live"
        assert [(k, s) for k, s, _ in claims(tmp_path)] == [("run-r1", "live")]
    finally:
        other.kill()
        other.wait()
    # Its holder is dead: the claim is stale, and the next driver takes it over, naming the dead holder.
    assert claim_state(path)[0] == "stale"
    mine = try_claim(path)
    assert isinstance(mine, Claim) and mine.taken_over is not None and mine.taken_over.pid == other.pid
    # While this process holds it, another process is refused; released, it is free.
    _, said = _holder(path, 0)
    assert said == "held"
    mine.release()
    assert read_claim(path) is None and not claims(tmp_path)
    p, said = _holder(path, 0)
    p.wait()
    assert said == "claimed" and read_claim(path) is None


def test_a_claim_on_another_host_lives_by_its_heartbeat(tmp_path):
    path = claim_path(tmp_path, "trunk", "t1")
    path.parent.mkdir(parents=True)
    now = time.time()
    fresh = Holder("elsewhere", 1, "a" * 32, now - 100, now - 1)
    path.write_text(json.dumps(fresh.to_dict()))
    assert isinstance(try_claim(path, stale_s=60), Holder)  # its heartbeat is a second old
    path.write_text(json.dumps(Holder("elsewhere", 1, "b" * 32, now - 100, now - 61).to_dict()))
    got = try_claim(path, stale_s=60, beat_s=0.05)
    assert isinstance(got, Claim) and got.taken_over.host == "elsewhere"
    # Its own heartbeat goes on while it works.
    first = read_claim(path).heartbeat
    time.sleep(0.3)
    assert read_claim(path).heartbeat > first and got.held()
    got.release()


def test_a_holder_that_lost_its_claim_stops_and_leaves_the_new_one(tmp_path):
    path = claim_path(tmp_path, "run", "r2")
    old = try_claim(path, beat_s=0.05)
    assert isinstance(old, Claim)
    # Another host thought it dead and took the claim over (written here by hand).
    now = time.time()
    path.write_text(json.dumps(Holder("elsewhere", 7, "c" * 32, now, now).to_dict()))
    time.sleep(0.2)
    assert not old.held()
    old.release()
    assert read_claim(path).token == "c" * 32  # the new holder's claim is not deleted


def test_a_damaged_claim_is_taken_over_and_the_attempts_are_logged(tmp_path):
    path = claim_path(tmp_path, "run", "r3")
    path.parent.mkdir(parents=True)
    path.write_text("{torn")
    got = try_claim(path)
    assert isinstance(got, Claim)
    got.started()
    got.release()
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "30"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "claimed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    again = try_claim(path)
    again.started()
    again.release()
    log = attempts(tmp_path)
    assert [e["key"] for e in log] == ["run-r3", "run-r3"]
    assert log[0]["taken_over"] is None and log[1]["taken_over"]["pid"] == p.pid
    (path.parent / "log.jsonl").write_text((path.parent / "log.jsonl").read_text() + '{"key": "run-r')
    assert len(attempts(tmp_path)) == 2  # a torn last line is skipped
