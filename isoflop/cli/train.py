"""``scaling flops`` and ``scaling train``: one model shape, one run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from isoflop.cli.options import with_options

#: --params or --n-layers/--d-model/--n-heads, plus sequence and position options.
shape_options = with_options(
    [
        click.option(
            "--params", "n_params", type=float, help="Target parameter count: the nearest clean shape of the family."
        ),
        click.option(
            "--n-layers", type=click.IntRange(min=1), help="Depth; alone, width and heads follow the family's rule."
        ),
        click.option("--d-model", type=click.IntRange(min=1), help="Width (with --n-layers)."),
        click.option("--n-heads", type=click.IntRange(min=1), help="Attention heads (with --d-model)."),
        click.option("--seq-len", type=click.IntRange(min=1), default=256, show_default=True, help="Context length T."),
        click.option(
            "--pos",
            "pos_encoding",
            type=click.Choice(["rotary", "learned", "sinusoidal"]),
            default="rotary",
            show_default=True,
            help="Position encoding.",
        ),
        click.option("--untied", is_flag=True, help="Do not tie the output head to the token embedding."),
    ]
)


def model_config(n_params, n_layers, d_model, n_heads, seq_len, vocab_size, pos_encoding, untied):
    """The shape the shape options ask for."""
    from isoflop.model import HEAD_DIM, ModelConfig, shape_for_params

    kw = dict(vocab_size=vocab_size, seq_len=seq_len, pos_encoding=pos_encoding, tie_embeddings=not untied)
    if n_params is not None:
        if n_layers or d_model or n_heads:
            raise click.UsageError("give --params or --n-layers/--d-model/--n-heads, not both")
        return shape_for_params(n_params, **kw)
    if n_layers is None:
        raise click.UsageError("give a shape: --params N, or --n-layers L [--d-model D --n-heads H]")
    if d_model is None:
        if n_heads is not None:
            raise click.UsageError("--n-heads needs --d-model")
        return ModelConfig.from_depth(n_layers, **kw)
    heads = n_heads if n_heads is not None else max(1, d_model // HEAD_DIM)
    return ModelConfig(n_layers=n_layers, d_model=d_model, n_heads=heads, **kw)


@click.command()
@shape_options
@click.option("--vocab-size", type=click.IntRange(min=1), default=256, show_default=True, help="Vocabulary V.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def flops(n_params, n_layers, d_model, n_heads, seq_len, pos_encoding, untied, vocab_size, as_json):
    """Parameters and training FLOPs per token of a shape, under every convention."""
    from isoflop.jsonio import dumps
    from isoflop.model import all_flops_per_token, param_counts

    cfg = model_config(n_params, n_layers, d_model, n_heads, seq_len, vocab_size, pos_encoding, untied)
    pc = param_counts(cfg)
    fpt = all_flops_per_token(cfg)
    if as_json:
        click.echo(
            dumps(
                {
                    "model": cfg.to_dict(),
                    "params": {"total": pc.total, "embedding": pc.embedding, "non_embedding": pc.non_embedding},
                    "flops_per_token": fpt,
                }
            )
        )
        return
    click.echo(
        f"shape: n_layers={cfg.n_layers} d_model={cfg.d_model} n_heads={cfg.n_heads} seq_len={cfg.seq_len} "
        f"vocab={cfg.vocab_size} pos={cfg.pos_encoding} {'tied' if cfg.tie_embeddings else 'untied'}"
    )
    click.echo(f"params: total {pc.total:,}  embedding {pc.embedding:,}  non-embedding {pc.non_embedding:,}")
    for k, v in fpt.items():
        click.echo(f"training FLOPs/token [{k}]: {v:,.0f}  ({v / fpt['chinchilla']:.2f}x chinchilla)")


@click.command("train")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Train the run this file asks for, as it is (what `scaling recommend --out` writes, or a run's "
    "config.json); the shape, budget and training options are then not given.",
)
@shape_options
@click.option("--budget", type=float, help="Compute budget C in FLOPs.")
@click.option(
    "--data", "corpus", default="shakespeare", show_default=True, help="shakespeare, text:PATH, piglatin or synthetic."
)
@click.option("--tokenizer", default="byte", show_default=True, help="byte or bpe:VOCAB (e.g. bpe:4096).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Write the run folder here (result.json, metrics.jsonl, config.json).",
)
@click.option("--device", help="cpu, cuda, cuda:1, ... [default: cpu, or the config's]")
@click.option("--dtype", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help="Use torch.compile.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Sequences per step.")
@click.option("--lr", type=float, help="Peak learning rate (default: the width rule).")
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "wsd"]),
    default="cosine",
    show_default=True,
    help="LR schedule: cosine, or warmup-stable-decay.",
)
@click.option(
    "--warmup-frac",
    type=float,
    default=0.05,
    show_default=True,
    help="Fraction of the steps spent warming up linearly.",
)
@click.option("--warmup-steps", type=click.IntRange(min=1), help="Warm up for this many steps instead.")
@click.option(
    "--cooldown-frac",
    type=float,
    default=0.2,
    show_default=True,
    help="WSD: fraction of the steps spent cooling down, in (0, 1).",
)
@click.option(
    "--cooldown-shape",
    type=click.Choice(["1-sqrt", "linear", "cosine"]),
    default="1-sqrt",
    show_default=True,
    help="WSD: shape of the cooldown.",
)
@click.option(
    "--flops-convention", type=click.Choice(["6N", "6N+attn", "chinchilla"]), default="chinchilla", show_default=True
)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for the run.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--peak-tflops", type=float, help="Peak TFLOP/s of the hardware, for MFU.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Corpus cache (default ~/.cache/scaling).")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
def train_cmd(
    config_file,
    n_params,
    n_layers,
    d_model,
    n_heads,
    seq_len,
    pos_encoding,
    untied,
    budget,
    corpus,
    tokenizer,
    out,
    device,
    dtype,
    compile_,
    batch_size,
    lr,
    schedule,
    warmup_frac,
    warmup_steps,
    cooldown_frac,
    cooldown_shape,
    flops_convention,
    threads,
    seed,
    peak_tflops,
    cache_dir,
    as_json,
):
    """Train one model to exactly the steps a FLOP budget buys (or the run --config names); write its result
    record."""
    from dataclasses import replace

    from isoflop.data import load_corpus
    from isoflop.jsonio import dumps
    from isoflop.runs import RunFolder
    from isoflop.train import TrainConfig, plan_run, train
    from isoflop.train.spec import RunSpec, load_run_spec

    ctx = click.get_current_context()
    if config_file:
        given = [p.opts[0] for p in ctx.command.params if p.name in _RUN_OPTIONS and _given(ctx, p.name)]
        if given:
            raise click.UsageError(f"--config sets the run; drop {', '.join(given)}")
        spec = load_run_spec(config_file)
        spec = replace(spec, device=device or spec.device, seed=seed if _given(ctx, "seed") else spec.seed)
        data = load_corpus(spec.corpus, spec.tokenizer, cache_dir)
        cfg, budget, tcfg = spec.model, spec.budget, spec.train
        if threads is not None:
            tcfg = replace(tcfg, threads=threads)
    else:
        if budget is None:
            raise click.UsageError("give --budget C (or --config FILE)")
        data = load_corpus(corpus, tokenizer, cache_dir)
        cfg = model_config(n_params, n_layers, d_model, n_heads, seq_len, data.vocab_size, pos_encoding, untied)
        tcfg = TrainConfig(
            batch_size=batch_size,
            lr=lr,
            flops_convention=flops_convention,
            dtype=dtype,
            compile=compile_,
            threads=threads,
            schedule=schedule,
            cooldown_frac=cooldown_frac,
            cooldown_shape=cooldown_shape,
            warmup_frac=warmup_frac,
            warmup_steps=warmup_steps,
        )
        spec = RunSpec(cfg, budget, tcfg, corpus, tokenizer, seed, device or "cpu")
    plan = plan_run(budget, cfg, tcfg.batch_size, tcfg.flops_convention)
    click.echo(
        f"{data.name} ({data.tokenizer}, {data.train.size:,} training tokens); model {cfg.n_layers}x{cfg.d_model}, "
        f"{plan.steps} steps of {plan.tokens_per_step} tokens = {plan.tokens:,} tokens, {plan.flops:.3g} FLOPs",
        err=as_json,
    )
    folder = RunFolder(Path(out)) if out else None
    if folder is not None:
        folder.remove_run_files()  # a rerun into the same folder starts its curves afresh
        folder.write_config(replace(spec, train=tcfg))
    res = train(
        cfg,
        budget,
        data,
        tcfg,
        device=spec.device,
        seed=spec.seed,
        peak_flops=peak_tflops * 1e12 if peak_tflops else None,
        cache_dir=cache_dir or None,
        progress=_progress_printer(err=as_json),
        on_metrics=folder.append_metrics if folder is not None else None,
    )
    if folder is not None:
        folder.write_result(res)
        click.echo(f"wrote {folder.result_path}", err=as_json)
    if as_json:
        click.echo(dumps(res.to_dict()))
    else:
        vl = f"{res.val_loss:.4f} nats/token, {res.val_bpb:.4f} bits/byte" if res.val_loss is not None else "-"
        mfu = f"{res.mfu:.1%}" if res.mfu is not None else "unknown peak"
        click.echo(
            f"status {res.status}; val loss {vl}; {res.tokens:,} tokens, {res.flops:.4g} FLOPs in "
            f"{res.wall_time_s:.1f} s; {res.tokens_per_second or 0:,.0f} tokens/s; MFU {mfu}"
        )
        if res.error:
            click.echo(f"error: {res.error.splitlines()[0]}")
        for w in res.warnings:
            if not w.startswith("Traceback"):
                click.echo(f"warning: {w}")
    if res.status == "failed":
        sys.exit(1)


#: Options that describe the run itself, which --config sets instead.
_RUN_OPTIONS = frozenset(
    {
        "n_params",
        "n_layers",
        "d_model",
        "n_heads",
        "seq_len",
        "pos_encoding",
        "untied",
        "budget",
        "corpus",
        "tokenizer",
        "dtype",
        "compile_",
        "batch_size",
        "lr",
        "schedule",
        "warmup_frac",
        "warmup_steps",
        "cooldown_frac",
        "cooldown_shape",
        "flops_convention",
    }
)


def _given(ctx, name: str) -> bool:
    return ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT


def _progress_printer(err: bool):
    """Live progress on a terminal (one rewritten line), plain periodic lines elsewhere."""
    live = sys.stderr.isatty() if err else sys.stdout.isatty()
    last = {"t": 0.0}

    def show(p: dict) -> None:
        msg = (
            f"step {p['step']}/{p['steps']}  loss {p['loss']:.4f}  lr {p['lr']:.2e}  "
            f"{p['tokens_per_second']:,.0f} tok/s  ETA {p['eta_s']:.0f}s"
        )
        if live:
            click.echo("\r" + msg + " " * 8, nl=p["step"] == p["steps"], err=err)
        elif p["step"] == p["steps"] or time.monotonic() - last["t"] > 10:
            last["t"] = time.monotonic()
            click.echo(msg, err=err)

    return show
