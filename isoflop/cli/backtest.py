"""``scaling backtest``: rolling-origin backtests of a loss table (or of each of its groups)."""

from __future__ import annotations

import dataclasses

import click

from isoflop.cli.fit import TableOptions, _table
from isoflop.cli.options import SectionedCommand, option_group
from isoflop.laws.table_files import EXAMPLES


@click.command("backtest", cls=SectionedCommand)
@option_group(
    "Input",
    [
        click.argument("table", required=False),
        click.option("--example", type=click.Choice(sorted(EXAMPLES)), help="Use a built-in table instead of a file."),
        click.option(
            "--by",
            "by",
            metavar="COL",
            default=None,
            help="Backtest each value of COL as its own table, and pool the summaries.",
        ),
    ],
)
@option_group("Reading the table", _table, into=TableOptions, name="table_opts")
@option_group(
    "Backtest",
    [
        click.option(
            "--split",
            "splits",
            multiple=True,
            type=click.Choice(["K1", "K2", "K3", "far"]),
            help="Splits to run (default all): K largest budgets held out, or the far split (fit the lower "
            "half, predict the top two).",
        ),
        click.option(
            "--method",
            "methods",
            multiple=True,
            default=("all",),
            show_default=True,
            help="Methods, as for 'scaling fit'.",
        ),
        click.option(
            "--bootstrap",
            "n_bootstrap",
            type=click.IntRange(min=1),
            default=200,
            show_default=True,
            help="Bootstrap resamples per fit.",
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstraps."),
        click.option("--raw-intervals", is_flag=True, help="Plain percentile intervals (no calibration)."),
        click.option("--no-screen", is_flag=True, help="Keep runs far up their IsoFLOP profiles."),
        click.option(
            "--weight-vertices", is_flag=True, help="Weight Approach 2's budgets by their vertices' precision."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of tables."),
    ],
)
def backtest_cmd(
    table,
    example,
    by,
    table_opts: TableOptions,
    splits,
    methods,
    n_bootstrap,
    seed,
    raw_intervals,
    no_screen,
    weight_vertices,
    as_json,
):
    """Backtest every method and the answer line on a table: hide its top budgets, predict them, score."""
    from isoflop.cli.console import tables
    from isoflop.jsonio import dumps
    from isoflop.laws.backtest import backtest_source
    from isoflop.laws.backtest_report import format_backtest_report
    from isoflop.laws.backtest_rows import SPLITS

    if (table is None) == (example is None):
        raise click.UsageError("give a TABLE file or --example NAME (not both)")
    load = dataclasses.asdict(table_opts)
    where = load.pop("where")
    report = backtest_source(
        table if table is not None else f"example:{example}",
        by=by,
        where=where,
        load=load,
        splits=splits or SPLITS,
        methods=methods,
        n_bootstrap=n_bootstrap,
        seed=seed,
        calibrate=not raw_intervals,
        screen=not no_screen,
        weight_vertices=weight_vertices,
    )
    if as_json:
        click.echo(dumps(report.to_dict()))
        return
    with tables():
        click.echo(format_backtest_report(report))
