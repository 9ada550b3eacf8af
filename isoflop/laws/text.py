"""Text tables for the terminal: numbers, intervals and tables, plain or drawn by rich.

Tables are plain text (two-space columns under a rule), which logs, CI and SLURM output keep as they are. Inside
:func:`table_style` ("rich"), set by the CLI when its output is a terminal, the same tables are drawn by rich,
with borders and bold headers.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

import numpy as np

from isoflop.laws.result import UNCONSTRAINED


def num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def interval_text(ci, digits: int = 3, positive: bool = False) -> str:
    """An interval as text; on a positive quantity (N_opt, D_opt) one wider than UNCONSTRAINED (hi/lo) is
    labelled, not printed: "[2e-13, 6e+11]" reads like an answer and is none."""
    if not ci or ci[0] is None:
        return "-"
    if positive and ci[1] is not None and (not ci[0] > 0 or ci[1] / ci[0] > UNCONSTRAINED):
        span = f"spans {ci[1] / ci[0]:.2g}x" if ci[0] > 0 else "reaches 0"
        return f"unconstrained ({span})"
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"


_STYLE = contextvars.ContextVar("table_style", default=("plain", 0))


@contextmanager
def table_style(style: str, width: int = 120):
    """Draw the tables made inside this block as ``style``: "plain" (the default) or "rich" (for a terminal
    ``width`` columns wide)."""
    if style not in ("plain", "rich"):
        raise ValueError(f"table style {style!r} must be plain or rich")
    token = _STYLE.set((style, width))
    try:
        yield
    finally:
        _STYLE.reset(token)


def _rich_table(headers: list[str], rows: list[list[str]], width: int) -> str:
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAVY, header_style="bold", show_edge=False, pad_edge=False)
    for h in headers:
        t.add_column(str(h), overflow="fold")
    for r in rows:
        t.add_row(*(str(c) for c in r))
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=width, color_system="standard").print(t)
    return buf.getvalue().rstrip("\n")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header (rich's table inside
    :func:`table_style` "rich")."""
    style, width = _STYLE.get()
    if style == "rich":
        return _rich_table(headers, rows, width)
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
