"""``scaling curves fit``: the loss-curve law of each model size, from a loss-curve table or a sweep folder."""

from __future__ import annotations

import click

from isoflop.cli.options import flops_values


@click.group("curves")
def curves_cmd():
    """Loss curves: every logged step of every run, and the laws that predict them."""


def _skip_option(default: float, help: str):
    """``--skip``: the fraction of each trunk's first steps left out of its law's fit."""
    return click.option(
        "--skip", type=click.FloatRange(0, 1, max_open=True), default=default, show_default=True, help=help
    )


@curves_cmd.command("fit")
@click.argument("source", type=click.Path())
@_skip_option(0.0, "Leave out each trunk's (or independent run's) first fraction of steps, its fast early descent.")
@click.option(
    "--per-size", is_flag=True, help="Fit each model size's law alone, not all sizes at once with shared exponents."
)
@click.option(
    "--draws",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Bootstrap refits of the law (a wild bootstrap by curve), kept in the JSON for intervals on predictions.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap draws.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of a table.")
def curves_fit(source, skip, per_size, draws, seed, as_json):
    """Fit the multi-power law of every model size of a loss-curve table (CSV, JSON, Parquet) or a sweep folder:
    jointly, the exponents, saturation and offset (alpha, C, beta, gamma, S0) shared by every size and each size
    with its own L0, A and B (isoflop.laws.curves.fits)."""
    from isoflop.jsonio import dumps
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.fits import fit_curves
    from isoflop.laws.curves.law import PARAMS

    doc = fit_curves(load_curves(source), skip=skip, joint=not per_size, draws=draws, seed=seed)
    if as_json:
        click.echo(dumps(doc.to_dict()))
        return
    click.echo(
        "one law per size, alpha, C, beta, gamma and S0 shared by every size"
        if doc.joint
        else "one law per size, each fitted alone"
    )
    click.echo(f"{'N':>10s} {'runs':>4s} {'rows':>5s} {'rms':>7s} " + " ".join(f"{k:>8s}" for k in PARAMS) + "  status")
    for s in doc.sizes:
        if s.fit is None:
            click.echo(
                f"{s.n_params:10.3g} {len(s.runs):4d} {'-':>5s} {'-':>7s} "
                + " ".join(f"{'-':>8s}" for _ in PARAMS)
                + f"  {s.status}: {s.error}"
            )
            continue
        f = s.fit
        vals = " ".join(f"{getattr(f.law, k):8.3g}" for k in PARAMS)
        note = f": {s.error}" if not f.success else (f": {f.message}" if "edge" in f.message else "")
        drawn = f"; {len(s.draws)} bootstrap draws" if s.draws else ""
        click.echo(f"{s.n_params:10.3g} {len(s.runs):4d} {f.n_points:5d} {f.rms:7.2%} {vals}  {s.status}{note}{drawn}")


@curves_cmd.command("profile")
@click.argument("source", type=click.Path())
@click.option(
    "--budget",
    "budgets",
    multiple=True,
    callback=flops_values,
    help="A budget C of the grid (FLOPs); repeatable. Default: a law folder's sweep budgets, else the budgets "
    "its cooldowns trained.",
)
@_skip_option(0.15, "Leave out each trunk's first fraction of steps from its law's fit.")
@click.option("--per-trunk", is_flag=True, help="Fit each trunk's law alone, not all at once with shared exponents.")
@click.option(
    "--own",
    type=click.Choice(["alpha", "C", "beta", "gamma", "S0"]),
    multiple=True,
    help="A nonlinear parameter each trunk fits for itself in the joint fit (repeatable; alpha: better points "
    "and lengths, worse vertices, as measured by benchmarks/bench_profiles.py).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the grid as a loss table (CSV) scaling fit reads.")
@click.option(
    "--against",
    type=click.Path(exists=True, file_okay=False),
    help="A sweep folder with trained cooldowns of the same trunks (e.g. the full sweep): report the law's "
    "errors on them.",
)
@click.option("--plot", type=click.Path(dir_okay=False), help="With --against: write predicted against trained (PNG).")
def curves_profile(source, budgets, skip, per_trunk, own, out, against, plot):
    """IsoFLOP points from loss curves: every WSD trunk of SOURCE at every budget it reaches, the trained
    cooldown ends as trained and the rest predicted by its loss-curve law (see isoflop.laws.curves.profiles)."""
    from pathlib import Path

    from isoflop.design.law_error import LAW_BUMP, measure_bump
    from isoflop.errors import TableError
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.grid import sweep_budgets
    from isoflop.laws.curves.profiles import check_against, profiles
    from isoflop.runs.store import is_sweep_dir, runs_frame

    if plot and not against:
        raise TableError("--plot draws predicted against trained ends: it needs --against FOLDER")
    if own and per_trunk:
        raise TableError("--own frees parameters of the joint fit: it does not go with --per-trunk")
    if against and not is_sweep_dir(against):
        raise TableError(f"{against}: not a sweep folder (no runs/)")
    prof = profiles(
        load_curves(source), tuple(budgets) or sweep_budgets(source), skip=skip, joint=not per_trunk, own=tuple(own)
    )
    click.echo(f"{'trunk':28s} {'N':>9s} {'fitted':>6s} {'trained':>7s} {'predicted':>9s}  status")
    for t in prof.trunks:
        n_tr = sum(p.source == "trained" for p in t.points)
        status = t.error or ("ok" + (f"; {len(t.skipped)} budget(s) skipped: {t.skipped[0]}" if t.skipped else ""))
        click.echo(f"{t.trunk:28s} {t.n_params:9.3g} {t.cooldowns:6d} {n_tr:7d} {len(t.points) - n_tr:9d}  {status}")
    pts = prof.points
    click.echo(
        f"{len(pts)} points at {len(prof.budgets)} budgets: {sum(p.source == 'trained' for p in pts)} trained, "
        f"{sum(p.source == 'predicted' for p in pts)} predicted"
    )
    agree = prof.seed_agreement()
    if agree:
        click.echo(
            "seeds of one size agree to "
            + ", ".join(f"{v['sigma']:.2%} per point over {v['pairs']} {k} pairs" for k, v in agree.items())
            + " (a form error all seeds share does not show here)"
        )
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        prof.frame().to_csv(out, index=False)
        click.echo(f"wrote {out}")
    if against:
        check = check_against(prof, runs_frame(against))
        held = check[~check["fitted"]]
        if len(held):
            err = held["error"].abs()
            click.echo(
                f"against {against}: {len(held)} held-out trained ends, mean |error| {err.mean():.2%}, "
                f"worst {err.max():.2%} ({held.loc[err.idxmax(), 'run']})"
            )
            bump = measure_bump(check)
            if len(bump.per_trunk) >= 2:
                click.echo(
                    f"the law's error as scaling plan --law simulates it: {bump.describe()}, per ln(hi/lo) "
                    f"(scaling plan --law --law-bump {bump.mean:.4f},{bump.sd:.4f}; its default is {LAW_BUMP})"
                )
        else:
            click.echo(f"against {against}: no trained end the law was not fitted to")
        if plot:
            from isoflop.laws.plots import save_law_check

            click.echo(f"wrote {save_law_check(check, plot)}")
