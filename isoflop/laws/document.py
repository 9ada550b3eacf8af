"""The fit document: what ``scaling fit --json`` writes, and the one reader of it.

A :class:`FitDocument` is an analysis (:class:`~isoflop.laws.result.AnalysisResult`) with what the command
adds beside it: the backtest of ``--holdout``, the sensitivity report of ``--sensitivity``, and the answer
line at each target. It round-trips through :meth:`FitDocument.to_dict` / :meth:`FitDocument.from_dict`, and
every reader of a fit file (``scaling audit --law``, the planner's prior, a simulated sweep's surface) goes
through :func:`read_fit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from isoflop.errors import LawError, RecordError
from isoflop.laws.analyze import analyze
from isoflop.laws.answer import Answer, choose_answer
from isoflop.laws.backtest import Backtest
from isoflop.laws.result import AnalysisResult
from isoflop.laws.sensitivity import Sensitivity


@dataclass(frozen=True, eq=False)
class FitDocument:
    """One fit, whole.

    Attributes:
        result: the analysis.
        backtest: the held-out split of ``--holdout`` (None without one).
        sensitivity: the report of ``--sensitivity`` (None without one).
        answers: the answer line at each of the result's targets.
    """

    result: AnalysisResult
    backtest: Backtest | None = None
    sensitivity: Sensitivity | None = None
    answers: tuple[Answer, ...] = ()

    @classmethod
    def of(cls, result: AnalysisResult, backtest=None, sensitivity=None) -> FitDocument:
        """The document of an analysis, with the answer line at each of its targets."""
        return cls(result, backtest, sensitivity, tuple(choose_answer(result, c) for c in result.targets))

    def to_dict(self) -> dict:
        doc = self.result.to_dict()
        if self.backtest is not None:
            doc["backtest"] = self.backtest.to_dict()
        if self.sensitivity is not None:
            doc["sensitivity"] = self.sensitivity.to_dict()
        doc["answers"] = [a.to_dict() for a in self.answers]
        return doc

    @classmethod
    def from_dict(cls, doc: dict, where: str = "fit document") -> FitDocument:
        """Raises RecordError (naming ``where``) when the document is not a fit."""
        if not isinstance(doc, dict):
            raise RecordError(f"{where}: a fit document is a JSON object, not {type(doc).__name__}")
        try:
            bt, sens = doc.get("backtest"), doc.get("sensitivity")
            return cls(
                AnalysisResult.from_dict(doc, where),
                Backtest.from_dict(bt) if bt else None,
                Sensitivity.from_dict(sens) if sens else None,
                tuple(Answer.from_dict(a) for a in doc.get("answers") or ()),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError(f"{where}: not a fit document ({type(e).__name__}: {e})") from None


def fit_source(
    source: str | Path,
    *,
    table_options: dict | None = None,
    runs_only: bool = False,
    unique_tokens: float | None = None,
    holdout: int = 0,
    sensitivity: bool = False,
    progress=None,
    **analysis,
) -> FitDocument:
    """What ``scaling fit`` computes: the analysis of a table, a results folder or ``example:NAME``, with the
    backtest of its ``holdout`` largest budgets and the sensitivity report when asked, and the answers.

    Args:
        table_options: passed to :func:`isoflop.load_runs` (column names, filters, exclusions).
        runs_only: Approach 1's envelope from the runs' final points, not their loss curves.
        unique_tokens: the runs repeat a corpus of U unique tokens (fit D as the effective D').
        holdout: hold out the K largest budgets and score the predictions (0: no backtest).
        sensitivity: refit under every other reasonable choice (bootstrapped 200 times at most).
        progress: the bootstrap's progress callback.
        **analysis: passed to :func:`isoflop.analyze` (methods, targets, n_bootstrap, level, seed, ...).
    """
    import dataclasses

    from isoflop.laws.backtest import backtest
    from isoflop.laws.sensitivity import recounted_table
    from isoflop.laws.sensitivity import sensitivity as sensitivity_report
    from isoflop.laws.table_io import load_runs

    table_options = dict(table_options or {})
    runs = load_runs(source, **table_options)
    if runs_only:
        runs = dataclasses.replace(runs, curves=None)
    if unique_tokens:
        runs = runs.with_unique_tokens(unique_tokens)
    result = analyze(runs, progress=progress, **analysis)
    kw = {k: v for k, v in analysis.items() if k != "targets"}
    bt = backtest(runs, holdout, **kw) if holdout else None
    sens = None
    if sensitivity:
        rest = {k: v for k, v in kw.items() if k not in ("methods", "n_bootstrap", "level", "seed")}
        sens = sensitivity_report(
            runs,
            result,
            recounted=recounted_table(str(source), table_options, unique_tokens),
            n_bootstrap=min(analysis.get("n_bootstrap", 400), 200),
            seed=analysis.get("seed", 0),
            **rest,
        )
    return FitDocument.of(result, bt, sens)


def read_fit(path: str | Path) -> FitDocument:
    """The fit document in a file written by ``scaling fit --json``.

    Raises:
        LawError: no such file, a folder, not JSON, or not a fit; the message names the file.
    """
    p = Path(path)
    if not p.exists():
        raise LawError(f"{p}: file not found")
    if p.is_dir():
        raise LawError(f"{p}: a folder, not a fit: write one with `scaling fit {p} --json > fit.json`")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LawError(f"{p}: not valid JSON ({e})") from None
    except OSError as e:
        raise LawError(f"{p}: cannot be read ({e.strerror or e})") from None
    try:
        return FitDocument.from_dict(doc, str(p))
    except RecordError as e:
        raise LawError(str(e)) from None
