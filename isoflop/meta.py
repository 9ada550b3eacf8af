"""The distribution's name and installed version, in one place."""

from __future__ import annotations

#: The distribution's name on PyPI ("scaling" there is an unrelated 2018 unit-conversion package).
DIST = "isoflop"


def package_version() -> str:
    """The installed version of the distribution, or "unknown" when it is run from a tree that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DIST)
    except PackageNotFoundError:
        return "unknown"
