"""Command-line interface: thin wrappers over the public API.

Library errors become one-line messages with exit code 2 (bad input), never
tracebacks.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from scaling.analysis import analyze
from scaling.backtest import backtest
from scaling.audit import LawError, audit_run, load_law, preset_law
from scaling.results import finite_json
from scaling.tables import EXAMPLES, TableError, load_runs, read_grid


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


def _flops(ctx, param, values):
    out = []
    for v in values if isinstance(values, tuple) else [values]:
        if v is None:
            continue
        try:
            x = float(v)
        except ValueError:
            raise click.BadParameter(f"'{v}' is not a number of FLOPs") from None
        if not x > 0:
            raise click.BadParameter(f"'{v}' must be positive")
        out.append(x)
    return tuple(out) if isinstance(values, tuple) else (out[0] if out else None)


@click.group()
@click.version_option(package_name="scaling")
def main():
    """Compute-optimal scaling laws: fit loss tables, audit runs."""


@main.command()
@click.argument("table", required=False)
@click.option("--example", type=click.Choice(sorted(EXAMPLES)), help="Use a built-in table instead of a file.")
@click.option("--target", "targets", multiple=True, callback=_flops, help="Budget C (FLOPs) to predict at; repeatable.")
@click.option("--method", "methods", multiple=True, default=("all",), show_default=True,
              help="approach1, approach2, approach3 or all; repeatable or comma-separated.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples (0: no intervals).")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True,
              help="Interval coverage.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--holdout", type=click.IntRange(min=0), default=0, help="Backtest: hold out the K largest budgets.")
@click.option("--allow-edge", is_flag=True, help="Let Approach 2 use budgets whose vertex is outside the sampled sizes.")
@click.option("--drop-highest", type=click.IntRange(min=0), default=0, help="Exclude the K highest-loss runs.")
@click.option("--group-tol", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Relative FLOP tolerance for grouping runs into budgets (without a budget column).")
@click.option("--huber-delta", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Approach 3 Huber threshold on log loss.")
@click.option("--params-col", help="Column holding N (parameters).")
@click.option("--tokens-col", help="Column holding D (tokens).")
@click.option("--flops-col", help="Column holding C (FLOPs).")
@click.option("--loss-col", help="Column holding the final loss.")
@click.option("--budget-col", help="Column holding the nominal budget used for grouping.")
@click.option("--envelope", type=click.Choice(["curves", "runs"]), default="curves", show_default=True,
              help="Approach 1 from training curves when the table has them, or from each budget's lowest run.")
@click.option("--recount", type=click.Choice(["as-run", "6N"]), default="as-run", show_default=True,
              help="Sweep folders: recount N and C as Kaplan's 6N (non-embedding N, C = 6ND).")
@click.option("--init-grid", type=click.Path(dir_okay=False),
              help="Approach 3 starting points: a CSV with columns a, b, e, alpha, beta (default: Chinchilla's 4,500).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of tables.")
@click.option("--plot-dir", type=click.Path(file_okay=False), help="Write PNG figures here.")
def fit(table, example, targets, methods, n_bootstrap, level, seed, holdout, allow_edge, drop_highest, group_tol,
        huber_delta, params_col, tokens_col, flops_col, loss_col, budget_col, envelope, recount, init_grid, as_json,
        plot_dir):
    """Fit compute-optimal laws to a loss table (CSV, JSON, JSON Lines, Parquet) or a sweep's results folder."""
    if (table is None) == (example is None):
        raise click.UsageError("give a TABLE file or --example NAME (not both)")
    src = table if table is not None else f"example:{example}"
    try:
        runs = load_runs(src, params_col=params_col, tokens_col=tokens_col, flops_col=flops_col, loss_col=loss_col,
                         budget_col=budget_col, group_tol=group_tol, drop_highest=drop_highest, recount=recount)
        if envelope == "runs":
            runs = dataclasses.replace(runs, curves=None)
        grid = read_grid(init_grid) if init_grid else None
        kw = dict(methods=methods, n_bootstrap=n_bootstrap, level=level, seed=seed, allow_edge=allow_edge,
                  delta=huber_delta, init_grid=grid)
        result = analyze(runs, targets=targets, **kw)
        bt = backtest(runs, holdout, **kw) if holdout else None
    except (TableError, ValueError) as e:
        raise InputError(str(e)) from None
    if as_json:
        doc = result.to_dict()
        if bt is not None:
            doc["backtest"] = bt.to_dict()
        click.echo(json.dumps(finite_json(doc), indent=1, allow_nan=False))
    else:
        from scaling.report import format_analysis, format_backtest

        click.echo(format_analysis(result))
        if bt is not None:
            click.echo(format_backtest(bt))
    if plot_dir:
        from scaling.plots import save_figures

        for p in save_figures(result, plot_dir):
            click.echo(f"wrote {p}", err=as_json)


@main.command()
@click.option("--params", "n_params", type=float, required=True, help="N, the run's parameters.")
@click.option("--tokens", "n_tokens", type=float, required=True, help="D, the run's training tokens.")
@click.option("--flops", type=float, default=None, help="C in FLOPs (default 6ND).")
@click.option("--law", "law_path", type=click.Path(dir_okay=False), help="JSON written by 'scaling fit --json'.")
@click.option("--preset", type=click.Choice(["chinchilla", "epoch"]), help="A published parametric fit.")
@click.option("--method", type=click.Choice(["approach1", "approach2", "approach3"]),
              help="Which approach of --law to use (default: approach3, else 2, else 1).")
@click.option("--tolerance", type=click.FloatRange(min=1), default=1.1, show_default=True,
              help="Factor within which a run counts as optimal when the law has no interval.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(n_params, n_tokens, flops, law_path, preset, method, tolerance, as_json):
    """Is a run of N parameters on D tokens compute-optimal?"""
    if (law_path is None) == (preset is None):
        raise click.UsageError("give exactly one of --law FIT.json or --preset NAME")
    try:
        law = preset_law(preset) if preset else load_law(law_path, method)
        res = audit_run(n_params, n_tokens, law, flops=flops, tolerance=tolerance)
    except (LawError, ValueError) as e:
        raise InputError(str(e)) from None
    if as_json:
        click.echo(json.dumps(finite_json(res.__dict__), indent=1, allow_nan=False))
    else:
        from scaling.report import format_audit

        click.echo(format_audit(res))


def _with(options):
    """Apply a list of click options/arguments in the order listed."""
    def deco(f):
        for o in reversed(options):
            f = o(f)
        return f
    return deco


#: --params or --n-layers/--d-model/--n-heads, plus sequence and position options.
_shape_options = _with([
    click.option("--params", "n_params", type=float, help="Target parameter count: the nearest clean shape of the family."),
    click.option("--n-layers", type=click.IntRange(min=1), help="Depth; alone, width and heads follow the family's rule."),
    click.option("--d-model", type=click.IntRange(min=1), help="Width (with --n-layers)."),
    click.option("--n-heads", type=click.IntRange(min=1), help="Attention heads (with --d-model)."),
    click.option("--seq-len", type=click.IntRange(min=1), default=256, show_default=True, help="Context length T."),
    click.option("--pos", "pos_encoding", type=click.Choice(["rotary", "learned", "sinusoidal"]), default="rotary",
                 show_default=True, help="Position encoding."),
    click.option("--untied", is_flag=True, help="Do not tie the output head to the token embedding."),
])


def _model_config(n_params, n_layers, d_model, n_heads, seq_len, vocab_size, pos_encoding, untied):
    from scaling.config import HEAD_DIM, ModelConfig

    kw = dict(vocab_size=vocab_size, seq_len=seq_len, pos_encoding=pos_encoding, tie_embeddings=not untied)
    if n_params is not None:
        if n_layers or d_model or n_heads:
            raise click.UsageError("give --params or --n-layers/--d-model/--n-heads, not both")
        return ModelConfig.from_params(n_params, **kw)
    if n_layers is None:
        raise click.UsageError("give a shape: --params N, or --n-layers L [--d-model D --n-heads H]")
    if d_model is None:
        if n_heads is not None:
            raise click.UsageError("--n-heads needs --d-model")
        return ModelConfig.from_depth(n_layers, **kw)
    heads = n_heads if n_heads is not None else max(1, d_model // HEAD_DIM)
    return ModelConfig(n_layers=n_layers, d_model=d_model, n_heads=heads, **kw)


@main.command()
@_shape_options
@click.option("--vocab-size", type=click.IntRange(min=1), default=256, show_default=True, help="Vocabulary V.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def flops(n_params, n_layers, d_model, n_heads, seq_len, pos_encoding, untied, vocab_size, as_json):
    """Parameters and training FLOPs per token of a shape, under every convention."""
    from scaling.flops import all_flops_per_token, param_counts

    try:
        cfg = _model_config(n_params, n_layers, d_model, n_heads, seq_len, vocab_size, pos_encoding, untied)
    except ValueError as e:
        raise InputError(str(e)) from None
    pc = param_counts(cfg)
    fpt = all_flops_per_token(cfg)
    if as_json:
        click.echo(json.dumps({"model": cfg.to_dict(), "params": {"total": pc.total, "embedding": pc.embedding,
                               "non_embedding": pc.non_embedding}, "flops_per_token": fpt}, indent=1))
        return
    click.echo(f"shape: n_layers={cfg.n_layers} d_model={cfg.d_model} n_heads={cfg.n_heads} seq_len={cfg.seq_len} "
               f"vocab={cfg.vocab_size} pos={cfg.pos_encoding} {'tied' if cfg.tie_embeddings else 'untied'}")
    click.echo(f"params: total {pc.total:,}  embedding {pc.embedding:,}  non-embedding {pc.non_embedding:,}")
    for k, v in fpt.items():
        click.echo(f"training FLOPs/token [{k}]: {v:,.0f}  ({v / fpt['chinchilla']:.2f}x chinchilla)")


@main.command("train")
@_shape_options
@click.option("--budget", type=float, required=True, help="Compute budget C in FLOPs.")
@click.option("--data", "corpus", default="shakespeare", show_default=True,
              help="shakespeare, text:PATH, piglatin or synthetic.")
@click.option("--tokenizer", default="byte", show_default=True, help="byte or bpe:VOCAB (e.g. bpe:4096).")
@click.option("--out", type=click.Path(file_okay=False), help="Write DIR/result.json here.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ...")
@click.option("--dtype", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help="Use torch.compile.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Sequences per step.")
@click.option("--lr", type=float, help="Peak learning rate (default: the width rule).")
@click.option("--flops-convention", type=click.Choice(["6N", "6N+attn", "chinchilla"]), default="chinchilla",
              show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for the run.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--peak-tflops", type=float, help="Peak TFLOP/s of the hardware, for MFU.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Corpus cache (default ~/.cache/scaling).")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
def train_cmd(n_params, n_layers, d_model, n_heads, seq_len, pos_encoding, untied, budget, corpus, tokenizer, out,
              device, dtype, compile_, batch_size, lr, flops_convention, threads, seed, peak_tflops, cache_dir, as_json):
    """Train one model to exactly the steps a FLOP budget buys; write its result record."""
    from scaling.data import DataError, load_corpus
    from scaling.train import TrainConfig, plan_run, train

    try:
        data = load_corpus(corpus, tokenizer, cache_dir)
        cfg = _model_config(n_params, n_layers, d_model, n_heads, seq_len, data.vocab_size, pos_encoding, untied)
        tcfg = TrainConfig(batch_size=batch_size, lr=lr, flops_convention=flops_convention, dtype=dtype,
                           compile=compile_, threads=threads)
        plan = plan_run(budget, cfg, batch_size, flops_convention)
    except (DataError, ValueError) as e:
        raise InputError(str(e)) from None
    click.echo(f"{data.name} ({data.tokenizer}, {data.train.size:,} training tokens); model {cfg.n_layers}x{cfg.d_model}, "
               f"{plan.steps} steps of {plan.tokens_per_step} tokens = {plan.tokens:,} tokens, {plan.flops:.3g} FLOPs",
               err=as_json)
    try:
        res = train(cfg, budget, data, tcfg, device=device, seed=seed,
                    peak_flops=peak_tflops * 1e12 if peak_tflops else None,
                    cache_dir=cache_dir or None, progress=_progress_printer(err=as_json))
    except ValueError as e:
        raise InputError(str(e)) from None
    if out:
        path = res.write(Path(out) / "result.json")
        click.echo(f"wrote {path}", err=as_json)
    if as_json:
        click.echo(json.dumps(finite_json(res.to_dict()), indent=1))
    else:
        vl = f"{res.val_loss:.4f} nats/token, {res.val_bpb:.4f} bits/byte" if res.val_loss is not None else "-"
        mfu = f"{res.mfu:.1%}" if res.mfu is not None else "unknown peak"
        click.echo(f"status {res.status}; val loss {vl}; {res.tokens:,} tokens, {res.flops:.4g} FLOPs in "
                   f"{res.wall_time_s:.1f} s; {res.tokens_per_second or 0:,.0f} tokens/s; MFU {mfu}")
        if res.error:
            click.echo(f"error: {res.error.splitlines()[0]}")
        for w in res.warnings:
            if not w.startswith("Traceback"):
                click.echo(f"warning: {w}")
    if res.status == "failed":
        sys.exit(1)


def _progress_printer(err: bool):
    """Live progress on a terminal (one rewritten line), plain periodic lines elsewhere."""
    live = sys.stderr.isatty() if err else sys.stdout.isatty()
    last = {"t": 0.0}

    def show(p: dict) -> None:
        import time

        msg = (f"step {p['step']}/{p['steps']}  loss {p['loss']:.4f}  lr {p['lr']:.2e}  "
               f"{p['tokens_per_second']:,.0f} tok/s  ETA {p['eta_s']:.0f}s")
        if live:
            click.echo("\r" + msg + " " * 8, nl=p["step"] == p["steps"], err=err)
        elif p["step"] == p["steps"] or time.monotonic() - last["t"] > 10:
            last["t"] = time.monotonic()
            click.echo(msg, err=err)

    return show


@main.group()
def sweep():
    """Run and inspect model-size x FLOP-budget sweeps."""


_sweep_common = [
    click.argument("sweep_file", type=click.Path(dir_okay=False)),
    click.option("--set", "overrides", multiple=True, help="Override a key: --set seq_len=64, --set train.lr=1e-3."),
    click.option("--results", "results_root", default="results", show_default=True, help="Folder of sweep results."),
]


def _load_sweep(sweep_file, overrides):
    from scaling.sweep import SweepError, load_sweep

    try:
        return load_sweep(sweep_file, tuple(overrides))
    except SweepError as e:
        raise InputError(str(e)) from None


@sweep.command("run")
@_with(_sweep_common)
@click.option("--executor", type=click.Choice(["local", "ray", "slurm"]), default="local", show_default=True)
@click.option("--address", help="Ray: address of an existing cluster (e.g. auto).")
@click.option("--partition", help="SLURM partition.")
@click.option("--gpus-per-run", type=float, default=0, show_default=True, help="GPUs per run (Ray allows fractions).")
@click.option("--timeout-min", type=int, default=60, show_default=True, help="SLURM time limit per run.")
@click.option("--workers", type=click.IntRange(min=1), help="Local: runs in flight (default cores / threads).")
@click.option("--retry-failed", is_flag=True, help="Rerun runs recorded as failed.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Corpus cache (default ~/.cache/scaling).")
def sweep_run(sweep_file, overrides, results_root, executor, address, partition, gpus_per_run, timeout_min, workers,
              retry_failed, cache_dir):
    """Run every missing run of a sweep; finished runs are skipped, so it resumes after a kill."""
    from scaling.data import DataError
    from scaling.executors import make_executor
    from scaling.progress import Monitor
    from scaling.sweep import run_sweep, sweep_dir_for

    sw = _load_sweep(sweep_file, overrides)
    try:
        ex = make_executor(executor, threads_per_run=sw.threads, address=address, gpus_per_run=gpus_per_run,
                           partition=partition, timeout_min=timeout_min, max_workers=workers,
                           folder=Path(results_root) / sw.name / ".submitit")
    except (RuntimeError, ValueError) as e:
        raise InputError(str(e)) from None
    click.echo(f"sweep {sw.name}: {len(sw.budgets)} budgets x {sw.sizes_per_budget} sizes x {sw.seeds} seed(s) on {executor}; "
               f"results in {sweep_dir_for(sw, results_root)}", err=True)

    def on_event(e):
        if e["event"] == "budget":
            sizes = ", ".join(f"{n:.3g}" for n in e["sizes"])
            click.echo(f"budget {e['budget']:.3g} FLOPs: {e['runs']} runs ({e['todo']} to do); N = {sizes}", err=True)

    try:
        with Monitor(sweep_dir_for(sw, results_root), sw.planned_runs, sw.planned_flops):
            st = run_sweep(sw, ex, results_root=results_root, cache_dir=cache_dir, retry_failed=retry_failed,
                           progress=on_event)
    except (DataError, ValueError) as e:
        raise InputError(str(e)) from None
    click.echo(_status_line(st))


def _status_line(st) -> str:
    return (f"{st.name}: {st.done} runs finished ({st.ok} ok, {st.diverged} diverged, {st.failed} failed), "
            f"{st.running_or_interrupted} unfinished, {st.flops_done:.3g} FLOPs")


@sweep.command("status")
@_with(_sweep_common)
def sweep_status_cmd(sweep_file, overrides, results_root):
    """Summarise a sweep on disk: runs per budget and status."""
    from scaling.results import iter_results
    from scaling.sweep import sweep_dir_for, sweep_status

    sw = _load_sweep(sweep_file, overrides)
    st = sweep_status(sw, results_root)
    click.echo(_status_line(st))
    rows = {}
    for _, r in iter_results(sweep_dir_for(sw, results_root)):
        b = rows.setdefault(r.get("budget_flops"), {"ok": 0, "diverged": 0, "failed": 0, "best": None})
        b[r.get("status", "failed")] = b.get(r.get("status", "failed"), 0) + 1
        if r.get("status") == "ok" and (b["best"] is None or r["val_loss"] < b["best"][0]):
            b["best"] = (r["val_loss"], r["n_params"])
    for budget in sorted(rows):
        b = rows[budget]
        best = f"best loss {b['best'][0]:.4f} at N={b['best'][1]:.3g}" if b["best"] else ""
        click.echo(f"  {budget:.3g} FLOPs: {b['ok']} ok, {b['diverged']} diverged, {b['failed']} failed  {best}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
