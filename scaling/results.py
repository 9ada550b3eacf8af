"""Run records on disk: where each run writes, how records are read back and collected.

Layout of a sweep folder ``results/<sweep>/``::

    runs/<run_id>/config.json     the resolved run spec, written first
    runs/<run_id>/metrics.jsonl   the training curve, appended as the run goes
    runs/<run_id>/checkpoint.pt   periodic checkpoint of a long run (removed when it ends)
    runs/<run_id>/result.json     the RunResult, written last and atomically
    runs.csv                      one row per finished run, in the columns ``scaling fit`` reads

A run counts as done only when its ``result.json`` exists; a folder without
one is an interrupted run and is started again (from its checkpoint if any).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns of runs.csv, in order (N, D, C and L in the names load_runs reads).
RUNS_COLUMNS = ("run_id", "status", "budget", "params", "n_params_non_embedding", "tokens", "flops", "loss",
                "val_bpb", "train_loss", "n_layers", "d_model", "n_heads", "seed", "flops_convention",
                "tokens_per_second", "mfu", "wall_time_s", "error")


def run_dir(sweep_dir: str | Path, run_id: str) -> Path:
    return Path(sweep_dir) / "runs" / run_id


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to a temp file, fsync it, then rename: readers see all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False, default=_default)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


def finite_json(obj):
    """A copy of ``obj`` for JSON, which has no NaN: non-finite floats become null, tuples lists."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def append_metrics(path: Path, rows: list[dict]) -> None:
    """Append rows to metrics.jsonl (one JSON object per line)."""
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps(r, default=_default) + "\n")
        f.flush()


def read_metrics(path: Path, max_step: int | None = None) -> list[dict]:
    """Rows of a metrics.jsonl; a torn last line (from a killed run) is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if max_step is None or row.get("step", 0) <= max_step:
            out.append(row)
    return out


def read_result(path: Path) -> dict | None:
    """A run's result.json, or None when the run has not finished."""
    p = Path(path)
    if p.is_dir():
        p = p / "result.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())


def iter_results(sweep_dir: str | Path):
    """(run_id, result dict) of every finished run of a sweep, in run-id order."""
    root = Path(sweep_dir) / "runs"
    if not root.exists():
        return
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        r = read_result(d)
        if r is not None:
            yield d.name, r


def result_row(run_id: str, r: dict) -> dict:
    """One runs.csv row of a result record."""
    m = r.get("model", {})
    return {
        "run_id": run_id, "status": r.get("status"), "budget": r.get("budget_flops"), "params": r.get("n_params"),
        "n_params_non_embedding": r.get("n_params_non_embedding"), "tokens": r.get("tokens"), "flops": r.get("flops"),
        "loss": r.get("val_loss"), "val_bpb": r.get("val_bpb"), "train_loss": r.get("train_loss"),
        "n_layers": m.get("n_layers"), "d_model": m.get("d_model"), "n_heads": m.get("n_heads"), "seed": r.get("seed"),
        "flops_convention": r.get("flops_convention"), "tokens_per_second": r.get("tokens_per_second"),
        "mfu": r.get("mfu"), "wall_time_s": r.get("wall_time_s"),
        "error": (r.get("error") or "").splitlines()[0] if r.get("error") else "",
    }


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    """All finished runs of a sweep as a table (also written to ``runs.csv``)."""
    rows = [result_row(rid, r) for rid, r in iter_results(sweep_dir)]
    df = pd.DataFrame(rows, columns=list(RUNS_COLUMNS))
    path = Path(sweep_dir) / "runs.csv"
    tmp = path.with_name("runs.csv.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return df


def curves(sweep_dir: str | Path, run_ids: list[str]) -> pd.DataFrame:
    """Training curves of the given runs (``run`` = position in ``run_ids``), for Approach 1's envelope.

    The loss is the training loss at each logged step (the only loss measured
    at every step; Chinchilla's Approach 1 used training-loss curves too).
    """
    frames = []
    for i, rid in enumerate(run_ids):
        rows = read_metrics(run_dir(sweep_dir, rid) / "metrics.jsonl")
        rows = [r for r in rows if r.get("train_loss") is not None]
        if rows:
            f = pd.DataFrame(rows)[["flops", "tokens", "train_loss"]].rename(columns={"train_loss": "loss"})
            f["run"] = i
            frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "flops", "tokens", "loss"])


def recount(df: pd.DataFrame, convention: str) -> pd.DataFrame:
    """The runs as if counted under another convention: "6N" (Kaplan et al. 2020) uses
    N = non-embedding parameters and C = 6·N·D; each budget's nominal C becomes the
    geometric mean of its runs' recounted C (the runs of one budget no longer share
    one C under 6N, since the conventions differ by up to 2x across sizes).

    Args:
        df: a runs table from :func:`collect`.
        convention: "6N", or "as-run" to return the table unchanged.
    """
    if convention == "as-run":
        return df
    if convention != "6N":
        raise ValueError(f"unknown recount convention {convention!r} (use as-run or 6N)")
    out = df.copy()
    out["params"] = out["n_params_non_embedding"]
    out["flops"] = 6.0 * out["params"] * out["tokens"]
    out["budget"] = out.groupby("budget")["flops"].transform(lambda c: float(np.exp(np.log(c).mean())))
    return out
