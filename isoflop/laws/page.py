"""The report page: one self-contained HTML file (or Markdown with its figures beside it) to send to a colleague.

It holds the answer and its intervals, the figures (PNG, embedded as data URIs in HTML), the sensitivity table,
the runs used and excluded with reasons, what the sweep cost, and a reporting checklist in the spirit of
"(Mis)Fitting: A Survey of Scaling Laws" (Li et al. 2025): the form fitted, how N, D and C were counted, the
optimiser, the data, the seeds, the uncertainty, and what was excluded.

Rendering is pure: :func:`render_html` and :func:`render_markdown` take a :class:`PageInput` and return text.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from typing import Any

from isoflop.laws.answer import NAMES, Answer, human
from isoflop.laws.report import laws_table, predictions_table, sensitivity_table, spread_lines
from isoflop.laws.result import PARAMETRIC, AnalysisResult
from isoflop.laws.text import num


@dataclass(frozen=True)
class PageInput:
    """Everything the page shows.

    Attributes:
        result: the analysis (with its targets).
        answers: the one-line answer at each target.
        figures: file name -> PNG bytes, in the order shown.
        sensitivity: the sensitivity report, or None when it was not computed.
        sweep: the sweep's resolved config (a sweep folder's sweep.json), or None for a plain table.
        cost: a :class:`~isoflop.runs.cost.FolderCost` of a sweep folder, or None.
        runs: rows of a sweep folder's runs that did not finish ok: (run_id, status, reason).
        generated: when and by what the page was made, in words.
    """

    result: AnalysisResult
    answers: tuple[Answer, ...]
    figures: dict = field(default_factory=dict)
    sensitivity: Any = None
    sweep: dict | None = None
    cost: Any = None
    runs: tuple = ()
    generated: str = ""


def excluded_rows(inp: PageInput) -> list[list[str]]:
    rows = [[f"row {e.index}", "excluded", e.reason] for e in inp.result.table.excluded]
    rows += [[f"row {e.index}", "screened (Approach 3, VPNLS)", e.reason] for e in inp.result.screened]
    rows += [[run_id, status, reason] for run_id, status, reason in inp.runs]
    return rows


def cost_lines(inp: PageInput) -> list[str]:
    c = inp.cost
    if c is None:
        return ["Not recorded: the table holds no wall times or trunk costs (a loss table, not a sweep folder)."]
    out = [
        f"{len(c.records)} finished runs; {num(c.flops)} FLOPs and {c.wall_s / 60:.1f} min of run time spent "
        "(summed over runs; divide by the workers that ran at once for wall-clock time)."
    ]
    if c.trunks:
        out.append(
            f"{c.trunks} WSD trunks, each trained once for all its budgets: as independent runs the same "
            f"runs would cost {num(c.independent_flops)} FLOPs and about {c.independent_wall_s / 60:.1f} min."
        )
    if c.damaged:
        out.append(f"{c.damaged} run folder(s) damaged (redone by the next `scaling sweep run`).")
    return out


def checklist(inp: PageInput) -> list[tuple[str, str]]:
    """(item, what this analysis did) for each point a reader needs to judge or repeat the fit."""
    a, t, sw = inp.result, inp.result.table, inp.sweep or {}
    forms = []
    if a.approach2 is not None:
        forms.append(
            "Approach 2: a quadratic in log10 N per IsoFLOP budget, its vertex the optimum; power laws "
            "N_opt = k·C^a and D_opt = k·C^b through the vertices"
        )
    if a.approach1 is not None:
        forms.append("Approach 1: the lower envelope of loss against C")
    for m in PARAMETRIC:
        f = a.fit(m) if m in a.fitted else None
        if f is not None:
            how = (
                f"Huber loss on log L, δ = {f.delta:g}, {f.n_starts} starts"
                if m == "approach3"
                else "variable projection, squared residuals"
            )
            forms.append(f"{NAMES[m]}: L = E + A/N^α + B/D^β ({how})")
    misfit = (
        "; ".join(
            f"{m}: F = {v['F']:.2f}, p = {v['p']:.2g}" + (" (fails)" if v["flagged"] else " (passes)")
            for m, v in a.misfit.items()
        )
        or "not tested (too few budgets or no parametric fit)"
    )
    train = sw.get("train", {}) if isinstance(sw.get("train"), dict) else {}
    optimiser = (
        (
            "AdamW, "
            + ", ".join(
                f"{k} = {v}"
                for k, v in (
                    ("schedule", sw.get("schedule")),
                    ("peak LR", train.get("lr", "the width rule")),
                    ("warmup_frac", train.get("warmup_frac")),
                    ("cooldown_frac", train.get("cooldown_frac")),
                    ("batch", f"{sw.get('batch_size')} × {sw.get('seq_len')} tokens" if sw.get("batch_size") else None),
                    ("lr_grid", sw.get("lr_grid")),
                )
                if v is not None
            )
        )
        if sw
        else "not recorded in the table"
    )
    data = f"corpus {sw.get('corpus')}, tokenizer {sw.get('tokenizer')}" if sw else "not recorded in the table"
    epochs = sorted(r.epochs for r in (inp.cost.records if inp.cost is not None else ()) if r.epochs)
    if epochs:
        data += (
            f"; passes over the training data per run: median {epochs[len(epochs) // 2]:.2g}, at most {epochs[-1]:.2g}"
        )
    if "unique_tokens" in (t.derived or "") or "effective" in t.grouping:
        data += "; D is Muennighoff et al.'s effective D' for repeated data"
    excl = (
        f"{len(t.excluded)} of {t.n_runs} rows"
        + (": " + "; ".join(sorted({e.reason.split(":")[0] for e in t.excluded})) if t.excluded else "")
        + (f"; {len(a.screened)} more left out of the parametric fits (off-centre)" if a.screened else "")
    )
    sn = a.seed_noise
    seeds = (f"{sw.get('seeds', 1)} per (N, C) point" if sw else "as in the table") + (
        f"; seed noise σ = {sn['sigma']:.3g} nats ({sn['sigma_log']:.2%})" if sn.get("dof") else ""
    )
    boot = (
        f"{a.n_bootstrap} bootstrap resamples, {a.level:.0%} percentile intervals"
        + (", calibrated per method" if a.calibrated else ", uncalibrated")
        if a.n_bootstrap
        else "no bootstrap"
    )
    top = float(t.budgets.max()) if t.budgets.size else float("nan")
    extrap = ", ".join(f"{c:.3g} FLOPs is {c / top:.3g}× the largest budget" for c in a.targets) or "no target"
    return [
        ("Functional form", "; ".join(forms) or "none fitted"),
        ("Lack-of-fit test of the parametric form", misfit),
        (
            "Counting of N, D and C",
            (a.counting.describe() if a.counting is not None else "-")
            + (f"; FLOPs convention {sw.get('flops_convention')}" if sw else "")
            + (f"; {t.derived} derived from C = 6ND" if t.derived else ""),
        ),
        ("Optimiser and schedule", optimiser),
        ("Data", data),
        ("Seeds", seeds),
        (
            "Budgets and runs",
            f"{t.budgets.size} budgets from {num(t.budgets.min()) if t.budgets.size else '-'} to "
            f"{num(top)} FLOPs, {t.n_used} runs used (grouped {t.grouping})",
        ),
        ("Extrapolation", extrap),
        ("Uncertainty", boot),
        ("Excluded", excl),
        ("Simulated rows", f"{t.simulated} rows drawn from a known surface, not trained" if t.simulated else "none"),
    ]


# -- HTML ----------------------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.answer{font-size:1.15em;background:#eef6ee;border-left:4px solid #3a3;padding:.6em}
.none{background:#fbeeee;border-left-color:#a33}figure{margin:1em 0}img{max-width:100%}figcaption{color:#555}
.meta{color:#666;font-size:.9em}"""


def _table_html(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(inp: PageInput) -> str:
    """The page as one HTML document; figures are embedded, so the file stands alone."""
    a, t = inp.result, inp.result.table
    e = html.escape
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Scaling-law report: {e(t.source)}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Scaling-law report</h1><p class=meta>{e(t.source)}: {t.n_runs} runs, {t.n_used} used, "
        f"{t.budgets.size} budgets. {e(inp.generated)}</p>",
        "<h2 id=answer>The answer</h2>",
    ]
    for ans in inp.answers:
        parts.append(f'<p class="answer{"" if ans.method else " none"}">{e(ans.line())}</p>')
    parts.append(_table_html(*predictions_table(a)))
    parts.append("<h3>Compute-optimal laws</h3>")
    parts.append(_table_html(*laws_table(a)))
    parts += [f"<p>note: {e(n)}</p>" for n in a.notes]
    parts += [f"<p>{e(m)}: not fitted: {e(err)}</p>" for m, err in a.errors.items()]
    parts.append("<h2 id=figures>Figures</h2>")
    for name, png in inp.figures.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img alt="{e(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(name)}</figcaption></figure>"
        )
    parts.append("<h2 id=sensitivity>Sensitivity</h2>")
    if inp.sensitivity is None:
        parts.append("<p>not computed</p>")
    else:
        parts.append(_table_html(*sensitivity_table(inp.sensitivity)))
        parts += [f"<p>{e(x)}</p>" for x in spread_lines(inp.sensitivity)]
        parts += [f"<p>warning: {e(w)}</p>" for w in inp.sensitivity.warnings]
    parts.append("<h2 id=runs>Runs used and excluded</h2>")
    parts.append(f"<p>{t.n_used} of {t.n_runs} runs used in the fits.</p>")
    parts.append(_table_html(["run", "status", "reason"], excluded_rows(inp)))
    parts.append("<h2 id=cost>Cost</h2>")
    parts += [f"<p>{e(x)}</p>" for x in cost_lines(inp)]
    parts.append("<h2 id=checklist>Reporting checklist</h2>")
    parts.append(_table_html(["item", "this analysis"], [list(r) for r in checklist(inp)]))
    parts.append("</body></html>")
    return "\n".join(parts)


# -- Markdown ------------------------------------------------------------------------------------------------------


def _table_md(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "none"
    cell = lambda x: str(x).replace("|", "\\|")  # noqa: E731
    return "\n".join(
        ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        + ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    )


def render_markdown(inp: PageInput, figure_dir: str) -> str:
    """The page as Markdown; figures are linked as ``figure_dir/NAME`` (the caller writes them there)."""
    a, t = inp.result, inp.result.table
    out = [
        "# Scaling-law report",
        "",
        f"{t.source}: {t.n_runs} runs, {t.n_used} used, {t.budgets.size} budgets. {inp.generated}",
        "",
        "## The answer",
        "",
    ]
    out += [f"**{ans.line()}**\n" for ans in inp.answers]
    out += [_table_md(*predictions_table(a)), "", "### Compute-optimal laws", "", _table_md(*laws_table(a)), ""]
    out += [f"note: {n}\n" for n in a.notes]
    out += ["## Figures", ""] + [f"![{name}]({figure_dir}/{name})\n" for name in inp.figures]
    out += ["## Sensitivity", ""]
    if inp.sensitivity is None:
        out.append("not computed")
    else:
        out += [_table_md(*sensitivity_table(inp.sensitivity)), "", *spread_lines(inp.sensitivity)]
    out += [
        "",
        "## Runs used and excluded",
        "",
        f"{t.n_used} of {t.n_runs} runs used in the fits.",
        "",
        _table_md(["run", "status", "reason"], excluded_rows(inp)),
        "",
        "## Cost",
        "",
        *cost_lines(inp),
        "",
        "## Reporting checklist",
        "",
        _table_md(["item", "this analysis"], [list(r) for r in checklist(inp)]),
        "",
    ]
    return "\n".join(out)


def default_target(budgets) -> float:
    """A report's budget when none is given: the power of ten at or above 100× the largest budget."""
    top = float(max(budgets))
    return float(10 ** math.ceil(math.log10(100 * top)))


__all__ = ["PageInput", "checklist", "default_target", "human", "render_html", "render_markdown"]
