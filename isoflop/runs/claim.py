"""Claims: which driver is training a run, or growing a trunk, right now.

Several drivers may work on one results folder: the same command in two terminals, a SLURM job requeued while
its first incarnation still runs, two machines on one shared folder. Before a run is trained (or a trunk grown),
it is claimed: ``<sweep>/claims/run-<id>.json`` (``trunk-<id>.json`` for a trunk) names the holder (host, pid, a token unique to the claim), when it was
taken, and a heartbeat the holder refreshes while it works. Reading and writing that record happen under a
:class:`filelock.FileLock` on the ``.lock`` file beside it, so two drivers that look at once cannot both take it.

A claim is live while its holder is: on the same host, while its pid runs; on another host, while its heartbeat
is fresher than ``stale_s``. A claim whose holder is dead is *stale*, and the next driver to ask takes it over;
the run then resumes from its checkpoint, dropping any curve rows past it, so no step is logged twice. A claim
is released (its record deleted) when the work ends, whether it finished or failed. Claims live outside the run
folders, so that a damaged folder set aside, or a failed one cleared, takes no claim with it.

A holder can be thought dead while it runs: its heartbeat stalls past ``stale_s`` on another host (a shared
folder that hangs, a paused machine). Its writes then go through :meth:`Claim.guarded`, which makes each one
under the claim's lock and only while the claim is still its own: once another driver has taken it over, the
next write raises :class:`ClaimLost` instead, and the old holder stops without writing anything more.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from filelock import FileLock

CLAIMS = "claims"
LOG = "log.jsonl"
#: Seconds between a holder's heartbeats.
BEAT_S = 5.0
#: A claim held on another host whose heartbeat is older than this is stale.
STALE_S = 60.0


@dataclass(frozen=True)
class Holder:
    """Who holds a claim.

    Attributes:
        host: the holder's hostname.
        pid: its process id on that host.
        token: unique to this claim (a holder that lost its claim sees another token).
        taken: when the claim was taken (seconds since the epoch).
        heartbeat: the holder's latest heartbeat.
    """

    host: str
    pid: int
    token: str
    taken: float
    heartbeat: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Holder:
        return cls(str(d["host"]), int(d["pid"]), str(d["token"]), float(d["taken"]), float(d["heartbeat"]))

    def alive(self, now: float | None = None, stale_s: float = STALE_S) -> bool:
        """Whether the holder still works: its pid runs (same host), or its heartbeat is fresh (another host)."""
        if self.host == socket.gethostname():
            return _pid_runs(self.pid)
        return (time.time() if now is None else now) - self.heartbeat <= stale_s

    def is_me(self) -> bool:
        """Whether this process is the holder."""
        return (self.host, self.pid) == (socket.gethostname(), os.getpid())

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        return (
            f"{self.host}:{self.pid} (taken {now - self.taken:.0f} s ago, heartbeat {now - self.heartbeat:.0f} s ago)"
        )


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def claim_path(sweep_dir: str | Path, kind: str, key: str) -> Path:
    """Where the claim on a run (``kind`` "run") or a trunk ("trunk") of a sweep folder is recorded."""
    return Path(sweep_dir) / CLAIMS / f"{kind}-{key}.json"


def _lock(path: Path) -> FileLock:
    return FileLock(path.with_suffix(".lock"))


def read_claim(path: str | Path) -> Holder | None:
    """The claim recorded at ``path`` (live or stale), or None when there is none. A damaged record reads as
    None: whoever asks next takes the claim over."""
    p = Path(path)
    try:
        return Holder.from_dict(json.loads(p.read_text()))
    except (OSError, ValueError, KeyError, TypeError):  # none (FileNotFoundError), or damaged
        return None


def _write(path: Path, holder: Holder) -> None:
    tmp = path.with_name(f".{path.name}.{holder.token}")
    tmp.write_text(json.dumps(holder.to_dict()))
    os.replace(tmp, path)


class ClaimLost(BaseException):
    """This process's claim was taken over by another driver (its holder was thought dead): stop at once and
    write nothing more. A :class:`BaseException`, like :class:`SystemExit`, so that the training loop's crash
    handling, which records a crash as a failed run, lets it through."""


class Claim:
    """A claim this process holds; refreshes its heartbeat in a thread until :meth:`release`.

    Use as a context manager, or call :meth:`release`.
    """

    def __init__(self, path: Path, holder: Holder, beat_s: float = BEAT_S, taken_over: Holder | None = None):
        self.path = path
        self.holder = holder
        self.taken_over = taken_over
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(beat_s,), daemon=True)
        self._thread.start()

    def _beat(self, beat_s: float) -> None:
        while not self._stop.wait(beat_s):
            with _lock(self.path):
                now = read_claim(self.path)
                if now is None or now.token != self.holder.token:
                    return  # taken over (this holder was thought dead): stop claiming it
                self.holder = replace(self.holder, heartbeat=time.time())
                _write(self.path, self.holder)

    def started(self, **detail) -> None:
        """Append to the sweep's attempt log (``claims/log.jsonl``) that this holder starts the work now (with
        ``detail``, such as the step a trunk grows to): the log that shows each run trained once, or resumed
        once per holder that died."""
        entry = {
            "key": self.path.stem,
            **detail,
            **self.holder.to_dict(),
            "taken_over": self.taken_over.to_dict() if self.taken_over else None,
        }
        self._log(entry)

    def yielded(self) -> None:
        """Log that the work started under this claim stopped before it trained anything (it waits on work
        another driver holds), so that a later start of it is not a second attempt."""
        self._log({"key": self.path.stem, "token": self.holder.token, "yielded": True})

    def _log(self, entry: dict) -> None:
        with open(self.path.parent / LOG, "a") as f:  # one short line per write: appends do not interleave
            f.write(json.dumps(entry) + "\n")

    def held(self) -> bool:
        """Whether the recorded claim is still this one."""
        now = read_claim(self.path)
        return now is not None and now.token == self.holder.token

    def guarded(self, write):
        """``write``, wrapped to run under the claim's lock and only while the claim is this one's: no takeover
        lands in the middle of a write, and after one every write raises :class:`ClaimLost`."""

        def run(*args, **kwargs):
            with _lock(self.path):
                if not self.held():
                    now = read_claim(self.path)
                    raise ClaimLost(f"{self.path.stem}: taken over by {now.describe() if now else 'nobody'}")
                return write(*args, **kwargs)

        return run

    def release(self) -> None:
        """Stop the heartbeat and delete the claim, if it is still this one."""
        self._stop.set()
        self._thread.join()
        with _lock(self.path):
            now = read_claim(self.path)
            if now is not None and now.token == self.holder.token:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_claim(path: str | Path, *, stale_s: float = STALE_S, beat_s: float = BEAT_S) -> Claim | Holder:
    """Take the claim recorded at ``path`` (:func:`claim_path`) for this process.

    Returns:
        The :class:`Claim`, when it was unclaimed, its claim was stale (``taken_over`` names the dead
        holder), or this process already held it; otherwise the live :class:`Holder` that has it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        old = read_claim(path)
        other = old if old is not None and not old.is_me() else None
        if other is not None and other.alive(stale_s=stale_s):
            return other
        now = time.time()
        holder = Holder(socket.gethostname(), os.getpid(), uuid.uuid4().hex, now, now)
        _write(path, holder)
    return Claim(path, holder, beat_s, taken_over=other)


def claim_state(path: str | Path, stale_s: float = STALE_S) -> tuple[str, Holder] | None:
    """("live" or "stale", the holder) of the claim recorded at ``path``, or None when there is none."""
    h = read_claim(path)
    if h is None:
        return None
    return ("live" if h.alive(stale_s=stale_s) else "stale"), h


def held_elsewhere(path: str | Path, stale_s: float = STALE_S) -> bool:
    """Whether the claim recorded at ``path`` is live and held by another process."""
    h = read_claim(path)
    return h is not None and not h.is_me() and h.alive(stale_s=stale_s)


def claims(sweep_dir: str | Path, stale_s: float = STALE_S) -> list[tuple[str, str, Holder]]:
    """Every claim recorded in a sweep folder: ("run-<id>" or "trunk-<id>", "live" or "stale", holder)."""
    out = []
    for p in sorted((Path(sweep_dir) / CLAIMS).glob("*.json")):
        got = claim_state(p, stale_s)
        if got is not None:
            out.append((p.stem, got[0], got[1]))
    return out


def attempts(sweep_dir: str | Path) -> list[dict]:
    """The attempt log of a sweep folder, in order: per work started under a claim, its key ("run-<id>",
    "trunk-<id>"), the holder's fields, and ``taken_over`` (the dead holder's, or None). A torn last line (a
    holder killed while writing it) is skipped."""
    p = Path(sweep_dir) / CLAIMS / LOG
    out = []
    for line in p.read_text().splitlines() if p.exists() else ():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
