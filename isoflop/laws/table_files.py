"""Where a loss table's rows come from: files (CSV, TSV, JSON, JSON Lines, Parquet), built-in examples and
sweep folders, read as text rows for :func:`isoflop.laws.table_io.load_runs` to validate. Reading never writes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from isoflop.errors import RecordError, TableError
from isoflop.runs.store import is_sweep_dir, read_manifest, runs_frame

#: Column names recognised for each quantity, case-insensitively and with
#: spaces, hyphens and underscores treated alike. Earlier names win.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "params": ("params", "n_params", "parameters", "model_size", "Model Size", "N"),
    "tokens": ("tokens", "n_tokens", "training_tokens", "Training Tokens", "D"),
    "flops": ("flops", "compute", "compute_budget", "Training FLOP", "C"),
    "loss": ("loss", "final_loss", "val_loss", "validation_loss", "L"),
    "budget": ("budget", "budget_flops"),
    "status": ("status",),
    "error": ("error",),
    "outlier": ("outlier", "is_outlier", "excluded", "exclude"),
    "outlier_reason": ("outlier_reason", "exclusion_reason", "exclude_reason"),
}


#: Built-in example tables shipped with the package (see isoflop/examples/README.md).
EXAMPLES = {
    "chinchilla": "chinchilla_epoch_svg_extracted.csv",
    "cs336": "cs336_isoflops_curves.json",
    "porian2024": "porian2024_isoflops.csv",
}

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def example_path(name: str) -> Path:
    """Path of a built-in example table (a key of :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise TableError(f"unknown example '{name}' (choose from {', '.join(EXAMPLES)})")
    return Path(str(resources.files("isoflop") / "examples" / EXAMPLES[name]))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV, JSON (array of objects), JSON Lines or Parquet file.

    Raises:
        TableError: the file is missing, of unknown format, or malformed.
    """
    p = Path(path)
    if not p.exists():
        raise TableError(f"{p}: file not found")
    if p.is_dir():
        raise TableError(f"{p}: is a directory, not a loss table")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise TableError(f"{p}: unknown format '{p.suffix}' (expected one of {', '.join(sorted(FORMATS))})")
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(p, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
        if fmt == "jsonl":
            rows = []
            for i, line in enumerate(p.read_text().splitlines()):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise TableError(f"{p}: line {i + 1}: invalid JSON ({e.msg})") from None
            return _records_frame(p, rows)
        if fmt == "json":
            try:
                data = json.loads(p.read_text())
            except json.JSONDecodeError as e:
                raise TableError(f"{p}: invalid JSON at line {e.lineno} ({e.msg})") from None
            if isinstance(data, dict) and isinstance(data.get("runs"), list):
                data = data["runs"]
            if not isinstance(data, list):
                raise TableError(f"{p}: expected a JSON array of objects (one per run), got {type(data).__name__}")
            return _records_frame(p, data)
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise TableError(f"{p}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        return pd.read_parquet(p)
    except TableError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TableError(f"{p}: cannot read as {fmt}: {msg}") from None


def _records_frame(p: Path, rows: list) -> pd.DataFrame:
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise TableError(f"{p}: row {i}: expected an object with named fields, got {type(r).__name__}")
    return pd.DataFrame.from_records(rows)


def read_source(source, recount: str = "as-run") -> tuple[pd.DataFrame, str, bool, bool]:
    """The rows of a table source as text, with its name for messages, whether its rows are CSV lines, and
    whether it is a sweep folder (read without writing; its run records, recounted as ``recount``).

    Raises:
        TableError: as :func:`read_table`, an unknown example, or a sweep folder with no finished run.
    """
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), "<dataframe>", False, False
    if is_sweep_dir(str(source)):
        df = recount_runs(runs_frame(source), recount).astype({"error": str})
        if len(df) == 0:
            raise TableError(f"{source}: no finished runs yet (no runs/*/result.json)")
        return df, str(source), False, True
    s = str(source)
    path = example_path(s.split(":", 1)[1]) if s.startswith("example:") else Path(s)
    return (
        read_table(path),
        (s if s.startswith("example:") else str(path)),
        path.suffix.lower() in (".csv", ".tsv"),
        False,
    )


def is_law_sweep(sweep_dir) -> bool:
    """Whether a sweep folder was trained under ``cooldowns = "law"`` (its sweep.json says so)."""
    try:
        doc = read_manifest(sweep_dir)
    except RecordError:
        return False
    return isinstance(doc, dict) and doc.get("cooldowns") == "law"


def recount_runs(df: pd.DataFrame, convention: str) -> pd.DataFrame:
    """A sweep's runs as if counted under another convention: "6N" (Kaplan et al. 2020) uses
    N = non-embedding parameters and C = 6·N·D; each budget's nominal C becomes the
    geometric mean of its runs' recounted C (the runs of one budget no longer share
    one C under 6N, since the conventions differ by up to 2x across sizes).

    Args:
        df: a runs table from :func:`isoflop.runs.store.runs_frame`.
        convention: "6N", or "as-run" to return the table unchanged.

    Raises:
        TableError: an unknown convention.
    """
    if convention == "as-run":
        return df
    if convention != "6N":
        raise TableError(f"unknown recount convention {convention!r} (use as-run or 6N)")
    out = df.copy()
    out["params"] = out["n_params_non_embedding"]
    out["flops"] = 6.0 * out["params"] * out["tokens"]
    out["budget"] = out.groupby("budget")["flops"].transform(lambda c: float(np.exp(np.log(c).mean())))
    return out
