"""Command-line interface: thin wrappers over the public API.

Errors derived from :class:`isoflop.errors.ScalingError` (bad input) become
one line and exit code 2 here, at the boundary; any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

import errno
import sys

import click

from isoflop.cli.backtest import backtest_cmd
from isoflop.cli.curves import curves_cmd
from isoflop.cli.fit import audit, fit
from isoflop.cli.ladder import ladder_cmd
from isoflop.cli.plan import plan_cmd
from isoflop.cli.recommend import recommend_cmd
from isoflop.cli.report import report_cmd
from isoflop.cli.sweep import sweep
from isoflop.cli.train import flops, train_cmd
from isoflop.cli.validate import validate_cmd
from isoflop.errors import ScalingError
from isoflop.meta import DIST

#: The file system's answers about a named file that are the environment's fault (a full disk, a read-only or
#: unwritable folder, a vanished path): one line and exit 2. Any other OSError is a bug and keeps its traceback.
ENVIRONMENT = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EIO,
        errno.ENAMETOOLONG,
        errno.EEXIST,
    }
)


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


class _Group(click.Group):
    """The top-level group: turns a :class:`ScalingError` from any command into an :class:`InputError`."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ScalingError as e:
            raise InputError(_one_line(e)) from None
        except click.UsageError as e:  # a bad option value or a missing argument: one line, not the usage block
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            raise InputError(f"{where}: {e.format_message()} (see {where} --help)") from None
        except OSError as e:
            if e.filename is None or e.errno not in ENVIRONMENT:  # not the file system's answer: a bug
                raise
            raise InputError(
                f"{e.filename}: cannot read or write ({e.strerror or e}); finished runs and files are kept"
            ) from None


def _one_line(e: ScalingError) -> str:
    """The error's first line, and what was computed before it when it says (``partial.summary()``)."""
    line = str(e).split("\n")[0] or type(e).__name__
    summary = getattr(e.partial, "summary", None)
    if callable(summary):
        line += f" (kept from before it: {summary().splitlines()[0]})"
    return line


@click.group(cls=_Group)
@click.version_option(package_name=DIST)
def main():
    """Compute-optimal scaling laws: plan and run sweeps, fit loss tables, audit runs."""


for _cmd in (
    fit,
    backtest_cmd,
    audit,
    flops,
    train_cmd,
    sweep,
    plan_cmd,
    ladder_cmd,
    recommend_cmd,
    validate_cmd,
    report_cmd,
    curves_cmd,
):
    main.add_command(_cmd)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
