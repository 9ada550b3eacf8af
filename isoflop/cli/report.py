"""``scaling report``: the self-contained report page of a sweep folder or a loss table."""

from __future__ import annotations

import click

from isoflop.cli.options import flops_values, writable_folder


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
    from pathlib import Path

    from isoflop.laws.page_build import SUFFIXES, build_page, write_page

    if (source is None) == (example is None):
        raise click.UsageError("give a RESULTS folder or TABLE, or --example NAME (not both)")
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise click.BadParameter(f"'{out}' must end in .html or .md", param_hint="--out")
    writable_folder(out.parent, "--out's folder")
    with _progress(n_bootstrap) as tick:
        page = build_page(
            source if source is not None else f"example:{example}",
            targets=targets,
            n_bootstrap=n_bootstrap,
            seed=seed,
            unique_tokens=unique_tokens,
            sensitivity=not no_sensitivity,
            progress=tick,
        )
    write_page(page, out)
    for ans in page.answers:
        click.echo(ans.line())
    click.echo(
        f"wrote {out} ({len(page.figures)} figures, {len(page.result.table.excluded) + len(page.runs)} runs "
        f"excluded or not ok, {len(page.result.screened)} screened from the parametric fits, "
        f"{'with' if page.sensitivity is not None else 'without'} sensitivity)"
    )


def _progress(n_bootstrap: int):
    """A two-step progress display (the fit, then the sensitivity refits) on a terminal; nothing elsewhere."""
    from isoflop.cli.console import steps

    return steps(["fitting and bootstrapping", "sensitivity refits"], enabled=n_bootstrap > 0)
