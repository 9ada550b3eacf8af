"""``scaling fit`` and ``scaling audit``: the analysis side."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import click

from isoflop.cli.options import SectionedCommand, flops_values, option_group, writable_folder
from isoflop.laws.table_files import EXAMPLES


@dataclass(frozen=True)
class TableOptions:
    """How the loss table is read (see :func:`isoflop.load_runs`)."""

    params_col: str | None
    tokens_col: str | None
    flops_col: str | None
    loss_col: str | None
    budget_col: str | None
    group_tol: float
    drop_highest: int
    recount: str
    where: tuple[str, ...]


@dataclass(frozen=True)
class FitOptions:
    """Which estimators run, and how (see :func:`isoflop.analyze`)."""

    methods: tuple[str, ...]
    allow_edge: bool
    weight_vertices: bool
    huber_delta: float
    init_grid: str | None
    envelope: str
    unique_tokens: float | None
    no_screen: bool


@dataclass(frozen=True)
class UncertaintyOptions:
    """Bootstrap intervals and backtests."""

    n_bootstrap: int
    level: float
    seed: int
    holdout: int
    sensitivity: bool
    raw_intervals: bool


_table = [
    click.option("--params-col", help="Column holding N (parameters)."),
    click.option("--tokens-col", help="Column holding D (tokens)."),
    click.option("--flops-col", help="Column holding C (FLOPs)."),
    click.option("--loss-col", help="Column holding the final loss."),
    click.option("--budget-col", help="Column holding the nominal budget used for grouping."),
    click.option(
        "--group-tol",
        type=click.FloatRange(min=0),
        default=0.05,
        show_default=True,
        help="Relative FLOP tolerance for grouping runs into budgets (without a budget column).",
    ),
    click.option("--drop-highest", type=click.IntRange(min=0), default=0, help="Exclude the K highest-loss runs."),
    click.option(
        "--recount",
        type=click.Choice(["as-run", "6N"]),
        default="as-run",
        show_default=True,
        help="Sweep folders: recount N and C as Kaplan's 6N (non-embedding N, C = 6ND).",
    ),
    click.option(
        "--where",
        multiple=True,
        metavar="COL=VALUE",
        help="Keep only rows where COL equals VALUE; repeatable (all must hold).",
    ),
]
_fit = [
    click.option(
        "--method",
        "methods",
        multiple=True,
        default=("all",),
        show_default=True,
        help="approach1, approach2, approach2_corrected, approach3, vpnls or all; repeatable or comma-separated.",
    ),
    click.option(
        "--allow-edge", is_flag=True, help="Let Approach 2 use budgets whose vertex is outside the sampled sizes."
    ),
    click.option(
        "--weight-vertices",
        is_flag=True,
        help="Weight Approach 2's budgets by how precisely their runs place their vertices (jackknife variance "
        "plus the scatter between budgets; see Methods).",
    ),
    click.option(
        "--huber-delta",
        type=click.FloatRange(min=0, min_open=True),
        default=1e-3,
        show_default=True,
        help="Approach 3 Huber threshold on log loss.",
    ),
    click.option(
        "--init-grid",
        type=click.Path(dir_okay=False),
        help="Approach 3 starting points: a CSV with columns a, b, e, alpha, beta (default: Chinchilla's 4,500).",
    ),
    click.option(
        "--envelope",
        type=click.Choice(["curves", "runs"]),
        default="curves",
        show_default=True,
        help="Approach 1 from training curves when the table has them, or from each budget's lowest run.",
    ),
    click.option(
        "--unique-tokens",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="The runs repeat a corpus of U unique tokens: fit D as Muennighoff et al.'s effective D' "
        "(R_D* = 15.4), so every law is the law of fresh data.",
    ),
    click.option(
        "--no-screen",
        is_flag=True,
        help="Keep runs far up their IsoFLOP profiles (by default a run higher above its budget's minimum "
        "than any budget's profile reaches on both sides is excluded, with its reason).",
    ),
]
_uncertainty = [
    click.option(
        "--bootstrap",
        "n_bootstrap",
        type=click.IntRange(min=0),
        default=1000,
        show_default=True,
        help="Bootstrap resamples (0: no intervals).",
    ),
    click.option(
        "--level",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=0.95,
        show_default=True,
        help="Interval coverage.",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed."),
    click.option("--holdout", type=click.IntRange(min=0), default=0, help="Backtest: hold out the K largest budgets."),
    click.option(
        "--raw-intervals",
        is_flag=True,
        help="Plain percentile intervals on N_opt and D_opt, without each method's measured calibration.",
    ),
    click.option(
        "--sensitivity",
        is_flag=True,
        help="Refit under every estimator, counting, loss and left-out budget; report N_opt and D_opt "
        "at each target under each, and their spread.",
    ),
]


@click.command(cls=SectionedCommand)
@option_group(
    "Input",
    [
        click.argument("table", required=False),
        click.option("--example", type=click.Choice(sorted(EXAMPLES)), help="Use a built-in table instead of a file."),
    ],
)
@option_group("Reading the table", _table, into=TableOptions, name="table_opts")
@option_group(
    "Reading the table",
    [
        click.option(
            "--by",
            "by",
            metavar="COL",
            default=None,
            help="Fit each value of COL as its own table; prints one table of groups.",
        )
    ],
)
@option_group("Estimators", _fit, into=FitOptions, name="fit_opts")
@option_group("Uncertainty", _uncertainty, into=UncertaintyOptions, name="unc")
@option_group(
    "Output",
    [
        click.option(
            "--target",
            "targets",
            multiple=True,
            callback=flops_values,
            help="Budget C (FLOPs) to predict at; repeatable.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of tables."),
        click.option("--plot-dir", type=click.Path(file_okay=False), help="Write PNG figures here."),
    ],
)
def fit(
    table,
    example,
    by,
    table_opts: TableOptions,
    fit_opts: FitOptions,
    unc: UncertaintyOptions,
    targets,
    as_json,
    plot_dir,
):
    """Fit compute-optimal laws to a loss table (CSV, JSON, JSON Lines, Parquet) or a sweep's results folder."""
    from isoflop.cli.console import bootstrap_bar, tables
    from isoflop.jsonio import dumps
    from isoflop.laws.document import fit_source

    if (table is None) == (example is None):
        raise click.UsageError("give a TABLE file or --example NAME (not both)")
    if by is not None:
        return _fit_groups(
            table if table is not None else f"example:{example}",
            by,
            table_opts,
            fit_opts,
            unc,
            targets,
            as_json,
            plot_dir,
        )
    source = table if table is not None else f"example:{example}"
    if unc.sensitivity and not targets:
        raise click.UsageError("--sensitivity reports N_opt and D_opt at the targets: give at least one --target")
    if plot_dir:
        writable_folder(plot_dir, "--plot-dir")
    with bootstrap_bar(unc.n_bootstrap) as progress:
        doc = fit_source(
            source,
            table_options=dataclasses.asdict(table_opts),
            runs_only=fit_opts.envelope == "runs",
            unique_tokens=fit_opts.unique_tokens,
            holdout=unc.holdout,
            sensitivity=unc.sensitivity,
            progress=progress,
            targets=targets,
            **_analysis_options(fit_opts, unc),
        )
    result, bt, sens = doc.result, doc.backtest, doc.sensitivity
    if as_json:
        click.echo(dumps(doc.to_dict()))
    else:
        from isoflop.laws.backtest_report import format_backtest
        from isoflop.laws.report import format_analysis, format_sensitivity

        with tables():
            click.echo(format_analysis(result))
            if bt is not None:
                click.echo(format_backtest(bt))
            if sens is not None:
                click.echo(format_sensitivity(sens))
    if plot_dir:
        from isoflop.laws.plots import save_figures, save_sensitivity

        for p in save_figures(result, plot_dir) + (save_sensitivity(sens, plot_dir) if sens is not None else []):
            click.echo(f"wrote {p}", err=as_json)
    if not as_json and doc.answers:
        click.echo("")
        for a in doc.answers:  # the answer last, where the eye lands
            click.echo(a.line())


def _analysis_options(fit_opts: FitOptions, unc: UncertaintyOptions) -> dict:
    """The keyword arguments of :func:`isoflop.analyze` that ``scaling fit``'s options set."""
    from isoflop.laws import read_grid

    return dict(
        methods=fit_opts.methods,
        n_bootstrap=unc.n_bootstrap,
        level=unc.level,
        seed=unc.seed,
        allow_edge=fit_opts.allow_edge,
        weight_vertices=fit_opts.weight_vertices,
        delta=fit_opts.huber_delta,
        calibrate=not unc.raw_intervals,
        init_grid=read_grid(fit_opts.init_grid) if fit_opts.init_grid else None,
        screen=not fit_opts.no_screen,
    )


def _fit_groups(
    source, by, table_opts: TableOptions, fit_opts: FitOptions, unc: UncertaintyOptions, targets, as_json, plot_dir
):
    """``scaling fit --by COL``: every group fitted on its own, one table of groups (or one JSON document)."""
    from isoflop.jsonio import dumps
    from isoflop.laws.groups import fit_groups

    if fit_opts.unique_tokens:
        raise click.UsageError("--unique-tokens does not go with --by")
    load = dataclasses.asdict(table_opts)
    where = load.pop("where")
    doc = fit_groups(source, by, where=where, load=load, targets=targets, **_analysis_options(fit_opts, unc))
    if as_json:
        click.echo(dumps(doc.to_dict()))
    else:
        from isoflop.cli.console import tables
        from isoflop.laws.report import format_groups

        with tables():
            click.echo(format_groups(by, list(doc.groups)))
    for p in doc.save_figures(plot_dir) if plot_dir else []:
        click.echo(f"wrote {p}", err=as_json)


@click.command()
@click.option("--params", "n_params", type=float, default=None, help="N, the run's parameters.")
@click.option("--tokens", "n_tokens", type=float, default=None, help="D, the run's training tokens.")
@click.option(
    "--flops",
    type=float,
    default=None,
    help="C in FLOPs. Any two of --params, --tokens and --flops; the third is derived from C = 6ND.",
)
@click.option("--law", "law_path", type=click.Path(dir_okay=False), help="JSON written by 'scaling fit --json'.")
@click.option("--preset", type=click.Choice(["chinchilla", "epoch"]), help="A published parametric fit.")
@click.option(
    "--method",
    type=click.Choice(["approach1", "approach2", "approach2_corrected", "approach3", "vpnls"]),
    help="Which approach of --law to use (default: approach3, else vpnls, approach2_corrected, 2, 1).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=1),
    default=1.1,
    show_default=True,
    help="Factor within which a run counts as optimal when the law has no interval.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(n_params, n_tokens, flops, law_path, preset, method, tolerance, as_json):
    """Is a run of N parameters on D tokens compute-optimal? Give any two of N, D and C."""
    from isoflop.jsonio import dumps
    from isoflop.laws import audit_run, load_law, preset_law

    if (law_path is None) == (preset is None):
        raise click.UsageError("give exactly one of --law FIT.json or --preset NAME")
    law = preset_law(preset) if preset else load_law(law_path, method)
    res = audit_run(n_params, n_tokens, law, flops=flops, tolerance=tolerance)
    if as_json:
        click.echo(dumps(res.__dict__))
    else:
        from isoflop.cli.console import tables
        from isoflop.laws.report import format_audit

        with tables():
            click.echo(format_audit(res))
