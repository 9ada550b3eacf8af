"""``scaling ladder``: fit the LR rule η*(N) to a ladder sweep's runs, print it, and optionally save it."""

from __future__ import annotations

import math
from pathlib import Path

import click


@click.command("ladder")
@click.argument("results", type=click.Path())
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help='Write the ladder and its rule as JSON here (a sweep can then say lr = "fitted:FILE").',
)
@click.option("--figure", "figure", type=click.Path(dir_okay=False), help="Draw the ladder to this PNG.")
def ladder_cmd(results, out, figure):
    """Fit the best peak LR of each size in a ladder sweep (one made with lr_grid), and the law eta*(N)."""
    from isoflop.errors import ConfigError
    from isoflop.jsonio import write_json_atomic
    from isoflop.laws.ladder import ladder_doc, ladder_vertices, load_ladder, plot_ladder
    from isoflop.runs.store import read_manifest

    fit = load_ladder(results)
    click.echo(
        f"LR ladder {results}: {len(fit.points)} (size, budget) points, {len(fit.used)} with an optimum "
        "inside their grid"
    )
    click.echo(f"{'N':>10s} {'budget':>9s} {'LRs':>4s} {'best LR':>9s} {'loss':>7s}  status")
    for q in fit.points:
        best = f"{q.lr_opt:9.3g}" if math.isfinite(q.lr_opt) else f"{'-':>9s}"
        loss = f"{q.loss_opt:7.4f}" if math.isfinite(q.loss_opt) else f"{min(q.losses):7.4f}"
        click.echo(
            f"{q.n_params:10.3g} {q.budget:9.2g} {len(q.lrs):4d} {best} {loss}  "
            f"{q.status}{': ' + q.reason if q.reason else ''}"
        )
    click.echo(f"rule: {fit.rule.describe()}" if fit.rule else f"no rule: {fit.message}")
    grid = tuple((read_manifest(results) or {}).get("lr_grid") or ())
    moved = ladder_vertices(fit, grid)
    if moved:
        for c, v in moved["vertices"].items():
            click.echo(
                f"IsoFLOP vertex at {c} FLOPs: N = {v['base']:.3g} at the base LR, {v['best']:.3g} at each "
                "size's best LR"
            )
        click.echo(
            f"N_opt's exponent a between those budgets: {moved['a']['base']:.2f} at the base LR, "
            f"{moved['a']['best']:.2f} at each size's best LR"
        )
    for path in (out, figure):
        if path and Path(path).parent and not Path(path).parent.exists():
            try:
                Path(path).parent.mkdir(parents=True)
            except OSError as e:
                raise ConfigError(f"{path}: cannot create its folder ({e.strerror})") from None
    try:
        if out:
            write_json_atomic(Path(out), {**ladder_doc(fit), "lr_grid": list(grid), "isoflop_vertices": moved})
            click.echo(f"wrote {out}")
        if figure:
            plot_ladder(fit, figure)
            click.echo(f"wrote {figure}")
    except OSError as e:
        raise ConfigError(f"{out or figure}: cannot write ({e.strerror})") from None
