"""A sweep's plan: which runs each budget gets, each fully resolved as a :class:`RunSpec`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from isoflop.model.config import ModelConfig
from isoflop.model.flops import param_counts
from isoflop.sweep.config import AutoSizes, SweepConfig
from isoflop.train.plan import steps_for, tokens_for
from isoflop.train.record import RunRecord
from isoflop.train.spec import RunSpec

#: The range of N_opt's exponent a that refined ``auto`` sizes accept from finished budgets; published fits
#: span 0.45-0.73 (Chinchilla's 0.50, Kaplan's 0.73) and ours 0.6-0.7.
REFINE_EXPONENT = (0.3, 0.85)


def predicted_optimum(sweep: SweepConfig, flops: float, finished: list[RunRecord]) -> tuple[float, str]:
    """N* at a budget for ``auto`` sizes: from the budgets already finished when two or more
    have trustworthy parabolas (and ``refine``), else the prior. Returns (N*, source)."""
    auto = sweep.sizes
    assert isinstance(auto, AutoSizes), "predicted_optimum is for auto sizes"
    if auto.refine and finished:
        from isoflop.laws.fit.isoflop import fit_isoflops

        ok = [r for r in finished if r.status == "ok" and r.val_loss is not None]
        if ok:
            f = fit_isoflops(
                [r.n_params for r in ok], [r.tokens for r in ok], [r.val_loss for r in ok], [r.budget_flops for r in ok]
            )
            if f.params_law.success and len(f.used) >= 2:
                a = f.params_law.exponent
                src = f"fit to {len(f.used)} finished budgets"
                if REFINE_EXPONENT[0] <= a <= REFINE_EXPONENT[1]:
                    return float(f.params_law.predict(flops)), src
                # Two or three close budgets can give any exponent (1.0 on the quick sweep): keep the fitted
                # optima's centre, clamp the slope.
                clamped = min(max(a, REFINE_EXPONENT[0]), REFINE_EXPONENT[1])
                lc = np.mean([np.log10(b.flops) for b in f.used])
                ln = np.mean([np.log10(b.optimal_params) for b in f.used])
                return (
                    float(10 ** (ln + clamped * (np.log10(flops) - lc))),
                    f"{src}, its exponent {a:.2f} clamped to {clamped:.2f}",
                )
    return auto.prior(flops), "prior"


def budget_models(sweep: SweepConfig, flops: float, vocab_size: int, finished: list[RunRecord]) -> list[ModelConfig]:
    """The distinct model shapes of one budget, smallest first. Under WSD, ``auto`` sizes come from one
    ladder shared by all budgets, so that a size recurs across budgets and its trunk serves them all."""
    models = sweep.sizes.models(
        sweep.family(vocab_size),
        flops,
        lambda c: predicted_optimum(sweep, c, finished)[0],
        shared=sweep.schedule == "wsd",
    )
    unique = {m: None for m in models}  # dedupe, keep order
    return sorted(unique, key=lambda m: param_counts(m).total)


def budget_runs(sweep: SweepConfig, flops: float, vocab_size: int, finished: list[RunRecord]) -> list[RunSpec]:
    """Every run of one budget: its shapes × the sweep's seeds."""
    tc = sweep.train_config()
    wsd, matched = sweep.schedule == "wsd", sweep.schedule == "cosine" and sweep.warmup_shared

    def spec(m: ModelConfig, seed: int, mult: float | None, batch: int) -> RunSpec:
        train = replace(tc, batch_size=batch)
        if matched:
            train = replace(train, warmup_steps=trunk_warmup_steps(sweep, m, batch))
        if sweep.lr_rule is not None or mult is not None:  # the run's own peak LR, explicit in its id
            tokens = tokens_for(flops, m, batch, tc.flops_convention)
            peak = sweep.peak_lr(tc, m, param_counts(m).total, tokens, batch * m.seq_len)
            train = replace(train, lr=float(f"{peak * (mult or 1.0):.4g}"), lr_scale=1.0)
        return RunSpec(
            m,
            float(flops),
            train,
            sweep.corpus,
            sweep.tokenizer,
            seed,
            sweep.device,
            sweep.checkpoint_every_s,
            trunk_warmup_steps(sweep, m, batch) if wsd else None,
        )

    models = budget_models(sweep, flops, vocab_size, finished)
    if sweep.cooldowns == "law":
        models = [m for m in models if flops in law_budgets(sweep, vocab_size).get(m, ())]
    return [
        spec(m, seed, mult, batch)
        for m in models
        for batch in sweep.run_batches(m, flops)
        for mult in (sweep.lr_grid or (None,))
        for seed in range(sweep.seeds)
    ]


def law_budgets(sweep: SweepConfig, vocab_size: int) -> dict[ModelConfig, tuple[float, ...]]:
    """Under ``cooldowns = "law"``: each size -> the budgets whose cooldowns it trains, the smallest and the
    largest it serves (its trunk is grown to the largest; the law fitted to the trunk and the two predicts
    every budget between, and :func:`isoflop.laws.curves.profiles.profiles` reads them off), and with
    ``law_cooldowns = 3`` also the one nearest their geometric middle.
    ``benchmarks/bench_profiles.py --parts pairs`` measures these choices against held-out cooldowns."""
    served: dict[ModelConfig, list[float]] = {}
    for c in sweep.budgets:
        for m in budget_models(sweep, c, vocab_size, []):
            served.setdefault(m, []).append(float(c))
    out = {}
    for m, cs in served.items():
        chosen = {min(cs), max(cs)}
        if sweep.law_cooldowns == 3:
            mid = np.sqrt(min(cs) * max(cs))
            chosen.add(min(cs, key=lambda c: abs(np.log(c / mid))))
        out[m] = tuple(sorted(chosen))
    return out


def trunk_warmup_steps(sweep: SweepConfig, model: ModelConfig, batch_size: int | None = None) -> int:
    """The warmup of a model's trunk: ``warmup_frac`` of the steps of the sweep's largest budget, so the branch
    of that budget is exactly a WSD run of its own, and smaller budgets warm up as long (a warmup as short as
    the smallest budget's costs the largest models several percent of loss at a high learning rate). Cosine
    runs with ``warmup = "largest-budget"`` warm up as long, for comparisons at matched warmups.
    :class:`~isoflop.sweep.config.SweepConfig` checks that every cooldown starts after it."""
    tc = sweep.train_config()
    batch = tc.batch_size if batch_size is None else batch_size  # a batch ladder's runs: their own batch's steps
    steps = max(1, steps_for(sweep.warmup_reference, model, batch, tc.flops_convention))
    return max(1, int(round(tc.warmup_frac * steps))) if tc.warmup_frac > 0 else 1


def planned_runs(sweep: SweepConfig, vocab_size: int) -> int:
    """Runs the sweep will train, planned with the prior sizes."""
    return sum(len(budget_runs(sweep, b, vocab_size, [])) for b in sweep.budgets)


def planned_cost(sweep: SweepConfig, vocab_size: int) -> float:
    """FLOPs the sweep will spend, planned with the prior sizes: under WSD each trunk once (to its last
    branch point) plus every cooldown; otherwise every run in full."""
    specs = [s for b in sweep.budgets for s in budget_runs(sweep, b, vocab_size, [])]
    return float(sum(s.planned_cost for s in specs) + sum(s.start_flops for s in trunk_tips(specs).values()))


def trunk_tips(specs: list[RunSpec]) -> dict[str, RunSpec]:
    """Each WSD trunk of these specs -> its branch with the furthest branch point (the trunk is grown once,
    that far). Independent runs have no trunk."""
    out: dict[str, RunSpec] = {}
    furthest: dict[str, int] = {}
    for s in specs:
        b = s.branch
        if b is not None and b.step > furthest.get(b.trunk_id, -1):
            out[b.trunk_id], furthest[b.trunk_id] = s, b.step
    return out


def shared_trunks(sweep: SweepConfig, vocab_size: int) -> int:
    """How many trunks of a WSD sweep (planned with the prior sizes) serve two or more budgets."""
    seen: dict[str, set] = {}
    for c in sweep.budgets:
        for s in budget_runs(sweep, c, vocab_size, []):
            if s.trunk_id is not None:
                seen.setdefault(s.trunk_id, set()).add(c)
    return sum(1 for v in seen.values() if len(v) > 1)
