"""``scaling recommend``: the run to train at a target budget, from a sweep's fit and its fitted LR and batch
rules; with ``--train DIR``, train it and its ×0.5/×2 LR and batch neighbours and judge it."""

from __future__ import annotations

import click

from isoflop.cli.options import flops_values


@click.command("recommend")
@click.argument("source", type=click.Path())
@click.option("--target", required=True, callback=flops_values, help="The target run's budget C (FLOPs).")
@click.option(
    "--sweep",
    "sweep_file",
    type=click.Path(dir_okay=False),
    help="The sweep file the runs came from (needed for a table or fit JSON; a results folder has its sweep.json).",
)
@click.option(
    "--rules",
    type=click.Path(),
    help="A batch ladder (its results folder or the JSON `scaling ladder --out` wrote) whose LR and batch rules "
    "replace the sweep's own.",
)
@click.option(
    "--hardware",
    default="cpu",
    show_default=True,
    help="cpu (a throughput model), or a GPU of the peak table (H100, A100, ...: its peak times --mfu).",
)
@click.option(
    "--throughput",
    "throughput",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Sweep folder(s) whose runs' wall times give the CPU throughput (default: SOURCE's own runs).",
)
@click.option(
    "--mfu", type=float, default=0.4, show_default=True, help="GPU hardware: the assumed model-FLOP utilisation."
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the run's config here (for scaling train --config)."
)
@click.option(
    "--train",
    "train_dir",
    type=click.Path(file_okay=False),
    help="Train the run and its x0.5/x2 LR and batch neighbours into this folder and judge it (verdict.json).",
)
@click.option("--workers", type=click.IntRange(min=1), help="--train: runs in flight (default cores / threads).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=50), default=400, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Corpus cache (default ~/.cache/scaling).")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendation (and verdict) as JSON.")
def recommend_cmd(
    source,
    target,
    sweep_file,
    rules,
    hardware,
    throughput,
    mfu,
    out,
    train_dir,
    workers,
    n_bootstrap,
    cache_dir,
    as_json,
):
    """Recommend the run to train at --target FLOPs from SOURCE (a results folder, a table or a fit JSON): its
    shape, tokens, batch, peak LR and schedule, the loss and wall time to expect, and what rounding to the
    family's shapes and whole sequences gives up."""
    from isoflop.cli.options import writable_folder
    from isoflop.design.recommend import recommend_source
    from isoflop.jsonio import dumps, write_json_atomic

    if train_dir:
        writable_folder(train_dir)
    rec = recommend_source(
        source,
        target,
        sweep_file=sweep_file,
        rules=rules,
        hardware=hardware,
        throughput=throughput,
        mfu=mfu,
        n_bootstrap=n_bootstrap,
        cache_dir=cache_dir,
    )
    doc = rec.to_dict()
    if out:
        write_json_atomic(out, rec.spec.to_dict())
    for line in rec.lines():
        click.echo(line, err=as_json)
    if out:
        click.echo(f"wrote {out}: train it with `scaling train --config {out}`", err=as_json)
    if train_dir:
        from isoflop.design.recommend_check import run_recommendation
        from isoflop.sweep import make_executor

        assert rec.sweep is not None
        executor = make_executor("local", threads_per_run=rec.sweep.threads, max_workers=workers)
        verdict = run_recommendation(rec, train_dir, executor, cache_dir=cache_dir)
        for line in verdict.lines():
            click.echo(line, err=as_json)
        doc["verdict"] = verdict.to_dict()
    if as_json:
        click.echo(dumps(doc))
