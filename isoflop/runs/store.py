"""The one reader and writer of sweep folders: the runs and trunks they hold, their table and their manifest.

A sweep folder ``results/<sweep>/`` holds ``sweep.json`` (the sweep's resolved config), ``runs/<run_id>/`` run
folders (:mod:`isoflop.runs.folder`), ``trunks/<trunk_id>/`` for WSD sweeps, and ``runs.csv`` (one row per
finished run, in the columns ``scaling fit`` reads), which only the sweep writes. Reading never writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from isoflop.errors import RecordError
from isoflop.jsonio import replaced, write_json_atomic
from isoflop.runs.folder import RunFolder, TrunkFolder, run_folder
from isoflop.train.record import RunRecord

#: Columns of runs.csv, in order (N, D, C and L in the names load_runs reads).
RUNS_COLUMNS = (
    "run_id",
    "status",
    "budget",
    "params",
    "n_params_non_embedding",
    "tokens",
    "flops",
    "loss",
    "val_bpb",
    "train_loss",
    "n_layers",
    "d_model",
    "n_heads",
    "seed",
    "flops_convention",
    "tokens_per_second",
    "mfu",
    "wall_time_s",
    "error",
    "trunk_id",
    "branch_step",
    "cost_flops",
    "simulated",
    "lr",
    "unique_tokens",
    "batch_size",
)


def trunk_folders(sweep_dir: str | Path) -> list[TrunkFolder]:
    """Every trunk folder of a sweep, in id order."""
    root = Path(sweep_dir) / "trunks"
    return [TrunkFolder(p) for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []


# -- sweep folders ------------------------------------------------------------------------------------


def run_folders(sweep_dir: str | Path) -> list[RunFolder]:
    """Every run folder of a sweep, in run-id order."""
    root = Path(sweep_dir) / "runs"
    return [RunFolder(p) for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []


def is_sweep_dir(path: str | Path) -> bool:
    """Whether ``path`` is a sweep folder (it has a ``runs/`` folder)."""
    return (Path(path) / "runs").is_dir()


def iter_records(sweep_dir: str | Path, *, curves: bool = False) -> Iterator[tuple[str, RunRecord | RecordError]]:
    """(run_id, record) of every finished run of a sweep, in run-id order; a damaged
    record comes as its :class:`RecordError` instead, so one bad folder stops nothing."""
    for f in run_folders(sweep_dir):
        try:
            rec = f.read_result(curves=curves)
        except RecordError as e:
            yield f.run_id, e
            continue
        if rec is not None:
            yield f.run_id, rec


def finished_records(sweep_dir: str | Path) -> list[RunRecord]:
    """The readable records of a sweep (damaged ones left out)."""
    return [r for _, r in iter_records(sweep_dir) if isinstance(r, RunRecord)]


def record_row(run_id: str, r: RunRecord | RecordError) -> dict:
    """One runs.csv row of a record (a damaged record becomes a row with status "damaged")."""
    if isinstance(r, RecordError):
        return {"run_id": run_id, "status": "damaged", "error": str(r)}
    m = r.model
    return {
        "run_id": run_id,
        "status": r.status,
        "budget": r.budget_flops,
        "params": r.n_params,
        "n_params_non_embedding": r.n_params_non_embedding,
        "tokens": r.tokens,
        "flops": r.flops,
        "loss": r.val_loss,
        "val_bpb": r.val_bpb,
        "train_loss": r.train_loss,
        "n_layers": m.n_layers if m else None,
        "d_model": m.d_model if m else None,
        "n_heads": m.n_heads if m else None,
        "seed": r.seed,
        "flops_convention": r.flops_convention,
        "tokens_per_second": r.tokens_per_second,
        "mfu": r.mfu,
        "wall_time_s": r.wall_time_s,
        "error": r.error.splitlines()[0] if r.error else "",
        "trunk_id": r.trunk_id or "",
        "branch_step": r.branch_step,
        "cost_flops": r.cost_flops if r.cost_flops is not None else r.flops,
        "simulated": bool(r.simulated),
        "lr": r.lr,
        "unique_tokens": r.unique_tokens,
        "batch_size": r.train_config.batch_size if r.train_config is not None else None,
    }


def runs_frame(sweep_dir: str | Path) -> pd.DataFrame:
    """All finished runs of a sweep as a table, read from the run records (writes nothing)."""
    rows = [record_row(rid, r) for rid, r in iter_records(sweep_dir)]
    return pd.DataFrame(rows, columns=list(RUNS_COLUMNS))


def write_runs_csv(sweep_dir: str | Path) -> pd.DataFrame:
    """Write ``runs.csv`` from the run records (atomically) and return the table. Only the sweep calls this."""
    df = runs_frame(sweep_dir)
    path = Path(sweep_dir) / "runs.csv"
    with replaced(path) as tmp:
        df.to_csv(tmp, index=False)
    return df


def read_curves(sweep_dir: str | Path, run_ids: list[str]) -> pd.DataFrame:
    """Training curves of the given runs (``run`` = position in ``run_ids``), for Approach 1's envelope.

    The loss is the training loss at each logged step (the only loss measured
    at every step; Chinchilla's Approach 1 used training-loss curves too).
    """
    frames = []
    for i, rid in enumerate(run_ids):
        rows = [
            r
            for r in run_folder(sweep_dir, rid).read_metrics()
            if r.get("kind", "train") == "train" and r.get("train_loss") is not None
        ]
        if rows:
            f = pd.DataFrame(rows)[["flops", "tokens", "train_loss"]].rename(columns={"train_loss": "loss"})
            f["run"] = i
            frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "flops", "tokens", "loss"])


#: Columns of a sweep's loss-curve table, in the documented curve format (:mod:`isoflop.laws.curves.table`).
CURVE_COLUMNS = (
    "run",
    "N",
    "step",
    "tokens",
    "flops",
    "lr",
    "loss",
    "loss_mean",
    "loss_steps",
    "val_loss",
    "parent",
    "branch_step",
)


def curve_frame(sweep_dir: str | Path) -> pd.DataFrame:
    """Every logged step of a sweep's finished ok runs and of its WSD trunks, as one loss-curve table.

    A run's rows are its training rows (``loss`` is the training loss logged at that step, ``lr`` the
    learning rate there, ``loss_mean`` the mean training loss of the ``loss_steps`` steps since the previous
    row, in runs trained since it was logged) with its validation losses at the steps they were measured (a step with a validation
    loss and no training row gets a row of its own). A WSD trunk is the run ``trunk:<id>``; each of its
    branches names it as ``parent``, with the ``branch_step`` its cooldown started at, and holds only its
    own rows, with the validation loss it measured at each branch point (trunks trained since 2026-12-07).
    Damaged, failed and diverged runs are left out, and so are trunks whose config cannot be read.
    """
    from isoflop.model.flops import param_counts

    rows: list[dict] = []
    for run_id, rec in iter_records(sweep_dir, curves=True):
        if isinstance(rec, RecordError) or rec.status != "ok" or rec.n_params is None:
            continue
        parent = f"trunk:{rec.trunk_id}" if rec.trunk_id else None
        own = {"run": run_id, "N": float(rec.n_params), "parent": parent, "branch_step": rec.branch_step}
        rows += _curve_rows(own, rec.curve, rec.val_curve)
    for tf in trunk_folders(sweep_dir):
        try:
            spec = tf.read_spec()
        except RecordError:
            continue
        if spec is None:
            continue
        own = {
            "run": f"trunk:{tf.trunk_id}",
            "N": float(param_counts(spec.model).total),
            "parent": None,
            "branch_step": None,
        }
        metrics = tf.read_metrics()
        train = [r for r in metrics if r.get("kind", "train") == "train"]
        rows += _curve_rows(own, train, [r for r in metrics if r.get("kind") == "val"])
    df = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    return df.sort_values(["run", "step"], kind="stable").reset_index(drop=True)


def _curve_rows(own: dict, train: Sequence[dict], val: Sequence[dict]) -> list[dict]:
    """One curve's rows of :func:`curve_frame`: a row per training row (``own`` keys, then its step, tokens,
    FLOPs, LR, losses and the validation loss measured at that step), and a row of its own for a validation
    loss at a step with no training row."""
    at = {int(v["step"]): v["val_loss"] for v in val if v.get("val_loss") is not None}
    rows = [
        {
            **own,
            "step": int(r["step"]),
            "tokens": r.get("tokens"),
            "flops": r.get("flops"),
            "lr": r.get("lr"),
            "loss": r.get("train_loss"),
            "loss_mean": r.get("train_loss_mean"),
            "loss_steps": r.get("train_loss_steps"),
            "val_loss": at.get(int(r["step"])),
        }
        for r in train
    ]
    seen = {r["step"] for r in rows}
    for v in val:
        step = int(v["step"])
        if step not in seen and step in at:
            seen.add(step)
            rows.append(
                {
                    **own,
                    "step": step,
                    "tokens": v.get("tokens"),
                    "flops": v.get("flops"),
                    "lr": None,
                    "loss": None,
                    "val_loss": at[step],
                }
            )
    return rows


def write_manifest(sweep_dir: str | Path, doc: dict) -> None:
    """Write ``sweep.json``, the resolved config of the sweep that fills the folder."""
    write_json_atomic(Path(sweep_dir) / "sweep.json", doc)


def read_manifest(sweep_dir: str | Path) -> dict | None:
    """The folder's ``sweep.json``, or None when there is none.

    Raises:
        RecordError: the file is not valid JSON.
    """
    p = Path(sweep_dir) / "sweep.json"
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise RecordError(f"{p}: damaged (not valid JSON: {e.msg})") from None
