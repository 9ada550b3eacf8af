"""Sweep progress read from disk, so it works whatever executor runs the jobs.

On a terminal the display rewrites itself; elsewhere (CI, SLURM logs) it
prints a plain line every ``interval`` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from scaling.errors import RecordError
from scaling.runs.store import run_folders, trunk_folders


def snapshot(sweep_dir: Path, total_runs: int, total_flops: float, started: float, baseline: float = 0.0) -> dict:
    """Runs done, FLOPs spent, ETA and the state of active runs.

    FLOPs are what the sweep spends: a finished run's own cost (a WSD branch:
    its cooldown), each trunk once, and the progress of active runs and trunks.
    The ETA is the remaining planned cost at the rate spent since ``started``
    (``baseline``: the FLOPs already spent then).
    """
    done = flops = 0.0
    active = []
    for folder in run_folders(sweep_dir):
        if folder.has_result():
            done += 1
            try:
                rec = folder.read_result()
            except RecordError:
                continue
            if rec is not None:
                flops += rec.cost
            continue
        rows = folder.last_train_rows(2)
        if rows:
            cfg = folder.read_config() or {}
            last = rows[-1]
            tps = None
            if len(rows) == 2 and rows[1]["wall_time_s"] > rows[0]["wall_time_s"]:
                tps = (rows[1]["tokens"] - rows[0]["tokens"]) / (rows[1]["wall_time_s"] - rows[0]["wall_time_s"])
            budget, start = cfg.get("budget") or 0, cfg.get("start_flops") or 0.0
            own = last["flops"] - start
            eta = (budget - last["flops"]) / (own / max(last["wall_time_s"], 1e-9)) if budget and own > 0 else None
            active.append({"run_id": folder.run_id, "loss": last.get("train_loss"), "tokens_per_second": tps,
                           "eta_s": eta, "frac": last["flops"] / budget if budget else None})
            flops += own
    for tf in trunk_folders(sweep_dir):
        try:
            spent = tf.read_state().flops
        except RecordError:
            spent = 0.0
        rows = tf.last_train_rows(1)
        flops += max(spent, rows[-1]["flops"] if rows else 0.0)
    elapsed = time.monotonic() - started
    rate = (flops - baseline) / elapsed if elapsed > 0 else 0
    eta = max(0.0, total_flops - flops) / rate if rate > 0 else None
    return {"done": int(done), "total": total_runs, "flops": flops, "total_flops": total_flops, "eta_s": eta,
            "active": active}


def format_snapshot(s: dict) -> str:
    eta = f"{s['eta_s'] / 60:.1f} min" if s["eta_s"] is not None else "?"
    head = (f"runs {s['done']}/{s['total']}  FLOPs {s['flops']:.3g}/{s['total_flops']:.3g} "
            f"({s['flops'] / max(s['total_flops'], 1):.0%})  ETA {eta}")
    parts = [head]
    for a in s["active"]:
        tps = f"{a['tokens_per_second']:,.0f} tok/s" if a["tokens_per_second"] else "-"
        loss = f"{a['loss']:.3f}" if a["loss"] is not None else "-"
        aeta = f"{a['eta_s']:.0f}s" if a["eta_s"] is not None else "?"
        frac = f"{a['frac']:.0%}" if a["frac"] is not None else "?"
        parts.append(f"  {a['run_id'][:8]} {frac:>4} loss {loss} {tps} ETA {aeta}")
    return "\n".join(parts)


class Monitor:
    """A background thread that shows a sweep's progress until stopped."""

    def __init__(self, sweep_dir: Path, total_runs: int, total_flops: float, stream=None, interval: float | None = None):
        self.sweep_dir, self.total_runs, self.total_flops = Path(sweep_dir), total_runs, total_flops
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.interval = interval if interval is not None else (2.0 if self.live else 30.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()
        self._baseline = snapshot(self.sweep_dir, total_runs, total_flops, self._started)["flops"]
        self._lines = 0

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self._show()
        return False

    def _show(self):
        text = format_snapshot(snapshot(self.sweep_dir, self.total_runs, self.total_flops, self._started,
                                        self._baseline))
        if self.live:
            # Move up over the previous display and clear it.
            self.stream.write("\x1b[F\x1b[2K" * self._lines + text + "\n")
            self._lines = text.count("\n") + 1
        else:
            self.stream.write(text.splitlines()[0] + "\n")
        self.stream.flush()

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self._show()
            except Exception:  # noqa: BLE001 - a display hiccup must not stop the sweep
                pass
