"""JSON on disk, safely: atomic writes, and no NaN (JSON has none; non-finite floats become null)."""

from __future__ import annotations

import json
import os
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


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to a temp file, fsync it, then rename: readers see all of it or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(dumps(obj))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
