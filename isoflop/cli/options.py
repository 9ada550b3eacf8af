"""Helpers for the commands: option groups that show as sections in --help and arrive as one object."""

from __future__ import annotations

from dataclasses import fields

import click


class SectionedCommand(click.Command):
    """A command whose --help lists options under the section each belongs to."""

    def format_options(self, ctx, formatter):
        sections: dict[str, list] = {}
        for p in self.get_params(ctx):
            rec = p.get_help_record(ctx)
            if rec is not None:
                sections.setdefault(getattr(p, "section", "Other options"), []).append(rec)
        for name, rows in sections.items():
            with formatter.section(name):
                formatter.write_dl(rows)


def with_options(options):
    """Apply a list of click options/arguments in the order listed."""

    def deco(f):
        for o in reversed(options):
            f = o(f)
        return f

    return deco


def option_group(section: str, options: list, into=None, name: str | None = None):
    """Apply ``options`` under a --help ``section``; with ``into`` (a dataclass), gather their
    values into one instance of it, passed to the command as ``name``.

    The option names (their Python identifiers) must be the dataclass's fields.
    """

    def deco(f):
        if into is not None:
            keys = {fl.name for fl in fields(into)}
            inner = f

            def f(*args, **kw):
                kw[name] = into(**{k: kw.pop(k) for k in list(kw) if k in keys})
                return inner(*args, **kw)

            f.__name__, f.__doc__ = inner.__name__, inner.__doc__
            f.__click_params__ = getattr(inner, "__click_params__", [])
        for o in reversed(options):
            f = o(f)
            f.__click_params__[-1].section = section
        return f

    return deco


def flops_values(ctx, param, values):
    """Parse FLOP counts ("1e15"), which must be positive."""
    out = []
    for v in values if isinstance(values, tuple) else [values]:
        if v is None:
            continue
        try:
            x = float(v)
        except ValueError:
            raise click.BadParameter(f"'{v}' is not a number of FLOPs") from None
        if not x > 0:
            raise click.BadParameter(f"'{v}' must be positive")
        out.append(x)
    return tuple(out) if isinstance(values, tuple) else (out[0] if out else None)


def number_pair(ctx, param, value):
    """Parse "A,B" into two numbers (None stays None)."""
    if value is None:
        return None
    parts = str(value).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise click.BadParameter(f"'{value}' is not two numbers, as MEAN,SD") from None


def writable_folder(folder, what: str = "the folder") -> None:
    """Fail with one line, before any work, when ``folder`` cannot be created or written (a file in the way, a
    read-only or full disk)."""
    import os
    import uuid
    from pathlib import Path

    from isoflop.errors import ScalingError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("")
        os.unlink(probe)
    except OSError as e:
        raise ScalingError(f"{e.filename or folder}: {what} cannot be written ({e.strerror or e})") from None
