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
import os
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
            if key == "batch_size" and isinstance(v, str):  # "fitted:PATH", checked by _resolve_batches
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SweepError(f"{key} ({v!r}) must be a positive integer")
        if self.threads > MAX_THREADS:
            raise SweepError(f"threads ({self.threads}) must be at most {MAX_THREADS} per run")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise SweepError(f"device ({self.device!r}) must be cpu, cuda, cuda:N or mps")
        self._resolve_lr()
        self._resolve_batches()
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
        if self.cooldowns == "law" and isinstance(self.sizes, AutoSizes) and self.sizes.refine:
            raise SweepError(
                'cooldowns = "law" needs its sizes fixed up front (sizes.auto.refine = false): which cooldowns a '
                "size trains depends on every budget it serves"
            )
        if not isinstance(self.sizes, (AutoSizes, ParamSizes, ShapeSizes)):
            raise SweepError(f"sizes ({self.sizes!r}) must be AutoSizes, ParamSizes or ShapeSizes")

    def _resolve_lr(self) -> None:
        """Check ``lr_grid`` and load the rule that ``train.lr = "fitted:PATH"`` names (once)."""
        grid = self.lr_grid
        if not isinstance(grid, (tuple, list)) or not all(
            isinstance(g, (int, float)) and not isinstance(g, bool) and 0 < g < 1e6 for g in grid
        ):
            raise SweepError(f"lr_grid ({grid!r}) must be a list of positive multipliers of the peak LR")
        if len(set(grid)) != len(grid) or (grid and len(grid) < 2):
            raise SweepError(f"lr_grid ({list(grid)!r}) needs two or more distinct multipliers")
        object.__setattr__(self, "lr_grid", tuple(float(g) for g in grid))
        lr = self.train.get("lr") if isinstance(self.train, dict) else None
        if not isinstance(lr, str):
            return
        if not lr.startswith("fitted:") or not lr[len("fitted:") :].strip():
            raise SweepError(f'train: lr ({lr!r}) must be a number or "fitted:PATH" (a ladder folder or lr_rule.json)')
        if self.lr_rule is None:
            from isoflop.laws.ladder import load_lr_rule

            try:
                object.__setattr__(self, "lr_rule", load_lr_rule(lr[len("fitted:") :].strip()))
            except ConfigError as e:
                raise SweepError(f"train: lr: {e}") from None

    def _resolve_batches(self) -> None:
        """Check ``batch_grid``: two or more distinct multipliers of ``batch_size``, each a whole number of
        sequences."""
        grid = self.batch_grid
        if isinstance(self.batch_size, str):
            self._resolve_batch_rule()
        if not isinstance(grid, (tuple, list)) or not all(
            isinstance(g, (int, float)) and not isinstance(g, bool) and 0 < g < 1e6 for g in grid
        ):
            raise SweepError(f"batch_grid ({grid!r}) must be a list of positive multipliers of batch_size")
        if len(set(grid)) != len(grid) or (grid and len(grid) < 2):
            raise SweepError(f"batch_grid ({list(grid)!r}) needs two or more distinct multipliers")
        if grid and isinstance(self.batch_size, str):
            raise SweepError("batch_grid multiplies a fixed batch_size, not a fitted one; give batch_size a number")
        for g in grid:
            b = g * self.fixed_batch
            if abs(b - round(b)) > 1e-9 or round(b) < 1:
                raise SweepError(
                    f"batch_grid: {g:g} x batch_size ({self.fixed_batch}) = {b:g} sequences; a batch must be a whole "
                    "number of sequences (1 or more)"
                )
        object.__setattr__(self, "batch_grid", tuple(float(g) for g in grid))

    def _resolve_batch_rule(self) -> None:
        """Load the rule that ``batch_size = "fitted:PATH"`` names (once)."""
        b = str(self.batch_size)
        if not b.startswith("fitted:") or not b[len("fitted:") :].strip():
            raise SweepError(
                f'batch_size ({b!r}) must be a positive integer or "fitted:PATH" (a batch ladder or its JSON)'
            )
        if self.batch_rule is None:
            from isoflop.laws.ladder import load_batch_rule

            try:
                object.__setattr__(self, "batch_rule", load_batch_rule(b[len("fitted:") :].strip()))
            except ConfigError as e:
                raise SweepError(f"batch_size: {e}") from None

    @property
    def fixed_batch(self) -> int:
        """The sweep-wide batch (sequences per step): ``batch_size``, or with a fitted rule the rule's batch at
        the centre of its ladder (used only where a sweep-wide number is needed; each run has its own)."""
        if isinstance(self.batch_size, int):
            return self.batch_size
        assert self.batch_rule is not None, "a fitted batch_size has its rule"
        return max(1, int(round(self.batch_rule.value / self.seq_len)))

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes (sequences per step) of a fixed-batch sweep: ``batch_size`` times each multiplier of
        ``batch_grid``, or ``batch_size`` alone (a fitted batch_size: its batch at the ladder's centre)."""
        return tuple(int(round(g * self.fixed_batch)) for g in self.batch_grid) or (self.fixed_batch,)

    def run_batches(self, model, flops: float) -> tuple[int, ...]:
        """The batch sizes (sequences per step) of a size's runs at a budget: with ``batch_size = "fitted:…"`` the
        rule's B* at the run's N, D and C, rounded to whole sequences (D is what the budget buys at that batch,
        so it is solved for by fixed point: a few iterations settle it); else :attr:`batch_sizes`."""
        if self.batch_rule is None:
            return self.batch_sizes
        from isoflop.model.flops import param_counts
        from isoflop.train.plan import steps_for

        n = float(param_counts(model).total)
        b = self.fixed_batch
        for _ in range(8):
            d = steps_for(flops, model, b, self.flops_convention) * b * self.seq_len
            new = max(1, int(round(self.batch_rule.predict(N=n, D=max(d, 1), C=flops) / self.seq_len)))
            if new == b:
                break
            b = new
        return (b,)

    def peak_lr(self, tc: TrainConfig, model, n_params: float, tokens: float = 0.0, batch_tokens: float = 0.0) -> float:
        """A run's peak LR: the fitted rule at its N (and, for a batch ladder's η* law, its tokens D and batch B
        in tokens per step) times ``lr_scale`` when the sweep has one, else ``tc``'s own (an explicit ``lr`` or
        the width rule)."""
        if isinstance(self.lr_rule, PowerRule):
            eta = self.lr_rule.predict(N=n_params, D=max(tokens, 1.0), B=max(batch_tokens, 1.0))
            return float(f"{eta * tc.lr_scale:.4g}")
        if self.lr_rule is not None:
            return float(f"{self.lr_rule.lr(n_params) * tc.lr_scale:.4g}")
        return tc.peak_lr(model.d_model)

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
    _rule_beside(doc, p.parent)
    for o in overrides:  # an override's own fitted:PATH is the caller's, relative to where they stand
        apply_override(doc, o)
    return sweep_from_dict(doc, f"{p}: ")


def _rule_beside(doc: dict, folder: Path) -> None:
    """A relative ``train.lr = "fitted:PATH"`` in a sweep file names PATH relative to the file's folder, so
    that the sweep means the same from any working directory; rewritten here relative to the current one."""
    train = doc.get("train")
    for table, key in ((train, "lr"), (doc, "batch_size")):
        if not isinstance(table, dict):
            continue
        v = table.get(key)
        if not (isinstance(v, str) and v.startswith("fitted:")):
            continue
        path = Path(v[len("fitted:") :].strip())
        if str(path) != "." and not path.is_absolute():  # "." is an empty PATH, refused where it is read
            table[key] = "fitted:" + os.path.relpath(folder / path)
