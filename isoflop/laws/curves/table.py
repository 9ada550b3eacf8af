"""The loss-curve table: one row per logged step of each run, with the learning rate at that step.

The format (CSV, TSV, JSON, JSON Lines or Parquet; a sweep folder reads as one, through
:func:`isoflop.runs.store.curve_frame`):

=============  ====================================================================================
``run``        the run's name; the rows of one run share it
``N``          its parameters (or ``params``, ``n_params``, ...: the loss tables' aliases); fixed per run
``step``       the optimiser step the row was logged after; increasing within a run
``tokens``     tokens trained on by then
``lr``         the learning rate at that step (every row with a loss needs one)
``loss``       the training loss logged there
=============  ====================================================================================

Optional: ``loss_mean`` and ``loss_steps`` (the mean training loss of the steps since the previous row, and how
many; the training loop logs them, so every step's loss counts), ``D`` and ``flops`` (FLOPs by then), ``val_loss`` (a validation loss measured at that step; a row
may hold it alone), and ``parent`` with ``branch_step`` for a run that branched off another (a WSD
cooldown off its trunk): its curve is the parent's rows up to ``branch_step``, then its own.

Instead of the LR at each row, a table may name each run's schedule (a table of checkpoints usually gives a
run's hyperparameters, not its LR at each checkpoint):

=================  ================================================================================
``schedule``       ``constant``, ``cosine`` or ``wsd`` (:func:`isoflop.schedules.named_lr`, the code the
                   training loop runs); one per run
``peak_lr``        the peak LR (without it, ``lr`` is read as the peak, and must be one value per run)
``warmup_steps``   linear warmup (default 0)
``total_steps``    the schedule's length (default the run's last logged step: it ended there)
``final_lr_frac``  the fraction of the peak it ends at (default 0.1, Chinchilla's and the sweeps')
``cooldown_frac``  ``wsd``: the fraction of the steps it cools down over (default 0.2, with a 1 − √ shape)
=================  ================================================================================

Each row's LR is then that schedule's at its step; between rows the law reads the LR on the line between them
(:meth:`~isoflop.laws.curves.law.Schedule.from_rows`), so checkpoints far apart blur a warmup or a short cooldown.

A table of checkpoints (several rows per run) that carries the LR at each row, or names its schedule, is a
loss-curve table.
Bad input is a :class:`~isoflop.errors.TableError` naming the file, the run and the row: a table with neither an
LR nor a schedule column, an unknown schedule or one that changes within a run, steps out of order, a run whose N changes mid-curve, a parent that is not in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from isoflop.errors import TableError
from isoflop.laws.table_files import COLUMN_ALIASES, read_source

#: Roles of the curve format -> the column names that hold them (first match wins).
CURVE_ALIASES: dict[str, tuple[str, ...]] = {
    "run": ("run", "run_id", "run_name", "name"),
    "N": COLUMN_ALIASES["params"],
    "step": ("step", "steps", "iteration", "checkpoint_step"),
    "tokens": ("tokens", "tokens_seen", "n_tokens"),
    "lr": ("lr", "learning_rate", "eta"),
    "loss": ("loss", "train_loss", "training_loss"),
    "loss_mean": ("loss_mean", "train_loss_mean"),
    "loss_steps": ("loss_steps", "train_loss_steps"),
    "val_loss": ("val_loss", "validation_loss", "eval_loss"),
    "flops": ("flops", "compute"),
    "parent": ("parent", "parent_run", "trunk"),
    "branch_step": ("branch_step",),
    "schedule": ("schedule", "lr_schedule", "scheduler"),
    "peak_lr": ("peak_lr", "max_lr"),
    "warmup_steps": ("warmup_steps", "warmup"),
    "total_steps": ("total_steps", "max_steps", "train_steps"),
    "final_lr_frac": ("final_lr_frac", "min_lr_ratio"),
    "cooldown_frac": ("cooldown_frac", "decay_frac"),
}


@dataclass(frozen=True, eq=False)
class Curve:
    """One run's logged steps (its own rows; a branch's parent prefix is in :meth:`CurveTable.full`).

    Attributes:
        step, tokens, lr, loss: one entry per row with a training loss, in step order.
        loss_mean, loss_steps: the mean training loss of the steps since the previous row, and how many
            (NaN and 0 where the table does not say).
        flops: FLOPs trained by each row (NaN where the table does not say).
        val: (step, validation loss) pairs, where measured.
        parent, branch_step: the run this one branched off, and the parent's step it started from.
    """

    run: str
    n_params: float
    step: np.ndarray
    tokens: np.ndarray
    lr: np.ndarray
    loss: np.ndarray
    val: tuple[tuple[int, float], ...] = ()
    parent: str | None = None
    branch_step: int | None = None
    loss_mean: np.ndarray | None = None
    loss_steps: np.ndarray | None = None
    flops: np.ndarray | None = None

    @property
    def end(self) -> int:
        """The last logged step."""
        last = [int(self.step[-1])] if self.step.size else []
        return max(last + [s for s, _ in self.val])

    @property
    def final_val(self) -> float | None:
        """The validation loss at the last step, when one was measured there."""
        at = dict(self.val)
        return at.get(self.end)


@dataclass(frozen=True, eq=False)
class CurveTable:
    """A validated loss-curve table: its curves by run, in the order they first appear."""

    source: str
    curves: tuple[Curve, ...]

    def __post_init__(self):
        names = [c.run for c in self.curves]
        if len(set(names)) != len(names):
            raise TableError(f"{self.source}: a run appears twice")

    def __len__(self) -> int:
        return len(self.curves)

    def curve(self, run: str) -> Curve:
        for c in self.curves:
            if c.run == run:
                return c
        raise KeyError(run)

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(c.run for c in self.curves)

    @property
    def sizes(self) -> tuple[float, ...]:
        """The distinct N, smallest first."""
        return tuple(sorted({c.n_params for c in self.curves}))

    def full(self, run: str) -> Curve:
        """The run's whole curve: its parents' rows up to each branch point, then its own rows."""
        c = self.curve(run)
        if c.parent is None:
            return c
        p = self.full(c.parent)
        keep = p.step <= (c.branch_step or 0)
        own = c.step > (c.branch_step or 0)
        return Curve(
            c.run,
            c.n_params,
            np.concatenate([p.step[keep], c.step[own]]),
            np.concatenate([p.tokens[keep], c.tokens[own]]),
            np.concatenate([p.lr[keep], c.lr[own]]),
            np.concatenate([p.loss[keep], c.loss[own]]),
            tuple(v for v in p.val if v[0] <= (c.branch_step or 0)) + c.val,
            None,
            None,
            np.concatenate([_or_nan(p.loss_mean, p.step)[keep], _or_nan(c.loss_mean, c.step)[own]]),
            np.concatenate([_or_zero(p.loss_steps, p.step)[keep], _or_zero(c.loss_steps, c.step)[own]]),
            np.concatenate([_or_nan(p.flops, p.step)[keep], _or_nan(c.flops, c.step)[own]]),
        )

    def branches(self, parent: str) -> tuple[Curve, ...]:
        """The runs that branched off ``parent``, by branch point."""
        return tuple(sorted((c for c in self.curves if c.parent == parent), key=lambda c: c.branch_step or 0))

    def trained_branches(self, parent: str) -> tuple[Curve, ...]:
        """The branches of ``parent`` with a validation loss at their end (trained cooldowns), by branch point."""
        return tuple(b for b in self.branches(parent) if b.final_val is not None)


def load_curves(source) -> CurveTable:
    """Read a loss-curve table from a sweep folder, a file (CSV, TSV, JSON, JSON Lines, Parquet) or a DataFrame.

    Raises:
        TableError: the source cannot be read, a needed column is missing, or a curve is malformed (a row
            with a loss and no LR, steps out of order, N changing mid-curve, an unknown parent).
    """
    from isoflop.runs.store import curve_frame, is_sweep_dir

    if not isinstance(source, pd.DataFrame) and is_sweep_dir(str(source)):
        df, src, csv = curve_frame(source), str(source), False
        if df.empty:
            raise TableError(f"{src}: no finished run has a logged curve yet")
    else:
        df, src, csv, _ = read_source(source)
    return curves_from_frame(df, src, csv)


def curves_from_frame(df: pd.DataFrame, src: str = "<dataframe>", csv: bool = False) -> CurveTable:
    """Validate a frame in the curve format (see the module docstring) into a :class:`CurveTable`."""
    cols = {role: _column(df, names) for role, names in CURVE_ALIASES.items()}
    for role in ("run", "N", "step"):
        if cols[role] is None:
            raise TableError(
                f"{src}: a loss-curve table needs a '{role}' column (looked for {', '.join(CURVE_ALIASES[role])})"
            )
    if cols["loss"] is None and cols["val_loss"] is None:
        raise TableError(f"{src}: a loss-curve table needs a 'loss' (or 'val_loss') column")
    if cols["loss"] is not None and cols["lr"] is None and cols["schedule"] is None:
        raise TableError(
            f"{src}: a loss-curve table needs an 'lr' column, the learning rate at each row, or a 'schedule' "
            "column (constant, cosine or wsd) with the peak LR (without either a curve's schedule is unknown)"
        )
    label = (lambda i: f"row {i} (line {i + 2})") if csv else (lambda i: f"row {i}")
    num = {
        role: _numbers(df, col, role, src, label)
        for role, col in cols.items()
        if col is not None and role not in ("run", "parent", "schedule")
    }
    run = df[cols["run"]].astype(str).str.strip().to_numpy()
    parent = [_text(v) for v in df[cols["parent"]]] if cols["parent"] is not None else None
    nrows = len(df)
    missing = np.full(nrows, np.nan)
    loss, lr = num.get("loss", missing), num.get("lr", missing)
    if cols["schedule"] is not None:  # each row's LR is its run's named schedule's at its step
        lr = np.full(nrows, np.nan)
    val, tokens = num.get("val_loss", missing), num.get("tokens", missing)
    curves = []
    for name in dict.fromkeys(run):
        idx = np.flatnonzero(run == name)
        n = num["N"][idx]
        if not np.all(np.isfinite(n)) or np.any(n <= 0):
            i = int(idx[np.flatnonzero(~(np.isfinite(n) & (n > 0)))[0]])
            raise TableError(f"{src}: run {name}: {label(i)}: N must be a positive number")
        if np.any(n != n[0]):
            i = int(idx[np.flatnonzero(n != n[0])[0]])
            raise TableError(
                f"{src}: run {name}: N changes mid-curve ({label(int(idx[0]))}: {n[0]:g}, {label(i)}: {num['N'][i]:g}); "
                "a run has one size"
            )
        step = num["step"][idx]
        if not np.all(np.isfinite(step)):
            i = int(idx[np.flatnonzero(~np.isfinite(step))[0]])
            raise TableError(f"{src}: run {name}: {label(i)}: step is not a number")
        back = np.flatnonzero(np.diff(step) <= 0)
        if back.size:
            i = int(idx[back[0] + 1])
            raise TableError(
                f"{src}: run {name}: {label(i)}: step {step[back[0] + 1]:g} comes after step {step[back[0]]:g} "
                "(steps must increase within a run)"
            )
        has_loss = np.isfinite(loss[idx])
        if cols["schedule"] is not None:
            lr[idx] = _schedule_lr(df, cols, num, idx, step, str(name), src, label)
        no_lr = has_loss & ~np.isfinite(lr[idx])
        if no_lr.any():
            i = int(idx[np.flatnonzero(no_lr)[0]])
            raise TableError(f"{src}: run {name}: {label(i)}: a loss without a learning rate (lr)")
        rows = idx[has_loss]
        vals = tuple((int(num["step"][i]), float(val[i])) for i in idx if np.isfinite(val[i]))
        par = parent[idx[0]] if parent is not None else None
        bstep = num.get("branch_step")
        bs = bstep[idx[0]] if bstep is not None and par is not None else np.nan
        if par is not None and not np.isfinite(bs):
            raise TableError(f"{src}: run {name}: {label(int(idx[0]))}: a parent without a branch_step")
        curves.append(
            Curve(
                str(name),
                float(n[0]),
                step[has_loss].astype(np.int64),
                tokens[rows],
                lr[rows],
                loss[rows],
                vals,
                par,
                int(bs) if par is not None else None,
                num.get("loss_mean", missing)[rows],
                np.nan_to_num(num.get("loss_steps", np.zeros(nrows))[rows]).astype(np.int64),
                num.get("flops", missing)[rows],
            )
        )
    names = {c.run for c in curves}
    for c in curves:
        if c.parent is not None and c.parent not in names:
            raise TableError(f"{src}: run {c.run}: its parent {c.parent!r} is not in the table")
    return CurveTable(src, tuple(curves))


def _schedule_lr(df: pd.DataFrame, cols: dict, num: dict, idx: np.ndarray, step, name: str, src: str, label):
    """The LR at each of a run's rows (``idx``, at steps ``step``) from the schedule its row names (see the module
    docstring); a run's schedule columns must hold one value each."""
    from isoflop.schedules import NAMED, named_lr

    def one(role: str, default=None):
        """The run's one value of a schedule column (``default`` where the table has none)."""
        col = cols[role]
        if role == "peak_lr" and col is None:
            role, col = "lr", cols["lr"]
        if col is None:
            return default
        seen: list = (
            list(dict.fromkeys(t for t in (_text(x) for x in df[col].iloc[idx]) if t is not None))
            if role == "schedule"
            else list(dict.fromkeys(float(x) for x in num[role][idx] if np.isfinite(x)))
        )
        if len(seen) > 1:
            raise TableError(
                f"{src}: run {name}: column '{col}' changes within the run ({seen[0]}, {seen[1]}); with a named "
                "schedule it holds one value per run"
                + ("; give the peak LR in a 'peak_lr' column" if role == "lr" else "")
            )
        return seen[0] if seen else default

    kind = one("schedule")
    if kind not in NAMED:
        raise TableError(f"{src}: run {name}: {label(int(idx[0]))}: schedule {kind!r} is not one of {', '.join(NAMED)}")
    peak = one("peak_lr")
    if peak is None or not peak > 0:
        raise TableError(f"{src}: run {name}: a named schedule needs its peak LR ('peak_lr' or 'lr'), got {peak}")
    total = int(one("total_steps", step.max()))
    if total < step.max():
        raise TableError(f"{src}: run {name}: total_steps {total} is before its last step {step.max():g}")
    # The columns the table gives; named_lr's defaults stand for the others.
    given: dict = {}
    for role, arg, cast in (
        ("warmup_steps", "warmup_steps", int),
        ("final_lr_frac", "final_frac", float),
        ("cooldown_frac", "cooldown_frac", float),
    ):
        value = one(role)
        if value is not None:
            given[arg] = cast(value)
    # A row logged after step s trained that step at the schedule's LR for step s − 1 (counted from 0).
    return np.array([named_lr(kind, max(0, int(s) - 1), total, float(peak), **given) for s in step])


def _or_nan(a: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    return a if a is not None else np.full(like.shape, np.nan)


def _or_zero(a: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    return a if a is not None else np.zeros(like.shape, dtype=np.int64)


def _text(v) -> str | None:
    """A cell as stripped text; None when it is empty."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    t = str(v).strip()
    return None if t in ("", "nan", "NaN", "None", "null") else t


def _column(df: pd.DataFrame, names: tuple[str, ...]):
    from isoflop.laws.selection import column_named

    return next((c for c in (column_named(df, n) for n in names) if c is not None), None)


def _numbers(df: pd.DataFrame, col, role: str, src: str, label) -> np.ndarray:
    """A column as floats (blank is NaN); text that is not a number is named."""
    raw = df[col]
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    text = raw.astype(str).str.strip()
    bad = np.isnan(vals) & ~text.isin(["", "nan", "NaN", "None", "null"]).to_numpy() & raw.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TableError(f"{src}: {label(i)}: column '{col}' value {text.iloc[i]!r} is not a number ({role})")
    return vals
