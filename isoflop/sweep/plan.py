"""A sweep's plan: which runs each budget gets, each fully resolved as a :class:`RunSpec`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

import numpy as np

from isoflop.model.config import ModelConfig
from isoflop.model.flops import param_counts
from isoflop.sweep.config import AutoSizes, SweepConfig
from isoflop.train.config import TrainConfig, trunk_identity
from isoflop.train.plan import cooldown_start, step_flops, steps_for
from isoflop.train.record import RunRecord


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep, fully resolved. ``run_id`` hashes everything that affects the result."""

    model: ModelConfig
    budget: float
    train: TrainConfig
    corpus: str
    tokenizer: str
    seed: int
    device: str
    checkpoint_every_s: float = 300.0
    trunk_warmup_steps: int | None = None

    @property
    def is_branch(self) -> bool:
        """A WSD cooldown branch off a shared trunk (else an independent run)."""
        return self.trunk_warmup_steps is not None

    @property
    def run_id(self) -> str:
        key = {
            "model": self.model.to_dict(),
            "budget": self.budget,
            "train": self.train.identity(),
            "corpus": self.corpus,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
        }
        if self.is_branch:
            key["trunk_warmup_steps"] = self.trunk_warmup_steps
        return _hash(key)

    @property
    def trunk_id(self) -> str | None:
        """The id of the trunk a branch grows from: the model, the optimiser, the warmup, the seed and the data."""
        if not self.is_branch:
            return None
        key = trunk_identity(self.model, self.train, self.trunk_warmup_steps, self.seed, self.corpus)
        return _hash({**key, "tokenizer": self.tokenizer})

    @property
    def steps(self) -> int:
        """The steps the budget buys (at least one: a budget under one step fails when it runs, with the reason)."""
        return max(1, steps_for(self.budget, self.model, self.train.batch_size, self.train.flops_convention))

    @property
    def branch_step(self) -> int | None:
        """The trunk step at which a branch's cooldown starts (as :func:`isoflop.train.branch.branch_point`)."""
        if not self.is_branch:
            return None
        return max(0, cooldown_start(self.steps, self.train.cooldown_frac))

    @property
    def step_flops(self) -> float:
        """FLOPs of one optimiser step."""
        return step_flops(self.model, self.train.batch_size, self.train.flops_convention)

    @property
    def tokens(self) -> int:
        """Tokens the run trains on: its steps × batch × sequence length (a branch: the trunk's prefix too)."""
        return self.steps * self.train.batch_size * self.model.seq_len

    @property
    def flops(self) -> float:
        """FLOPs of all the run's steps, under the sweep's convention (a branch: the trunk's prefix too)."""
        return self.steps * self.step_flops

    @property
    def start_flops(self) -> float:
        """FLOPs of the trunk prefix a branch starts from (0 for an independent run)."""
        return (self.branch_step or 0) * self.step_flops

    @property
    def planned_cost(self) -> float:
        """FLOPs this spec spends itself: all of the budget for an independent run, the cooldown for a branch."""
        return self.flops - self.start_flops

    def to_dict(self) -> dict:
        d = {
            "run_id": self.run_id,
            "model": self.model.to_dict(),
            "budget": self.budget,
            "train": self.train.to_dict(),
            "corpus": self.corpus,
            "tokenizer": self.tokenizer,
            "seed": self.seed,
            "device": self.device,
            "checkpoint_every_s": self.checkpoint_every_s,
        }
        if self.is_branch:
            d.update(
                trunk_warmup_steps=self.trunk_warmup_steps,
                trunk_id=self.trunk_id,
                branch_step=self.branch_step,
                start_flops=self.start_flops,
            )
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunSpec:
        return cls(
            ModelConfig.from_dict(d["model"]),
            float(d["budget"]),
            TrainConfig.from_dict(d["train"]),
            d["corpus"],
            d["tokenizer"],
            int(d["seed"]),
            d["device"],
            float(d.get("checkpoint_every_s", 300.0)),
            d.get("trunk_warmup_steps"),
        )

    def failed_record(self, error: str) -> RunRecord:
        """The record of this run when it produced no measurements (it raised, or its worker died)."""
        from dataclasses import replace

        rec = RunRecord.failed(
            error,
            model=self.model,
            train_config=self.train,
            corpus=self.corpus,
            tokenizer=self.tokenizer,
            seed=self.seed,
            budget_flops=self.budget,
            run_id=self.run_id,
        )
        return replace(rec, trunk_id=self.trunk_id, branch_step=self.branch_step) if self.is_branch else rec


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

    def spec(m: ModelConfig, seed: int, mult: float | None) -> RunSpec:
        train = replace(tc, warmup_steps=trunk_warmup_steps(sweep, m)) if matched else tc
        if sweep.lr_rule is not None or mult is not None:  # the run's own peak LR, explicit in its id
            peak = sweep.peak_lr(tc, m, param_counts(m).total)
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
            trunk_warmup_steps(sweep, m) if wsd else None,
        )

    return [
        spec(m, seed, mult)
        for m in budget_models(sweep, flops, vocab_size, finished)
        for mult in (sweep.lr_grid or (None,))
        for seed in range(sweep.seeds)
    ]


def trunk_warmup_steps(sweep: SweepConfig, model: ModelConfig) -> int:
    """The warmup of a model's trunk: ``warmup_frac`` of the steps of the sweep's largest budget, so the branch
    of that budget is exactly a WSD run of its own, and smaller budgets warm up as long (a warmup as short as
    the smallest budget's costs the largest models several percent of loss at a high learning rate). Cosine
    runs with ``warmup = "largest-budget"`` warm up as long, for comparisons at matched warmups.
    :class:`~isoflop.sweep.config.SweepConfig` checks that every cooldown starts after it."""
    tc = sweep.train_config()
    steps = max(1, steps_for(sweep.warmup_reference, model, tc.batch_size, tc.flops_convention))
    return max(1, int(round(tc.warmup_frac * steps))) if tc.warmup_frac > 0 else 1


def planned_cost(sweep: SweepConfig, vocab_size: int) -> float:
    """FLOPs the sweep will spend, planned with the prior sizes: under WSD each trunk once (to its last
    branch point) plus every cooldown; otherwise every run in full."""
    specs = [s for b in sweep.budgets for s in budget_runs(sweep, b, vocab_size, [])]
    return float(sum(s.planned_cost for s in specs) + sum(s.start_flops for s in trunk_tips(specs).values()))


def trunk_tips(specs: list[RunSpec]) -> dict[str, RunSpec]:
    """Each WSD trunk of these specs -> its branch with the furthest branch point (the trunk is grown once,
    that far). Independent runs have no trunk."""
    out: dict[str, RunSpec] = {}
    for s in specs:
        if s.is_branch and (s.trunk_id not in out or s.branch_step > out[s.trunk_id].branch_step):
            out[s.trunk_id] = s
    return out


def shared_trunks(sweep: SweepConfig, vocab_size: int) -> int:
    """How many trunks of a WSD sweep (planned with the prior sizes) serve two or more budgets."""
    seen: dict[str, set] = {}
    for b in sweep.budgets:
        for s in budget_runs(sweep, b, vocab_size, []):
            seen.setdefault(s.trunk_id, set()).add(b)
    return sum(1 for k, v in seen.items() if k is not None and len(v) > 1)


def _hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
