"""Selecting rows of a consolidated loss table: filters (``--where``), and tables of checkpoints refused.

Consolidated tables hold several experiments (columns such as ``source``, ``dataset``
or ``experiment``) and sometimes several checkpoints of each run. A filter keeps the
rows of one experiment; a table that still holds several checkpoints of one run is
refused with the column named, because fitting checkpoints as separate runs gives
a law of partly trained models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from isoflop.errors import TableError

#: Columns that index checkpoints of one run (a table holding several per run is refused, not fitted).
CHECKPOINT_COLUMNS = (
    "step",
    "global_step",
    "checkpoint",
    "ckpt",
    "checkpoint_step",
    "fraction_elapsed",
    "frac_elapsed",
    "progress",
)
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "1.0"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "0.0", ""})


def _norm(name: str) -> str:
    """A column name compared case-insensitively, with spaces, hyphens and underscores alike."""
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def column_named(df: pd.DataFrame, name: str):
    """The column called ``name`` (exactly, or as :func:`_norm` compares names), or None."""
    return next((c for c in df.columns if str(c) == name or _norm(c) == _norm(name)), None)


def _match(series: pd.Series, value: str) -> np.ndarray:
    """Rows whose value equals ``value``: as numbers when both read as numbers, else as stripped text."""
    text = series.astype(str).str.strip()
    try:
        target = float(value)
    except ValueError:
        return (text == value.strip()).to_numpy()
    nums = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(nums), np.isclose(nums, target, rtol=1e-12, atol=0), (text == value.strip()).to_numpy())


def filter_rows(df: pd.DataFrame, where, src: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Keep the rows where every ``"column=value"`` holds; return them and their row numbers in ``df``.

    Raises:
        TableError: a filter without ``=``, one that names no column, or filters that leave no row.
    """
    rows = np.arange(len(df))
    keep = np.ones(len(df), dtype=bool)
    for w in where:
        if "=" not in w:
            raise TableError(f"{src}: --where {w!r}: expected column=value")
        col, value = (x.strip() for x in w.split("=", 1))
        name = column_named(df, col)
        if name is None:
            raise TableError(f"{src}: --where {w!r}: no column '{col}'; columns are {list(map(str, df.columns))}")
        hit = _match(df[name], value)
        if not np.any(keep & hit):
            seen = sorted(set(df[name][keep].astype(str).str.strip()))
            more = f" (values: {', '.join(seen[:8])}{', ...' if len(seen) > 8 else ''})" if seen else ""
            raise TableError(
                f"{src}: --where {w!r} matches no row{' left by the filters before it' if where[0] != w else ''}{more}"
            )
        keep &= hit
    return df[keep].reset_index(drop=True), rows[keep]


def refuse_checkpoints(df: pd.DataFrame, n: np.ndarray, group: np.ndarray, used: np.ndarray, src: str) -> None:
    """Raise when a checkpoint column holds several values for one size at one budget (or, grouped by FLOPs,
    for one size at all): those rows are checkpoints of one run, not runs."""
    col = next((c for c in df.columns if _norm(c) in CHECKPOINT_COLUMNS), None)
    if col is None:
        return
    step = df[col].astype(str).str.strip().to_numpy()
    key = np.column_stack([n, group]) if "budget" in map(_norm, df.columns) else n[:, None]
    u = used & np.isfinite(n)
    keys, inv = np.unique(key[u], axis=0, return_inverse=True)
    for k in range(keys.shape[0]):
        vals = sorted(set(step[u][inv.ravel() == k]))
        if len(vals) > 1:
            raise TableError(
                f"{src}: column '{col}' holds several checkpoints of one run (N = {keys[k][0]:.4g}: "
                f"{col} {', '.join(vals[:4])}{', ...' if len(vals) > 4 else ''}); fit final losses only, "
                f"e.g. --where {col}=VALUE, or drop the checkpoint rows"
                + (
                    "; with its 'lr' (or 'schedule') column it is a loss-curve table: scaling curves fit reads it"
                    if {"lr", "schedule"} & set(map(_norm, df.columns))
                    else ""
                )
            )
