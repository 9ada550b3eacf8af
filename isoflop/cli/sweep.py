"""``scaling sweep run`` and ``scaling sweep status``."""

from __future__ import annotations

from pathlib import Path

import click

from isoflop.cli.options import flops_values, with_options, writable_folder

sweep_common = with_options(
    [
        click.argument("sweep_file", type=click.Path(dir_okay=False)),
        click.option(
            "--set", "overrides", multiple=True, help="Override a key: --set seq_len=64, --set train.lr=1e-3."
        ),
        click.option(
            "--results", "results_root", default="results", show_default=True, help="Folder of sweep results."
        ),
    ]
)


@click.group()
def sweep():
    """Run and inspect model-size x FLOP-budget sweeps."""


@sweep.command("run")
@sweep_common
@click.option("--executor", type=click.Choice(["local", "ray", "slurm"]), default="local", show_default=True)
@click.option("--address", help="Ray: address of an existing cluster (e.g. auto).")
@click.option("--partition", help="SLURM partition.")
@click.option("--gpus-per-run", type=float, default=0, show_default=True, help="GPUs per run (Ray allows fractions).")
@click.option("--timeout-min", type=int, default=60, show_default=True, help="SLURM time limit per run.")
@click.option("--workers", type=click.IntRange(min=1), help="Local: runs in flight (default cores / threads).")
@click.option("--retry-failed", is_flag=True, help="Rerun runs recorded as failed.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Corpus cache (default ~/.cache/scaling).")
@click.option(
    "--simulate",
    "law",
    metavar="LAW",
    help="Train nothing: draw each run's loss from LAW (a fit JSON, a preset, or E=..,A=..,B=..,alpha=..,beta=..).",
)
@click.option(
    "--noise", type=float, default=0.01, show_default=True, help="--simulate: independent noise per run (0.01 = 1%)."
)
@click.option(
    "--seed-noise",
    type=float,
    default=0.0,
    show_default=True,
    help="--simulate: noise shared by all runs of one seed (a level and a slope per decade of N).",
)
@click.option("--sim-seed", type=int, default=0, show_default=True, help="--simulate: seed of the draws.")
@click.option(
    "--throughput",
    "throughput_from",
    multiple=True,
    type=click.Path(file_okay=False),
    help="--simulate: sweep folder(s) whose runs' wall times give the cost model (default: this machine's).",
)
@click.option(
    "--adaptive",
    is_flag=True,
    help="Run budget by budget, refit after each, stop at --until-width or the cap, and extend the sweep "
    "(a budget above, or a seed) when the planner predicts it pays; decisions go to adaptive.jsonl.",
)
@click.option("--target", callback=flops_values, help="--adaptive: the budget C whose N_opt the sweep is for.")
@click.option(
    "--until-width", type=float, help="--adaptive: stop when every interval on N_opt is at most this (hi/lo)."
)
@click.option("--cost", "cost_cap", help="--adaptive: cap on run time over the workers (40min, 1h).")
@click.option("--flops-cap", callback=flops_values, help="--adaptive: cap on FLOPs spent.")
@click.option(
    "--method",
    "methods",
    default="approach2,approach3",
    show_default=True,
    help="--adaptive: approaches whose intervals must narrow (comma-separated).",
)
def sweep_run(
    sweep_file,
    overrides,
    results_root,
    executor,
    address,
    partition,
    gpus_per_run,
    timeout_min,
    workers,
    retry_failed,
    cache_dir,
    law,
    noise,
    seed_noise,
    sim_seed,
    throughput_from,
    adaptive,
    target,
    until_width,
    cost_cap,
    flops_cap,
    methods,
):
    """Run every missing run of a sweep; finished runs are skipped, so it resumes after a kill."""
    from isoflop.sweep import load_sweep, make_executor, run_sweep, sweep_dir_for
    from isoflop.sweep.progress import Monitor
    from isoflop.sweep.runner import check_device

    sw = load_sweep(sweep_file, tuple(overrides))
    simulator = _simulator(law, noise, seed_noise, sim_seed, throughput_from) if law else None
    if simulator is None:
        check_device(sw.device)
    else:
        executor = "local"
    ex_kw = dict(
        threads_per_run=sw.threads,
        address=address,
        gpus_per_run=gpus_per_run,
        partition=partition,
        timeout_min=timeout_min,
        max_workers=workers,
        folder=Path(results_root) / sw.name / ".submitit",
    )
    where = f"simulated from {simulator.surface.name}" if simulator else f"on {executor}"
    writable_folder(sweep_dir_for(sw, results_root), "the results folder")
    click.echo(
        f"sweep {sw.name}: {len(sw.budgets)} budgets x {sw.sizes_per_budget} sizes x {sw.seeds} seed(s) "
        f"{where}; results in {sweep_dir_for(sw, results_root)}",
        err=True,
    )

    def on_event(e):
        if e["event"] == "warning":
            click.echo(f"warning: {e['message']}", err=True)
        if e["event"] == "waiting":
            click.echo(f"waiting: {e['message']}", err=True)
        if e["event"] == "budget":
            sizes = ", ".join(f"{n:.3g}" for n in dict.fromkeys(e["sizes"]))  # once each (ladders repeat them)
            centre = f"; centred by {e['centre']}" if e.get("centre") not in (None, "fixed sizes") else ""
            click.echo(
                f"budget {e['budget']:.3g} FLOPs: {e['runs']} runs ({e['todo']} to do); N = {sizes}{centre}", err=True
            )

    from isoflop.data import load_corpus
    from isoflop.sweep.plan import planned_cost, planned_runs

    vocab = load_corpus(sw.corpus, sw.tokenizer, cache_dir).vocab_size
    if adaptive:
        return _adaptive(
            sw,
            executor,
            ex_kw,
            results_root,
            cache_dir,
            simulator,
            target,
            until_width,
            cost_cap,
            flops_cap,
            methods,
            on_event,
        )
    if target or until_width or cost_cap or flops_cap:
        raise click.UsageError("--target, --until-width, --cost and --flops-cap go with --adaptive")
    ex = make_executor(executor, **ex_kw)
    with Monitor(sweep_dir_for(sw, results_root), planned_runs(sw, vocab), planned_cost(sw, vocab)):
        st = run_sweep(
            sw,
            ex,
            results_root=results_root,
            cache_dir=cache_dir,
            retry_failed=retry_failed,
            progress=on_event,
            simulate=simulator,
        )
    click.echo(st.summary())


def _adaptive(
    sw, executor, ex_kw, results_root, cache_dir, simulator, target, until_width, cost_cap, flops_cap, methods, on_event
):
    from isoflop.design.adaptive import run_adaptive
    from isoflop.design.candidates import parse_duration
    from isoflop.laws.analyze import parse_methods
    from isoflop.sweep import make_executor

    if target is None:
        raise click.UsageError("--adaptive needs --target (the budget whose N_opt the sweep is for)")
    ms = parse_methods(methods)

    def new_executor():  # run_sweep closes its executor, so each budget gets a fresh one
        return make_executor(executor, **ex_kw)

    def on(e):
        if e["event"] == "decision":
            w = ", ".join(f"{m} {v:.2f}x" for m, v in e["width"].items())
            click.echo(
                f"[adaptive] after {e['budgets_done']} budgets: {e['action']}: {e['reason']}"
                + (f" (widths: {w})" if w else ""),
                err=True,
            )
        elif e["event"] != "budget" or e["todo"]:
            on_event(e)

    res = run_adaptive(
        sw,
        new_executor,
        target=target,
        until_width=until_width,
        cap_s=parse_duration(cost_cap) if cost_cap else None,
        cap_flops=flops_cap,
        methods=ms,
        workers=ex_kw["max_workers"] or 2,
        results_root=results_root,
        cache_dir=cache_dir,
        simulate=simulator,
        progress=on,
    )
    f = res.final
    click.echo(
        f"{sw.name}: adaptive sweep {'stopped' if f.action == 'stop' else f.action}: {f.reason}; "
        f"{len(f.budgets)} budgets x {f.seeds} seed(s), {f.cost_flops:.3g} FLOPs, "
        f"{f.cost_wall_s / 60:.1f} min of run time over the workers"
    )


def _simulator(law, noise, seed_noise, sim_seed, throughput_from):
    from isoflop.laws.surface import parse_surface
    from isoflop.runs.throughput import Throughput, default_throughput
    from isoflop.sweep.simulate import Simulator

    tp = Throughput.from_sweeps(throughput_from) if throughput_from else default_throughput()
    return Simulator(parse_surface(law), sigma=noise, seed_sigma=seed_noise, seed=sim_seed, throughput=tp)


@sweep.command("status")
@sweep_common
def sweep_status_cmd(sweep_file, overrides, results_root):
    """Summarise a sweep on disk: runs per budget and status."""
    from isoflop.sweep import load_sweep, sweep_status

    for line in sweep_status(load_sweep(sweep_file, tuple(overrides)), results_root).lines(sweep_file):
        click.echo(line)
