"""``scaling validate``: train a check run beyond a sweep and judge the sweep's predictions against it."""

from __future__ import annotations

import click

from isoflop.cli.options import flops_values


@click.command("validate")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option(
    "--budget",
    required=True,
    callback=flops_values,
    help="The check's budget C (FLOPs): at least the sweep's top budget; 5x above it or more to test extrapolation.",
)
@click.option(
    "--centre",
    "centre",
    default="approach2",
    show_default=True,
    help="The method whose predicted N_opt the check's sizes are centred on.",
)
@click.option(
    "--method",
    "methods",
    default="approach2,approach3",
    show_default=True,
    help="Methods whose predictions are judged (comma-separated).",
)
@click.option(
    "--factor",
    type=click.FloatRange(min=1.2),
    default=3.0,
    show_default=True,
    help="The check trains N_opt/factor, N_opt and factor*N_opt.",
)
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per check size.")
@click.option("--results", "results_root", default="results", show_default=True, help="Folder of sweep results.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=50), default=400, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), help="Runs in flight (default cores / threads).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Corpus cache (default ~/.cache/scaling).")
@click.option("--dry-run", is_flag=True, help="Fit and print the check's plan; train nothing.")
def validate_cmd(
    sweep_file, budget, centre, methods, factor, seeds, results_root, n_bootstrap, workers, cache_dir, dry_run
):
    """Fit SWEEP_FILE's results, train a check at --budget at the predicted N_opt and either side, and say
    whether the measured minimum (size and loss) lands inside the predicted intervals. The check's runs go to
    RESULTS/<name>-check, an ordinary sweep folder; its verdict to verdict.json there."""
    from isoflop.design.validate import plan_check, run_check
    from isoflop.sweep import make_executor

    plan = plan_check(
        sweep_file,
        budget,
        centre=centre,
        methods=methods,
        factor=factor,
        seeds=seeds,
        results_root=results_root,
        n_bootstrap=n_bootstrap,
    )
    for line in plan.lines():
        click.echo(line, err=True)
    if dry_run:
        return
    executor = make_executor("local", threads_per_run=plan.sweep.threads, max_workers=workers)
    for line in run_check(plan, executor, results_root=results_root, cache_dir=cache_dir).lines():
        click.echo(line)
