"""Tables that hold several experiments: fit each group on its own.

Consolidated tables (a paper's runs beside a replication, several datasets or
model families in one file) carry columns such as ``source``, ``dataset`` or
``experiment``. :func:`analyze_groups` fits each value of one such column as its
own table; a group that cannot be fitted (too few runs, no usable budget) gets
a status and its reason, and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from isoflop.errors import ScalingError, TableError
from isoflop.laws.analyze import analyze
from isoflop.laws.result import AnalysisResult
from isoflop.laws.selection import column_named, filter_rows
from isoflop.laws.table_files import read_source
from isoflop.laws.table_io import load_runs


@dataclass(frozen=True)
class GroupResult:
    """One group of a grouped analysis: its analysis, or why there is none."""

    value: str
    result: AnalysisResult | None
    error: str = ""

    @property
    def status(self) -> str:
        return "ok" if self.result is not None else "not fitted"

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "status": self.status,
            "error": self.error or None,
            "analysis": self.result.to_dict(include_samples=False) if self.result is not None else None,
        }

    @classmethod
    def from_dict(cls, doc: dict) -> GroupResult:
        analysis = doc.get("analysis")
        result = AnalysisResult.from_dict(analysis, f"group {doc['value']}") if analysis is not None else None
        return cls(str(doc["value"]), result, doc.get("error") or "")

    @property
    def folder_name(self) -> str:
        """The group's value as a file name (its figures' folder under ``scaling fit --by --plot-dir``)."""
        return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.value) or "_"


@dataclass(frozen=True)
class GroupedAnalysis:
    """``scaling fit --by COL``'s document: the column, the filters, and every group's analysis."""

    by: str
    where: tuple[str, ...]
    groups: tuple[GroupResult, ...]

    def to_dict(self) -> dict:
        return {"by": self.by, "where": list(self.where), "groups": [g.to_dict() for g in self.groups]}

    @classmethod
    def from_dict(cls, doc: dict) -> GroupedAnalysis:
        return cls(doc["by"], tuple(doc.get("where", ())), tuple(GroupResult.from_dict(g) for g in doc["groups"]))

    def save_figures(self, plot_dir: str | Path) -> list[Path]:
        """Each fitted group's figures, in ``plot_dir/<group>/``; the paths written."""
        from isoflop.laws.plots import save_figures

        out: list[Path] = []
        for g in self.groups:
            if g.result is not None:
                out += save_figures(g.result, Path(plot_dir) / g.folder_name)
        return out


def fit_groups(source, by: str, *, where: tuple[str, ...] = (), load: dict | None = None, **analyze_kw):
    """:func:`analyze_groups` as one document (:class:`GroupedAnalysis`), for ``scaling fit --by``."""
    groups = analyze_groups(source, by, where=where, load=load, **analyze_kw)
    return GroupedAnalysis(by, tuple(where), tuple(groups))


def analyze_groups(
    source, by: str, *, where: tuple[str, ...] = (), load: dict | None = None, **analyze_kw
) -> list[GroupResult]:
    """Fit each value of column ``by`` (after ``where``) as its own table.

    Args:
        source: as :func:`~isoflop.laws.table_io.load_runs`.
        by: the column whose values define the groups.
        where: filters applied before grouping.
        load: further keyword arguments of :func:`~isoflop.laws.table_io.load_runs`.
        analyze_kw: keyword arguments of :func:`~isoflop.laws.analyze.analyze`.

    Raises:
        TableError: the table cannot be read, a filter is bad, or ``by`` names no column.
    """
    out = []
    for value in column_values(source, by, where):
        try:
            table = load_runs(source, where=(*where, f"{by}={value}"), **(load or {}))
            out.append(GroupResult(value, analyze(table, **analyze_kw)))
        except ScalingError as e:  # a group too small or malformed is that group's status, not the run's end
            out.append(GroupResult(value, None, str(e)))
    return out


def column_values(source, column: str, where: tuple[str, ...] = ()) -> list[str]:
    """The distinct values of a column of a table (after ``where``), in order of first appearance, for
    fitting each group on its own (``scaling fit --by``).

    Raises:
        TableError: as :func:`load_runs`, or no such column.
    """
    df, src, _, _ = read_source(source)
    df, _ = filter_rows(df, where, src)
    name = column_named(df, column)
    if name is None:
        raise TableError(f"{src}: --by '{column}': no such column; columns are {list(map(str, df.columns))}")
    return list(dict.fromkeys(df[name].astype(str).str.strip()))
