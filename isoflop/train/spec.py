"""What a run or a WSD trunk is asked to do, fully resolved: :class:`RunSpec` and :class:`TrunkSpec`.

Both write and read a folder's ``config.json`` through one vocabulary (``model``, ``train``, ``corpus``,
``tokenizer``, ``seed``, ``device``, ``checkpoint_every_s``; a run adds ``budget`` and its ``run_id``, a branch
and a trunk add ``trunk_warmup_steps`` and ``trunk_id``), so a trunk's config is its branches' without the
budget. Ids hash only what changes the result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from isoflop.model.config import ModelConfig
from isoflop.train.config import TrainConfig, trunk_identity
from isoflop.train.plan import cooldown_start, step_flops, steps_for
from isoflop.train.record import RunRecord


@dataclass(frozen=True)
class RunSpec:
    """One run, fully resolved: what :func:`~isoflop.train.train` (or a WSD branch) is asked to do.

    ``run_id`` hashes everything that affects the result. Its :meth:`to_dict` is the run folder's
    ``config.json``, for a sweep's run and for ``scaling train --out`` alike."""

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
        trunk = self.trunk
        return None if trunk is None else trunk.trunk_id

    @property
    def trunk(self) -> TrunkSpec | None:
        """The trunk a branch grows from (None for an independent run)."""
        if self.trunk_warmup_steps is None:
            return None
        return TrunkSpec(
            self.model,
            self.train,
            self.corpus,
            self.tokenizer,
            self.seed,
            self.device,
            self.trunk_warmup_steps,
            self.checkpoint_every_s,
        )

    @property
    def branch(self) -> Branch | None:
        """Where a WSD branch grows from: its trunk and its branch point (None for an independent run)."""
        trunk = self.trunk
        return None if trunk is None else Branch(trunk, max(0, cooldown_start(self.steps, self.train.cooldown_frac)))

    def as_branch(self) -> Branch:
        """:attr:`branch`, for code that only handles branches.

        Raises:
            ValueError: this run is independent: it has no trunk.
        """
        b = self.branch
        if b is None:
            raise ValueError(f"run {self.run_id} is not a WSD branch: it has no trunk")
        return b

    @property
    def steps(self) -> int:
        """The steps the budget buys (at least one: a budget under one step fails when it runs, with the reason)."""
        return max(1, steps_for(self.budget, self.model, self.train.batch_size, self.train.flops_convention))

    @property
    def branch_step(self) -> int | None:
        """The trunk step at which a branch's cooldown starts (as :func:`isoflop.train.branch.branch_point`)."""
        b = self.branch
        return None if b is None else b.step

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
        d = {"run_id": self.run_id, "budget": self.budget, **_shared(self)}
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


@dataclass(frozen=True)
class TrunkSpec:
    """A WSD trunk: the stable phase its branches share. ``trunk_id`` hashes what fixes it
    (:func:`~isoflop.train.config.trunk_identity` and the tokenizer)."""

    model: ModelConfig
    train: TrainConfig
    corpus: str
    tokenizer: str
    seed: int
    device: str
    trunk_warmup_steps: int
    checkpoint_every_s: float = 300.0

    @property
    def trunk_id(self) -> str:
        key = trunk_identity(self.model, self.train, self.trunk_warmup_steps, self.seed, self.corpus)
        return _hash({**key, "tokenizer": self.tokenizer})

    def to_dict(self) -> dict:
        return {"trunk_id": self.trunk_id, **_shared(self), "trunk_warmup_steps": self.trunk_warmup_steps}

    @classmethod
    def from_dict(cls, d: dict) -> TrunkSpec:
        return cls(
            ModelConfig.from_dict(d["model"]),
            TrainConfig.from_dict(d["train"]),
            d["corpus"],
            d["tokenizer"],
            int(d["seed"]),
            d.get("device", "cpu"),  # trunk configs written before TrunkSpec had no device
            int(d["trunk_warmup_steps"] if "trunk_warmup_steps" in d else d["warmup_steps"]),  # older name
            float(d.get("checkpoint_every_s", 300.0)),
        )


@dataclass(frozen=True)
class Branch:
    """Where a WSD cooldown branch grows from: its trunk, and the trunk step its cooldown starts at."""

    trunk: TrunkSpec
    step: int

    @property
    def trunk_id(self) -> str:
        return self.trunk.trunk_id


def _shared(spec: RunSpec | TrunkSpec) -> dict:
    """The keys a run's and a trunk's config.json share, from either spec: the one vocabulary of both."""
    return {
        "model": spec.model.to_dict(),
        "train": spec.train.to_dict(),
        "corpus": spec.corpus,
        "tokenizer": spec.tokenizer,
        "seed": spec.seed,
        "device": spec.device,
        "checkpoint_every_s": spec.checkpoint_every_s,
    }


def _hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_run_spec(path) -> RunSpec:
    """The run a config file asks for: a run folder's ``config.json``, or what ``scaling recommend --out`` wrote.

    Raises:
        ConfigError: no such file, not JSON, or not a run's config (the file and the missing or bad key named).
    """
    from pathlib import Path

    from isoflop.errors import ConfigError

    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: a run config is a JSON object, not {type(doc).__name__}")
    missing = [k for k in ("model", "budget", "train", "corpus", "tokenizer", "seed", "device") if k not in doc]
    if missing:
        raise ConfigError(f"{p}: not a run config (no {', '.join(missing)})")
    if doc.get("trunk_warmup_steps") is not None:
        raise ConfigError(f"{p}: a WSD branch's config (it grows from a sweep's trunk); train its sweep instead")
    try:
        return RunSpec.from_dict(doc)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{p}: not a run config ({type(e).__name__}: {e})") from None
