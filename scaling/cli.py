"""Command-line interface: thin wrappers over the public API.

Library errors become one-line messages with exit code 2 (bad input), never
tracebacks.
"""

from __future__ import annotations

import json
import math
import sys

import click

from scaling.analysis import analyze
from scaling.backtest import backtest
from scaling.audit import LawError, audit_run, load_law, preset_law
from scaling.tables import EXAMPLES, TableError, load_runs, read_grid


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


def _finite(obj):
    """JSON has no NaN: non-finite floats become null, tuples become lists."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _flops(ctx, param, values):
    out = []
    for v in values if isinstance(values, tuple) else [values]:
        if v is None:
            continue
        try:
            x = float(v)
        except ValueError:
            raise click.BadParameter(f"'{v}' is not a number of FLOPs") from None
        if not x > 0:
            raise click.BadParameter(f"'{v}' must be positive")
        out.append(x)
    return tuple(out) if isinstance(values, tuple) else (out[0] if out else None)


@click.group()
@click.version_option(package_name="scaling")
def main():
    """Compute-optimal scaling laws: fit loss tables, audit runs."""


@main.command()
@click.argument("table", required=False)
@click.option("--example", type=click.Choice(sorted(EXAMPLES)), help="Use a built-in table instead of a file.")
@click.option("--target", "targets", multiple=True, callback=_flops, help="Budget C (FLOPs) to predict at; repeatable.")
@click.option("--method", "methods", multiple=True, default=("all",), show_default=True,
              help="approach1, approach2, approach3 or all; repeatable or comma-separated.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples (0: no intervals).")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True,
              help="Interval coverage.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--holdout", type=click.IntRange(min=0), default=0, help="Backtest: hold out the K largest budgets.")
@click.option("--allow-edge", is_flag=True, help="Let Approach 2 use budgets whose vertex is outside the sampled sizes.")
@click.option("--drop-highest", type=click.IntRange(min=0), default=0, help="Exclude the K highest-loss runs.")
@click.option("--group-tol", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Relative FLOP tolerance for grouping runs into budgets (without a budget column).")
@click.option("--huber-delta", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Approach 3 Huber threshold on log loss.")
@click.option("--params-col", help="Column holding N (parameters).")
@click.option("--tokens-col", help="Column holding D (tokens).")
@click.option("--flops-col", help="Column holding C (FLOPs).")
@click.option("--loss-col", help="Column holding the final loss.")
@click.option("--budget-col", help="Column holding the nominal budget used for grouping.")
@click.option("--init-grid", type=click.Path(dir_okay=False),
              help="Approach 3 starting points: a CSV with columns a, b, e, alpha, beta (default: Chinchilla's 4,500).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of tables.")
@click.option("--plot-dir", type=click.Path(file_okay=False), help="Write PNG figures here.")
def fit(table, example, targets, methods, n_bootstrap, level, seed, holdout, allow_edge, drop_highest, group_tol,
        huber_delta, params_col, tokens_col, flops_col, loss_col, budget_col, init_grid, as_json, plot_dir):
    """Fit compute-optimal laws to a loss table (CSV, JSON, JSON Lines, Parquet)."""
    if (table is None) == (example is None):
        raise click.UsageError("give a TABLE file or --example NAME (not both)")
    src = table if table is not None else f"example:{example}"
    try:
        runs = load_runs(src, params_col=params_col, tokens_col=tokens_col, flops_col=flops_col, loss_col=loss_col,
                         budget_col=budget_col, group_tol=group_tol, drop_highest=drop_highest)
        grid = read_grid(init_grid) if init_grid else None
        kw = dict(methods=methods, n_bootstrap=n_bootstrap, level=level, seed=seed, allow_edge=allow_edge,
                  delta=huber_delta, init_grid=grid)
        result = analyze(runs, targets=targets, **kw)
        bt = backtest(runs, holdout, **kw) if holdout else None
    except (TableError, ValueError) as e:
        raise InputError(str(e)) from None
    if as_json:
        doc = result.to_dict()
        if bt is not None:
            doc["backtest"] = bt.to_dict()
        click.echo(json.dumps(_finite(doc), indent=1, allow_nan=False))
    else:
        from scaling.report import format_analysis, format_backtest

        click.echo(format_analysis(result))
        if bt is not None:
            click.echo(format_backtest(bt))
    if plot_dir:
        from scaling.plots import save_figures

        for p in save_figures(result, plot_dir):
            click.echo(f"wrote {p}", err=as_json)


@main.command()
@click.option("--params", "n_params", type=float, required=True, help="N, the run's parameters.")
@click.option("--tokens", "n_tokens", type=float, required=True, help="D, the run's training tokens.")
@click.option("--flops", type=float, default=None, help="C in FLOPs (default 6ND).")
@click.option("--law", "law_path", type=click.Path(dir_okay=False), help="JSON written by 'scaling fit --json'.")
@click.option("--preset", type=click.Choice(["chinchilla", "epoch"]), help="A published parametric fit.")
@click.option("--method", type=click.Choice(["approach1", "approach2", "approach3"]),
              help="Which approach of --law to use (default: approach3, else 2, else 1).")
@click.option("--tolerance", type=click.FloatRange(min=1), default=1.1, show_default=True,
              help="Factor within which a run counts as optimal when the law has no interval.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(n_params, n_tokens, flops, law_path, preset, method, tolerance, as_json):
    """Is a run of N parameters on D tokens compute-optimal?"""
    if (law_path is None) == (preset is None):
        raise click.UsageError("give exactly one of --law FIT.json or --preset NAME")
    try:
        law = preset_law(preset) if preset else load_law(law_path, method)
        res = audit_run(n_params, n_tokens, law, flops=flops, tolerance=tolerance)
    except (LawError, ValueError) as e:
        raise InputError(str(e)) from None
    if as_json:
        click.echo(json.dumps(_finite(res.__dict__), indent=1, allow_nan=False))
    else:
        from scaling.report import format_audit

        click.echo(format_audit(res))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
