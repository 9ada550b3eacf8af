"""Sweep files: a TOML file -> a validated :class:`SweepConfig`.

A sweep file (see ``sweeps/*.toml``)::

    name = "quick"
    corpus = "shakespeare"      # shakespeare | python (sympy's sources) | text:PATH | piglatin | synthetic
    tokenizer = "byte"          # byte | bpe:V
    seq_len = 128
    batch_size = 8              # sequences per step, or "fitted:PATH" (a batch ladder or its rules JSON): B*(D)
    flops_convention = "chinchilla"
    budgets = [1e11, 3e11, 1e12, 3e12]
    seeds = 1                   # repeats per (size, budget)
    device = "cpu"              # cpu | cuda | cuda:N | mps
    schedule = "wsd"            # wsd (warmup-stable-decay, the default; [train] cooldown_frac, cooldown_shape) | cosine
    warmup = "per-run"          # per-run (cosine's default): warmup_frac of each run's steps; largest-budget
                                #   (WSD's, and its only): warmup_frac of the largest budget's steps at that size
    cooldowns = "all"           # WSD only: all (every (size, budget) point trains its cooldown) | law (each size
                                #   trains its trunk and two cooldowns, its smallest and largest budget's; the
                                #   IsoFLOP points come from the loss-curve law, isoflop.laws.curves.profiles)
    # law_cooldowns = 3        # with cooldowns = "law": also the cooldown nearest the middle of each size's
                                #   budgets (2, the default: the smallest and largest only)
    # warmup_budget = 1.6e13    # optional: the budget whose steps set that shared warmup (default: the largest)
    threads = 1                 # per run
    aspect_ratio = 32           # the model family: d_model ≈ aspect_ratio × n_layers (within 2x)
    head_dim = 32               #   and heads of this size

    [sizes]                     # exactly one of:
    auto = { k = 5, span = 4.0, exponent = 0.5, anchor_flops = 1e12, anchor_params = 1.2e5 }
    # params = [3e4, 1e5, 3e5]
    # shapes = [{ n_layers = 2, d_model = 64, n_heads = 2 }]

    # lr_grid = [0.25, 0.5, 1, 2, 4]  # an LR ladder: every run at each multiple of its peak LR
                                     #   (fit it with `scaling ladder`)
    # batch_grid = [0.5, 1, 2]        # and at each multiple of batch_size (whole sequences): a batch ladder

    [train]                     # TrainConfig fields
    lr = 3e-3                   # omit for the width rule; "fitted:results/lr-ladder" for a fitted rule eta*(N)
    warmup_frac = 0.05

``auto`` sizes are k sizes log-spaced over [N*/span, N*·span] around each
budget's predicted optimum N*. The prediction starts from the prior
N* = anchor_params · (C / anchor_flops)^exponent and, once two or more budgets
have finished with trustworthy IsoFLOP parabolas, comes from the power law
fitted to them: a grid centred on the optimum keeps Approach 2 unbiased.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from isoflop.data.corpus import check_corpus_spec
from isoflop.errors import ConfigError, DataError, SweepError
from isoflop.laws.fit.hparams import PowerRule
from isoflop.laws.lr_rule import LRRule
from isoflop.model.config import ASPECT_RATIO, HEAD_DIM
from isoflop.model.flops import CONVENTIONS
from isoflop.sweep import hparams
from isoflop.sweep.sizes import AutoSizes, ParamSizes, ShapeSizes, Sizes, check_keys, parse_sizes
from isoflop.train.config import MAX_THREADS, TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SWEEP_KEYS = {
    "name",
    "corpus",
    "tokenizer",
    "seq_len",
    "batch_size",
    "flops_convention",
    "budgets",
    "seeds",
    "device",
    "threads",
    "pos_encoding",
    "sizes",
    "train",
    "checkpoint_every_s",
    "aspect_ratio",
    "head_dim",
    "schedule",
    "warmup",
    "warmup_budget",
    "lr_grid",
    "batch_grid",
    "cooldowns",
    "law_cooldowns",
}
WARMUPS = ("per-run", "largest-budget")
COOLDOWNS = ("all", "law")
# [train] takes TrainConfig's fields except those the sweep sets at the top level.
TRAIN_KEYS = {f.name for f in fields(TrainConfig)} - {
    "batch_size",
    "flops_convention",
    "threads",
    "schedule",
    "warmup_steps",
}
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep. See the module docstring for the TOML keys."""

    name: str
    budgets: tuple[float, ...]
    sizes: Sizes
    corpus: str = "shakespeare"
    tokenizer: str = "byte"
    seq_len: int = 128
    batch_size: int | str = 16
    flops_convention: str = "chinchilla"
    seeds: int = 1
    device: str = "cpu"
    threads: int = 1
    pos_encoding: str = "rotary"
    train: dict = field(default_factory=dict)
    checkpoint_every_s: float = 300.0
    aspect_ratio: int = ASPECT_RATIO
    head_dim: int = HEAD_DIM
    schedule: str = "wsd"
    warmup: str | None = None
    warmup_budget: float | None = None
    lr_grid: tuple[float, ...] = ()
    batch_grid: tuple[float, ...] = ()
    cooldowns: str = "all"
    law_cooldowns: int = 2
    lr_rule: LRRule | PowerRule | None = None
    batch_rule: PowerRule | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise SweepError(f"name ({self.name!r}) must be a non-empty string of letters, digits, '-', '_' or '.'")
        if not self.budgets or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < math.inf for b in self.budgets
        ):
            raise SweepError(f"budgets ({list(self.budgets)}) must be a non-empty list of positive, finite FLOP counts")
        if len(set(self.budgets)) != len(self.budgets):
            raise SweepError(f"budgets ({list(self.budgets)}) lists a budget twice")
        if not (
            isinstance(self.checkpoint_every_s, (int, float))
            and not isinstance(self.checkpoint_every_s, bool)
            and 0 < self.checkpoint_every_s < math.inf
        ):
            raise SweepError(f"checkpoint_every_s ({self.checkpoint_every_s!r}) must be a positive number of seconds")
        try:
            check_corpus_spec(self.corpus, self.tokenizer)
        except DataError as e:
            raise SweepError(str(e)) from None
        if self.flops_convention not in CONVENTIONS:
            raise SweepError(f"flops_convention ({self.flops_convention!r}) must be one of {', '.join(CONVENTIONS)}")
        for key in ("seq_len", "batch_size", "seeds", "threads", "aspect_ratio", "head_dim"):
            v = getattr(self, key)
            if key == "batch_size" and isinstance(v, str):  # "fitted:PATH", checked by hparams.resolve
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SweepError(f"{key} ({v!r}) must be a positive integer")
        if self.threads > MAX_THREADS:
            raise SweepError(f"threads ({self.threads}) must be at most {MAX_THREADS} per run")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise SweepError(f"device ({self.device!r}) must be cpu, cuda, cuda:N or mps")
        hparams.resolve(self)
        try:
            tc = self.train_config()
        except (ConfigError, TypeError) as e:
            raise SweepError(f"train: {e}") from None
        if self.warmup is not None and self.warmup not in WARMUPS:
            raise SweepError(f"warmup ({self.warmup!r}) must be one of {', '.join(WARMUPS)}")
        if self.schedule == "wsd" and self.warmup == "per-run":
            raise SweepError(
                'warmup ("per-run"): under WSD one trunk serves every budget, so it warms up for '
                'warmup_frac of the largest budget\'s steps; use "largest-budget" or leave it out'
            )
        if self.warmup_budget is not None and not (
            isinstance(self.warmup_budget, (int, float))
            and not isinstance(self.warmup_budget, bool)
            and self.warmup_budget > 0
        ):
            raise SweepError(f"warmup_budget ({self.warmup_budget!r}) must be a positive FLOP count")
        ref = self.warmup_reference
        if self.warmup_shared and self.schedule == "cosine" and tc.warmup_frac * ref >= min(self.budgets):
            raise SweepError(
                f'warmup ("largest-budget"): warmup_frac ({tc.warmup_frac:g}) of the largest budget\'s '
                f"steps is the whole of budget {min(self.budgets):.3g}'s run; lower train.warmup_frac "
                "or narrow the budgets"
            )
        if self.schedule == "wsd" and (1 - tc.cooldown_frac) * min(self.budgets) < tc.warmup_frac * ref:
            raise SweepError(
                f"budgets: under WSD every trunk warms up for warmup_frac ({tc.warmup_frac:g}) of the largest "
                f"budget's steps, so the cooldown of budget {min(self.budgets):.3g} would start before the warmup "
                f"ends; the budgets span {ref / min(self.budgets):.3g}x, at most "
                f"(1 - cooldown_frac) / warmup_frac = {(1 - tc.cooldown_frac) / max(tc.warmup_frac, 1e-12):.3g}x: "
                "lower train.warmup_frac or narrow the budgets"
            )
        if self.cooldowns not in COOLDOWNS:
            raise SweepError(f"cooldowns ({self.cooldowns!r}) must be one of {', '.join(COOLDOWNS)}")
        if self.cooldowns == "law" and self.schedule != "wsd":
            raise SweepError('cooldowns = "law" needs schedule = "wsd": the law predicts cooldowns off a trunk')
        if isinstance(self.law_cooldowns, bool) or self.law_cooldowns not in (2, 3):
            raise SweepError(f"law_cooldowns ({self.law_cooldowns!r}) must be 2 or 3")
        if self.law_cooldowns != 2 and self.cooldowns != "law":
            raise SweepError('law_cooldowns needs cooldowns = "law": it is how many cooldowns each size trains there')
        if self.cooldowns == "law" and isinstance(self.sizes, AutoSizes) and self.sizes.refine:
            raise SweepError(
                'cooldowns = "law" needs its sizes fixed up front (sizes.auto.refine = false): which cooldowns a '
                "size trains depends on every budget it serves"
            )
        if not isinstance(self.sizes, (AutoSizes, ParamSizes, ShapeSizes)):
            raise SweepError(f"sizes ({self.sizes!r}) must be AutoSizes, ParamSizes or ShapeSizes")

    @property
    def fixed_batch(self) -> int:
        """The sweep-wide batch in sequences (:func:`isoflop.sweep.hparams.fixed_batch`)."""
        return hparams.fixed_batch(self)

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes (sequences per step) of a fixed-batch sweep: ``batch_size`` times each multiplier of
        ``batch_grid``, or ``batch_size`` alone."""
        return tuple(int(round(g * self.fixed_batch)) for g in self.batch_grid) or (self.fixed_batch,)

    def run_batches(self, model, flops: float) -> tuple[int, ...]:
        """A size's batch sizes at a budget (:func:`isoflop.sweep.hparams.run_batches`)."""
        return hparams.run_batches(self, model, flops)

    def peak_lr(self, tc: TrainConfig, model, n_params: float, tokens: float = 0.0, batch_tokens: float = 0.0) -> float:
        """A run's peak LR (:func:`isoflop.sweep.hparams.peak_lr`)."""
        return hparams.peak_lr(self, tc, model, n_params, tokens, batch_tokens)

    @property
    def warmup_reference(self) -> float:
        """The budget whose steps set a shared warmup: ``warmup_budget``, else the largest budget. An adaptive
        sweep pins it, so that adding a budget above keeps every trunk it has grown."""
        return float(self.warmup_budget) if self.warmup_budget is not None else float(max(self.budgets))

    @property
    def warmup_shared(self) -> bool:
        """Every run of a size warms up as long: for ``warmup_frac`` of the largest budget's steps (always under
        WSD, whose trunks serve every budget; under cosine with ``warmup = "largest-budget"``)."""
        return self.schedule == "wsd" or self.warmup == "largest-budget"

    @property
    def sizes_per_budget(self) -> int:
        """Sizes asked for at each budget (auto: k)."""
        return self.sizes.per_budget

    @property
    def planned_runs(self) -> int:
        return (
            self.sizes_per_budget * len(self.budgets) * self.seeds * max(1, len(self.lr_grid)) * len(self.batch_sizes)
        )

    def family(self, vocab_size: int) -> dict:
        """The model family's keyword arguments for :mod:`isoflop.model.shapes`."""
        return {
            "vocab_size": vocab_size,
            "seq_len": self.seq_len,
            "pos_encoding": self.pos_encoding,
            "aspect_ratio": self.aspect_ratio,
            "head_dim": self.head_dim,
        }

    def train_config(self) -> TrainConfig:
        """The sweep's training settings (a fitted ``lr`` is resolved per run, by :meth:`peak_lr`)."""
        train = {k: v for k, v in self.train.items() if not (k == "lr" and isinstance(v, str))}
        return TrainConfig(
            batch_size=self.fixed_batch,
            flops_convention=self.flops_convention,
            threads=self.threads,
            schedule=self.schedule,
            **train,
        )

    def to_dict(self) -> dict:
        """The sweep as a TOML-shaped document (:meth:`from_dict` reads it back)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["sizes"] = self.sizes.to_dict()
        d["budgets"] = list(self.budgets)
        d["train"] = dict(self.train)
        d["lr_grid"] = list(self.lr_grid)
        if not self.lr_grid:  # as files written before the key existed
            d.pop("lr_grid")
        d["batch_grid"] = list(self.batch_grid)
        if not self.batch_grid:
            d.pop("batch_grid")
        if self.cooldowns == "all":
            d.pop("cooldowns")
        if self.law_cooldowns == 2:  # as files written before the key existed
            d.pop("law_cooldowns")
        d.pop("lr_rule")  # train.lr = "fitted:PATH" names it
        d.pop("batch_rule")  # batch_size = "fitted:PATH" names it
        return d

    @classmethod
    def from_dict(cls, doc: dict, where: str = "") -> SweepConfig:
        """Inverse of :meth:`to_dict`; also reads the ``sweep.json`` of older versions, whose
        sizes were the bare auto table or list."""
        doc = dict(doc)
        doc.setdefault("schedule", "cosine")  # folders written before the key existed ran cosine, then the default
        s = doc.get("sizes")
        if isinstance(s, dict) and s and not set(s) & {"auto", "params", "shapes"}:
            doc["sizes"] = {"auto": s}
        elif isinstance(s, list):
            doc["sizes"] = {"shapes" if s and isinstance(s[0], dict) else "params": s}
        return sweep_from_dict(doc, where)


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
    """Validate a parsed sweep document.

    Raises:
        SweepError: an unknown or missing key, or a bad value; the message starts with ``where``.
    """
    check_keys(where, doc, SWEEP_KEYS)
    for required in ("name", "budgets", "sizes"):
        if required not in doc:
            raise SweepError(f"{where}missing key '{required}'")
    sizes = parse_sizes(doc["sizes"], where)
    train = doc.get("train", {})
    if not isinstance(train, dict):
        raise SweepError(f"{where}train must be a table")
    check_keys(f"{where}train: ", train, TRAIN_KEYS)
    top = {k: v for k, v in doc.items() if k not in ("sizes", "train")}
    top["budgets"] = tuple(
        float(b) if isinstance(b, (int, float)) and not isinstance(b, bool) else b
        for b in (doc["budgets"] if isinstance(doc["budgets"], list) else [doc["budgets"]])
    )
    try:
        cfg = SweepConfig(sizes=sizes, train=dict(train), **top)
        sizes.check(cfg.seq_len)
    except SweepError as e:
        raise SweepError(f"{where}{e}") from None
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
    hparams.rule_beside(doc, p.parent)
    for o in overrides:  # an override's own fitted:PATH is the caller's, relative to where they stand
        apply_override(doc, o)
    return sweep_from_dict(doc, f"{p}: ")


def folder_sweep(folder: str | Path) -> SweepConfig | None:
    """The sweep that filled a results folder, from its ``sweep.json`` (None when it has none), its ``fitted:PATH``
    rules found from any working directory (:func:`~isoflop.sweep.hparams.rule_beside`).

    Raises:
        RecordError: the file is damaged.
        ConfigError: it holds no valid sweep (named).
    """
    from isoflop.runs.store import read_manifest

    p = Path(folder)
    doc = read_manifest(p)
    if doc is None:
        return None
    hparams.rule_beside(doc, p, written_before=True)
    return SweepConfig.from_dict(doc, f"{p / 'sweep.json'}: ")
