"""``scaling report``: the self-contained report page of a sweep folder or a loss table."""

from __future__ import annotations

import click

from isoflop.cli.options import DIST, flops_values, writable_folder


@click.command("report")
@click.argument("source", required=False)
@click.option("--example", type=click.Choice(["chinchilla", "cs336"]), help="Report on a built-in table.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The page to write: .html (self-contained) or .md (figures in a folder beside it).",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    callback=flops_values,
    help="Budget C (FLOPs) to answer at; repeatable (default: the power of ten at or above 100x the largest budget).",
)
@click.option(
    "--bootstrap",
    "n_bootstrap",
    type=click.IntRange(min=0),
    default=400,
    show_default=True,
    help="Bootstrap resamples (0: no intervals).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--unique-tokens",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The runs repeat a corpus of U unique tokens (fit D as the effective D').",
)
@click.option("--no-sensitivity", is_flag=True, help="Leave out the sensitivity table (it refits many times).")
def report_cmd(source, example, out, targets, n_bootstrap, seed, unique_tokens, no_sensitivity):
    """Write a report page: the answer, figures, sensitivity, runs used and excluded, cost, and a checklist."""
    import tempfile
    import time
    from importlib.metadata import version
    from pathlib import Path

    from isoflop.laws import analyze, load_runs
    from isoflop.laws.answer import choose_answer
    from isoflop.laws.page import PageInput, default_target, render_html, render_markdown
    from isoflop.laws.plots import save_figures, save_sensitivity
    from isoflop.runs.store import is_sweep_dir

    if (source is None) == (example is None):
        raise click.UsageError("give a RESULTS folder or TABLE, or --example NAME (not both)")
    src = source if source is not None else f"example:{example}"
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm", ".md"):
        raise click.BadParameter(f"'{out}' must end in .html or .md", param_hint="--out")
    writable_folder(out.parent, "--out's folder")
    runs = load_runs(src)
    if unique_tokens:
        runs = runs.with_unique_tokens(unique_tokens)
    targets = tuple(targets) or (default_target(runs.budgets),)
    with _progress(n_bootstrap) as tick:
        result = analyze(runs, targets=targets, n_bootstrap=n_bootstrap, seed=seed)
        tick()
        sens = None
        if not no_sensitivity:
            from isoflop.laws.sensitivity import recounted_table, sensitivity

            sens = sensitivity(
                runs,
                result,
                recounted=recounted_table(src, unique_tokens=unique_tokens),
                n_bootstrap=min(n_bootstrap, 100),
                seed=seed,
            )
        tick()
    sweep_doc, cost, bad = _sweep_facts(src) if is_sweep_dir(str(src)) else (None, None, ())
    with tempfile.TemporaryDirectory() as tmp:
        paths = save_figures(result, tmp) + (save_sensitivity(sens, tmp) if sens is not None else [])
        figures = {p.name: p.read_bytes() for p in paths}
    page = PageInput(
        result,
        tuple(choose_answer(result, c) for c in targets),
        figures,
        sens,
        sweep_doc,
        cost,
        bad,
        f"Written by isoflop {version(DIST)} on {time.strftime('%Y-%m-%d %H:%M')}.",
    )
    if out.suffix.lower() == ".md":
        fig_dir = out.with_name(out.stem + "_files")
        fig_dir.mkdir(exist_ok=True)
        for name, png in figures.items():
            (fig_dir / name).write_bytes(png)
        out.write_text(render_markdown(page, fig_dir.name))
    else:
        out.write_text(render_html(page))
    for ans in page.answers:
        click.echo(ans.line())
    click.echo(
        f"wrote {out} ({len(figures)} figures, {len(result.table.excluded) + len(bad)} runs excluded or "
        f"not ok, {len(result.screened)} screened from the parametric fits, "
        f"{'with' if sens is not None else 'without'} sensitivity)"
    )


def _sweep_facts(folder):
    """A sweep folder's resolved config, cost, and the runs that did not finish ok (run_id, status, reason)."""
    from isoflop.errors import RecordError
    from isoflop.runs.cost import folder_cost
    from isoflop.runs.store import iter_records, read_manifest

    try:
        doc = read_manifest(folder)
    except RecordError:
        doc = None
    bad = []
    for run_id, r in iter_records(folder):
        if isinstance(r, RecordError):
            bad.append((run_id, "damaged", str(r)))
        elif r.status != "ok":
            bad.append((run_id, r.status, r.error or ""))
    return doc, folder_cost(folder), tuple(bad)


def _progress(n_bootstrap: int):
    """A two-step progress display (the fit, then the sensitivity refits) on a terminal; nothing elsewhere."""
    from isoflop.cli.console import steps

    return steps(["fitting and bootstrapping", "sensitivity refits"], enabled=n_bootstrap > 0)
