"""The terminal side of the commands: rich where output is a terminal, plain lines where it is not (CI, SLURM logs,
pipes), so that logs stay readable and tests see plain text."""

from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager, nullcontext

from isoflop.sweep.progress import is_terminal


def tables():
    """The table style for this command's output: rich tables on a terminal, plain ones elsewhere."""
    from isoflop.laws.text import table_style

    if is_terminal(sys.stdout):
        return table_style("rich", shutil.get_terminal_size((120, 24)).columns)
    return nullcontext()


def _bar(counts: bool):
    """A transient rich progress bar on stderr: description, bar, (done/total), time elapsed."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn()]
    if counts:
        columns.append(TextColumn("{task.completed}/{task.total}"))
    return Progress(*columns, TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)


@contextmanager
def bootstrap_bar(n_bootstrap: int):
    """A progress bar on stderr for a long fit's bootstrap (a terminal only); yields ``analyze``'s ``progress``
    callback, or None."""
    if not n_bootstrap or not is_terminal(sys.stderr):
        yield None
        return
    with _bar(counts=True) as bar:
        task = bar.add_task(f"{n_bootstrap} resamples", total=4)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{n_bootstrap} resamples, {stage}", completed=done, total=total)

        yield progress


@contextmanager
def steps(labels: list[str], enabled: bool = True):
    """A progress bar over named steps on stderr (a terminal only); yields ``tick()``, which ends a step."""
    if not enabled or not is_terminal(sys.stderr):
        yield lambda: None
        return
    with _bar(counts=False) as bar:
        task = bar.add_task(labels[0], total=len(labels))
        state = {"k": 0}

        def tick() -> None:
            state["k"] += 1
            bar.update(task, completed=state["k"], description=labels[min(state["k"], len(labels) - 1)])

        yield tick
