"""``scaling ladder``: fit the LR rule η*(N) to a ladder sweep's runs (or, for a ladder over batch sizes too, the
rules η*(N, D, B) and B*(D, C, N)), print it, and optionally save it."""

from __future__ import annotations

import math
from pathlib import Path

import click


@click.command("ladder")
@click.argument("results", type=click.Path())
@click.argument("more", nargs=-1, type=click.Path())
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help='Write the ladder and its rule as JSON here (a sweep can then say lr = "fitted:FILE").',
)
@click.option("--figure", "figure", type=click.Path(dir_okay=False), help="Draw the ladder to this PNG.")
@click.option(
    "--before",
    type=click.Path(),
    help="With --after: a sweep folder trained under the old rules, to say how a and N_opt move under the new.",
)
@click.option("--after", type=click.Path(), help="With --before: the same sweep trained under the ladder's rules.")
@click.option(
    "--target", type=float, default=1e15, show_default=True, help="With --before/--after: the budget C of N_opt."
)
@click.option("--where", multiple=True, metavar="COL=VALUE", help="With --before/--after: rows kept in both (seed=0).")
def ladder_cmd(results, more, out, figure, before, after, target, where):
    """Fit the best peak LR of each size in a ladder sweep (one made with lr_grid), and the law eta*(N).

    A batch ladder (made with batch_grid too) may be followed by MORE folders that extend it (another size or
    budget on an LR grid): their runs are pooled with its own, and its fixed batch is the first folder's.
    """
    from isoflop.errors import ConfigError
    from isoflop.laws.ladder import is_batch_ladder

    if bool(before) != bool(after):
        raise ConfigError("--before and --after: give both (the sweep under the old rules and under the new)")
    if is_batch_ladder(results):
        _hparam_report((results, *more), out)
    else:
        _lr_report(results, more, out, figure)
    if before:
        from isoflop.laws.moved import rules_moved

        for line in rules_moved(before, after, target, where).lines():
            click.echo(line)


def _lr_report(results, more, out, figure) -> None:
    """An LR ladder: each (size, budget) point, the rule eta*(N), and how the LR moves the IsoFLOP vertices."""
    from isoflop.errors import ConfigError
    from isoflop.jsonio import write_json_atomic
    from isoflop.laws.ladder import ladder_doc, ladder_vertices, load_ladder, plot_ladder
    from isoflop.runs.store import read_manifest

    if more:
        raise ConfigError(f"{results}: not a batch ladder, so no other folder can extend it ({', '.join(more)})")
    fit = load_ladder(results)
    click.echo(
        f"LR ladder {results}: {len(fit.points)} (size, budget) points, {len(fit.used)} with an optimum "
        "inside their grid"
    )
    click.echo(f"{'N':>10s} {'budget':>9s} {'LRs':>4s} {'best LR':>9s} {'loss':>7s}  status")
    for q in fit.points:
        best = f"{q.lr_opt:9.3g}" if math.isfinite(q.lr_opt) else f"{'-':>9s}"
        loss = f"{q.loss_opt:7.4f}" if math.isfinite(q.loss_opt) else f"{min(q.losses):7.4f}"
        click.echo(
            f"{q.n_params:10.3g} {q.budget:9.2g} {len(q.lrs):4d} {best} {loss}  "
            f"{q.status}{': ' + q.reason if q.reason else ''}"
        )
    click.echo(f"rule: {fit.rule.describe()}" if fit.rule else f"no rule: {fit.message}")
    grid = tuple((read_manifest(results) or {}).get("lr_grid") or ())
    moved = ladder_vertices(fit, grid)
    _echo_moved(moved, {"base": "the base LR", "best": "each size's best LR"})
    for path in (out, figure):
        if path and Path(path).parent and not Path(path).parent.exists():
            try:
                Path(path).parent.mkdir(parents=True)
            except OSError as e:
                raise ConfigError(f"{path}: cannot create its folder ({e.strerror})") from None
    try:
        if out:
            write_json_atomic(Path(out), {**ladder_doc(fit), "lr_grid": list(grid), "isoflop_vertices": moved})
            click.echo(f"wrote {out}")
        if figure:
            plot_ladder(fit, figure)
            click.echo(f"wrote {figure}")
    except OSError as e:
        raise ConfigError(f"{out or figure}: cannot write ({e.strerror})") from None


def _hparam_report(folders: tuple, out) -> None:
    """A ladder over LRs and batch sizes (in ``folders``, pooled): every cell, the two rules with the forms they
    beat, and what the first folder's fixed batch gave up."""
    from isoflop.errors import ConfigError
    from isoflop.jsonio import finite_json, write_json_atomic
    from isoflop.laws.ladder import batch_vertices, fixed_batch_costs, fixed_batch_of, hparam_doc, load_hparam_ladder

    fit = load_hparam_ladder(folders)
    fixed = fixed_batch_of(folders[0])
    click.echo(
        f"LR and batch ladder {', '.join(folders)}: {len(fit.cells)} (size, budget) cells, {len(fit.used)} with a best batch "
        "inside their grid; batches in tokens per step"
    )
    click.echo(f"{'N':>10s} {'budget':>9s} {'D':>9s} {'batch':>7s} {'best LR':>9s} {'loss':>7s}  status")
    for c in fit.cells:
        for b, q in zip(c.batches, c.lr_points):
            best = f"{q.lr_opt:9.3g}" if math.isfinite(q.lr_opt) else f"{'-':>9s}"
            loss = f"{q.loss_opt:7.4f}" if math.isfinite(q.loss_opt) else f"{min(q.losses):7.4f}"
            click.echo(
                f"{c.n_params:10.3g} {c.budget:9.2g} {c.tokens:9.3g} {b:7.0f} {best} {loss}  "
                f"{q.status}{': ' + q.reason if q.reason else ''}"
            )
        bo = f"B* = {c.batch_opt:.0f} (loss {c.loss_opt:.4f})" if c.status == "ok" else f"no B*: {c.reason}"
        click.echo(f"{'':>10s} {'':>9s} {'':>9s} {bo}")
    for name, key, rule in (("LR", "lr", fit.lr_rule), ("batch", "batch", fit.batch_rule)):
        if rule is None:
            click.echo(f"no {name} rule: {fit.messages.get(key)}")
            continue
        click.echo(f"{name} rule: {rule.describe()}")
        forms = ", ".join(
            f"{'(' + ', '.join(f) + ')'} {e:.3f}" if math.isfinite(e) else f"{'(' + ', '.join(f) + ')'} -"
            for f, e in rule.forms
        )
        click.echo(f"  forms by leave-one-cell-out error (decades): {forms}")
    if fixed:
        for r in fixed_batch_costs(fit, fixed):
            t = (
                f"; training its {r['tokens']:.3g} tokens takes {r['seconds_opt'] / r['seconds_fixed']:.2f}x the "
                "fixed batch's time"
                if math.isfinite(r["seconds_fixed"]) and math.isfinite(r["seconds_opt"])
                else ""
            )
            against = f"the grid's best batch {r['batch_opt']:.0f}" if r["at_least"] else f"B* = {r['batch_opt']:.0f}"
            lr_edge = " (its best LR lies beyond the LR grid)" if r["lr_edge"] else ""
            click.echo(
                f"fixed batch {fixed:.0f}{lr_edge} at N = {r['n_params']:.3g}, C = {r['budget']:.2g}: "
                f"{r['loss_given_up']:+.4f} nats against {against}{t}"
            )
        _echo_moved(batch_vertices(fit, fixed), {"fixed": "the fixed batch", "best": "each size's best batch"})
    if out:
        try:
            write_json_atomic(Path(out), finite_json(hparam_doc(fit, fixed)))
        except OSError as e:
            raise ConfigError(f"{out}: cannot write ({e.strerror})") from None
        click.echo(f"wrote {out}")


def _echo_moved(moved: dict | None, labels: dict[str, str]) -> None:
    """The IsoFLOP vertices under each rule and N_opt's exponent a between the budgets (``labels``: rule -> how
    the report names it, in the order printed)."""
    if not moved:
        return
    first, second = labels
    for c, v in moved["vertices"].items():
        click.echo(
            f"IsoFLOP vertex at {c} FLOPs: N = {v[first]:.3g} at {labels[first]}, {v[second]:.3g} at {labels[second]}"
        )
    click.echo(
        f"N_opt's exponent a between those budgets: {moved['a'][first]:.2f} at {labels[first]}, "
        f"{moved['a'][second]:.2f} at {labels[second]}"
    )
