"""An LR ladder read from disk: the runs of a ladder sweep, their fit, and the rule a sweep file names.

A ladder is an ordinary sweep whose file sets ``lr_grid`` (each size trained at several multiples of its
peak LR); its folder is read like any other, and :func:`~isoflop.laws.fit.lr_ladder.fit_lr_ladder` fits the
rule. ``lr = "fitted:PATH"`` in a sweep's ``[train]`` table resolves through :func:`load_lr_rule`: PATH is a
ladder's folder (fitted as it is read) or an ``lr_rule.json``. Reading writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from isoflop.errors import ConfigError, FitError
from isoflop.laws.fit.lr_ladder import LadderFit, fit_lr_ladder
from isoflop.laws.lr_rule import LRRule
from isoflop.runs.store import is_sweep_dir, runs_frame


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


def load_lr_rule(path: str | Path) -> LRRule:
    """The rule of ``fitted:PATH``: a ladder folder (fitted now) or an ``lr_rule.json``.

    Raises:
        ConfigError: one line naming the path: missing, not a ladder, or a ladder with no law (and why).
    """
    p = Path(path)
    if p.is_file():
        try:
            doc = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{p}: not a readable LR rule ({e})") from None
        return LRRule.from_dict(doc.get("rule", doc) if isinstance(doc, dict) else doc, str(p))
    fit = load_ladder(p)
    if fit.rule is None:
        raise ConfigError(f"{p}: the LR ladder gives no rule: {fit.message}")
    return fit.rule


def ladder_vertices(fit: LadderFit, grid: tuple[float, ...]) -> dict | None:
    """How the LR moves the compute-optimal size: per budget, the IsoFLOP vertex of the sizes' losses at the
    base LR (the grid's multiple 1: the rule the ladder was built on) and at each size's best LR (its fitted
    optimum's loss), and N_opt's exponent a between the lowest and highest budget under each. None without
    a multiple 1 in the grid, two budgets, or three sizes per budget."""
    import numpy as np

    from isoflop.laws.fit.powerlaw import find_optimal_params

    if 1.0 not in grid:
        return None
    k = list(grid).index(1.0)
    out = {}
    for c in sorted({q.budget for q in fit.points}):
        pts = [q for q in fit.points if q.budget == c and len(q.lrs) == len(grid)]
        if len(pts) < 3:
            continue
        n = np.array([q.n_params for q in pts])
        base = np.array([q.losses[k] for q in pts])
        best = np.array([q.loss_opt if q.status == "ok" else min(q.losses) for q in pts])
        out[c] = {"base": find_optimal_params(n, base).x_opt, "best": find_optimal_params(n, best).x_opt}
    if len(out) < 2:
        return None
    lo, hi = min(out), max(out)
    a = {key: float(np.log(out[hi][key] / out[lo][key]) / np.log(hi / lo)) for key in ("base", "best")}
    return {"vertices": {f"{c:.3g}": v for c, v in out.items()}, "a": a}


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
