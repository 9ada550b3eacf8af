"""A ``cooldowns = "law"`` folder read as its whole IsoFLOP grid: every trunk at every budget of its sweep,
trained or predicted by the loss-curve law (:func:`~isoflop.laws.curves.profiles.profiles`), as the runs
table that :func:`~isoflop.load_runs` reads, with the law's bootstrap draws row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from isoflop.errors import FitError, TableError
from isoflop.laws.curves.profiles import profiles

#: Bootstrap draws of the law that a ``cooldowns = "law"`` folder's grid carries (:func:`law_frame`).
DRAWS = 20


def sweep_budgets(source) -> tuple[float, ...] | None:
    """The budgets of a ``cooldowns = "law"`` sweep folder's sweep (its grid), else None (a folder or table
    whose grid is the budgets its cooldowns trained, :func:`trained_budgets`)."""
    from isoflop.laws.table_files import is_law_sweep
    from isoflop.runs.store import is_sweep_dir, read_manifest

    if isinstance(source, pd.DataFrame) or not is_sweep_dir(str(source)) or not is_law_sweep(source):
        return None
    budgets = (read_manifest(source) or {}).get("budgets")
    return tuple(float(b) for b in budgets) if budgets else None


def law_frame(sweep_dir, recount: str = "as-run") -> pd.DataFrame:
    """A ``cooldowns = "law"`` folder's IsoFLOP grid as a runs table: every trunk at every budget of the
    sweep it reaches, the trained points at their trained loss and the rest at the loss-curve law's
    (:func:`isoflop.laws.curves.profiles.profiles`); a ``source`` column says which. Budgets a trunk cannot
    give, and the folder's failed or diverged runs, are rows with their status and reason.

    Raises:
        TableError: a recount (the law's points are counted as run), or no curve to fit.
    """
    from isoflop.laws.curves.table import load_curves
    from isoflop.runs.store import runs_frame

    if recount != "as-run":
        raise TableError(
            f'{sweep_dir}: a cooldowns = "law" folder is read as run; --recount {recount} is not supported'
        )
    try:
        prof = profiles(load_curves(sweep_dir), sweep_budgets(sweep_dir), draws=DRAWS)
    except FitError as e:
        raise TableError(str(e)) from None
    df = prof.frame().rename(columns={"run": "run_id", "trunk": "trunk_id", "N": "params", "D": "tokens", "C": "flops"})
    df.insert(1, "status", "ok")
    df["error"] = ""
    draws = prof.loss_draws()
    df["loss_draws"] = list(map(tuple, draws.T)) if draws is not None else np.nan
    extra = [
        {
            "run_id": f"{t.trunk}@{why.split(':', 1)[0]}",
            "trunk_id": t.trunk,
            "params": t.n_params,
            "status": "skipped",
            "error": f"budget {why}",
            "source": "predicted",
        }
        for t in prof.trunks
        for why in t.skipped
    ]
    extra += [
        {
            "run_id": t.trunk,
            "trunk_id": t.trunk,
            "params": t.n_params,
            "status": "failed",
            "error": f"its loss-curve law: {t.error}",
            "source": "predicted",
        }
        for t in prof.trunks
        if t.error and not t.points
    ]
    runs = runs_frame(sweep_dir)
    bad = runs[runs["status"] != "ok"]
    frames = [df, pd.DataFrame(extra)] + ([bad.assign(source="trained")] if len(bad) else [])
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    return out.astype({"error": str})
