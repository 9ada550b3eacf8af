"""The terminal reports of a backtest: one split (``scaling fit --holdout K``) and the rolling-origin splits
pooled over tables (``scaling backtest``)."""

from __future__ import annotations

from isoflop.laws.backtest import Backtest
from isoflop.laws.text import interval_text, num, table


def format_backtest(b: Backtest) -> str:
    """The terminal report of ``scaling fit --holdout K``."""
    out = [
        f"\nBacktest: fitted on {len(b.train_budgets)} budgets up to {num(max(b.train_budgets))} FLOPs, "
        f"held out the {b.holdout} largest"
    ]
    rows = []
    inside = lambda v: "-" if v is None else ("yes" if v else "NO")  # noqa: E731
    for r in b.rows:
        vci = r.observed.params_ci
        rows.append(
            [
                num(r.flops),
                r.method + (f" ({r.chosen})" if r.chosen else ""),
                num(r.predicted_params),
                interval_text(r.params_ci, positive=True),
                num(r.observed_params),
                interval_text(vci) if vci else "-",
                f"{r.params_error:+.1%}",
                inside(r.params_inside),
                inside(r.params_inside_allowing),
                num(r.predicted_loss, 4),
                num(r.observed_loss, 4),
                f"{r.loss_error:+.2%}",
            ]
        )
    out.append(
        table(
            [
                "C (FLOPs)",
                "method",
                "N pred",
                "95% CI",
                "N vertex",
                "its 95% CI",
                "N err",
                "in CI",
                "allowing",
                "L pred",
                "L obs",
                "L err",
            ],
            rows,
        )
    )
    out += [f"not scored: {u}" for u in b.unscored]
    return "\n".join(out)


def format_backtest_report(r) -> str:
    """The terminal report of ``scaling backtest``: per split and method, pooled over the tables."""
    n = len(r.tables)
    out = [f"Backtest of {r.source}" + (f", each value of '{r.by}' on its own ({n} tables)" if r.by else "")]
    rows = []
    for s in r.summaries():
        rows.append(
            [
                s.split,
                s.method,
                f"{s.covered}/{s.n}",
                f"{s.covered_allowing}/{s.n}",
                f"{s.tokens_covered}/{s.tokens_covered_allowing}/{s.n}",
                *(
                    f"{x:.1%}"
                    for x in (s.params_median_error, s.params_worst_error, s.tokens_median_error, s.tokens_worst_error)
                ),
                f"{s.median_width:.2f}x",
                "-" if not s.in_answer else f"{s.in_answer_covered}/{s.in_answer_covered_allowing}/{s.in_answer}",
                "-" if not s.in_answer else f"{s.in_answer_median_error:.1%}",
            ]
        )
    out.append(
        table(
            [
                "split",
                "method",
                "covered",
                "allowing vertex",
                "D covered/allowing",
                "N med |err|",
                "N worst",
                "D med |err|",
                "D worst",
                "median width",
                "in answer: covered/allowing/n",
                "its med |err|",
            ],
            rows,
        )
    )
    out.append(
        "covered: the 95% interval on N_opt holds the held-out budget's own IsoFLOP vertex (D covered: the "
        "interval on D_opt, its D vertex). allowing vertex: "
        "each side of the interval widened by the vertex's own 95% half-width (the wider of its parabola "
        "refitted to losses redrawn with the budget's own residual scatter, and the delete-one-run jackknife), "
        "in quadrature. in answer: the same counts over "
        "the budgets where the answer line stood on the method (after its checks set it aside or not), and the "
        "median |error| of N_opt there."
    )
    for name, rb in r.tables.items():
        for sp, why in rb.errors.items():
            out.append(f"not run: {name} {sp}: {why}")
        for b in rb.splits:
            out += [f"not scored: {name} {b.split}: {u}" for u in b.unscored]
    out += [f"not backtested: {name}: {why}" for name, why in r.errors.items()]
    return "\n".join(out)
