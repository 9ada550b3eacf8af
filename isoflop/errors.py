"""The one root of the errors that mean "bad input".

Everything the package raises on purpose for input a user can fix (a malformed
table, an unknown TOML key, a law file without a fit, a budget too small for
one step) derives from :class:`ScalingError`. The CLI turns these, and only
these, into one line with exit code 2; any other exception is a bug and keeps
its traceback.

Each subclass also derives from :class:`ValueError`, so code that validates
with ``except ValueError`` keeps working.
"""

from __future__ import annotations


class ScalingError(Exception):
    """Bad input, named: the message says which file, row, key or value, and what is wrong.

    Attributes:
        partial: whatever was computed before the error, or None: a sweep cut short holds the
            :class:`~isoflop.sweep.runner.SweepStatus` of the runs that finished, an adaptive sweep its
            :class:`~isoflop.design.adaptive.AdaptiveResult`. When it has a ``summary()``, the CLI's one line
            ends with that summary's first line.
    """

    def __init__(self, message: str, *, partial=None):
        super().__init__(message)
        self.partial = partial


class ConfigError(ScalingError, ValueError):
    """A configuration value breaks a rule (a model shape, a training setting, a device)."""


class TableError(ScalingError, ValueError):
    """A loss table cannot be read; the message names the file, row or column."""


class DataError(ScalingError, ValueError):
    """A corpus or tokenizer cannot be built; the message says which and why."""


class SweepError(ConfigError):
    """A sweep file or override is invalid; the message names the key, the value and the rule."""


class RecordError(ScalingError, ValueError):
    """A run record on disk is damaged or not a run record; the message names the file."""


class FitError(ScalingError, ValueError):
    """An analysis cannot run as asked (no usable runs, an unknown method, a bad target)."""


class LawError(ScalingError, ValueError):
    """A law file cannot be used; the message names the file and the key."""


class DependencyError(ScalingError, RuntimeError):
    """An optional package the request needs is not installed; the message says which extra to install."""


__all__ = [
    "ConfigError",
    "DataError",
    "DependencyError",
    "FitError",
    "LawError",
    "RecordError",
    "ScalingError",
    "SweepError",
    "TableError",
]
