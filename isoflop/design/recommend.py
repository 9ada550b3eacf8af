"""The run to train at a target budget: ``scaling recommend``.

A finished sweep answers N_opt(C); a lab needs the run itself. :func:`recommend` turns a sweep's fit and its
fitted LR and batch rules into one :class:`~isoflop.train.spec.RunSpec` at the target budget C, the file that
``scaling train --config FILE`` trains as it is:

- **shape:** the model family's clean shape nearest the answer's N_opt(C) (:func:`~isoflop.model.shape_for_params`);
- **batch:** the batch rule's B* at the run's D (or C, N), rounded to whole sequences (solved by fixed point,
  as a sweep does: :func:`isoflop.sweep.hparams.run_batches`), else the sweep's own batch;
- **peak LR:** the LR rule at the run's N (and D and B where the rule uses them), else the sweep's;
- **tokens, steps, schedule and warmup:** what C buys at that shape and batch, under the sweep's schedule.

It also says what to expect (the final loss, the wall time, the *deadweight* of rounding to the family's shape and
to whole sequences), names the rule behind every number, and flags every rule used beyond its fitted range and
every rule whose rival forms disagree there by more than the seed noise is worth (docs: the run to train).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from isoflop.design.recommend_flags import form_spread, rule_flags, rules_changed
from isoflop.errors import ConfigError
from isoflop.laws.answer import AVERAGE, Answer, choose_answer
from isoflop.laws.result import AnalysisResult
from isoflop.model.flops import param_counts
from isoflop.runs.throughput import DEFAULT_MFU, Throughput, hardware_peak, wall_time
from isoflop.sweep.config import SweepConfig
from isoflop.train.spec import RunSpec


@dataclass(frozen=True)
class Recommendation:
    """The target run and what to expect of it.

    Attributes:
        spec: the run, fully resolved (its ``to_dict`` is the config file).
        answer: the answer at the target (N_opt, D_opt and their intervals).
        loss, loss_ci: the expected final loss of ``spec`` and its interval (None without a loss prediction).
        loss_given_up: what rounding gives up: {"shape": nats, "batch": nats} (NaN where not measured).
        deadweight: the share of C an optimal run would not need to reach ``loss`` (NaN where not measured).
        seconds: the expected wall time on ``hardware``.
        hardware: "cpu", or a GPU of :data:`~isoflop.train.hardware.GPU_PEAK_FLOPS`.
        sources: (quantity, value, where it came from), in the order printed.
        flags: every extrapolation, with its factor.
        batch_opt: the unrounded B* (tokens per step), NaN without a batch rule.
        top_budget: the sweep's largest budget.
        seed_noise: the sweep's seed-to-seed σ of the loss (0 when unmeasured).
        sweep: the sweep with the rules the run was drawn from (:func:`with_rules`), so that its neighbours
            (:func:`~isoflop.design.recommend_check.variants`) follow the same rules; not part of :meth:`to_dict`.
    """

    spec: RunSpec
    answer: Answer
    loss: float | None
    loss_ci: tuple[float, float] | None
    loss_given_up: dict
    deadweight: float
    seconds: float
    hardware: str
    sources: tuple[tuple[str, str, str], ...]
    flags: tuple[str, ...]
    batch_opt: float
    top_budget: float
    seed_noise: float = 0.0
    sweep: SweepConfig | None = field(default=None, repr=False, compare=False)

    @property
    def n_params(self) -> int:
        return param_counts(self.spec.model).total

    def lines(self) -> list[str]:
        w = max(len(q) for q, _, _ in self.sources)
        v = max(len(x) for _, x, _ in self.sources)
        out = [
            f"the run to train at {self.spec.budget:.3g} FLOPs ({self.spec.budget / self.top_budget:.1f}x the "
            f"sweep's top budget {self.top_budget:.3g}):"
        ]
        out += [f"  {q:<{w}}  {x:<{v}}  {s}" for q, x, s in self.sources]
        out += [f"extrapolated: {f}" for f in self.flags]
        return out

    def to_dict(self) -> dict:
        return {
            "config": self.spec.to_dict(),
            "answer": self.answer.to_dict(),
            "n_params": self.n_params,
            "loss": self.loss,
            "loss_ci": list(self.loss_ci) if self.loss_ci else None,
            "loss_given_up": dict(self.loss_given_up),
            "deadweight": self.deadweight,
            "seconds": self.seconds,
            "hardware": self.hardware,
            "sources": [list(s) for s in self.sources],
            "flags": list(self.flags),
            "batch_opt": self.batch_opt,
            "top_budget": self.top_budget,
            "seed_noise": self.seed_noise,
        }


def with_rules(sweep: SweepConfig, rules: str | Path | None) -> SweepConfig:
    """The sweep with the LR and batch rules of ``rules`` (a batch ladder folder or its JSON, or an LR ladder's)
    in place of its own; a rule the file does not hold leaves the sweep's. Grids are dropped: one run.

    Raises:
        ConfigError: the file holds neither rule (named, with why).
    """
    from isoflop.laws.ladder import load_batch_rule, load_lr_rule

    changes: dict = {"lr_grid": (), "batch_grid": ()}
    if rules is None:
        return replace(sweep, **changes)
    fitted, held, error = f"fitted:{rules}", [], None
    for what, load in (("batch", load_batch_rule), ("lr", load_lr_rule)):
        try:
            load(rules)
            held.append(what)
        except ConfigError as e:
            error = e
    if not held and error is not None:
        raise error  # the file holds neither rule: its LR rule's reason, which names it
    if "batch" in held:
        changes.update(batch_size=fitted, batch_rule=None)
    if "lr" in held:
        changes.update(train={**sweep.train, "lr": fitted}, lr_rule=None)
    return replace(sweep, **changes)


def at_batch(sweep: SweepConfig, spec: RunSpec, batch: int) -> RunSpec:
    """``spec`` at ``batch`` sequences per step, with the peak LR the sweep's rules give at its N, at the tokens
    its budget buys at that batch, and at that batch (:meth:`~isoflop.sweep.config.SweepConfig.peak_lr`)."""
    probe = replace(spec, train=replace(sweep.train_config(), batch_size=batch))
    n = float(param_counts(spec.model).total)
    lr = sweep.peak_lr(sweep.train_config(), spec.model, n, float(probe.tokens), float(batch * spec.model.seq_len))
    return replace(probe, train=replace(probe.train, lr=lr))


def recommend(
    result: AnalysisResult,
    sweep: SweepConfig,
    target: float,
    vocab_size: int,
    *,
    rules: str | Path | None = None,
    hardware: str = "cpu",
    throughput: Throughput | None = None,
    mfu: float = DEFAULT_MFU,
) -> Recommendation:
    """The run to train at ``target`` FLOPs.

    Args:
        result: the sweep's analysis, fitted with ``target`` among its targets.
        sweep: the sweep that produced it (family, corpus, schedule and training settings, and its rules).
        vocab_size: the corpus's vocabulary (sets the shapes' embeddings).
        rules: a batch ladder (folder or JSON) or an LR ladder whose rules replace the sweep's.
        hardware: "cpu" (``throughput``, else the shipped 2-core model) or a GPU name (its peak times ``mfu``).
        throughput: the CPU throughput model (default :func:`~isoflop.runs.throughput.default_throughput`).

    Raises:
        ConfigError: a target below the sweep's top budget, an unknown hardware name, or no usable answer.
    """
    top = float(max(result.table.budgets))
    if not (math.isfinite(target) and target >= top):
        raise ConfigError(
            f"--target ({target:.3g}) is below the sweep's top budget ({top:.3g}): recommend plans a run beyond "
            f"the sweep (at its own budgets, its best run is the answer)"
        )
    peak = hardware_peak(hardware)
    answer = choose_answer(result, target)
    if answer.method is None or answer.params is None:
        raise ConfigError(f"no usable answer at {target:.3g} FLOPs: {answer.reason}")
    sw = with_rules(sweep, rules)
    from isoflop.model.shapes import shape_for_params

    model = shape_for_params(answer.params, **sw.family(vocab_size))
    n = float(param_counts(model).total)
    (batch,) = sw.run_batches(model, target)
    device = "cuda" if peak else sw.device
    base = RunSpec(model, float(target), sw.train_config(), sw.corpus, sw.tokenizer, 0, device, sw.checkpoint_every_s)
    spec = at_batch(sw, base, batch)
    d, bt = float(spec.tokens), float(batch * sw.seq_len)
    # What rounding gives up, and the compute an optimal run would not need to reach the same loss.
    k_n = _isoflop_curvature(result)
    given = {"shape": k_n * math.log10(n / answer.params) ** 2}
    b_opt = sw.batch_rule.predict(N=n, D=d, C=target) if sw.batch_rule is not None else math.nan
    given["batch"] = sw.batch_rule.loss_given_up(bt / b_opt) if sw.batch_rule is not None else 0.0
    lost = sum(v for v in given.values() if math.isfinite(v))
    loss = answer.loss  # the members' mean predicted minimum loss at C
    loss_ci = _loss_interval(result, answer, target) if loss is not None else None
    noise = float(result.seed_noise.get("sigma") or 0.0)
    noise = noise if math.isfinite(noise) else 0.0
    if loss is not None:
        loss += lost
        if loss_ci is not None:
            loss_ci = (loss_ci[0] + lost - 2 * noise, loss_ci[1] + lost + 2 * noise)
    dead = _deadweight(result, answer, target, lost)
    seconds, time_src, time_flags = wall_time(spec.flops, n, hardware, throughput, mfu)
    flags = [f"the target is {target / top:.1f}x the sweep's top budget ({top:.3g})"] if target > top else []
    flags += rule_flags(sw.lr_rule, "LR", N=n, D=d, B=bt)
    flags += rule_flags(sw.batch_rule, "batch", N=n, D=d, C=target)
    flags += time_flags
    flags += rules_changed(sweep, sw)
    sources = _sources(spec, answer, sw, rules, n, b_opt, given, dead, loss, loss_ci, noise, seconds, time_src)
    for what, rule, x in (
        ("peak LR", sw.lr_rule, {"N": n, "D": d, "B": bt}),
        ("B*", sw.batch_rule, {"N": n, "D": d, "C": target}),
    ):
        row, flag = form_spread(what, rule, x, noise)
        if row:
            sources.insert(next(i for i, r in enumerate(sources) if r[0] == "schedule"), row)
        flags += flag
    return Recommendation(
        spec, answer, loss, loss_ci, given, dead, seconds, hardware, tuple(sources), tuple(flags), b_opt, top, noise, sw
    )


def _isoflop_curvature(result: AnalysisResult) -> float:
    """The median curvature (loss per decade² of N) of Approach 2's used IsoFLOP parabolas (NaN without)."""
    a2 = result.approach2
    k = [b.curvature for b in a2.used if math.isfinite(b.curvature) and b.curvature > 0] if a2 else []
    return float(np.median(k)) if k else math.nan


def _loss_methods(answer: Answer) -> tuple[str, ...]:
    return tuple(answer.members) if answer.method == AVERAGE else (str(answer.method),)


def _loss_interval(result: AnalysisResult, answer: Answer, c: float) -> tuple | None:
    """The interval on the answer's predicted minimum loss at C (the union of the members' for an average)."""
    preds = [result.prediction(m, c) for m in _loss_methods(answer)]
    cis = [p["loss_ci"] for p in preds if p.get("loss_ci") and None not in p["loss_ci"]]
    return (min(x[0] for x in cis), max(x[1] for x in cis)) if cis else None


def _deadweight(result: AnalysisResult, answer: Answer, c: float, lost: float) -> float:
    """1 − C'/C, where an optimal run of C' FLOPs reaches the loss the rounded run does (NaN when the answer's
    minimum-loss law does not fall with C, or the rounding loss is unmeasured)."""
    if not math.isfinite(lost):
        return math.nan
    if lost <= 0:
        return 0.0

    def l_opt(x: float) -> float:
        return float(np.mean([float(result.predict(m, x)["loss"]) for m in _loss_methods(answer)]))

    goal = l_opt(c) + lost
    f = lambda u: l_opt(10**u) - goal  # noqa: E731
    lo = math.log10(c) - 6
    if not (np.isfinite(f(lo)) and f(lo) > 0 > f(math.log10(c))):
        return math.nan
    return float(1 - 10 ** brentq(f, lo, math.log10(c), xtol=1e-6) / c)


def _sources(spec, answer, sw, rules, n, b_opt, given, dead, loss, loss_ci, noise, seconds, time_src):
    """(quantity, value, source) rows."""
    from isoflop.laws.answer import NAMES, human

    m, tc = spec.model, spec.train
    by = NAMES.get(str(answer.method), str(answer.method))
    ci = f" ({human(answer.params_ci[0])}-{human(answer.params_ci[1])})" if answer.params_ci else ""
    rows = [
        ("N_opt", f"{human(answer.params)}{ci}", f"the answer, by {by}"),
        (
            "shape",
            f"{m.n_layers} layers x {m.d_model} wide, {m.n_heads} heads: N = {human(n)}",
            f"the family's clean shape nearest N_opt (aspect {sw.aspect_ratio}, head {sw.head_dim})",
        ),
        ("tokens", f"{human(spec.tokens)} in {spec.steps} steps", f"C / FLOPs per token ({tc.flops_convention})"),
    ]
    bsrc = (
        f"B* = {human(b_opt)} tokens by {sw.batch_rule.describe()}, to whole sequences"
        if sw.batch_rule is not None
        else "the sweep's batch_size (no batch rule)"
    )
    rows.append(("batch", f"{tc.batch_size} x {m.seq_len} = {tc.batch_size * m.seq_len} tokens", bsrc))
    lsrc = sw.lr_rule.describe() if sw.lr_rule is not None else "the sweep's LR (no fitted rule)"
    rows.append(("peak LR", f"{tc.lr:.4g}", lsrc + (f" (from {rules})" if rules else "")))
    warm = f"warmup {tc.warmup_steps} steps" if tc.warmup_steps else f"warmup {tc.warmup_frac:g} of the steps"
    sched = f"{tc.schedule}, {warm}" + (
        f", cooldown {tc.cooldown_frac:g} ({tc.cooldown_shape})" if tc.schedule == "wsd" else ""
    )
    rows.append(("schedule", sched, "the sweep's"))
    if loss is not None:
        lci = f" ({loss_ci[0]:.4f}-{loss_ci[1]:.4f})" if loss_ci else ""
        rows.append(
            (
                "final loss",
                f"{loss:.4f}{lci}",
                f"the minimum-loss law of {by} at C, + rounding, ± 2 x seed noise {noise:.4f}",
            )
        )
    rows.append(
        (
            "rounding gives up",
            f"{given['shape']:.4f} (shape) + {given['batch']:.4f} (batch) nats",
            "IsoFLOP parabolas' median curvature; the batch ladder's",
        )
    )
    rows.append(
        (
            "deadweight",
            f"{dead:.2%} of C" if math.isfinite(dead) else "not measured",
            "1 - C'/C, C' the optimal run reaching the same loss",
        )
    )
    rows.append(("wall time", _duration(seconds), time_src))
    return rows


def _duration(s: float) -> str:
    if not math.isfinite(s):
        return "unknown"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def recommend_source(
    source: str | Path,
    target: float,
    *,
    sweep_file: str | Path | None = None,
    rules: str | Path | None = None,
    hardware: str = "cpu",
    throughput: tuple = (),
    mfu: float = DEFAULT_MFU,
    n_bootstrap: int = 400,
    cache_dir: str | None = None,
) -> Recommendation:
    """What ``scaling recommend`` computes: fit ``source`` (a results folder, a table, or a fit JSON) at
    ``target`` and recommend the run there, for the sweep of the folder's ``sweep.json`` or of ``sweep_file``.

    Raises:
        ConfigError: no sweep to take the family and training from, or :func:`recommend`'s reasons.
    """
    from isoflop.data.corpus import load_corpus
    from isoflop.laws.analyze import analyze
    from isoflop.laws.document import read_fit
    from isoflop.laws.table_io import load_runs
    from isoflop.runs.store import is_sweep_dir
    from isoflop.sweep.config import folder_sweep, load_sweep

    p = Path(source)
    hardware_peak(hardware)  # an unknown name fails before the fit
    folder = p.is_dir() and is_sweep_dir(p)
    found = folder_sweep(p) if folder and sweep_file is None else None
    if sweep_file is not None:
        sweep = load_sweep(sweep_file)
    elif found is not None:
        sweep = found
    else:
        raise ConfigError(
            f"{p}: a table or fit carries no model family or training settings; give the sweep file they came "
            "from with --sweep FILE"
        )
    if p.suffix == ".json" and p.is_file():
        result = read_fit(p).result  # its bootstrap replicates predict at any budget
    else:
        result = analyze(load_runs(p), targets=[target], n_bootstrap=n_bootstrap, seed=0)
    tp = None
    if throughput:
        tp = Throughput.from_sweeps(throughput)
    elif folder:
        try:
            tp = Throughput.from_sweeps([p])
        except ConfigError:
            pass  # no finished runs with wall times: the shipped model
    vocab = load_corpus(sweep.corpus, sweep.tokenizer, cache_dir).vocab_size
    return recommend(result, sweep, target, vocab, rules=rules, hardware=hardware, throughput=tp, mfu=mfu)
