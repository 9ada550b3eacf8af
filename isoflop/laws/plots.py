"""Figures of an analysis. With :func:`isoflop.laws.ladder.plot_ladder`, the only code that imports matplotlib.

Every function takes ``ax=None`` and returns the axes it drew on. Figures are
built with :class:`matplotlib.figure.Figure` directly (no pyplot), so nothing
here touches a display or global backend state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from isoflop.laws.result import PARAMETRIC, UNCONSTRAINED, AnalysisResult

_STYLE = {
    "approach1": ("tab:green", "Approach 1 (envelope)"),
    "approach2": ("tab:blue", "Approach 2 (IsoFLOP)"),
    "approach2_corrected": ("tab:purple", "Approach 2 corrected"),
    "approach3": ("tab:red", "Approach 3 (parametric)"),
    "vpnls": ("tab:orange", "VPNLS (parametric)"),
}


def _axes(ax):
    if ax is None:
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        ax = fig.subplots()
    return ax


def _predicted(table) -> np.ndarray:
    """Per used row, whether its loss is the loss-curve law's prediction (drawn as a cross), not trained."""
    return table.predicted[table.used] if table.predicted is not None else np.zeros(table.n_used, dtype=bool)


def plot_isoflops(analysis: AnalysisResult, ax=None):
    """Loss against N per budget, with fitted parabolas and their vertices.

    Budgets left out of the power laws are drawn hollow with dashed parabolas.
    """
    ax = _axes(ax)
    f2 = analysis.approach2
    n, _, _, l, g = analysis.table.used_arrays()
    law = _predicted(analysis.table)
    budgets = analysis.table.budgets
    norm = LogNorm(vmin=budgets.min(), vmax=max(budgets.max(), budgets.min() * 1.0001))
    cmap = colormaps["viridis"]
    fits = {b.flops: b for b in f2.budgets} if f2 is not None else {}
    used = {b.flops for b in f2.used} if f2 is not None else set()
    for k, c in enumerate(budgets):
        sel = g == k
        col = cmap(norm(c))
        bf = fits.get(float(c))
        ok = float(c) in used
        ax.scatter(n[sel & ~law], l[sel & ~law], s=18, color=col if ok else "none", edgecolors=col, zorder=3)
        if law.any():
            ax.scatter(n[sel & law], l[sel & law], s=22, marker="x", color=col, lw=1.0, zorder=3)
        if bf is not None and bf.coeffs is not None:
            lo, hi = bf.params_range
            xs = np.logspace(np.log10(lo) - 0.1, np.log10(hi) + 0.1, 100)
            ax.plot(xs, np.polyval(bf.coeffs, np.log10(xs)), color=col, lw=1.2, ls="-" if ok else "--")
            if np.isfinite(bf.optimal_params):
                ax.plot(
                    [bf.optimal_params],
                    [bf.min_loss],
                    marker="*",
                    ms=11,
                    color=col,
                    markeredgecolor="black" if ok else col,
                    zorder=4,
                )
    ax.set_xscale("log")
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("final loss L (nats/token)")
    excluded = sum(float(c) not in used for c in budgets)
    ax.set_title(
        f"IsoFLOP profiles (hollow, dashed: {excluded} excluded budget{'s' if excluded != 1 else ''})"
        if excluded
        else "IsoFLOP profiles"
    )
    sm = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax)
    sm.set_label("compute budget C (FLOPs)")
    ax.plot([], [], marker="*", ls="none", color="gray", markeredgecolor="black", label="vertex (optimal N)")
    if law.any():
        ax.scatter([], [], s=18, color="gray", label="trained")
        ax.scatter([], [], s=22, marker="x", color="gray", label="predicted by the loss-curve law")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_law_check(check, ax=None):
    """A loss-curve law's predicted validation losses against trained ones
    (:func:`isoflop.laws.curves.profiles.check_against`): the points the law was fitted to, and those it was
    not, with the line of equality."""
    ax = _axes(ax)
    for fitted, style in (
        (True, dict(color="tab:gray", marker="o", label="trained, fitted to")),
        (False, dict(color="tab:red", marker="x", label="trained elsewhere, held out")),
    ):
        sel = check["fitted"].to_numpy() == fitted
        if sel.any():
            ax.scatter(check["trained"][sel], check["predicted"][sel], s=20, **style)
    lo = float(min(check["trained"].min(), check["predicted"].min()))
    hi = float(max(check["trained"].max(), check["predicted"].max()))
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="predicted = trained")
    held = check[~check["fitted"]]
    if len(held):
        err = np.abs(held["predicted"] / held["trained"] - 1)
        ax.set_title(f"Loss-curve law: held out mean |error| {err.mean():.2%}, worst {err.max():.2%} ({len(held)})")
    else:
        ax.set_title("Loss-curve law against trained ends")
    ax.set_xlabel("trained final validation loss (nats/token)")
    ax.set_ylabel("predicted (nats/token)")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def save_law_check(check, path: str | Path, dpi: int = 150) -> Path:
    """Write :func:`plot_law_check` as a PNG file."""
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    plot_law_check(check, ax=fig.subplots())
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    return p


def plot_optimal(analysis: AnalysisResult, quantity: str = "params", ax=None):
    """Optimal N (``quantity="params"``) or D (``"tokens"``) against C, per approach,
    with power-law lines, interval bands and target budgets marked."""
    if quantity not in ("params", "tokens"):
        raise ValueError(f"quantity must be 'params' or 'tokens', got '{quantity}'")
    ax = _axes(ax)
    key = "optimal_params" if quantity == "params" else "optimal_tokens"
    cs = analysis.table.budgets
    lo = cs.min() / 3
    hi = 3 * max([cs.max(), *analysis.targets])
    grid = np.logspace(np.log10(lo), np.log10(hi), 80)
    shown, bands = [], []  # the estimates set the y-range; an interval wider than it runs off the chart
    for m in analysis.fitted:
        color, label = _STYLE[m]
        f = analysis.fit(m)
        if m in ("approach2", "approach2_corrected"):
            pts = [(b.flops, getattr(b, key)) for b in (f.used if m == "approach2" else f.fit.used)]
            ax.scatter(*zip(*pts), color=color, s=25, zorder=3) if pts else None
            shown += [y for _, y in pts]
        elif m == "approach1":  # envelope points inside the chart's budget range only: a curve's minimum at a
            # hundredth of the smallest budget is no budget's optimum, and would sit alone far to the left
            x, y = np.asarray(f.flops, dtype=float), np.asarray(getattr(f, key), dtype=float)
            inside = (x >= lo) & (x <= hi)
            ax.scatter(x[inside], y[inside], color=color, s=12, marker="s", alpha=0.6, zorder=3)
            shown += list(y[inside])
        if m in PARAMETRIC:
            exp = f.a if quantity == "params" else f.b
        else:
            exp = getattr(f.fit if m == "approach2_corrected" else f, f"{quantity}_law").exponent
        line = analysis.predict(m, grid)[key]
        ax.plot(grid, line, color=color, lw=1.5, label=f"{label}: ∝ C^{exp:.3f}")
        shown += list(line)
        if analysis.samples.get(m):  # the intervals the tables print (calibrated, or a misfit's Approach 2)
            ci = "params_ci" if quantity == "params" else "tokens_ci"
            edges = np.array([[np.nan if v is None else v for v in analysis.prediction(m, c)[ci]] for c in grid]).T
            with np.errstate(divide="ignore", invalid="ignore"):
                usable = (edges[0] > 0) & (edges[1] / edges[0] <= UNCONSTRAINED)  # wider bands are no answer
            bands.append((edges, color, usable))
    for c in analysis.targets:
        ax.axvline(c, color="gray", ls=":", lw=1)
        for m in analysis.fitted:
            y = analysis.predict(m, c)[key]
            ax.plot([c], [y], marker="x", color=_STYLE[m][0], ms=8)
            shown.append(y)
    ys = np.asarray(shown, dtype=float)
    ys = ys[np.isfinite(ys) & (ys > 0)]
    y_lo, y_hi = (ys.min() / 10, ys.max() * 10) if ys.size else (None, None)
    for (lo_b, hi_b), color, usable in bands:
        if y_lo is not None:  # a band edge beyond the view (or not finite) is drawn to the chart's edge
            lo_b = np.where(np.isfinite(lo_b) & (lo_b > y_lo), lo_b, y_lo)
            hi_b = np.where(np.isfinite(hi_b) & (hi_b < y_hi), hi_b, y_hi)
        ax.fill_between(grid, lo_b, hi_b, where=usable, color=color, alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if y_lo is not None:
        ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("optimal model size N (parameters)" if quantity == "params" else "optimal training tokens D")
    # The bands are the intervals the tables print: calibrated, and widened by each law's in-table backtest.
    band_kind = "intervals, calibrated" if analysis.calibrated else "bootstrap bands"
    ax.set_title(
        f"Compute-optimal {'N' if quantity == 'params' else 'D'} ({analysis.level:.0%} {band_kind}; x: targets)"
    )
    ax.legend(fontsize=8)
    return ax


def plot_parametric(analysis: AnalysisResult, ax=None):
    """The parametric surface's predicted loss over (C, N) (VPNLS's, else Approach 3's), with the
    compute-optimal frontier under the table's FLOP counting."""
    ax = _axes(ax)
    m = "vpnls" if analysis.vpnls is not None and "vpnls" in analysis.fitted else "approach3"
    f = analysis.fit(m)
    n, d, c, l, _ = analysis.table.used_arrays()
    cgrid = np.logspace(np.log10(c.min() / 3), np.log10(3 * max([c.max(), *analysis.targets])), 120)
    ngrid = np.logspace(np.log10(n.min() / 3), np.log10(n.max() * 3), 120)
    C, N = np.meshgrid(cgrid, ngrid)
    L = f.loss(N, C / analysis.counting.per_token(N))
    cs = ax.contourf(C, N, L, levels=np.quantile(L, np.linspace(0, 0.9, 16)), cmap="magma_r", extend="max")
    ax.figure.colorbar(cs, ax=ax, label="predicted loss L (nats/token)")
    ax.plot(
        cgrid,
        analysis.predict(m, cgrid)["optimal_params"],
        color="white",
        lw=2,
        label=f"N_opt ({analysis.counting.name} counting)",
    )
    law = _predicted(analysis.table)
    ax.scatter(
        c[~law],
        n[~law],
        c="cyan",
        s=8,
        edgecolors="black",
        linewidths=0.3,
        label="trained runs" if law.any() else "runs",
    )
    if law.any():
        ax.scatter(c[law], n[law], c="cyan", s=14, marker="x", linewidths=0.8, label="predicted by the loss-curve law")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(cgrid[0], cgrid[-1])
    ax.set_ylim(ngrid[0], ngrid[-1])
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("model size N (parameters)")
    ax.set_title(f"{_STYLE[m][1]}: E={f.E:.3g}, α={f.alpha:.3g}, β={f.beta:.3g}")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def save_figures(analysis: AnalysisResult, out_dir: str | Path, dpi: int = 150) -> list[Path]:
    """Write the figures that apply to ``analysis`` as PNG files; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    if analysis.approach2 is not None:
        jobs.append(("isoflops.png", lambda ax: plot_isoflops(analysis, ax=ax)))
    if analysis.fitted:
        jobs.append(("optimal_params.png", lambda ax: plot_optimal(analysis, "params", ax=ax)))
        jobs.append(("optimal_tokens.png", lambda ax: plot_optimal(analysis, "tokens", ax=ax)))
    if analysis.approach3 is not None or analysis.vpnls is not None:
        jobs.append(("parametric.png", lambda ax: plot_parametric(analysis, ax=ax)))
    paths = []
    for name, draw in jobs:
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        draw(fig.subplots())
        p = out / name
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths


def plot_sensitivity(sens, flops: float, ax=None):
    """N_opt at one target under every choice of the sensitivity report, with intervals, one row each."""
    ax = _axes(ax)
    rows = [r for r in sens.rows if r.flops == flops and np.isfinite(r.optimal_params)]
    colors = {"estimator": "tab:blue", "counting": "tab:purple", "loss": "tab:red", "budgets": "tab:green"}
    for i, r in enumerate(rows):
        col = colors.get(r.choice, "gray")
        if r.params_ci:
            lo, hi = r.params_ci
            ax.plot([lo, hi], [i, i], color=col, lw=1.5, alpha=0.6)
        ax.plot([r.optimal_params], [i], marker="o", color=col, ms=5)
    ax.set_yticks(range(len(rows)), [f"{r.variant} · {r.method}" for r in rows], fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    pts = np.array([r.optimal_params for r in rows])
    if pts.size:
        ax.set_xlim(pts.min() / 10, pts.max() * 10)
    for name, col in colors.items():
        ax.plot([], [], color=col, marker="o", label=name)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    sp = sens.spread.get(flops, {}).get("params", float("nan"))
    ax.set_xlabel(f"N_opt at {flops:.3g} FLOPs (parameters)")
    ax.set_title(f"Sensitivity of N_opt: spread {sp:.3g}x over {len(rows)} choices")
    return ax


def save_sensitivity(sens, out_dir: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``sensitivity.png`` (the first target; ``sensitivity-<C>.png`` for each further one)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, c in enumerate(sens.spread):
        n = sum(1 for r in sens.rows if r.flops == c)
        fig = Figure(figsize=(7.0, max(3.0, 0.16 * n + 1.2)), layout="constrained")
        plot_sensitivity(sens, c, ax=fig.subplots())
        p = out / ("sensitivity.png" if k == 0 else f"sensitivity-{c:g}.png")
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths
