"""An LR ladder read from disk: the runs of a ladder sweep, their fit, and the rule a sweep file names.

A ladder is an ordinary sweep whose file sets ``lr_grid`` (each size trained at several multiples of its
peak LR); its folder is read like any other, and :func:`~isoflop.laws.fit.lr_ladder.fit_lr_ladder` fits the
rule. A ladder that also sets ``batch_grid`` is a hyperparameter ladder (:func:`load_hparam_ladder`), fitted
by :func:`~isoflop.laws.fit.hparams.fit_hparam_ladder` to η*(N, D, B) and B*(D, C, N). ``lr = "fitted:PATH"``
in a sweep's ``[train]`` table resolves through :func:`load_lr_rule`, and ``batch_size = "fitted:PATH"`` through
:func:`load_batch_rule`: PATH is a ladder's folder (fitted as it is read) or the JSON ``scaling ladder --out``
wrote. Reading writes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from isoflop.errors import ConfigError, FitError
from isoflop.laws.fit.hparams import SCHEMA as HPARAM_SCHEMA
from isoflop.laws.fit.hparams import HyperLadderFit, PowerRule, fit_hparam_ladder
from isoflop.laws.fit.lr_ladder import LadderFit, fit_lr_ladder
from isoflop.laws.lr_rule import LRRule
from isoflop.runs.store import finished_records, is_sweep_dir, read_manifest, runs_frame


def load_ladder(path: str | Path) -> LadderFit:
    """Fit the ladder of a sweep folder's finished runs (failed, diverged and simulated runs left out).

    Raises:
        ConfigError: the folder does not exist, is not a sweep folder, or holds no runs with several LRs.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such LR ladder (the path does not exist)")
    if not is_sweep_dir(p):
        raise ConfigError(f"{p}: not a sweep folder, so it holds no LR ladder")
    df = runs_frame(p)
    df = df[(df["status"] == "ok") & df["loss"].notna() & df["lr"].notna() & ~df["simulated"].astype(bool)]
    if df.empty or df.groupby(["params", "budget"])["lr"].nunique().max() < 2:
        raise ConfigError(f"{p}: holds no LR ladder (no size was trained at two or more learning rates)")
    try:
        return fit_lr_ladder(df["params"], df["budget"], df["lr"], df["loss"], source=str(p))
    except FitError as e:
        raise ConfigError(f"{p}: {e}") from None


def is_batch_ladder(path: str | Path) -> bool:
    """Whether a sweep folder was made with a ``batch_grid`` (two or more batch sizes per run)."""
    return len((read_manifest(path) or {}).get("batch_grid") or ()) >= 2


def load_hparam_ladder(path: str | Path | Sequence[str | Path], seed: int = 0) -> HyperLadderFit:
    """Fit the hyperparameter ladder of a sweep folder made with ``lr_grid`` and ``batch_grid`` (its finished ok
    runs; failed, diverged and simulated runs left out), or of several folders pooled: a ladder extended by a
    later sweep (another size or budget, its LRs on a grid) adds its cells to the first folder's. Batches are
    in tokens per step.

    Raises:
        ConfigError: not a sweep folder, or the runs hold no ladder over two or more batch sizes.
    """
    import numpy as np

    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(q) for q in path]
    if not paths:
        raise ConfigError("no ladder folder given")
    cols = []
    for p in paths:
        if not p.exists() or not is_sweep_dir(p):
            raise ConfigError(f"{p}: not a sweep folder, so it holds no hyperparameter ladder")
        recs = [
            r for r in finished_records(p) if r.status == "ok" and r.val_loss is not None and r.lr and not r.simulated
        ]
        cols += [
            (
                r.n_params,
                r.budget_flops,
                r.tokens,
                tc.batch_size * m.seq_len,
                r.lr,
                r.val_loss,
                r.tokens_per_second or np.nan,
            )
            for r in recs
            if (tc := r.train_config) is not None and (m := r.model) is not None
        ]
    name = ", ".join(str(p) for p in paths)
    if len({c[3] for c in cols}) < 2:
        raise ConfigError(
            f"{name}: holds no batch ladder (its finished runs use {len({c[3] for c in cols})} batch size)"
        )
    a = np.array(cols, dtype=float).T
    try:
        return fit_hparam_ladder(*a[:6], tokens_per_second=a[6], source=name, rng=np.random.default_rng(seed))
    except FitError as e:
        raise ConfigError(f"{name}: {e}") from None


def fixed_batch_costs(fit: HyperLadderFit, batch: float) -> list[dict]:
    """Per cell whose grid holds the fixed batch ``batch`` (tokens per step): what training at it gave up against
    the cell's best batch, in loss (each batch at its best LR) and in the time to train the cell's tokens (from
    the measured throughput). The best batch is B* where the cell has one; else the grid's batch with the lowest
    loss, and ``at_least`` says that a batch beyond the grid may do better still. A batch whose best LR lies
    beyond the LR grid counts its lowest loss (``lr_edge``), which its best LR may better."""
    import math

    out = []
    for c in fit.cells:
        fixed = next((p for b, p in zip(c.batches, c.lr_points) if math.isclose(b, batch, rel_tol=1e-9)), None)
        if fixed is None:
            continue
        best_b, best_l = (
            (c.batch_opt, c.loss_opt)
            if c.status == "ok"
            else min(((b, c.loss_at(b)) for b in c.batches), key=lambda t: t[1])
        )
        out.append(
            {
                "n_params": c.n_params,
                "budget": c.budget,
                "tokens": c.tokens,
                "batch_opt": best_b,
                "at_least": c.status != "ok",
                "lr_edge": fixed.status != "ok",
                "loss_given_up": c.loss_at(batch) - best_l,
                "seconds_fixed": c.seconds(batch),
                "seconds_opt": c.seconds(best_b),
            }
        )
    return out


def batch_vertices(fit: HyperLadderFit, batch: float) -> dict | None:
    """How the batch moves the compute-optimal size, as :func:`ladder_vertices` does for the LR: per budget, the
    IsoFLOP vertex of the sizes' losses at the fixed ``batch`` (tokens per step; each at its best LR) and at each
    size's best batch (B*'s loss, else the grid's best), and N_opt's exponent a between the lowest and highest
    budget under each. None without two budgets of three sizes each, or a ``batch`` outside the grid."""
    profiles = {}
    for c in sorted({cl.budget for cl in fit.cells}):
        cells = [cl for cl in fit.cells if cl.budget == c and any(math.isclose(b, batch) for b in cl.batches)]
        if len({cl.n_params for cl in cells}) < 3:
            continue
        fixed = [cl.loss_at(batch) for cl in cells]
        best = [cl.loss_opt if cl.status == "ok" else min(map(cl.loss_at, cl.batches)) for cl in cells]
        profiles[c] = ([cl.n_params for cl in cells], {"fixed": fixed, "best": best})
    return _vertices_moved(profiles)


def _vertices_moved(profiles: dict) -> dict | None:
    """From {C: (the sizes N, {rule: their losses})}: each budget's IsoFLOP vertex under each rule, and N_opt's
    exponent a between the lowest and highest budget under each (None with fewer than two budgets)."""
    import numpy as np

    from isoflop.laws.fit.powerlaw import find_optimal_params

    out = {c: {k: find_optimal_params(n, loss).x_opt for k, loss in by.items()} for c, (n, by) in profiles.items()}
    if len(out) < 2:
        return None
    lo, hi = min(out), max(out)
    a = {k: float(np.log(out[hi][k] / out[lo][k]) / np.log(hi / lo)) for k in out[lo]}
    return {"vertices": {f"{c:.3g}": v for c, v in out.items()}, "a": a}


def fixed_batch_of(results: str | Path) -> float | None:
    """The fixed batch (tokens per step) of the sweep that filled a ladder folder: its ``batch_size`` times
    ``seq_len`` from ``sweep.json`` (None when the folder has no sweep.json or its batch was fitted)."""
    sweep = read_manifest(results) or {}
    b, t = sweep.get("batch_size"), sweep.get("seq_len")
    return float(b * t) if isinstance(b, int) and isinstance(t, int) else None


def hparam_doc(fit: HyperLadderFit, batch: float | None = None) -> dict:
    """The hyperparameter ladder as JSON (what ``scaling ladder --out`` writes for a batch ladder)."""
    return {
        "schema": HPARAM_SCHEMA,
        "lr_rule": fit.lr_rule.to_dict() if fit.lr_rule else None,
        "batch_rule": fit.batch_rule.to_dict() if fit.batch_rule else None,
        "messages": dict(fit.messages),
        "cells": [
            {
                "n_params": c.n_params,
                "budget": c.budget,
                "tokens": c.tokens,
                "batches": list(c.batches),
                "lr_opt": [q.lr_opt for q in c.lr_points],
                "loss_opt": [q.loss_opt for q in c.lr_points],
                "lr_status": [q.status for q in c.lr_points],
                "batch_opt": c.batch_opt,
                "batch_curvature": c.batch_curvature,
                "lr_curvature": [q.curvature for q in c.lr_points],
                "status": c.status,
                "reason": c.reason,
                "tokens_per_second": list(c.tokens_per_second),
            }
            for c in fit.cells
        ],
        "fixed_batch": batch,
        "fixed_batch_costs": fixed_batch_costs(fit, batch) if batch else [],
        "isoflop_vertices": batch_vertices(fit, batch) if batch else None,
    }


def load_lr_rule(path: str | Path) -> LRRule | PowerRule:
    """The LR rule of ``lr = "fitted:PATH"``: an LR ladder folder (fitted now) or its ``lr_rule.json`` gives
    η*(N) (:class:`LRRule`); a batch ladder's folder or the JSON ``scaling ladder --out`` wrote for it gives its
    η* law (:class:`~isoflop.laws.fit.hparams.PowerRule`, in N, D and B as the ladder chose).

    Raises:
        ConfigError: one line naming the path: missing, not a ladder, or a ladder with no law (and why).
    """
    p = Path(path)
    if p.is_file():
        doc = _read_rule_file(p)
        if isinstance(doc, dict) and doc.get("schema") == HPARAM_SCHEMA:
            return _hparam_rule(doc, "lr", p)
        return LRRule.from_dict(doc.get("rule", doc) if isinstance(doc, dict) else doc, str(p))
    if p.is_dir() and is_batch_ladder(p):
        return _fitted_rule(load_hparam_ladder(p), "lr", p)
    fit = load_ladder(p)
    if fit.rule is None:
        raise ConfigError(f"{p}: the LR ladder gives no rule: {fit.message}")
    return fit.rule


def load_batch_rule(path: str | Path) -> PowerRule:
    """The batch rule of ``batch_size = "fitted:PATH"``: B*, in tokens per step, from a batch ladder's folder
    (fitted now) or the JSON ``scaling ladder --out`` wrote for it.

    Raises:
        ConfigError: one line naming the path: missing, not a batch ladder, or one with no batch law (and why).
    """
    p = Path(path)
    if p.is_file():
        doc = _read_rule_file(p)
        if not (isinstance(doc, dict) and doc.get("schema") == HPARAM_SCHEMA):
            raise ConfigError(
                f"{p}: not a batch rule (no schema {HPARAM_SCHEMA!r}; write one with scaling ladder --out)"
            )
        return _hparam_rule(doc, "batch", p)
    if not p.exists():
        raise ConfigError(f"{p}: no such batch ladder (the path does not exist)")
    return _fitted_rule(load_hparam_ladder(p), "batch", p)


def _read_rule_file(p: Path):
    try:
        return json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: not a readable rule ({e})") from None


def _hparam_rule(doc: dict, target: str, p: Path) -> PowerRule:
    d = doc.get(f"{target}_rule")
    if not d:
        raise ConfigError(f"{p}: the ladder gives no {target} rule: {(doc.get('messages') or {}).get(target, '')}")
    try:
        return PowerRule.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{p}: not a readable {target} rule ({e})") from None


def _fitted_rule(fit: HyperLadderFit, target: str, p: Path) -> PowerRule:
    rule = fit.lr_rule if target == "lr" else fit.batch_rule
    if rule is None:
        raise ConfigError(f"{p}: the ladder gives no {target} rule: {fit.messages.get(target, '')}")
    return rule


def ladder_vertices(fit: LadderFit, grid: tuple[float, ...]) -> dict | None:
    """How the LR moves the compute-optimal size: per budget, the IsoFLOP vertex of the sizes' losses at the
    base LR (the grid's multiple 1: the rule the ladder was built on) and at each size's best LR (its fitted
    optimum's loss), and N_opt's exponent a between the lowest and highest budget under each. None without
    a multiple 1 in the grid, two budgets, or three sizes per budget."""
    if 1.0 not in grid:
        return None
    k = list(grid).index(1.0)
    profiles = {}
    for c in sorted({q.budget for q in fit.points}):
        pts = [q for q in fit.points if q.budget == c and len(q.lrs) == len(grid)]
        if len(pts) < 3:
            continue
        base = [q.losses[k] for q in pts]
        best = [q.loss_opt if q.status == "ok" else min(q.losses) for q in pts]
        profiles[c] = ([q.n_params for q in pts], {"base": base, "best": best})
    return _vertices_moved(profiles)


def ladder_doc(fit: LadderFit) -> dict:
    """The ladder as JSON: every point with its status, and the rule (what ``scaling ladder --out`` writes)."""
    return {
        "rule": fit.rule.to_dict() if fit.rule else None,
        "message": fit.message,
        "points": [
            {
                "n_params": q.n_params,
                "budget": q.budget,
                "lrs": list(q.lrs),
                "losses": list(q.losses),
                "lr_opt": q.lr_opt,
                "loss_opt": q.loss_opt,
                "status": q.status,
                "reason": q.reason,
            }
            for q in fit.points
        ],
    }


def plot_ladder(fit: LadderFit, path: str | Path | None = None):
    """Two panels: loss against peak LR per size (vertices marked), and η* against N with the fitted law."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    sizes = sorted({q.n_params for q in fit.points})
    cmap = colormaps["viridis"]
    budgets = sorted({q.budget for q in fit.points})
    styles = ["-", "--", ":", "-."]
    for q in fit.points:
        col = cmap(sizes.index(q.n_params) / max(1, len(sizes) - 1))
        ax1.plot(
            q.lrs,
            q.losses,
            "o",
            ls=styles[budgets.index(q.budget) % 4],
            color=col,
            ms=4,
            label=f"N={q.n_params:.3g}, C={q.budget:.2g}",
        )
        if q.status == "ok":
            ax1.plot([q.lr_opt], [q.loss_opt], "*", color=col, ms=12, mec="k")
    ax1.set(
        xscale="log",
        xlabel="peak learning rate",
        ylabel="final validation loss (nats/token)",
        title="loss against LR, per size (stars: fitted optima)",
    )
    ax1.legend(fontsize=7)
    used = fit.used
    for c in budgets:
        mine = [q for q in used if q.budget == c]
        ax2.plot(
            [q.n_params for q in mine],
            [q.lr_opt for q in mine],
            "os^D"[budgets.index(c) % 4],
            color="k",
            mfc="none" if budgets.index(c) else "k",
            label=f"fitted optima, C={c:.2g}",
        )
    for q in fit.points:
        if q.status != "ok":
            ax2.plot(
                [q.n_params], [q.lrs[int(np.argmin(q.losses))]], "x", color="tab:red", label=f"left out: {q.status}"
            )
    if fit.rule:
        r = fit.rule
        x = np.geomspace(min(sizes) / 1.5, max(sizes) * 1.5, 50)
        ax2.plot(
            x, [r.lr(v) for v in x], "-", color="tab:blue", label=f"eta* = {r.eta0:.2g} (N/{r.n0:.2g})^-{r.gamma:.2f}"
        )
    handles, labels = ax2.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax2.legend(uniq.values(), uniq.keys(), fontsize=8)
    ax2.set(xscale="log", yscale="log", xlabel="parameters N", ylabel="best peak LR eta*", title="the fitted LR rule")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig
