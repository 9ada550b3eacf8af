"""Command-line interface: thin wrappers over the public API.

Errors derived from :class:`scaling.errors.ScalingError` (bad input) become
one line and exit code 2 here, at the boundary; any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

import sys

import click

from scaling.cli.fit import audit, fit
from scaling.cli.ladder import ladder_cmd
from scaling.cli.plan import plan_cmd
from scaling.cli.sweep import sweep
from scaling.cli.train import flops, train_cmd
from scaling.cli.validate import validate_cmd
from scaling.errors import ScalingError


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


class _Group(click.Group):
    """The top-level group: turns a :class:`ScalingError` from any command into an :class:`InputError`."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ScalingError as e:
            raise InputError(" ".join(str(e).split("\n")[:1]) or type(e).__name__) from None


@click.group(cls=_Group)
@click.version_option(package_name="scaling")
def main():
    """Compute-optimal scaling laws: plan and run sweeps, fit loss tables, audit runs."""


for _cmd in (fit, audit, flops, train_cmd, sweep, plan_cmd, ladder_cmd, validate_cmd):
    main.add_command(_cmd)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
