"""The terminal reports of an analysis, its groups, its sensitivity and an audit.

The tables are drawn by :mod:`isoflop.laws.text` (plain, or rich on a terminal); a backtest's report is
:mod:`isoflop.laws.backtest_report`.
"""

from __future__ import annotations

import numpy as np

from isoflop.laws.audit import Audit
from isoflop.laws.result import PARAMETRIC, AnalysisResult
from isoflop.laws.text import interval_text, num, table


def _pct(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:+.2%}"


def laws_table(a: AnalysisResult) -> tuple[list[str], list[list[str]]]:
    """The compute-optimal laws of every fitted approach: (headers, rows), two rows (N_opt, D_opt) per approach."""
    pct = f"{a.level:.0%}"
    law_rows = []
    for m in ("approach1", "approach2", "approach2_corrected"):
        f = a.fit(m)
        if f is None or m not in a.fitted:
            continue
        f = f.fit if m == "approach2_corrected" else f
        for key, sym in (("params", "N_opt"), ("tokens", "D_opt")):
            law = getattr(f, f"{key}_law")
            law_rows.append(
                [
                    m,
                    f"{sym} = k*C^e",
                    num(law.exponent, 4),
                    interval_text(a.interval(m, f"{key}_exponent"), 4),
                    num(law.coefficient, 4),
                    num(law.r2, 4),
                    str(law.n_points),
                ]
            )
    for m in PARAMETRIC:
        f = a.fit(m)
        if f is None or m not in a.fitted:
            continue
        six = a.counting.is_6nd
        law_rows.append(
            [
                m,
                "N_opt = G*(C/6)^a" if six else "N_opt ~ C^a at large C",
                num(f.a, 4),
                interval_text(a.interval(m, "a"), 4),
                num(f.G, 4) if six else "-",
                "-",
                str(f.n_points),
            ]
        )
        law_rows.append(
            [
                m,
                "D_opt = C/(6 N_opt)" if six else "D_opt ~ C^b at large C",
                num(f.b, 4),
                interval_text(a.interval(m, "b"), 4),
                "-",
                "-",
                str(f.n_points),
            ]
        )
    return ["method", "law", "exponent", f"{pct} CI", "coefficient", "R2", "points"], law_rows


def predictions_table(a: AnalysisResult) -> tuple[list[str], list[list[str]]]:
    """N_opt, D_opt and the loss at every target by every fitted approach: (headers, rows); an interval on N_opt
    or D_opt over UNCONSTRAINED wide is labelled, not printed."""
    pct = f"{a.level:.0%}"
    rows = [
        [
            num(p["flops"]),
            p["method"],
            num(p["optimal_params"]),
            interval_text(p["params_ci"], positive=True),
            num(p["optimal_tokens"]),
            interval_text(p["tokens_ci"], positive=True),
            num(p["loss"], 4),
            interval_text(p["loss_ci"], 4),
        ]
        for p in a.predictions()
    ]
    return ["C (FLOPs)", "method", "N_opt", f"{pct} CI", "D_opt", f"{pct} CI", "loss", f"{pct} CI"], rows


def sensitivity_table(s) -> tuple[list[str], list[list[str]]]:
    """The answer under each choice of a sensitivity report: (headers, rows)."""
    rows = [
        [
            r.choice,
            r.variant,
            r.method,
            num(r.flops),
            num(r.optimal_params),
            interval_text(r.params_ci, positive=True),
            num(r.optimal_tokens),
            interval_text(r.tokens_ci, positive=True),
        ]
        for r in s.rows
    ]
    return ["choice", "variant", "method", "C (FLOPs)", "N_opt", "CI", "D_opt", "CI"], rows


def spread_lines(s) -> list[str]:
    """How far the answer moves over a sensitivity report's choices, one line per target."""
    return [
        f"spread at {c:g} FLOPs: N_opt {sp['params']:.3g}x, D_opt {sp['tokens']:.3g}x (largest / smallest); "
        f"without Approach 1: N_opt {sp['params_without_approach1']:.3g}x, "
        f"D_opt {sp['tokens_without_approach1']:.3g}x"
        for c, sp in s.spread.items()
    ]


def format_analysis(a: AnalysisResult) -> str:
    """The terminal report of ``scaling fit``."""
    t = a.table
    out = [f"{t.source}: {t.n_runs} runs, {t.n_used} used, {t.budgets.size} budgets (grouped {t.grouping})"]
    if t.derived:
        out.append(f"derived {t.derived} from C = 6ND")
    if t.excluded:
        out.append(f"excluded {len(t.excluded)} run(s):")
        out += [f"  row {e.index}: {e.reason}" for e in t.excluded]
    if a.screened:
        out.append(f"left out of Approach 3 and VPNLS ({len(a.screened)} run(s)):")
        out += [f"  row {e.index}: {e.reason}" for e in a.screened]
    out += [f"note: {n}" for n in a.notes]
    sn = a.seed_noise
    if sn.get("dof"):
        out.append(
            f"seed noise: sigma = {sn['sigma']:.4g} nats ({sn['sigma_log']:.2%} of the loss), pooled over "
            f"{sn['n_points']} (N, C) points with several runs ({sn['dof']} degrees of freedom); the "
            "bootstrap resamples points, then seeds within them"
        )
    pct = f"{a.level:.0%}"
    if a.approach2 is not None:
        out.append("\nApproach 2 (IsoFLOP parabolas)")
        rows = [
            [
                num(b.flops),
                str(b.n_points),
                num(b.optimal_params),
                num(b.optimal_tokens),
                num(b.min_loss, 4),
                num(b.curvature),
                num(b.residual_rms, 2),
                b.status + (f": {b.reason}" if b.reason else ""),
            ]
            for b in a.approach2.budgets
        ]
        out.append(table(["C (FLOPs)", "runs", "N*", "D*", "L*", "curv", "rms", "status"], rows))
    if a.approach1 is not None:
        f1 = a.approach1
        out.append(f"\nApproach 1 ({f1.source}): {f1.flops.size} points")
    fc = a.approach2_corrected
    if fc is not None:
        out.append(
            f"\nApproach 2's grid bias, measured on the {fc.surface} surface at the table's own points"
            + (f" ({', '.join(fc.flags)})" if fc.flags else "")
        )
        rows = [
            [
                num(b.flops),
                num(b.position, 2),
                f"{b.span:.3g}x",
                ", ".join(b.flags) or "-",
                _pct(b.params_bias),
                _pct(b.tokens_bias),
            ]
            for b in fc.budgets
        ]
        out.append(table(["C (FLOPs)", "vertex at", "span", "grid", "N* bias", "D* bias"], rows))
        out.append(
            "vertex at: 0 = smallest size sampled, 1 = largest; approach2_corrected divides each vertex by (1 + bias)"
        )
    for m in PARAMETRIC:
        f = a.fit(m)
        if f is None or m not in a.fitted:
            continue
        how = (
            f"Huber on log loss, delta={f.delta:g}, {f.n_starts} starts"
            if m == "approach3"
            else f"variable projection, squared loss residuals, {f.n_starts} grid points"
        )
        out.append(
            f"\n{'Approach 3' if m == 'approach3' else 'VPNLS'} (L = E + A/N^alpha + B/D^beta, {how}, "
            f"{f.n_points} runs)"
        )
        rows = [
            [k, num(getattr(f, k), 5), interval_text(a.interval(m, k), 4)]
            for k in ("E", "A", "B", "alpha", "beta", "a", "b")
        ]
        out.append(table(["param", "estimate", f"{pct} CI"], rows))
        out.append(f"objective {f.objective:.6g}; {f.message}")
    if any(m in a.fitted for m in PARAMETRIC):
        out.append(
            f"parametric optima under {a.counting.describe()}"
            + (
                ""
                if a.counting.is_6nd
                else "; N_opt = argmin over N of L(N, C/c(N)), whose exponent tends to beta/(alpha+beta) as C grows"
            )
        )
    law_head, law_rows = laws_table(a)
    if law_rows:
        out.append("\nCompute-optimal laws")
        out.append(table(law_head, law_rows))
    for m, err in a.errors.items():
        out.append(f"{m}: not fitted: {err}")
    head, rows = predictions_table(a)
    if rows:
        out.append("\nPredictions")
        out.append(table(head, rows))
    if a.n_bootstrap:
        how = "points, then seeds, within budgets" if a.seed_noise.get("dof") else "within budgets"
        out.append(f"\n{a.n_bootstrap} bootstrap resamples ({how}, seed {a.seed}); percentile intervals")
    else:
        out.append("\nno bootstrap (--bootstrap 0): no intervals")
    return "\n".join(out)


def format_groups(by: str, groups) -> str:
    """The terminal report of ``scaling fit --by``: one row per group and fitted method."""
    rows = []
    for g in groups:
        a = g.result
        if a is None:
            rows.append([g.value, "-", "-", "-", "-", "-", f"not fitted: {g.error}"])
            continue
        for m in a.fitted:
            e, ci = a.params_exponent(m)
            preds = [a.prediction(m, c) for c in a.targets]
            pred = "; ".join(
                f"{num(p['flops'])}: {num(p['optimal_params'])} {interval_text(p['params_ci'], positive=True)}"
                for p in preds
            )
            rows.append(
                [
                    g.value,
                    str(a.table.n_used),
                    str(a.table.budgets.size),
                    m,
                    num(e, 4),
                    interval_text(ci, 4),
                    pred or "-",
                ]
            )
        for m, err in a.errors.items():
            rows.append([g.value, str(a.table.n_used), str(a.table.budgets.size), m, "-", "-", f"not fitted: {err}"])
    return table([by, "runs", "budgets", "method", "a", "CI", "N_opt at targets [CI]"], rows)


def format_sensitivity(s) -> str:
    """The sensitivity report of ``scaling fit --sensitivity``."""
    out = ["\nSensitivity: the answer under each choice (refits bootstrapped at most 200 times)"]
    out.append(table(*sensitivity_table(s)))
    out += spread_lines(s)
    out += [f"warning: {w}" for w in s.warnings]
    out += [f"missing: {m}" for m in s.missing]
    out += [f"not fitted: {e}" for e in s.errors]
    return "\n".join(out)


def _opt_ci(ci) -> str:
    return f" {interval_text(ci)}" if ci else ""


_DERIVED = {"params": "N", "tokens": "D", "flops": "C"}


def format_audit(a: Audit) -> str:
    """The terminal report of ``scaling audit``."""
    lines = [
        f"law: {a.law}",
        f"run: N = {a.n_params:.3g} parameters, D = {a.n_tokens:.3g} tokens, C = {a.flops:.3g} FLOPs, "
        f"{a.tokens_per_param:.3g} tokens per parameter"
        + (f" ({_DERIVED[a.derived]} derived from the other two, C = 6ND)" if a.derived else ""),
        f"compute-optimal at {a.flops:.3g} FLOPs: N_opt = {a.optimal_params:.3g}{_opt_ci(a.params_ci)}, "
        f"D_opt = {a.optimal_tokens:.3g}{_opt_ci(a.tokens_ci)} "
        f"({a.optimal_tokens / a.optimal_params:.3g} tokens per parameter)",
    ]
    if a.loss is not None and a.optimal_loss is not None:
        lines.append(
            f"predicted loss: this run {a.loss:.4f}, the optimum {a.optimal_loss:.4f} nats/token "
            f"({a.loss - a.optimal_loss:+.4f})"
        )
    lines.append(a.sentence)
    return "\n".join(lines)
