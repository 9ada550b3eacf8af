"""One run folder, and one WSD trunk folder: where a run's spec, curves, checkpoint and record live.

A run folder::

    config.json     the resolved run spec, written first
    metrics.jsonl   the curves, one JSON row per line, appended as the run goes
                    (``kind`` "train": step, tokens, flops, train_loss, lr, wall_time_s;
                     ``kind`` "val": step, tokens, flops, val_loss)
    checkpoint.pt   periodic checkpoint of a long run (removed when it ends)
    result.json     the :class:`~isoflop.train.record.RunRecord` without its curves,
                    written last and atomically

A run counts as done only when its ``result.json`` exists and reads as a record. A ``result.json`` that does not
(a torn or foreign file), or a ``config.json`` that is not the spec its run id names, makes the folder *damaged*:
readers report it with the reason, and the sweep moves it aside to ``damaged/<run_id>/`` (with ``reason.txt``)
and redoes the run. Reading never writes. The sweep folder that holds these is :mod:`isoflop.runs.store`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from isoflop.errors import RecordError, ScalingError
from isoflop.jsonio import dumps, replaced, write_json_atomic
from isoflop.train.record import RunRecord, TrunkState
from isoflop.train.spec import RunSpec, TrunkSpec


@dataclass(frozen=True)
class _Folder:
    """A folder with a config and a curve (metrics.jsonl); it need not exist yet."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def write_config(self, spec: RunSpec | TrunkSpec) -> None:
        """Write the resolved spec as config.json (atomically)."""
        write_json_atomic(self.config_path, spec.to_dict())

    def append_metrics(self, rows: list[dict]) -> None:
        """Append curve rows to metrics.jsonl."""
        if not rows:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a") as f:
            for r in rows:
                f.write(dumps(r, indent=None) + "\n")
            f.flush()

    def keep_metrics_until(self, step: int) -> None:
        """Drop curve rows after ``step`` (and a torn last line): a resumed run logs those steps again."""
        rows = self.read_metrics(max_step=step)
        with replaced(self.metrics_path) as tmp:
            tmp.write_text("".join(dumps(r, indent=None) + "\n" for r in rows))

    def read_metrics(self, max_step: int | None = None) -> list[dict]:
        """Rows of metrics.jsonl; a torn last line (from a killed run) is skipped."""
        if not self.metrics_path.exists():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and (max_step is None or row.get("step", 0) <= max_step):
                out.append(row)
        return out

    def last_train_rows(self, n: int = 2) -> list[dict]:
        """The last ``n`` training rows, read from the end of metrics.jsonl (cheap on long runs)."""
        try:
            with open(self.metrics_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4096))
                lines = f.read().decode(errors="ignore").splitlines()
        except OSError:
            return []
        rows = []
        for line in reversed(lines):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(r, dict) and r.get("kind") == "train":
                rows.append(r)
                if len(rows) == n:
                    break
        return rows[::-1]

    def clear(self) -> None:
        """Remove the folder."""
        shutil.rmtree(self.path, ignore_errors=True)

    def set_aside(self, reason: str) -> Path | None:
        """Move a damaged folder out of the sweep, to ``<sweep>/damaged/<name>[.k]/`` with ``reason.txt``, so
        that it is redone from scratch while nothing in it is lost; return where it went (None: nothing there)."""
        if not self.path.exists():
            return None
        aside = self.path.parent.parent / "damaged" / self.path.name
        k = 1
        while aside.exists():
            aside, k = self.path.parent.parent / "damaged" / f"{self.path.name}.{k}", k + 1
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, aside)
        (aside / "reason.txt").write_text(reason.rstrip() + "\n")
        return aside


@dataclass(frozen=True)
class RunFolder(_Folder):
    """One run's folder on disk (it need not exist yet)."""

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    def write_result(self, record: RunRecord) -> None:
        """Write the record (atomically, curves left to metrics.jsonl) and remove the checkpoint."""
        write_json_atomic(self.result_path, record.to_dict(curves=False))
        self.checkpoint_path.unlink(missing_ok=True)

    def write_run(self, record: RunRecord) -> None:
        """Write a whole finished run at once (curves to metrics.jsonl, then the record)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics_path.unlink(missing_ok=True)
        self.append_metrics(
            [{"kind": "train", **r} for r in record.curve] + [{"kind": "val", **r} for r in record.val_curve]
        )
        self.write_result(record)

    def remove_run_files(self) -> None:
        """Remove this folder's run files (and only those), so a new run can be written into it."""
        for p in (self.config_path, self.metrics_path, self.result_path, self.checkpoint_path):
            p.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------------

    def read_spec(self) -> RunSpec | None:
        """The run's spec (config.json), or None when it has none yet.

        Raises:
            RecordError: config.json exists but is damaged (not JSON, or not a run spec).
        """
        doc = _read_doc(self.config_path)
        return None if doc is None else _spec_from(RunSpec, doc, self.config_path)

    def has_result(self) -> bool:
        """Whether a result.json exists (it may still be damaged: see :meth:`read_result`)."""
        return self.result_path.exists()

    def read_result(self, *, curves: bool = False) -> RunRecord | None:
        """The run's record, or None when it has not finished.

        Args:
            curves: attach the curves from metrics.jsonl (records of schema 1
                carry their own training curve).

        Raises:
            RecordError: result.json exists but is damaged (not JSON, or not a record).
        """
        p = self.result_path
        doc = _read_doc(p)
        if doc is None:
            return None
        rec = RunRecord.from_dict(doc, f"{p}: ")
        if curves:
            rows = self.read_metrics()
            train = tuple(_strip_kind(r) for r in rows if r.get("kind") == "train") or rec.curve
            val = tuple(_strip_kind(r) for r in rows if r.get("kind") == "val") or rec.val_curve
            from dataclasses import replace

            rec = replace(rec, curve=train, val_curve=val)
        if rec.run_id is None:
            from dataclasses import replace

            rec = replace(rec, run_id=self.run_id)
        return rec


@dataclass(frozen=True)
class TrunkFolder(_Folder):
    """A WSD trunk's folder: ``config.json``, ``metrics.jsonl`` (the stable phase's curve, each step once),
    ``head.pt`` (its furthest saved state), ``at-<step>.pt`` (snapshots at branch points, each deleted once its
    branch has finished) and ``trunk.json`` (its :class:`TrunkState`)."""

    @property
    def trunk_id(self) -> str:
        return self.path.name

    @property
    def head_path(self) -> Path:
        return self.path / "head.pt"

    @property
    def state_path(self) -> Path:
        return self.path / "trunk.json"

    def snapshot_path(self, step: int) -> Path:
        """Where the trunk is saved at branch point ``step``."""
        return self.path / f"at-{step}.pt"

    def read_spec(self) -> TrunkSpec | None:
        """The trunk's spec (config.json), or None when it has none yet.

        Raises:
            RecordError: config.json exists but is damaged (not JSON, or not a trunk spec).
        """
        doc = _read_doc(self.config_path)
        return None if doc is None else _spec_from(TrunkSpec, doc, self.config_path)

    def remove_checkpoints(self) -> None:
        """Delete the head and every snapshot (once no branch needs them: a sweep has ended)."""
        self.head_path.unlink(missing_ok=True)
        for p in self.path.glob("at-*.pt"):
            p.unlink(missing_ok=True)

    def last_logged_step(self) -> int:
        """The last step in the trunk's curve (0 when none)."""
        rows = self.last_train_rows(1)
        return int(rows[-1]["step"]) if rows else 0

    def read_state(self) -> TrunkState:
        """The trunk's state (an empty one when it has none yet).

        Raises:
            RecordError: trunk.json is damaged.
        """
        try:
            doc = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return TrunkState(self.trunk_id)
        except json.JSONDecodeError as e:
            raise RecordError(f"{self.state_path}: damaged (not valid JSON: {e.msg})") from None
        return TrunkState.from_dict(doc, f"{self.state_path}: ")

    def write_state(self, state: TrunkState) -> None:
        write_json_atomic(self.state_path, state.to_dict())


def trunk_folder(sweep_dir: str | Path, trunk_id: str) -> TrunkFolder:
    """The folder of one trunk of a WSD sweep."""
    return TrunkFolder(Path(sweep_dir) / "trunks" / trunk_id)


def run_folder(sweep_dir: str | Path, run_id: str) -> RunFolder:
    """The folder of one run of a sweep."""
    return RunFolder(Path(sweep_dir) / "runs" / run_id)


def _strip_kind(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "kind"}


def _read_doc(p: Path):
    """The JSON document at ``p``, or None when there is no file.

    Raises:
        RecordError: the file cannot be read, or is not valid JSON.
    """
    try:
        text = p.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RecordError(f"{p}: cannot read ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(f"{p}: damaged (not valid JSON: {e.msg} at line {e.lineno})") from None


def _spec_from(kind, doc, p: Path):
    """``kind.from_dict(doc)``, a document that is not one being damage."""
    try:
        if not isinstance(doc, dict):
            raise TypeError("not a JSON object")
        return kind.from_dict(doc)
    except (ScalingError, KeyError, TypeError, ValueError) as e:
        raise RecordError(f"{p}: damaged (not a {kind.__name__}: {type(e).__name__} {e})") from None
