"""Files on disk, safely: atomic writes (:func:`replaced`), and JSON with no NaN (JSON has none; non-finite floats
become null)."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def finite_json(obj):
    """A copy of ``obj`` for JSON: non-finite floats become None, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [finite_json(v) for v in obj.tolist()]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def dataclass_from_json(cls, d: dict, **nested):
    """Rebuild a frozen dataclass from what ``finite_json(asdict(x))`` wrote: null becomes NaN in a float
    field, lists become tuples, unknown keys are ignored, a missing key takes the field's default, and a
    field named in ``nested`` is rebuilt by the callable given for it."""
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        if f.name in nested:
            v = None if v is None else nested[f.name](v)
        elif v is None and f.type in ("float", float):
            v = float("nan")
        elif isinstance(v, list):
            v = tuple(v)
        kw[f.name] = v
    return cls(**kw)


def json_float(x) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    x = float(x)
    return x if np.isfinite(x) else None


def _default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


def dumps(obj, indent: int | None = 1) -> str:
    """JSON text of ``obj`` with non-finite floats as null."""
    return json.dumps(finite_json(obj), indent=indent, allow_nan=False, default=_default)


@contextmanager
def replaced(path: str | Path) -> Iterator[Path]:
    """A temp path beside ``path`` to write, renamed onto ``path`` when the block ends (and removed if it raises):
    readers see the old file or the new one, never part of one. The temp name is unique to this writer, so
    drivers that write the same file at once (two ``scaling sweep run`` of one sweep writing its ``sweep.json``)
    never rename each other's temp files away; the last rename wins, whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to a temp file, fsync it, then rename (:func:`replaced`): readers see all of it or none."""
    with replaced(path) as tmp:
        with open(tmp, "w") as f:
            f.write(dumps(obj))
            f.flush()
            os.fsync(f.fileno())
