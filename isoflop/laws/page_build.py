"""The report page built from a source, and written to disk: what ``scaling report`` does, as an API.

:func:`build_page` fits a sweep folder or a loss table, runs the sensitivity refits, draws the figures and
gathers a sweep folder's facts (its resolved config, cost, and the runs that did not finish ok) into a
:class:`~isoflop.laws.page.PageInput`; :func:`write_page` renders it as self-contained HTML, or as Markdown
with its figures in a folder beside it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isoflop.errors import ConfigError, RecordError
from isoflop.laws.analyze import analyze
from isoflop.laws.answer import choose_answer
from isoflop.laws.page import PageInput, default_target, render_html, render_markdown
from isoflop.laws.table_io import load_runs
from isoflop.meta import package_version
from isoflop.runs.cost import folder_cost
from isoflop.runs.store import is_sweep_dir, iter_records, read_manifest

SUFFIXES = (".html", ".htm", ".md")


def build_page(
    source: str,
    *,
    targets=(),
    n_bootstrap: int = 400,
    seed: int = 0,
    unique_tokens: float | None = None,
    sensitivity: bool = True,
    progress: Callable[[], None] | None = None,
) -> PageInput:
    """Everything the page of ``source`` (a results folder, a table, or ``example:NAME``) shows.

    Args:
        targets: budgets to answer at (default: the power of ten at or above 100x the largest budget).
        sensitivity: run the sensitivity refits (bootstrapped 100 times at most).
        progress: called once after the fit and once after the sensitivity refits.
    """
    from isoflop.laws.plots import save_figures, save_sensitivity
    from isoflop.laws.sensitivity import recounted_table
    from isoflop.laws.sensitivity import sensitivity as sensitivity_report

    tick = progress or (lambda: None)
    runs = load_runs(source)
    if unique_tokens:
        runs = runs.with_unique_tokens(unique_tokens)
    targets = tuple(targets) or (default_target(runs.budgets),)
    result = analyze(runs, targets=targets, n_bootstrap=n_bootstrap, seed=seed)
    tick()
    sens = None
    if sensitivity:
        recounted = recounted_table(source, unique_tokens=unique_tokens)
        sens = sensitivity_report(runs, result, recounted=recounted, n_bootstrap=min(n_bootstrap, 100), seed=seed)
    tick()
    sweep_doc, cost, bad = sweep_facts(source) if is_sweep_dir(str(source)) else (None, None, ())
    with tempfile.TemporaryDirectory() as tmp:
        paths = save_figures(result, tmp) + (save_sensitivity(sens, tmp) if sens is not None else [])
        figures = {p.name: p.read_bytes() for p in paths}
    return PageInput(
        result,
        tuple(choose_answer(result, c) for c in targets),
        figures,
        sens,
        sweep_doc,
        cost,
        bad,
        f"Written by isoflop {package_version()} on {time.strftime('%Y-%m-%d %H:%M')}.",
    )


def write_page(page: PageInput, out: str | Path) -> Path:
    """Write the page: ``.html`` self-contained, ``.md`` with its figures in ``<stem>_files/`` beside it.

    Raises:
        ConfigError: ``out`` ends in neither.
    """
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{out}: a report page must end in .html or .md")
    if out.suffix.lower() == ".md":
        fig_dir = out.with_name(out.stem + "_files")
        fig_dir.mkdir(exist_ok=True)
        for name, png in page.figures.items():
            (fig_dir / name).write_bytes(png)
        out.write_text(render_markdown(page, fig_dir.name))
    else:
        out.write_text(render_html(page))
    return out


def sweep_facts(folder):
    """A sweep folder's resolved config, cost, and the runs that did not finish ok (run_id, status, reason)."""
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
