"""A ``cooldowns = "law"`` folder read as its whole IsoFLOP grid: every trunk at every budget of its sweep,
trained or predicted by the loss-curve law (:func:`~isoflop.laws.curves.profiles.profiles`), as the runs
table that :func:`~isoflop.load_runs` reads, with the law's bootstrap draws row by row, each predicted point's
also carrying the noise of one run where the folder's seeds measure it (:func:`with_seed_noise`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from isoflop.errors import FitError, TableError
from isoflop.laws.curves.profiles import Profiles, profiles

#: Bootstrap draws of the law that a ``cooldowns = "law"`` folder's grid carries (:func:`law_frame`).
DRAWS = 20
#: The fewest pairs of trained points (two seeds of one size at one budget) whose spread
#: :func:`with_seed_noise` takes as the noise of one run.
MIN_SEED_PAIRS = 3


def with_seed_noise(prof: Profiles, rng: np.random.Generator) -> tuple[Profiles, float]:
    """``prof`` with each predicted point's draws also carrying the noise of one run.

    The law's draws carry its fitting noise. A trained cooldown end also carries its run's own noise (the seed's
    data order and initialisation), which the gap line through its trunk's fitted ends carries only in part (the
    seed deviations of a trunk's ends are not a line in log steps: docs/methods.md, "What two cooldowns can
    reach"), so a predicted point stands in for a trained one only with that noise added. It is measured in the
    folder: σ, the spread of its trained points between seeds (:meth:`Profiles.seed_agreement`, in log loss), and
    each predicted point's draw m is multiplied by exp(σ·z), z standard normal per draw and point. With the
    joint law, the draws' 95% band held 38 of the 56 held-out trained ends of the same trunks in
    ``results/answer`` on ``results/answer-law`` and 51 with σ (0.25%, 14 pairs); on ``results/answer-law3``,
    15 of 42 and 41 (0.33%, 21 pairs) (``benchmarks/bench_profiles.py --parts law``).

    Returns:
        The profiles, and σ: 0 (and ``prof`` unchanged) with fewer than :data:`MIN_SEED_PAIRS` trained pairs (a
        folder of one seed cannot measure it) or without draws.
    """
    pairs = prof.seed_agreement().get("trained", {})
    if not prof.draws or pairs.get("pairs", 0) < MIN_SEED_PAIRS:
        return prof, 0.0
    sigma = float(pairs["sigma"])

    def noisy(p):
        if p.source != "predicted" or not p.draws:
            return p
        return replace(p, draws=tuple(np.asarray(p.draws) * np.exp(sigma * rng.standard_normal(len(p.draws)))))

    trunks = tuple(replace(t, points=tuple(noisy(p) for p in t.points)) for t in prof.trunks)
    return replace(prof, trunks=trunks), sigma


def sweep_budgets(source) -> tuple[float, ...] | None:
    """The budgets of a ``cooldowns = "law"`` sweep folder's sweep (its grid), else None (a folder or table
    whose grid is the budgets its cooldowns trained, :func:`trained_budgets`)."""
    from isoflop.laws.table_files import is_law_sweep
    from isoflop.runs.store import is_sweep_dir, read_manifest

    if isinstance(source, pd.DataFrame) or not is_sweep_dir(str(source)) or not is_law_sweep(source):
        return None
    budgets = (read_manifest(source) or {}).get("budgets")
    return tuple(float(b) for b in budgets) if budgets else None


def law_frame(sweep_dir, recount: str = "as-run", seed: int = 0) -> pd.DataFrame:
    """A ``cooldowns = "law"`` folder's IsoFLOP grid as a runs table: every trunk at every budget of the
    sweep it reaches, the trained points at their trained loss and the rest at the loss-curve law's
    (:func:`isoflop.laws.curves.profiles.profiles`); a ``source`` column says which. Budgets a trunk cannot
    give, and the folder's failed or diverged runs, are rows with their status and reason. The ``loss_draws``
    column holds each row's loss under the law's :data:`DRAWS` bootstrap draws, with one run's noise
    (:func:`with_seed_noise`); ``seed`` seeds both.

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
        rng = np.random.default_rng(seed)
        prof, _ = with_seed_noise(
            profiles(load_curves(sweep_dir), sweep_budgets(sweep_dir), draws=DRAWS, seed=int(rng.integers(1 << 30))),
            rng,
        )
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
