"""A sweep's plan: which runs each budget gets, each fully resolved as a :class:`RunSpec`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from scaling.model.config import ModelConfig
from scaling.model.flops import param_counts
from scaling.runs.record import RunRecord
from scaling.sweep.config import AutoSizes, SweepConfig
from scaling.train.config import TrainConfig


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

    @property
    def run_id(self) -> str:
        key = {"model": self.model.to_dict(), "budget": self.budget, "train": self.train.identity(), "corpus": self.corpus,
               "tokenizer": self.tokenizer, "seed": self.seed}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "model": self.model.to_dict(), "budget": self.budget, "train": self.train.to_dict(),
                "corpus": self.corpus, "tokenizer": self.tokenizer, "seed": self.seed, "device": self.device,
                "checkpoint_every_s": self.checkpoint_every_s}

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        return cls(ModelConfig.from_dict(d["model"]), float(d["budget"]), TrainConfig.from_dict(d["train"]),
                   d["corpus"], d["tokenizer"], int(d["seed"]), d["device"], float(d.get("checkpoint_every_s", 300.0)))

    def failed_record(self, error: str) -> RunRecord:
        """The record of this run when it produced no measurements (it raised, or its worker died)."""
        return RunRecord.failed(error, model=self.model, train_config=self.train, corpus=self.corpus,
                                tokenizer=self.tokenizer, seed=self.seed, budget_flops=self.budget, run_id=self.run_id)


def predicted_optimum(sweep: SweepConfig, flops: float, finished: list[RunRecord]) -> tuple[float, str]:
    """N* at a budget for ``auto`` sizes: from the budgets already finished when two or more
    have trustworthy parabolas (and ``refine``), else the prior. Returns (N*, source)."""
    auto: AutoSizes = sweep.sizes
    if auto.refine and finished:
        from scaling.laws.fit.isoflop import fit_isoflops

        ok = [r for r in finished if r.status == "ok" and r.val_loss is not None]
        if ok:
            f = fit_isoflops([r.n_params for r in ok], [r.tokens for r in ok], [r.val_loss for r in ok],
                             [r.budget_flops for r in ok])
            if f.params_law.success and len(f.used) >= 2:
                return float(f.params_law.predict(flops)), f"fit to {len(f.used)} finished budgets"
    return auto.prior(flops), "prior"


def budget_models(sweep: SweepConfig, flops: float, vocab_size: int, finished: list[RunRecord]) -> list[ModelConfig]:
    """The distinct model shapes of one budget, smallest first."""
    models = sweep.sizes.models(sweep.family(vocab_size), flops, lambda c: predicted_optimum(sweep, c, finished)[0])
    unique = {m: None for m in models}  # dedupe, keep order
    return sorted(unique, key=lambda m: param_counts(m).total)


def budget_runs(sweep: SweepConfig, flops: float, vocab_size: int, finished: list[RunRecord]) -> list[RunSpec]:
    """Every run of one budget: its shapes × the sweep's seeds."""
    tc = sweep.train_config()
    return [RunSpec(m, float(flops), tc, sweep.corpus, sweep.tokenizer, seed, sweep.device, sweep.checkpoint_every_s)
            for m in budget_models(sweep, flops, vocab_size, finished) for seed in range(sweep.seeds)]
