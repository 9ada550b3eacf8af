"""One training run as a record: :class:`RunRecord`, with one schema both ways.

A record says everything a run did: its full config, seed, FLOP convention,
budget, measured tokens and FLOPs, losses (nats per token and bits per byte),
its curves, wall time, throughput, MFU, hardware and versions. Records written
by older versions load too: schema 1 had no ``schema_version`` key and kept
the training curve in ``result.json`` as well as in ``metrics.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from isoflop.errors import RecordError
from isoflop.model.config import ModelConfig
from isoflop.train.config import TrainConfig

#: Version of the record layout written by this code (see the module docstring for older ones).
SCHEMA_VERSION = 2
STATUSES = ("ok", "diverged", "failed")


@dataclass(frozen=True)
class RunRecord:
    """Everything one training run did.

    Losses are in nats per token; ``*_bpb`` in bits per byte. ``status`` is
    "ok", "diverged" or "failed"; ``error`` says why when it is not ok. A run
    that never trained (it raised before its first step, or its worker died)
    has only its identity, status and error; the measurements are None.

    Attributes:
        curve: training-curve rows (step, tokens, flops, train_loss, lr, wall_time_s).
        val_curve: validation rows (step, tokens, flops, val_loss).
        run_id: the sweep's id of the run, when it belongs to one.
        trunk_id, branch_step: for a WSD cooldown branch, the trunk it branched off and the trunk step
            its cooldown started at (its ``tokens`` and ``flops`` include the trunk's prefix).
        cost_flops: the FLOPs this run's own steps spent (a branch: its cooldown; an independent run:
            all of ``flops``). None in records written before it existed.
        simulated: for a run drawn by the simulated backend instead of trained, what it was drawn from
            (surface, noise, throughput model; see :mod:`isoflop.sweep.simulate`); empty for a trained run.
    """

    status: str
    model: ModelConfig | None = None
    train_config: TrainConfig | None = None
    corpus: str | None = None
    tokenizer: str | None = None
    seed: int | None = None
    flops_convention: str | None = None
    budget_flops: float | None = None
    flops: float | None = None
    tokens: int | None = None
    steps: int | None = None
    steps_done: int | None = None
    n_params: int | None = None
    n_params_non_embedding: int | None = None
    n_params_embedding: int | None = None
    flops_per_token: dict = field(default_factory=dict)
    train_loss: float | None = None
    train_bpb: float | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    epochs: float | None = None
    lr: float | None = None
    wall_time_s: float | None = None
    tokens_per_second: float | None = None
    flops_per_second: float | None = None
    mfu: float | None = None
    peak_flops: float | None = None
    device: str | None = None
    hardware: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    error: str | None = None
    warnings: tuple[str, ...] = ()
    run_id: str | None = None
    trunk_id: str | None = None
    branch_step: int | None = None
    cost_flops: float | None = None
    simulated: dict = field(default_factory=dict)
    curve: tuple[dict, ...] = ()
    val_curve: tuple[dict, ...] = ()

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"status ({self.status!r}) must be one of {', '.join(STATUSES)}")
        if self.status != "ok" and not self.error:
            raise RecordError(f"a {self.status} run needs an error saying why")

    @property
    def cost(self) -> float:
        """FLOPs this run spent itself: ``cost_flops``, or all of ``flops`` for records written before it existed."""
        return self.cost_flops if self.cost_flops is not None else (self.flops or 0.0)

    @property
    def unique_tokens(self) -> float | None:
        """Distinct training tokens the run saw: its tokens within one epoch, else the training split's size
        (tokens / epochs). What Muennighoff et al.'s data-constrained law needs (``scaling fit --unique-tokens``)."""
        if not self.tokens or not self.epochs or self.epochs <= 0:
            return None
        return float(min(self.tokens, self.tokens / self.epochs))

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        model: ModelConfig | None = None,
        train_config: TrainConfig | None = None,
        corpus: str | None = None,
        tokenizer: str | None = None,
        seed: int | None = None,
        budget_flops: float | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """The record of a run that produced no measurements (it raised, or its worker died)."""
        return cls(
            status="failed",
            error=error,
            model=model,
            train_config=train_config,
            corpus=corpus,
            tokenizer=tokenizer,
            seed=seed,
            budget_flops=budget_flops,
            run_id=run_id,
            flops_convention=train_config.flops_convention if train_config is not None else None,
        )

    def with_run_id(self, run_id: str) -> RunRecord:
        from dataclasses import replace

        return replace(self, run_id=run_id)

    def to_dict(self, *, curves: bool = True) -> dict:
        """The record as plain JSON-ready data; ``curves=False`` leaves the curves out
        (on disk they live in ``metrics.jsonl``)."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("curve", "val_curve"):
                if curves:
                    out[f.name] = [dict(r) for r in v]
                continue
            if isinstance(v, (ModelConfig, TrainConfig)):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> RunRecord:
        """Inverse of :meth:`to_dict`; also reads schema-1 records.

        Raises:
            RecordError: not a record (no status, unknown keys, bad values) or
                from a newer schema. The message starts with ``where``.
        """
        if not isinstance(d, dict):
            raise RecordError(f"{where}expected a JSON object, got {type(d).__name__}")
        version = d.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise RecordError(f"{where}schema_version {version!r} is newer than this version reads ({SCHEMA_VERSION})")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"schema_version"})
        if unknown:
            raise RecordError(f"{where}unknown key(s) {', '.join(unknown)}: not a run record")
        if "status" not in d:
            raise RecordError(f"{where}no 'status': not a run record")
        kw = {k: v for k, v in d.items() if k in names}
        try:
            if kw.get("model") is not None:
                kw["model"] = ModelConfig.from_dict(kw["model"])
            if kw.get("train_config") is not None:
                kw["train_config"] = TrainConfig.from_dict(kw["train_config"])
            for k in ("warnings", "curve", "val_curve"):
                if k in kw:
                    kw[k] = tuple(kw[k] or ())
            return cls(**kw)
        except RecordError as e:
            raise RecordError(f"{where}{e}") from None
        except (TypeError, ValueError) as e:
            raise RecordError(f"{where}{e}") from None


@dataclass(frozen=True)
class TrunkState:
    """How far a WSD trunk has been trained, and what it cost (``trunk.json`` in its folder).

    Attributes:
        trunk_id: the trunk's id in its sweep.
        steps: the furthest step trained and saved.
        step_flops: FLOPs of one step (under the sweep's convention).
        wall_time_s: wall time spent growing it, summed over growths.
        recreated_flops: FLOPs spent training again a prefix whose snapshot was lost.
    """

    trunk_id: str
    steps: int = 0
    step_flops: float = 0.0
    wall_time_s: float = 0.0
    recreated_flops: float = 0.0

    @property
    def flops(self) -> float:
        """FLOPs the trunk cost: each step once, plus any re-created prefixes."""
        return self.steps * self.step_flops + self.recreated_flops

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> TrunkState:
        """Inverse of :meth:`to_dict`.

        Raises:
            RecordError: not a trunk state.
        """
        if not isinstance(d, dict) or "trunk_id" not in d:
            raise RecordError(f"{where}not a trunk state (no 'trunk_id')")
        try:
            return cls(**{k: v for k, v in d.items() if k != "schema_version"})
        except TypeError as e:
            raise RecordError(f"{where}{e}") from None
