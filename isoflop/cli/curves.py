"""``scaling curves fit``: the loss-curve law of each model size, from a loss-curve table or a sweep folder."""

from __future__ import annotations

import click


@click.group("curves")
def curves_cmd():
    """Loss curves: every logged step of every run, and the laws that predict them."""


@curves_cmd.command("fit")
@click.argument("source", type=click.Path())
@click.option(
    "--skip",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Leave out each trunk's (or independent run's) first fraction of steps, its fast early descent.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of a table.")
def curves_fit(source, skip, as_json):
    """Fit the multi-power law of each model size to a loss-curve table (CSV, JSON, Parquet) or a sweep folder."""
    from isoflop.jsonio import dumps
    from isoflop.laws.curves import load_curves
    from isoflop.laws.curves.fits import fit_curves
    from isoflop.laws.curves.law import PARAMS

    doc = fit_curves(load_curves(source), skip=skip)
    if as_json:
        click.echo(dumps(doc.to_dict()))
        return
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
        click.echo(f"{s.n_params:10.3g} {len(s.runs):4d} {f.n_points:5d} {f.rms:7.2%} {vals}  {s.status}{note}")
