"""The log of an adaptive sweep: each check's :class:`Decision`, one JSON line each in ``adaptive.jsonl``.

A killed sweep resumes from this log (:func:`isoflop.design.adaptive.run_adaptive`); a torn last line (the kill
came mid-write) is dropped, a damaged line before it is a :class:`~isoflop.errors.RecordError`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from isoflop.errors import RecordError

LOG = "adaptive.jsonl"
ACTIONS = ("continue", "add-budget", "add-seed", "stop")


@dataclass(frozen=True)
class Decision:
    """One check of an adaptive sweep.

    Attributes:
        action: "continue" (run the next planned budget), "add-budget", "add-seed" or "stop".
        reason: why, in words.
        budgets_done: budgets finished when it was decided.
        budgets, seeds: the plan after the decision.
        width: method -> measured hi/lo of the 95% interval on N_opt at the target (absent before 3 budgets).
        predicted: move -> predicted widest interval after it (for extensions).
        cost_flops, cost_wall_s: spent so far (wall time: run time over the workers).
    """

    action: str
    reason: str
    budgets_done: int
    budgets: tuple[float, ...]
    seeds: int
    width: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    cost_flops: float = 0.0
    cost_wall_s: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["budgets"] = list(self.budgets)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str) -> Decision:
        try:
            out = cls(**{**d, "budgets": tuple(float(b) for b in d["budgets"])})
        except (TypeError, KeyError, ValueError) as e:
            raise RecordError(f"{where}: not an adaptive decision ({e})") from None
        if out.action not in ACTIONS:
            raise RecordError(f"{where}: unknown action {out.action!r}")
        return out


def read_log(root: str | Path) -> list[Decision]:
    """The decisions of an adaptive sweep folder (a torn last line, from a kill, is dropped)."""
    path = Path(root) / LOG
    if not path.exists():
        return []
    out = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        try:
            out.append(Decision.from_dict(json.loads(line), f"{path}: line {i + 1}"))
        except (json.JSONDecodeError, RecordError):
            if i == len(lines) - 1:
                break  # torn by a kill
            raise RecordError(f"{path}: line {i + 1} is damaged") from None
    return out


def append_decision(root: Path, d: Decision) -> None:
    """Append ``d`` to the sweep folder's log."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOG, "a") as f:
        f.write(json.dumps(d.to_dict()) + "\n")


@dataclass(frozen=True)
class AdaptiveResult:
    """The decisions an adaptive sweep logged, and the sweep (budgets, seeds) they led to."""

    decisions: tuple[Decision, ...]
    sweep: object

    @property
    def final(self) -> Decision:
        return self.decisions[-1]

    def summary(self) -> str:
        if not self.decisions:
            return f"no decision logged yet in {LOG}"
        d = self.final
        return f"{len(self.decisions)} decision(s) in {LOG}, the last '{d.action}' after {d.budgets_done} budgets"
