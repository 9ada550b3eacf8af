"""Sweeps: a TOML file -> a model-size × FLOP-budget grid of runs, run once each, resumable.

A sweep file (see ``sweeps/*.toml``)::

    name = "quick"
    corpus = "shakespeare"      # shakespeare | text:PATH | piglatin | synthetic
    tokenizer = "byte"          # byte | bpe:V
    seq_len = 128
    batch_size = 8
    flops_convention = "chinchilla"
    budgets = [1e11, 3e11, 1e12, 3e12]
    seeds = 1                   # repeats per (size, budget)
    device = "cpu"
    threads = 1                 # per run
    aspect_ratio = 32           # the model family: d_model ≈ aspect_ratio × n_layers (within 2x)
    head_dim = 32               #   and heads of this size

    [sizes]                     # exactly one of:
    auto = { k = 5, span = 4.0, exponent = 0.5, anchor_flops = 1e12, anchor_params = 1.2e5 }
    # params = [3e4, 1e5, 3e5]
    # shapes = [{ n_layers = 2, d_model = 64, n_heads = 2 }]

    [train]                     # TrainConfig fields
    lr = 3e-3                   # omit for the width rule
    warmup_frac = 0.05

``auto`` sizes are k sizes log-spaced over [N*/span, N*·span] around each
budget's predicted optimum N*. The prediction starts from the prior
N* = anchor_params · (C / anchor_flops)^exponent and, once two or more budgets
have finished with trustworthy IsoFLOP parabolas, comes from the power law
fitted to them: a grid centred on the optimum keeps Approach 2 unbiased.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from scaling.config import ASPECT_RATIO, HEAD_DIM, ModelConfig
from scaling.flops import CONVENTIONS, param_counts
from scaling.results import (
    append_metrics,
    collect,
    finite_json,
    iter_results,
    read_metrics,
    read_result,
    run_dir,
    write_json_atomic,
)
from scaling.train import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class SweepError(ValueError):
    """A sweep file or override is invalid; the message names the key, the value and the rule."""


SWEEP_KEYS = {"name", "corpus", "tokenizer", "seq_len", "batch_size", "flops_convention", "budgets", "seeds",
              "device", "threads", "pos_encoding", "sizes", "train", "checkpoint_every_s", "aspect_ratio", "head_dim"}
AUTO_KEYS = {"k", "span", "exponent", "anchor_flops", "anchor_params", "refine"}
SHAPE_KEYS = {"n_layers", "d_model", "n_heads"}
# [train] takes TrainConfig's fields except those the sweep sets at the top level.
TRAIN_KEYS = {f.name for f in fields(TrainConfig)} - {"batch_size", "flops_convention", "threads"}


@dataclass(frozen=True)
class AutoSizes:
    """``auto`` model sizes: k log-spaced sizes over ×span either way of the predicted optimum."""

    k: int = 5
    span: float = 4.0
    exponent: float = 0.5
    anchor_flops: float = 1e12
    anchor_params: float = 1e5
    refine: bool = True

    def __post_init__(self):
        if not isinstance(self.k, int) or self.k < 3:
            raise SweepError(f"sizes.auto.k ({self.k}) must be an integer of at least 3 (a parabola needs 3 sizes)")
        if not self.span > 1:
            raise SweepError(f"sizes.auto.span ({self.span}) must be greater than 1")
        if not 0 < self.exponent < 1:
            raise SweepError(f"sizes.auto.exponent ({self.exponent}) must be in (0, 1)")
        if not (self.anchor_flops > 0 and self.anchor_params > 0):
            raise SweepError("sizes.auto.anchor_flops and anchor_params must be positive")

    def prior(self, flops: float) -> float:
        """N* predicted by the prior law at C FLOPs."""
        return self.anchor_params * (flops / self.anchor_flops) ** self.exponent


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep. See the module docstring for the TOML keys."""

    name: str
    budgets: tuple[float, ...]
    sizes: object  # AutoSizes | tuple of float (params) | tuple of dict (shapes)
    corpus: str = "shakespeare"
    tokenizer: str = "byte"
    seq_len: int = 128
    batch_size: int = 16
    flops_convention: str = "chinchilla"
    seeds: int = 1
    device: str = "cpu"
    threads: int = 1
    pos_encoding: str = "rotary"
    train: dict = field(default_factory=dict)
    checkpoint_every_s: float = 300.0
    aspect_ratio: int = ASPECT_RATIO
    head_dim: int = HEAD_DIM

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise SweepError(f"name ({self.name!r}) must be a non-empty string of letters, digits, '-', '_' or '.'")
        if not self.budgets or not all(isinstance(b, (int, float)) and b > 0 for b in self.budgets):
            raise SweepError(f"budgets ({list(self.budgets)}) must be a non-empty list of positive FLOP counts")
        if self.flops_convention not in CONVENTIONS:
            raise SweepError(f"flops_convention ({self.flops_convention!r}) must be one of {', '.join(CONVENTIONS)}")
        for key in ("seq_len", "batch_size", "seeds", "threads", "aspect_ratio", "head_dim"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SweepError(f"{key} ({v!r}) must be a positive integer")
        try:
            self.train_config()
        except (ValueError, TypeError) as e:
            raise SweepError(f"train: {e}") from None

    @property
    def sizes_per_budget(self) -> int:
        """Sizes asked for at each budget (auto: k)."""
        return self.sizes.k if isinstance(self.sizes, AutoSizes) else len(self.sizes)

    @property
    def planned_runs(self) -> int:
        return self.sizes_per_budget * len(self.budgets) * self.seeds

    @property
    def planned_flops(self) -> float:
        return float(self.sizes_per_budget * self.seeds * sum(self.budgets))

    def train_config(self) -> TrainConfig:
        return TrainConfig(batch_size=self.batch_size, flops_convention=self.flops_convention, threads=self.threads,
                           **self.train)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = asdict(self.sizes) if isinstance(self.sizes, AutoSizes) else list(self.sizes)
        d["budgets"] = list(self.budgets)
        return d


def _check_keys(where: str, got: dict, allowed: set) -> None:
    unknown = sorted(set(got) - allowed)
    if unknown:
        raise SweepError(f"{where}unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                         f"(allowed: {', '.join(sorted(allowed))})")


def _parse_value(text: str):
    """An override's value as TOML would read it ("1e12" -> 1e12, "[1,2]" -> [1, 2], "cpu" -> "cpu")."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(doc: dict, assignment: str) -> None:
    """Apply ``key=value`` (dots for tables: ``train.lr=1e-3``, ``sizes.auto.k=7``) to a parsed sweep."""
    if "=" not in assignment:
        raise SweepError(f"--set {assignment!r}: expected key=value")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = doc
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise SweepError(f"--set {assignment!r}: '{p}' is not a table")
    node[parts[-1]] = _parse_value(text.strip())


def sweep_from_dict(doc: dict, where: str = "") -> SweepConfig:
    """Validate a parsed sweep document."""
    _check_keys(where, doc, SWEEP_KEYS)
    for required in ("name", "budgets", "sizes"):
        if required not in doc:
            raise SweepError(f"{where}missing key '{required}'")
    sizes = doc["sizes"]
    if not isinstance(sizes, dict):
        raise SweepError(f"{where}sizes must be a table with one of auto, params, shapes")
    _check_keys(f"{where}sizes: ", sizes, {"auto", "params", "shapes"})
    if len(sizes) != 1:
        raise SweepError(f"{where}sizes must have exactly one of auto, params, shapes (got {', '.join(sizes) or 'none'})")
    kind, val = next(iter(sizes.items()))
    if kind == "auto":
        val = {} if val is True else val
        if not isinstance(val, dict):
            raise SweepError(f"{where}sizes.auto must be a table (or true for the defaults)")
        _check_keys(f"{where}sizes.auto: ", val, AUTO_KEYS)
        try:
            parsed = AutoSizes(**val)
        except (SweepError, TypeError) as e:
            raise SweepError(f"{where}{e}" if isinstance(e, SweepError) else f"{where}sizes.auto: {e}") from None
    elif kind == "params":
        if not isinstance(val, list) or not val or not all(isinstance(v, (int, float)) and v > 0 for v in val):
            raise SweepError(f"{where}sizes.params ({val!r}) must be a non-empty list of positive parameter counts")
        parsed = tuple(float(v) for v in val)
    else:
        if not isinstance(val, list) or not val:
            raise SweepError(f"{where}sizes.shapes must be a non-empty list of tables")
        for i, s in enumerate(val):
            if not isinstance(s, dict):
                raise SweepError(f"{where}sizes.shapes[{i}] must be a table with n_layers, d_model, n_heads")
            _check_keys(f"{where}sizes.shapes[{i}]: ", s, SHAPE_KEYS)
            if set(s) != SHAPE_KEYS:
                raise SweepError(f"{where}sizes.shapes[{i}] needs n_layers, d_model and n_heads")
        parsed = tuple(dict(s) for s in val)
    train = doc.get("train", {})
    if not isinstance(train, dict):
        raise SweepError(f"{where}train must be a table")
    _check_keys(f"{where}train: ", train, TRAIN_KEYS)
    top = {k: v for k, v in doc.items() if k not in ("sizes", "train")}
    top["budgets"] = tuple(float(b) if isinstance(b, (int, float)) and not isinstance(b, bool) else b
                           for b in (doc["budgets"] if isinstance(doc["budgets"], list) else [doc["budgets"]]))
    try:
        cfg = SweepConfig(sizes=parsed, train=dict(train), **top)
    except SweepError as e:
        raise SweepError(f"{where}{e}") from None
    # Shapes must be valid models.
    if isinstance(parsed, tuple) and parsed and isinstance(parsed[0], dict):
        for i, s in enumerate(parsed):
            try:
                ModelConfig(vocab_size=256, seq_len=cfg.seq_len, **s)
            except (ValueError, TypeError) as e:
                raise SweepError(f"{where}sizes.shapes[{i}]: {e}") from None
    return cfg


def load_sweep(path: str | Path, overrides: tuple[str, ...] = ()) -> SweepConfig:
    """Read and validate a sweep file, applying ``key=value`` overrides.

    Raises:
        SweepError: unreadable TOML, an unknown key or a bad value (named).
    """
    p = Path(path)
    if not p.exists():
        raise SweepError(f"{p}: file not found")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SweepError(f"{p}: invalid TOML ({e})") from None
    for o in overrides:
        apply_override(doc, o)
    return sweep_from_dict(doc, f"{p}: ")


# ---------------------------------------------------------------------------
# Runs


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
        key = {"model": self.model.to_dict(), "budget": self.budget, "train": self.train.to_dict(), "corpus": self.corpus,
               "tokenizer": self.tokenizer, "seed": self.seed}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "model": self.model.to_dict(), "budget": self.budget, "train": self.train.to_dict(),
                "corpus": self.corpus, "tokenizer": self.tokenizer, "seed": self.seed, "device": self.device,
                "checkpoint_every_s": self.checkpoint_every_s}

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        t = dict(d["train"])
        t["betas"] = tuple(t["betas"])
        return cls(ModelConfig(**d["model"]), float(d["budget"]), TrainConfig(**t), d["corpus"], d["tokenizer"],
                   int(d["seed"]), d["device"], float(d.get("checkpoint_every_s", 300.0)))


def predicted_optimum(sweep: SweepConfig, flops: float, finished: list[dict]) -> tuple[float, str]:
    """N* at a budget for ``auto`` sizes: from the budgets already finished when two or more
    have trustworthy parabolas (and ``refine``), else the prior. Returns (N*, source)."""
    auto: AutoSizes = sweep.sizes
    if auto.refine and finished:
        from scaling.fit.isoflop import fit_isoflops

        ok = [r for r in finished if r.get("status") == "ok" and r.get("val_loss") is not None]
        if ok:
            f = fit_isoflops([r["n_params"] for r in ok], [r["tokens"] for r in ok], [r["val_loss"] for r in ok],
                             [r["budget_flops"] for r in ok])
            if f.params_law.success and len(f.used) >= 2:
                return float(f.params_law.predict(flops)), f"fit to {len(f.used)} finished budgets"
    return auto.prior(flops), "prior"


def models_for_params(sweep: SweepConfig, vocab_size: int, targets) -> list[ModelConfig]:
    """Distinct clean shapes of the sweep's family matching parameter-count targets.

    Tiny shapes are coarsely spaced, so rounding each target to its nearest
    shape can give the same shape twice and fewer sizes than asked for.
    Instead the targets are matched to distinct shapes minimising the total
    |log(N / target)| (an assignment problem, solved exactly).
    """
    from scipy.optimize import linear_sum_assignment

    shapes = ModelConfig.clean_shapes(vocab_size=vocab_size, seq_len=sweep.seq_len, pos_encoding=sweep.pos_encoding,
                                      aspect_ratio=sweep.aspect_ratio, head_dim=sweep.head_dim)
    sizes = np.array([param_counts(m).total for m in shapes], dtype=float)
    t = np.asarray(targets, dtype=float)
    # Prefer the family's own aspect ratio among shapes of (nearly) equal size.
    aspect = np.array([abs(math.log(m.d_model / (sweep.aspect_ratio * m.n_layers))) for m in shapes])
    cost = np.abs(np.log(sizes[None, :] / t[:, None])) + 1e-6 * aspect[None, :]
    rows, cols = linear_sum_assignment(cost)
    return [shapes[c] for _, c in sorted(zip(rows, cols))]


def budget_models(sweep: SweepConfig, flops: float, vocab_size: int, finished: list[dict]) -> list[ModelConfig]:
    """The distinct model shapes of one budget, smallest first."""
    if isinstance(sweep.sizes, AutoSizes):
        a = sweep.sizes
        center, _ = predicted_optimum(sweep, flops, finished)
        targets = center * np.logspace(-math.log10(a.span), math.log10(a.span), a.k)
        models = models_for_params(sweep, vocab_size, targets)
    elif sweep.sizes and isinstance(sweep.sizes[0], dict):
        models = [ModelConfig(vocab_size=vocab_size, seq_len=sweep.seq_len, pos_encoding=sweep.pos_encoding, **s)
                  for s in sweep.sizes]
    else:
        models = models_for_params(sweep, vocab_size, sweep.sizes)
    unique = {m: None for m in models}  # dedupe, keep order
    return sorted(unique, key=lambda m: param_counts(m).total)


def budget_runs(sweep: SweepConfig, flops: float, vocab_size: int, finished: list[dict]) -> list[RunSpec]:
    tc = sweep.train_config()
    return [RunSpec(m, float(flops), tc, sweep.corpus, sweep.tokenizer, seed, sweep.device, sweep.checkpoint_every_s)
            for m in budget_models(sweep, flops, vocab_size, finished) for seed in range(sweep.seeds)]


# ---------------------------------------------------------------------------
# Executing one run (in whatever process the executor gives it)


def execute_run(spec_dict: dict, sweep_dir: str, cache_dir: str | None = None) -> dict:
    """Run one spec and write its records; return a small summary.

    Never raises for a training failure: the run is recorded as failed with
    its error, so a sweep goes on. Safe to call again for an interrupted run:
    it resumes from the run's checkpoint (or starts over), and metrics from
    after the checkpoint are dropped so no step is logged twice.
    """
    from scaling.data import load_corpus
    from scaling.train import train

    spec = RunSpec.from_dict(spec_dict)
    d = run_dir(sweep_dir, spec.run_id)
    d.mkdir(parents=True, exist_ok=True)
    done = read_result(d)
    if done is not None:
        return {"run_id": spec.run_id, "status": done["status"], "skipped": True}
    write_json_atomic(d / "config.json", spec.to_dict())
    ckpt = d / "checkpoint.pt"
    metrics = d / "metrics.jsonl"
    kept_step = _checkpoint_step(ckpt)
    rows = read_metrics(metrics, max_step=kept_step)
    tmp = metrics.with_name("metrics.jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(metrics)
    try:
        data = load_corpus(spec.corpus, spec.tokenizer, cache_dir)
        res = train(spec.model, spec.budget, data, spec.train, device=spec.device, seed=spec.seed, cache_dir=cache_dir,
                    on_metrics=lambda new: append_metrics(metrics, new), checkpoint_path=ckpt,
                    checkpoint_every_s=spec.checkpoint_every_s)
        record = res.to_dict()
    except Exception as e:  # a bad corpus or config is this run's failure, not the sweep's
        record = failed_record(spec, f"{type(e).__name__}: {e}")
    record["run_id"] = spec.run_id
    write_json_atomic(d / "result.json", finite_json(record))
    if ckpt.exists():
        ckpt.unlink()
    return {"run_id": spec.run_id, "status": record["status"], "skipped": False}


def failed_record(spec: RunSpec, error: str) -> dict:
    """The result record of a run that produced no RunResult (it raised, or its worker died)."""
    return {"run_id": spec.run_id, "status": "failed", "error": error, "model": spec.model.to_dict(),
            "budget_flops": spec.budget, "seed": spec.seed, "flops_convention": spec.train.flops_convention}


def _checkpoint_step(path: Path) -> int:
    if not path.exists():
        return 0
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["step"])
    except Exception:  # a torn checkpoint is as good as none
        path.unlink(missing_ok=True)
        return 0


# ---------------------------------------------------------------------------
# Running a sweep


@dataclass(frozen=True)
class SweepStatus:
    """What a sweep folder holds."""

    name: str
    planned: int
    done: int
    ok: int
    diverged: int
    failed: int
    running_or_interrupted: int
    flops_done: float
    budgets: tuple[float, ...]


def sweep_dir_for(sweep: SweepConfig, results_root: str | Path = "results") -> Path:
    return Path(results_root) / sweep.name


def finished_records(sweep_dir: Path) -> list[dict]:
    return [r for _, r in iter_results(sweep_dir)]


def run_sweep(sweep: SweepConfig, executor, *, results_root: str | Path = "results", cache_dir: str | None = None,
              retry_failed: bool = False, progress=None) -> SweepStatus:
    """Run every missing run of a sweep, budget by budget (smallest first), and collect runs.csv.

    Finished runs (a ``result.json``) are skipped; failed ones are rerun with
    ``retry_failed``. ``auto`` sizes of a budget are decided when its turn
    comes, from the budgets finished by then.

    Args:
        sweep: the validated sweep.
        executor: an object with ``map(fn, list_of_args) -> list`` (see :mod:`scaling.executors`).
        results_root: folder holding ``<sweep name>/``.
        cache_dir: corpus cache passed to every run.
        retry_failed: rerun runs recorded as failed.
        progress: optional callable(event: dict) for display.
    """
    from scaling.data import load_corpus

    root = sweep_dir_for(sweep, results_root)
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "sweep.json", sweep.to_dict())
    vocab = load_corpus(sweep.corpus, sweep.tokenizer, cache_dir).vocab_size  # builds the cache once, up front
    for budget in sorted(sweep.budgets):
        finished = [r for r in finished_records(root) if r.get("budget_flops", 0) < budget]
        specs = budget_runs(sweep, budget, vocab, finished)
        todo = []
        for s in specs:
            r = read_result(run_dir(root, s.run_id))
            if r is not None and r.get("status") == "failed" and retry_failed:
                shutil.rmtree(run_dir(root, s.run_id))
                r = None
            if r is None:
                todo.append(s)
        if progress:
            progress({"event": "budget", "budget": budget, "runs": len(specs), "todo": len(todo),
                      "sizes": [param_counts(s.model).total for s in specs]})
        if todo:
            outcomes = executor.map(execute_run, [(s.to_dict(), str(root), cache_dir) for s in todo])
            for s, out in zip(todo, outcomes):
                # A worker that died (killed, out of memory, a crash in native code) left no record:
                # record the run as failed so the sweep goes on and --retry-failed can rerun it.
                if isinstance(out, BaseException) and read_result(run_dir(root, s.run_id)) is None:
                    write_json_atomic(run_dir(root, s.run_id) / "result.json",
                                      failed_record(s, f"worker died: {type(out).__name__}: {out}"))
    collect(root)
    return sweep_status(sweep, results_root)


def sweep_status(sweep: SweepConfig, results_root: str | Path = "results") -> SweepStatus:
    """Summarise a sweep folder on disk (planned counts assume the configured sizes per budget)."""
    root = sweep_dir_for(sweep, results_root)
    recs = finished_records(root)
    runs_root = root / "runs"
    started = sum(1 for p in runs_root.iterdir() if p.is_dir()) if runs_root.exists() else 0
    by = lambda s: sum(1 for r in recs if r.get("status") == s)  # noqa: E731
    return SweepStatus(sweep.name, sweep.planned_runs, len(recs), by("ok"), by("diverged"),
                       by("failed"), started - len(recs), float(sum(r.get("flops") or 0 for r in recs)),
                       tuple(sorted(sweep.budgets)))


__all__ = ["AutoSizes", "RunSpec", "SweepConfig", "SweepError", "SweepStatus", "apply_override", "budget_runs",
           "execute_run", "load_sweep", "run_sweep", "sweep_status"]
