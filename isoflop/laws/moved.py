"""How a change of training rules moves the scaling law: the same sweep trained under the old rules and under the
new (a fixed batch and η*(N) against the ladder's fitted B* and η*), each fitted as ``scaling fit`` fits it, and
set side by side: N_opt's exponent a by each method, with its bootstrap interval, and the answer at a target.

Both folders are read with the same filters (``where``; ``seed == 0`` compares one seed with one), and fitted with
the same methods, resamples and seed, so what differs is what the runs were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

from isoflop.laws.answer import Answer, choose_answer


@dataclass(frozen=True)
class RulesFit:
    """One folder's law under its rules.

    Attributes:
        label: what the rules were ("before", "after").
        source: the folder.
        runs, budgets: runs used and budgets fitted.
        a: method -> (a, its interval or None): N_opt ∝ C^a.
        answer: the answer line at the target.
    """

    label: str
    source: str
    runs: int
    budgets: int
    a: dict
    answer: Answer


@dataclass(frozen=True)
class RulesMoved:
    """The law before and after a change of rules, at one target budget."""

    target: float
    before: RulesFit
    after: RulesFit

    def lines(self) -> list[str]:
        """What ``scaling ladder --before --after`` prints."""
        out = []
        for f in (self.before, self.after):
            a = ", ".join(f"{m} {v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") for m, (v, ci) in f.a.items())
            out.append(f"{f.label} ({f.source}, {f.runs} runs at {f.budgets} budgets): a = {a}")
            out.append(f"  {f.answer.line()}")
        b, n = self.before.answer, self.after.answer
        if b.params and n.params:
            out.append(
                f"N_opt({self.target:.3g}) moved {n.params / b.params:.2f}x "
                f"({b.params:.3g} -> {n.params:.3g}) from the old rules to the new"
            )
        return out


def rules_fit(label: str, source: str, target: float, where: tuple = (), **analysis) -> RulesFit:
    """Fit one folder as ``scaling fit SOURCE --target C`` does (``analysis``: passed to
    :func:`isoflop.analyze`)."""
    from isoflop.laws.document import fit_source

    doc = fit_source(source, table_options={"where": tuple(where)}, targets=(target,), **analysis)
    r = doc.result
    return RulesFit(
        label,
        str(source),
        r.table.n_used,
        int(r.table.budgets.size),
        {m: r.params_exponent(m) for m in r.fitted},
        choose_answer(r, target),
    )


def rules_moved(before: str, after: str, target: float, where: tuple = (), **analysis) -> RulesMoved:
    """The law of the sweep folder ``before`` (trained under the old rules) and of ``after`` (the new), at budget
    ``target``.

    Raises:
        ConfigError, RecordError, FitError: as :func:`isoflop.laws.document.fit_source` does, naming the folder.
    """
    return RulesMoved(
        float(target),
        rules_fit("before", before, target, where, **analysis),
        rules_fit("after", after, target, where, **analysis),
    )
