"""``scaling plan``: rank sweep designs by the interval they buy at a target, for a cost cap."""

from __future__ import annotations

import click

from isoflop.cli.options import flops_values, number_pair, writable_folder

BASE = """# The base every planned design keeps: byte-level Shakespeare, the CPU sweeps' family and training.
name = "planned"
corpus = "shakespeare"
tokenizer = "byte"
seq_len = 128
batch_size = 16
flops_convention = "chinchilla"
budgets = [1e12, 2e12, 4e12]
device = "cpu"
threads = 1
head_dim = 16
checkpoint_every_s = 120
[sizes]
auto = { k = 6, span = 3.0, exponent = 0.5, anchor_flops = 2.4e12, anchor_params = 4.5e4 }
[train]
n_evals = 3
val_sequences = 256
"""


@click.command("plan")
@click.option("--target", required=True, callback=flops_values, help="Budget C (FLOPs) whose N_opt the sweep is for.")
@click.option("--prior", "prior_src", help="A fit JSON, a results folder or a loss table (default: a wide prior).")
@click.option("--cost", "cost", help="Cap as wall time here (90s, 40min, 1h).")
@click.option("--flops", "cap_flops", callback=flops_values, help="Cap as FLOPs (instead of --cost).")
@click.option(
    "--base",
    "base_file",
    type=click.Path(dir_okay=False),
    help="Sweep file whose corpus, model family and training every design keeps (default: byte-level "
    "Shakespeare on CPU, as sweeps/cpu-shakespeare.toml).",
)
@click.option(
    "--method",
    "methods",
    default="approach2,approach3",
    show_default=True,
    help="Approaches a design must serve (comma-separated); ranked by the widest of their intervals.",
)
@click.option(
    "--replicates", type=click.IntRange(min=2), default=24, show_default=True, help="Simulated sweeps per finalist."
)
@click.option(
    "--screen",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Simulated sweeps per candidate in the first round.",
)
@click.option("--finalists", type=click.IntRange(min=1), default=6, show_default=True)
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=20), default=100, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Runs in flight when the sweep runs (for its wall time).",
)
@click.option(
    "--processes", type=click.IntRange(min=1), default=2, show_default=True, help="Processes that simulate and fit."
)
@click.option(
    "--throughput",
    "throughput_from",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Sweep folder(s) whose runs' wall times give the cost model (default: this machine's).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the best design here as a sweep TOML.")
@click.option("--name", default=None, help="The written sweep's name (default: the --out file's stem).")
@click.option(
    "--law",
    is_flag=True,
    help='Weigh cooldowns = "law" designs too (each WSD design also with two, and with three, cooldowns per '
    "size and the rest of its grid from the loss-curve law, simulated with the law's measured error).",
)
@click.option(
    "--law-bump",
    callback=number_pair,
    metavar="MEAN,SD",
    help="With --law: the loss-curve law's error as (mean, sd) of a, the bump a*ln(hi/lo)*4p(1-p) over each "
    "gap between a trunk's trained budgets (default: measured on this repository's law folders, "
    "isoflop.design.law_error.LAW_BUMP; 'scaling curves profile LAW_FOLDER --against FULL_FOLDER' measures "
    "it on yours).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the ranked designs as JSON.")
def plan_cmd(
    target,
    prior_src,
    cost,
    cap_flops,
    base_file,
    methods,
    replicates,
    screen,
    finalists,
    n_bootstrap,
    workers,
    processes,
    throughput_from,
    seed,
    out,
    name,
    law,
    law_bump,
    as_json,
):
    """Simulate sweeps of candidate designs from a prior and rank them by the interval on N_opt at --target."""
    from dataclasses import replace
    from pathlib import Path

    from isoflop.data import load_corpus
    from isoflop.design import load_prior, plan_sweep
    from isoflop.design.candidates import parse_duration, to_toml
    from isoflop.jsonio import dumps
    from isoflop.laws.analyze import parse_methods
    from isoflop.runs.throughput import Throughput, default_throughput
    from isoflop.sweep.config import load_sweep, sweep_from_dict, tomllib

    if (cost is None) == (cap_flops is None):
        raise click.UsageError("give a cost cap: --cost DURATION or --flops C (one of them)")
    ms = parse_methods(methods)
    cap_s = parse_duration(cost) if cost is not None else None
    base = load_sweep(base_file) if base_file else sweep_from_dict(tomllib.loads(BASE), "built-in base: ")
    if out:
        writable_folder(Path(out).parent, "--out's folder")
    tp = Throughput.from_sweeps(throughput_from) if throughput_from else default_throughput()
    if law_bump is not None and not law:
        raise click.UsageError("--law-bump is the error of the law designs that --law adds: give --law too")
    prior = load_prior(prior_src, seed=seed)
    if law_bump is not None:
        prior = replace(prior, law_bump=law_bump)
    click.echo(f"prior: {prior.describe()}", err=True)
    if law:
        click.echo(f"law designs' error: a ~ N{prior.law_bump} per ln(hi/lo) (isoflop.design.law_error)", err=True)
    click.echo(f"cost model: {tp.describe()}", err=True)
    vocab = load_corpus(base.corpus, base.tokenizer).vocab_size

    def progress(done, total, reps):
        if done == total or done % 8 == 0:
            click.echo(f"  {done}/{total} designs simulated ({reps} sweeps each)", err=True)

    plan = plan_sweep(
        prior,
        base,
        vocab,
        target,
        cap_s=cap_s,
        cap_flops=cap_flops,
        methods=ms,
        throughput=tp,
        workers=workers,
        replicates=replicates,
        screen=screen,
        finalists=finalists,
        n_bootstrap=n_bootstrap,
        seed=seed,
        processes=processes,
        progress=progress,
        law=law,
    )
    if as_json:
        click.echo(dumps(plan.to_dict()))
    else:
        from isoflop.cli.console import tables

        with tables():
            click.echo(format_plan(plan))
    if out:
        best = plan.best
        sw = replace(best.sweep, name=name or Path(out).stem)
        header = (
            f"Planned by 'scaling plan' for N_opt at {plan.target:.3g} FLOPs, cap {plan.cap}: {best.design.label}.\n"
            f"Predicted 95% interval width (hi/lo) on N_opt: "
            + ", ".join(f"{m} {best.width.get(m, float('inf')):.2f}x" for m in plan.methods)
            + f"; cost {best.cost.flops:.3g} FLOPs, ~{best.cost.wall_s / 60:.0f} min on {workers} workers.\n"
            f"Prior: {prior.describe()}"
        )
        Path(out).write_text(to_toml(sw, header, folder=Path(out).parent))
        load_sweep(out)  # what was written reads back
        click.echo(f"wrote {out}", err=True)


def format_plan(plan) -> str:
    """The ranked table of a plan."""
    ms = plan.methods
    head = (
        f"designs for N_opt at {plan.target:.3g} FLOPs, cap {plan.cap}; ranked by the widest median 95% "
        f"interval (hi/lo) of {', '.join(ms)} over {plan.best.replicates} simulated sweeps each"
    )
    cols = (
        ["rank", "design", "runs", "FLOPs", "wall min"]
        + [f"{m} width" for m in ms]
        + [f"{m} bias" for m in ms]
        + [f"{m} cover" for m in ms]
    )
    rows = []
    for i, s in enumerate(plan.scores, 1):
        rows.append(
            [str(i), s.design.label, str(s.cost.runs), f"{s.cost.flops:.3g}", f"{s.cost.wall_s / 60:.1f}"]
            + [f"{s.width[m]:.2f}x" if m in s.width else "-" for m in ms]
            + [f"{10 ** s.bias[m] - 1:+.0%}" if m in s.bias else "-" for m in ms]
            + [f"{s.coverage[m]:.0%}" if m in s.coverage else "-" for m in ms]
        )
    from isoflop.laws.text import table

    out = [head, "", table(cols, rows)]
    if plan.screened_out:
        best = plan.screened_out[0]
        out.append(
            f"\n{len(plan.screened_out)} more designs screened out on {best.replicates} sweeps each "
            f"(the best of them: {best.design.label}, {best.score(ms):.2f}x)"
        )
    return "\n".join(out)
