"""``scaling validate``: train a check run beyond a sweep and judge the sweep's predictions against it."""

from __future__ import annotations

import math
from pathlib import Path

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
    from isoflop.errors import ConfigError
    from isoflop.jsonio import write_json_atomic
    from isoflop.laws.analyze import analyze, parse_methods
    from isoflop.laws.check import judge_check
    from isoflop.laws.table_io import load_runs
    from isoflop.runs.store import runs_frame
    from isoflop.sweep import load_sweep, make_executor, run_sweep, sweep_dir_for
    from isoflop.sweep.check import MIN_FACTOR, check_budget, check_sweep
    from isoflop.sweep.runner import check_device

    sw = load_sweep(sweep_file)
    check_device(sw.device)
    wanted = tuple(dict.fromkeys([centre, *parse_methods(methods)]))
    folder = sweep_dir_for(sw, results_root)
    if not folder.exists():
        raise ConfigError(f"{folder}: no results for {sweep_file}; run `scaling sweep run {sweep_file}` first")
    check_budget(sw, budget)  # before the (slow) fit
    res = analyze(load_runs(folder), methods=",".join(wanted), targets=[budget], n_bootstrap=n_bootstrap, seed=0)
    if centre not in res.fitted:
        raise ConfigError(
            f"{folder}: {centre} could not be fitted ({res.errors.get(centre, 'no reason given')}), "
            "so it cannot centre the check; pick another with --centre"
        )
    n_opt = res.prediction(centre, budget)["optimal_params"]
    chk = check_sweep(sw, n_opt, budget, factor, seeds)
    top = max(sw.budgets)
    click.echo(
        f"check of {sw.name} at {budget:.3g} FLOPs ({budget / top:.1f}x its top budget): sizes "
        + ", ".join(f"{n:.3g}" for n in chk.sizes.params)
        + f" about {centre}'s N_opt {n_opt:.3g}",
        err=True,
    )
    if budget < MIN_FACTOR * top:
        click.echo(
            f"note: {budget / top:.1f}x the top budget is under {MIN_FACTOR:g}x: the check tests little extrapolation",
            err=True,
        )
    if dry_run:
        return
    st = run_sweep(
        chk,
        make_executor("local", threads_per_run=sw.threads, max_workers=workers),
        results_root=results_root,
        cache_dir=cache_dir,
    )
    df = runs_frame(sweep_dir_for(chk, results_root))
    ok = df[(df["status"] == "ok") & df["loss"].notna()]
    noise = res.seed_noise.get("sigma")
    v = judge_check(res, ok["params"], ok["loss"], budget, noise if noise and math.isfinite(noise) else 0.0)
    for line in v.lines():
        click.echo(line)
    click.echo(
        f"check cost: {len(ok)} runs, {st.cost_flops:.3g} FLOPs in {st.cost_wall_s / 60:.1f} min of run time "
        f"(WSD trunks counted once, with their cooldowns)"
    )
    out = Path(sweep_dir_for(chk, results_root)) / "verdict.json"
    write_json_atomic(out, {"sweep": sw.name, "centre": centre, **v.to_dict()})
