"""A validated loss table: :class:`RunTable`, one row per training run, and how runs form budgets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from isoflop.errors import FitError, TableError
from isoflop.jsonio import json_float
from isoflop.laws.repeats import R_STAR, effective_tokens


@dataclass(frozen=True)
class Exclusion:
    """A run left out of the fits. ``index`` is the 0-based row in the input."""

    index: int
    reason: str

    def to_dict(self) -> dict:
        return {"index": self.index, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict) -> Exclusion:
        return cls(int(d["index"]), str(d["reason"]))


@dataclass(frozen=True, eq=False)
class RunTable:
    """A validated loss table.

    Arrays have one entry per input row (``n_runs``). ``used`` marks rows that
    enter fits; the others are listed in ``excluded`` with reasons.

    Attributes:
        source: where the table came from (a path, an example name, or "<dataframe>").
        n_params: N per run, in parameters.
        n_tokens: D per run, in tokens.
        flops: C per run, in FLOPs.
        loss: final loss per run, in nats per token (NaN where missing).
        used: which rows enter the fits.
        group: budget group per row (-1 for excluded rows); groups are numbered
            by increasing budget.
        budgets: nominal FLOPs of each group, increasing.
        excluded: rows left out, with reasons, in row order.
        derived: which of "params", "tokens", "flops" was computed from C = 6ND, or None.
        columns: the input column used for each quantity.
        grouping: how runs were grouped into budgets, in words.
        curves: optional per-step training curves (columns ``run``, ``flops``,
            ``loss`` and optionally ``tokens``; ``run`` is a row index) used by
            Approach 1's envelope.
        simulated: how many rows the simulated backend drew from a known surface instead of training.
        predicted: per row, whether its loss is a loss-curve law's prediction rather than trained (a
            ``cooldowns = "law"`` folder's grid, :func:`isoflop.laws.curves.grid.law_frame`); None when every
            row was trained.
        rows: the input row of each entry (an :class:`Exclusion`'s index), when rows were filtered
            (``--where``); None when entry i is row i.
        draws: shape (M, ``n_runs``), each row's loss under each of M bootstrap draws of the loss-curve law
            (a trained row keeps its loss in every draw; :func:`isoflop.laws.curves.profiles.profiles`), which
            :func:`~isoflop.laws.analyze` spreads its resamples over; None when no law predicted the table.
    """

    source: str
    n_params: np.ndarray
    n_tokens: np.ndarray
    flops: np.ndarray
    loss: np.ndarray
    used: np.ndarray
    group: np.ndarray
    budgets: np.ndarray
    excluded: tuple[Exclusion, ...]
    derived: str | None
    columns: dict = field(default_factory=dict)
    grouping: str = ""
    curves: pd.DataFrame | None = None
    simulated: int = 0
    predicted: np.ndarray | None = None
    rows: np.ndarray | None = None
    draws: np.ndarray | None = None

    def __post_init__(self):
        if self.draws is not None and (self.draws.ndim != 2 or self.draws.shape[1] != self.loss.size):
            raise TableError(f"{self.source}: draws must be (M, {self.loss.size}), got shape {self.draws.shape}")

    def row(self, i: int) -> int:
        """The input row (0-based) of entry ``i``."""
        return int(i if self.rows is None else self.rows[i])

    @property
    def n_runs(self) -> int:
        """Number of rows in the input."""
        return int(self.loss.size)

    def __repr__(self) -> str:  # a summary: the arrays of a large table run to tens of thousands of characters
        return (
            f"RunTable({self.source!r}: {self.n_runs} runs, {self.n_used} used, {self.budgets.size} budgets "
            f"{_span(self.budgets)}, N {_span(self.n_params[self.used])}, {len(self.excluded)} excluded"
            f"{', with training curves' if self.curves is not None else ''})"
        )

    @property
    def n_predicted(self) -> int:
        """Number of used rows whose loss the loss-curve law predicted."""
        return 0 if self.predicted is None else int((self.predicted & self.used).sum())

    @property
    def n_used(self) -> int:
        """Number of rows that enter the fits."""
        return int(self.used.sum())

    def used_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(N, D, C, L, group) of the used rows."""
        u = self.used
        return self.n_params[u], self.n_tokens[u], self.flops[u], self.loss[u], self.group[u]

    def to_dict(self) -> dict:
        """The table as JSON-ready data (training curves left out); :meth:`from_dict` reads it back."""
        return {
            "source": self.source,
            "derived": self.derived,
            "columns": dict(self.columns),
            "grouping": self.grouping,
            "excluded": [e.to_dict() for e in self.excluded],
            "budgets": self.budgets.tolist(),
            "n_params": self.n_params.tolist(),
            "n_tokens": self.n_tokens.tolist(),
            "flops": self.flops.tolist(),
            "loss": [float(x) if np.isfinite(x) else None for x in self.loss],
            "used": self.used.tolist(),
            "group": self.group.tolist(),
            "rows": None if self.rows is None else [int(r) for r in self.rows],
            "predicted": None if self.predicted is None else self.predicted.tolist(),
            "draws": None if self.draws is None else [[json_float(x) for x in d] for d in self.draws],
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunTable:
        """Inverse of :meth:`to_dict` (``curves`` is None)."""
        f = lambda k: np.asarray([np.nan if v is None else v for v in d[k]], dtype=float)  # noqa: E731
        return cls(
            d["source"],
            f("n_params"),
            f("n_tokens"),
            f("flops"),
            f("loss"),
            np.asarray(d["used"], dtype=bool),
            np.asarray(d["group"], dtype=int),
            np.asarray(d["budgets"], dtype=float),
            tuple(Exclusion.from_dict(e) for e in d["excluded"]),
            d["derived"],
            dict(d["columns"]),
            d["grouping"],
            None,
            rows=None if d.get("rows") is None else np.asarray(d["rows"], dtype=int),
            predicted=None if d.get("predicted") is None else np.asarray(d["predicted"], dtype=bool),
            draws=None
            if d.get("draws") is None
            else np.asarray([[np.nan if v is None else v for v in r] for r in d["draws"]], dtype=float).reshape(
                len(d["draws"]), -1
            ),
        )

    def with_unique_tokens(self, unique: float, r_star: float | None = None) -> RunTable:
        """A copy whose D is Muennighoff et al.'s effective D' for runs drawn from ``unique`` tokens
        (:func:`isoflop.laws.repeats.effective_tokens`): every estimator then fits the law of fresh data, and
        its D_opt is in fresh tokens. C stays the FLOPs the runs spent."""
        r = R_STAR if r_star is None else r_star
        if not (np.isfinite(unique) and unique > 0 and np.isfinite(r) and r > 0):
            raise TableError(f"{self.source}: unique tokens ({unique}) and R_D* ({r}) must be positive")
        d = np.where(
            np.isfinite(self.n_tokens),
            effective_tokens(np.nan_to_num(self.n_tokens, nan=1.0), unique, r),
            self.n_tokens,
        )
        cols = {
            **self.columns,
            "tokens": f"{self.columns.get('tokens', 'tokens')} as D' for U_D = {unique:.4g}, R_D* = {r:g}",
        }
        return replace(self, n_tokens=d, columns=cols)

    def subset_budgets(self, keep_groups) -> RunTable:
        """A copy in which only runs of the given budget groups are used (for backtests)."""
        keep = np.isin(self.group, np.asarray(list(keep_groups), dtype=int)) & self.used
        return replace(self, used=keep, group=np.where(keep, self.group, -1))


def group_by_flops(flops: np.ndarray, rel_tol: float) -> np.ndarray:
    """Group FLOP values that lie within ``rel_tol`` of each other.

    Sorted values join the current group while each lies within a factor
    (1 + rel_tol) of the previous one (single linkage), so the small scatter of
    achieved FLOPs around one nominal budget stays together. Returns a 0-based
    group id per value, numbered by increasing FLOPs.
    """
    if rel_tol < 0:
        raise FitError(f"group tolerance ({rel_tol}) must be non-negative")
    order = np.argsort(flops, kind="stable")
    out = np.empty(flops.size, dtype=int)
    g, prev = -1, None
    for i in order:
        if prev is None or flops[i] > prev * (1.0 + rel_tol):
            g += 1
        prev = flops[i]
        out[i] = g
    return out


def _span(x) -> str:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return f"{x.min():.3g}-{x.max():.3g}" if x.size else "-"
