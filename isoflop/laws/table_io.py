"""Reading loss tables: files, sweep folders and built-in examples -> a validated :class:`RunTable`.

A table holds one row per training run with model size N (parameters),
training tokens D, training compute C (FLOPs) and final loss L (nats per
token). Any one of N, D and C may be missing: it follows from the other two
through C = 6ND (Kaplan et al. 2020, Hoffmann et al. 2022), and the table
records which one was derived.

Rows whose loss is NaN or infinite, or whose status is not ok, are kept but excluded, each with a
reason; malformed values (a non-numeric N, a negative C) raise :class:`TableError` with the file, row and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from isoflop.errors import TableError
from isoflop.laws.selection import FALSE_WORDS, TRUE_WORDS, _norm, filter_rows, refuse_checkpoints
from isoflop.laws.table import Exclusion, RunTable, group_by_flops
from isoflop.laws.table_files import COLUMN_ALIASES, is_law_sweep, read_source, read_table
from isoflop.model.flops import complete_ndc
from isoflop.runs.store import is_sweep_dir, read_curves

#: Status values that count as a finished, usable run.
OK_STATUSES = frozenset({"ok", "success", "succeeded", "completed", "complete", "done", "finished"})


def _find_column(df: pd.DataFrame, role: str, override: str | None, src: str) -> str | None:
    by_norm: dict[str, str] = {}
    for c in df.columns:
        by_norm.setdefault(_norm(c), c)
    if override is not None:
        if override in df.columns:
            return override
        if _norm(override) in by_norm:
            return by_norm[_norm(override)]
        raise TableError(
            f"{src}: column '{override}' (given for {role}) not found; columns are {list(map(str, df.columns))}"
        )
    for alias in COLUMN_ALIASES[role]:
        if _norm(alias) in by_norm:
            return by_norm[_norm(alias)]
    return None


def _row_label(i: int, fmt_is_csv: bool) -> str:
    # CSV users look up line numbers; line 1 is the header.
    return f"row {i} (line {i + 2})" if fmt_is_csv else f"row {i}"


def _numeric(df, col, role, src, label, *, allow_missing=False, skip=None) -> np.ndarray:
    """A column as floats; rows in ``skip`` (runs already excluded, e.g. failed ones) may hold anything."""
    raw = df[col]
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    for i in np.flatnonzero(np.isnan(vals)):
        if skip is not None and skip[i]:
            continue
        if blank[i]:
            if allow_missing:
                continue
            raise TableError(f"{src}: {label(i)}: column '{col}' ({role}) is empty")
        text = str(raw.iloc[i]).strip()
        if text.lower() in ("nan", "inf", "-inf", "infinity", "-infinity") and allow_missing:
            vals[i] = float(text.lower().replace("infinity", "inf"))
            continue
        if text.lower() == "nan" and not allow_missing:
            raise TableError(f"{src}: {label(i)}: column '{col}' ({role}) is NaN")
        raise TableError(f"{src}: {label(i)}: column '{col}' ({role}) value '{text}' is not a number")
    return vals


def _check_positive(vals, col, role, src, label):
    bad = np.flatnonzero(~(np.isfinite(vals) & (vals > 0)))
    if bad.size:
        i = bad[0]
        raise TableError(f"{src}: {label(i)}: column '{col}' ({role}) must be positive and finite, got {vals[i]:g}")


def _columns(df: pd.DataFrame, src: str, params_col, tokens_col, flops_col, loss_col, budget_col) -> dict:
    """The column that holds each quantity (None where absent), after checking that there is a loss and two of
    N, D and C."""
    cols = {
        "params": _find_column(df, "params", params_col, src),
        "tokens": _find_column(df, "tokens", tokens_col, src),
        "flops": _find_column(df, "flops", flops_col, src),
        "loss": _find_column(df, "loss", loss_col, src),
        "budget": _find_column(df, "budget", budget_col, src),
        "status": _find_column(df, "status", None, src),
        "outlier": _find_column(df, "outlier", None, src),
    }
    if cols["loss"] is None:
        raise TableError(
            f"{src}: no loss column (looked for {', '.join(COLUMN_ALIASES['loss'])}; use --loss-col); "
            f"columns are {list(map(str, df.columns))}"
        )
    present = [r for r in ("params", "tokens", "flops") if cols[r] is not None]
    if len(present) < 2:
        missing = [r for r in ("params", "tokens", "flops") if cols[r] is None]
        raise TableError(
            f"{src}: needs two of params, tokens and flops (C = 6ND) but found no column for "
            f"{' or '.join(missing)}; columns are {list(map(str, df.columns))}"
        )
    return cols


def _marked_reasons(df: pd.DataFrame, cols: dict, src: str, label) -> dict[int, str]:
    """Rows the table itself excludes (a status that is not ok, an outlier column marked true), with reasons."""
    reasons: dict[int, str] = {}
    if cols["status"] is not None:
        status = df[cols["status"]].astype(str).str.strip()
        err_col = _find_column(df, "error", None, src)
        errors = df[err_col].fillna("").astype(str) if err_col is not None else None
        for i, st in enumerate(status):
            if st.lower() not in OK_STATUSES:
                why = errors.iloc[i].strip() if errors is not None else ""
                reasons[i] = f"status '{st}'" + (f": {why}" if why and why != "nan" else "")
    if cols["outlier"] is not None:
        why_col = _find_column(df, "outlier_reason", None, src)
        for i, v in enumerate(df[cols["outlier"]]):
            word = str(v).strip().lower() if not (isinstance(v, float) and np.isnan(v)) else ""
            if word in TRUE_WORDS and i not in reasons:
                why = str(df[why_col].iloc[i]).strip() if why_col is not None else ""
                reasons[i] = f"marked in column '{cols['outlier']}'" + (f": {why}" if why and why != "nan" else "")
            elif word not in TRUE_WORDS | FALSE_WORDS:
                raise TableError(f"{src}: {label(i)}: column '{cols['outlier']}' value '{v}' is not true or false")
    return reasons


def _budgets(df: pd.DataFrame, cols: dict, flops, used, group_tol: float, src: str, label):
    """Each used run's budget index (-1 for unused rows), the budgets, and how they were grouped."""
    group = np.full(len(df), -1, dtype=int)
    if cols["budget"] is not None:
        braw = _numeric(df, cols["budget"], "budget", src, label, allow_missing=True)
        for i in np.flatnonzero(used & ~(np.isfinite(braw) & (braw > 0))):
            raise TableError(
                f"{src}: {label(int(i))}: column '{cols['budget']}' (budget) must be positive, got {braw[i]:g}"
            )
        budgets, inv = np.unique(braw[used], return_inverse=True)
        group[used] = inv
        grouping = f"by column '{cols['budget']}'"
    else:
        g = group_by_flops(flops[used], group_tol)
        group[used] = g
        c_used = flops[used]
        budgets = (
            np.array([np.exp(np.mean(np.log(c_used[g == k]))) for k in range(g.max() + 1)]) if g.size else np.array([])
        )
        grouping = f"by FLOPs within {group_tol:.0%} (geometric mean per group)"
    return group, budgets, grouping


def load_runs(
    source: str | Path | pd.DataFrame,
    *,
    params_col: str | None = None,
    tokens_col: str | None = None,
    flops_col: str | None = None,
    loss_col: str | None = None,
    budget_col: str | None = None,
    group_tol: float = 0.05,
    drop_highest: int = 0,
    recount: str = "as-run",
    where: tuple[str, ...] = (),
) -> RunTable:
    """Read a loss table into a validated :class:`RunTable`.

    Args:
        source: a file path (CSV, TSV, JSON array, JSON Lines, Parquet), a
            sweep's results folder (``results/<sweep>``: its run records and
            training curves), the name of a built-in example prefixed with
            ``example:`` (for instance ``"example:chinchilla"``), or a DataFrame.
        params_col, tokens_col, flops_col, loss_col, budget_col: column names
            that override the recognised aliases (:data:`COLUMN_ALIASES`).
        group_tol: without a budget column, runs whose FLOPs lie within this
            relative tolerance form one budget.
        drop_highest: exclude this many of the highest-loss runs (as Besiroglu
            et al. 2024 did for the Chinchilla data).
        recount: for a sweep folder, "6N" recounts N and C as Kaplan et al.
            (non-embedding N, C = 6ND; see :func:`recount_runs`).
        where: filters ``"column=value"`` (all must hold; numbers compare as numbers), for tables that
            hold several experiments. Row numbers in messages and exclusions stay those of the file.

    Returns:
        A :class:`RunTable`.

    Raises:
        TableError: missing file, unknown format, no loss column, fewer than
            two of N, D and C, a non-numeric or non-positive N, D or C, a filter that names no
            column or matches no row, or a table that holds several checkpoints of one run.

    A boolean ``outlier`` (or ``excluded``) column excludes the rows marked true, with the reason from an
    ``outlier_reason`` column when there is one.
    """
    if not isinstance(source, pd.DataFrame) and is_sweep_dir(str(source)) and is_law_sweep(source):
        from isoflop.laws.curves.grid import law_frame  # the grid of a cooldowns = "law" folder

        df, src, csv_lines, sweep = law_frame(source, recount), str(source), False, True
    else:
        df, src, csv_lines, sweep = read_source(source, recount)
    # A WSD sweep's runs are cooldown branches: Approach 1 reads their annealed ends (each budget's lowest
    # run), never the training curve, whose losses before the end are of a schedule that had not ended.
    wsd = sweep and bool((df["trunk_id"].fillna("").astype(str) != "").any())
    df, rows = filter_rows(df, where, src)
    curve_ids = list(df["run_id"]) if sweep else None

    def label(i: int) -> str:
        return _row_label(int(rows[i]), csv_lines)

    if drop_highest < 0:
        raise TableError(f"{src}: drop_highest ({drop_highest}) must be non-negative")
    if recount != "as-run" and curve_ids is None:
        raise TableError(f"{src}: recounting FLOPs needs a sweep folder (with non-embedding parameter counts)")
    if len(df) == 0:
        raise TableError(f"{src}: the table has no rows")

    cols = _columns(df, src, params_col, tokens_col, flops_col, loss_col, budget_col)
    present = [r for r in ("params", "tokens", "flops") if cols[r] is not None]

    # Runs whose status is not ok are excluded with their error; they may lack N, D or C (a crashed run).
    reasons = _marked_reasons(df, cols, src, label)
    skip = np.zeros(len(df), dtype=bool)
    skip[list(reasons)] = True
    vals: dict[str, np.ndarray] = {}
    for role in present:
        vals[role] = _numeric(df, cols[role], role, src, label, skip=skip)
        _check_positive(np.where(skip, 1.0, vals[role]), cols[role], role, src, label)
    vals["params"], vals["tokens"], vals["flops"], derived = complete_ndc(
        vals.get("params"), vals.get("tokens"), vals.get("flops")
    )
    loss = _numeric(df, cols["loss"], "loss", src, label, allow_missing=True)
    bad_loss = np.flatnonzero(np.isfinite(loss) & (loss <= 0))
    if bad_loss.size:
        i = bad_loss[0]
        raise TableError(f"{src}: {label(i)}: column '{cols['loss']}' (loss) must be positive, got {loss[i]:g}")

    for i in np.flatnonzero(~np.isfinite(loss)):
        if int(i) not in reasons:
            reasons[int(i)] = "loss is missing or NaN" if np.isnan(loss[i]) else "loss is infinite"
    if drop_highest:
        cand = np.array([i for i in range(len(df)) if i not in reasons], dtype=int)
        if drop_highest >= cand.size:
            raise TableError(f"{src}: --drop-highest {drop_highest} would leave no runs (only {cand.size} usable)")
        worst = cand[np.argsort(-loss[cand], kind="stable")[:drop_highest]]
        for i in worst:
            reasons[int(i)] = f"one of the {drop_highest} highest-loss runs (drop_highest={drop_highest})"
    used = np.ones(len(df), dtype=bool)
    used[list(reasons)] = False

    group, budgets, grouping = _budgets(df, cols, vals["flops"], used, group_tol, src, label)

    refuse_checkpoints(df, vals["params"], group, used, src)
    excluded = tuple(Exclusion(int(rows[i]), reasons[i]) for i in sorted(reasons))
    curves = None
    if curve_ids is not None and not wsd:
        curves = read_curves(source, curve_ids)
        if recount == "6N" and len(curves):
            curves["flops"] = 6.0 * vals["params"][curves["run"].to_numpy()] * curves["tokens"].to_numpy()
    return RunTable(
        source=src,
        n_params=vals["params"],
        n_tokens=vals["tokens"],
        flops=vals["flops"],
        loss=loss,
        used=used,
        group=group,
        budgets=np.asarray(budgets, dtype=float),
        excluded=excluded,
        derived=derived,
        columns={k: v for k, v in cols.items() if v is not None},
        grouping=grouping,
        curves=curves if curves is not None and len(curves) else None,
        simulated=int(df["simulated"].fillna(False).astype(bool).sum()) if sweep and "simulated" in df else 0,
        predicted=(df["source"] == "predicted").to_numpy() if sweep and "source" in df else None,
        draws=_draws(df) if sweep else None,
        rows=None if np.array_equal(np.asarray(rows), np.arange(len(df))) else np.asarray(rows, dtype=int),
    )


def _draws(df: pd.DataFrame) -> np.ndarray | None:
    """A law grid's ``loss_draws`` column (a tuple per row, NaN where the row has none) as (M, rows)."""
    if "loss_draws" not in df:
        return None
    cells = [v if isinstance(v, tuple) else () for v in df["loss_draws"]]
    m = max((len(v) for v in cells), default=0)
    if not m:
        return None
    return np.array([list(v) if len(v) == m else [np.nan] * m for v in cells], dtype=float).T


def read_grid(path: str | Path) -> np.ndarray:
    """Read Approach 3 starting points from a table with columns a, b, e, alpha, beta.

    (a = log A, b = log B, e = log E.) Any format :func:`read_table` reads.

    Raises:
        TableError: a missing column or a non-numeric value, naming file, row and column.
    """
    df = read_table(path)
    cols = ("a", "b", "e", "alpha", "beta")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise TableError(f"{path}: starting grid needs columns {', '.join(cols)}; missing {', '.join(missing)}")
    csv_lines = Path(path).suffix.lower() in (".csv", ".tsv")
    out = np.column_stack([_numeric(df, c, c, str(path), lambda i: _row_label(i, csv_lines)) for c in cols])
    if not np.all(np.isfinite(out)):
        i = int(np.flatnonzero(~np.all(np.isfinite(out), axis=1))[0])
        raise TableError(f"{path}: {_row_label(i, csv_lines)}: starting point is not finite")
    return out
