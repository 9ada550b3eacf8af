"""Sweep progress read from disk, so it works whatever executor runs the jobs.

On a terminal the display is rich's live view (a bar over the sweep's FLOPs and a table of the runs in flight);
elsewhere (CI, SLURM logs, pipes) it prints a plain line every ``interval`` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from isoflop.errors import RecordError
from isoflop.runs.store import run_folders, trunk_folders


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
            try:
                spec = folder.read_spec()
            except RecordError:  # a damaged config: the run's progress counts, its budget is unknown
                spec = None
            last = rows[-1]
            tps = None
            if len(rows) == 2 and rows[1]["wall_time_s"] > rows[0]["wall_time_s"]:
                tps = (rows[1]["tokens"] - rows[0]["tokens"]) / (rows[1]["wall_time_s"] - rows[0]["wall_time_s"])
            budget, start = (spec.budget, spec.start_flops) if spec is not None else (0.0, 0.0)
            own = last["flops"] - start
            eta = (budget - last["flops"]) / (own / max(last["wall_time_s"], 1e-9)) if budget and own > 0 else None
            active.append(
                {
                    "run_id": folder.run_id,
                    "loss": last.get("train_loss"),
                    "tokens_per_second": tps,
                    "eta_s": eta,
                    "frac": last["flops"] / budget if budget else None,
                }
            )
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
    return {
        "done": int(done),
        "total": total_runs,
        "flops": flops,
        "total_flops": total_flops,
        "eta_s": eta,
        "active": active,
    }


def format_snapshot(s: dict) -> str:
    """The sweep's progress in one line: runs and FLOPs done, and the ETA (the runs in flight: :func:`rich_view`)."""
    eta = f"{s['eta_s'] / 60:.1f} min" if s["eta_s"] is not None else "?"
    return (
        f"runs {s['done']}/{s['total']}  FLOPs {s['flops']:.3g}/{s['total_flops']:.3g} "
        f"({s['flops'] / max(s['total_flops'], 1):.0%})  ETA {eta}"
    )


def rich_view(s: dict):
    """The live view of a snapshot: the sweep's line, a bar over its FLOPs, and a table of the runs in flight."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [
        Text(format_snapshot(s)),
        ProgressBar(total=max(s["total_flops"], 1.0), completed=min(s["flops"], s["total_flops"]), width=60),
    ]
    if s["active"]:
        t = Table(show_edge=False, header_style="bold", pad_edge=False)
        for col in ("run", "done", "loss", "tokens/s", "ETA"):
            t.add_column(col, justify="left" if col == "run" else "right")
        for a in s["active"]:
            t.add_row(
                a["run_id"][:8],
                f"{a['frac']:.0%}" if a["frac"] is not None else "?",
                f"{a['loss']:.3f}" if a["loss"] is not None else "-",
                f"{a['tokens_per_second']:,.0f}" if a["tokens_per_second"] else "-",
                f"{a['eta_s']:.0f}s" if a["eta_s"] is not None else "?",
            )
        parts.append(t)
    return Group(*parts)


class Monitor:
    """A background thread that shows a sweep's progress until stopped: rich's live view on a terminal, a plain
    line every ``interval`` seconds elsewhere."""

    def __init__(
        self, sweep_dir: Path, total_runs: int, total_flops: float, stream=None, interval: float | None = None
    ):
        self.sweep_dir, self.total_runs, self.total_flops = Path(sweep_dir), total_runs, total_flops
        self.stream = stream or sys.stderr
        self.live = is_terminal(self.stream)
        self.interval = interval if interval is not None else (2.0 if self.live else 30.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()
        self._baseline = snapshot(self.sweep_dir, total_runs, total_flops, self._started)["flops"]
        self._view = None

    def __enter__(self):
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._view = Live(console=Console(file=self.stream), auto_refresh=False, transient=False)
            self._view.start()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self._show()
        if self._view is not None:
            self._view.stop()
        return False

    def _snapshot(self) -> dict:
        return snapshot(self.sweep_dir, self.total_runs, self.total_flops, self._started, self._baseline)

    def _show(self):
        s = self._snapshot()
        if self._view is not None:
            self._view.update(rich_view(s), refresh=True)
            return
        self.stream.write(format_snapshot(s) + "\n")
        self.stream.flush()

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self._show()
            except (OSError, ValueError):  # a closed or broken stream must not stop the sweep
                pass


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes and closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
