"""A simulated backend: run a sweep's plan without training, each run's loss drawn from a known surface.

Every run of the plan (a WSD cooldown branch too) gets the loss of a :class:`~isoflop.laws.surface.Surface`
at its own N and D, times log-normal noise, and the wall time a
:class:`~isoflop.runs.throughput.Throughput` model gives its FLOPs. The noise has two parts:

* ``sigma``: independent per run;
* ``seed_sigma``: shared by every run of one seed, a level plus a slope per decade of N about
  ``pivot`` (both N(0, seed_sigma²)). A shared level moves no vertex; a shared slope tilts every
  IsoFLOP curve of that seed alike, as a seed's data order or initialisation can.

Draws are deterministic: a run's noise is seeded by the simulator's seed and the run's id, a seed's
shared term by the simulator's seed and the run's seed, so a killed simulated sweep resumes to the same
records. The records are ordinary run records whose ``simulated`` field says what they were drawn from;
``scaling fit`` on them says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from isoflop.errors import ConfigError
from isoflop.laws.surface import Surface
from isoflop.model.flops import all_flops_per_token, param_counts
from isoflop.runs.throughput import Throughput, default_throughput
from isoflop.sweep.plan import trunk_tips
from isoflop.train.record import RunRecord, TrunkState
from isoflop.train.spec import RunSpec


@dataclass(frozen=True)
class Simulator:
    """Draws run records for specs.

    Attributes:
        surface: the true L(N, D).
        sigma: independent log-normal noise per run (0.01 is 1%).
        seed_sigma: the per-seed shared term's scale (level, and slope per decade of N).
        seed: seeds every draw.
        throughput: wall time of a run's FLOPs.
        pivot: N about which a seed's slope turns.
    """

    surface: Surface
    sigma: float = 0.01
    seed_sigma: float = 0.0
    seed: int = 0
    throughput: Throughput = field(default_factory=default_throughput)
    pivot: float = 1e5

    def __post_init__(self):
        for k in ("sigma", "seed_sigma"):
            v = getattr(self, k)
            if not (np.isfinite(v) and 0 <= v < 1):
                raise ConfigError(f"simulate: {k} ({v}) must be in [0, 1)")
        if not self.pivot > 0:
            raise ConfigError(f"simulate: pivot ({self.pivot}) must be positive")

    def describe(self) -> dict:
        return {
            "surface": self.surface.to_dict(),
            "sigma": self.sigma,
            "seed_sigma": self.seed_sigma,
            "seed": self.seed,
            "pivot": self.pivot,
            "throughput": self.throughput.to_dict(),
        }

    def noise(self, n: float, run_key: str, seed: int) -> float:
        """The log-noise of one run: its own draw plus its seed's shared level and slope."""
        own = np.random.default_rng([self.seed, _int(run_key)]).normal(0.0, self.sigma) if self.sigma else 0.0
        if not self.seed_sigma:
            return float(own)
        level, slope = np.random.default_rng([self.seed, 1 << 20, int(seed)]).normal(0.0, self.seed_sigma, 2)
        return float(own + level + slope * np.log10(n / self.pivot))

    def loss(self, n: float, d: float, run_key: str, seed: int) -> float:
        return float(self.surface.loss(n, d) * np.exp(self.noise(n, run_key, seed)))

    def record(self, spec: RunSpec) -> RunRecord:
        """The record of one simulated run (a WSD branch pays only its cooldown)."""
        counts = param_counts(spec.model)
        steps, tokens, cost = spec.steps, spec.tokens, spec.planned_cost
        wall = float(self.throughput.seconds(counts.total, cost))
        loss = self.loss(counts.total, tokens, spec.run_id, spec.seed)
        own_tokens = (steps - (spec.branch_step or 0)) * spec.train.batch_size * spec.model.seq_len
        tps = own_tokens / wall if wall > 0 else None
        return RunRecord(
            status="ok",
            model=spec.model,
            train_config=spec.train,
            corpus=spec.corpus,
            tokenizer=spec.tokenizer,
            seed=spec.seed,
            flops_convention=spec.train.flops_convention,
            budget_flops=spec.budget,
            flops=spec.flops,
            tokens=tokens,
            steps=steps,
            steps_done=steps,
            n_params=counts.total,
            n_params_non_embedding=counts.non_embedding,
            n_params_embedding=counts.embedding,
            flops_per_token=all_flops_per_token(spec.model),
            train_loss=loss,
            val_loss=loss,
            lr=None,
            wall_time_s=wall,
            tokens_per_second=tps,
            flops_per_second=cost / wall if wall > 0 else None,
            device="simulated",
            run_id=spec.run_id,
            trunk_id=spec.trunk_id,
            branch_step=spec.branch_step,
            cost_flops=cost,
            simulated=self.describe(),
        )

    def trunk_states(self, specs: list[RunSpec]) -> list[TrunkState]:
        """What each WSD trunk of these branches cost: grown once, to its furthest branch point."""
        return [
            TrunkState(
                tid,
                steps=s.as_branch().step,
                step_flops=s.step_flops,
                wall_time_s=float(self.throughput.seconds(param_counts(s.model).total, s.start_flops)),
            )
            for tid, s in trunk_tips(specs).items()
        ]


def _int(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
