"""A sweep's learning rate and batch size: their grids (an LR or batch ladder) and the fitted rules that
``fitted:PATH`` names.

``lr_grid`` multiplies each run's peak LR and ``batch_grid`` its batch (whole sequences); ``train.lr =
"fitted:PATH"`` takes the peak LR from an LR ladder's η*(N) or a batch ladder's η*(N, D, B), and ``batch_size =
"fitted:PATH"`` the batch from a batch ladder's B* (:mod:`isoflop.laws.ladder`). A relative PATH in a sweep file
is read beside the file (:func:`rule_beside`). Every run's resolved LR and batch are explicit in its config.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from isoflop.errors import ConfigError, SweepError
from isoflop.laws.fit.hparams import PowerRule
from isoflop.train.config import TrainConfig

#: A :class:`~isoflop.sweep.config.SweepConfig` (not imported: the config calls this module as it is built).
SweepConfig = Any

FITTED = "fitted:"


def check_grid(key: str, grid, of: str) -> tuple[float, ...]:
    """A grid of two or more distinct positive multipliers (``of`` names what they multiply)."""
    if not isinstance(grid, (tuple, list)) or not all(
        isinstance(g, (int, float)) and not isinstance(g, bool) and 0 < g < 1e6 for g in grid
    ):
        raise SweepError(f"{key} ({grid!r}) must be a list of positive multipliers of {of}")
    if len(set(grid)) != len(grid) or (grid and len(grid) < 2):
        raise SweepError(f"{key} ({list(grid)!r}) needs two or more distinct multipliers")
    return tuple(float(g) for g in grid)


def _load_rule(sweep: SweepConfig, attr: str, key: str, value: str, what: str, load) -> None:
    """Load the rule ``key = "fitted:PATH"`` names onto ``sweep.<attr>`` (once); ``what`` is the other form the
    key may take."""
    if not value.startswith(FITTED) or not value[len(FITTED) :].strip():
        raise SweepError(f'{key} ({value!r}) must be {what} or "fitted:PATH" (a ladder folder or its JSON)')
    if getattr(sweep, attr) is None:
        try:
            object.__setattr__(sweep, attr, load(value[len(FITTED) :].strip()))
        except ConfigError as e:
            raise SweepError(f"{key}: {e}") from None


def resolve(sweep: SweepConfig) -> None:
    """Check the sweep's grids and load the rules its ``fitted:PATH`` values name (once), onto ``sweep``."""
    from isoflop.laws.ladder import load_batch_rule, load_lr_rule

    object.__setattr__(sweep, "lr_grid", check_grid("lr_grid", sweep.lr_grid, "the peak LR"))
    lr = sweep.train.get("lr") if isinstance(sweep.train, dict) else None
    if isinstance(lr, str):
        _load_rule(sweep, "lr_rule", "train: lr", lr, "a number", load_lr_rule)
    if isinstance(sweep.batch_size, str):
        _load_rule(sweep, "batch_rule", "batch_size", sweep.batch_size, "a positive integer", load_batch_rule)
    grid = check_grid("batch_grid", sweep.batch_grid, "batch_size")
    if grid and isinstance(sweep.batch_size, str):
        raise SweepError("batch_grid multiplies a fixed batch_size, not a fitted one; give batch_size a number")
    for g in grid:
        b = g * fixed_batch(sweep)
        if abs(b - round(b)) > 1e-9 or round(b) < 1:
            raise SweepError(
                f"batch_grid: {g:g} x batch_size ({fixed_batch(sweep)}) = {b:g} sequences; a batch must be a whole "
                "number of sequences (1 or more)"
            )
    object.__setattr__(sweep, "batch_grid", grid)


def fixed_batch(sweep: SweepConfig) -> int:
    """The sweep-wide batch (sequences per step): ``batch_size``, or with a fitted rule the rule's batch at the
    centre of its ladder (used only where a sweep-wide number is needed; each run has its own)."""
    if isinstance(sweep.batch_size, int):
        return sweep.batch_size
    assert sweep.batch_rule is not None, "a fitted batch_size has its rule"
    return max(1, int(round(sweep.batch_rule.value / sweep.seq_len)))


def run_batches(sweep: SweepConfig, model, flops: float) -> tuple[int, ...]:
    """The batch sizes (sequences per step) of a size's runs at a budget: with ``batch_size = "fitted:…"`` the
    rule's B* at the run's N, D and C, rounded to whole sequences (D is what the budget buys at that batch, so it
    is solved for by fixed point: a few iterations settle it); else the sweep's :attr:`batch_sizes`."""
    if sweep.batch_rule is None:
        return sweep.batch_sizes
    from isoflop.model.flops import param_counts
    from isoflop.train.plan import tokens_for

    n = float(param_counts(model).total)
    b = fixed_batch(sweep)
    for _ in range(8):
        d = tokens_for(flops, model, b, sweep.flops_convention)
        new = max(1, int(round(sweep.batch_rule.predict(N=n, D=d, C=flops) / sweep.seq_len)))
        if new == b:
            break
        b = new
    return (b,)


def peak_lr(
    sweep: SweepConfig, tc: TrainConfig, model, n_params: float, tokens: float = 0.0, batch_tokens: float = 0.0
) -> float:
    """A run's peak LR: the fitted rule at its N (and, for a batch ladder's η* law, its tokens D and batch B in
    tokens per step) times ``lr_scale`` when the sweep has one, else ``tc``'s own (an explicit ``lr`` or the
    width rule)."""
    if isinstance(sweep.lr_rule, PowerRule):
        eta = sweep.lr_rule.predict(N=n_params, D=max(tokens, 1.0), B=max(batch_tokens, 1.0))
        return float(f"{eta * tc.lr_scale:.4g}")
    if sweep.lr_rule is not None:
        return float(f"{sweep.lr_rule.lr(n_params) * tc.lr_scale:.4g}")
    return tc.peak_lr(model.d_model)


def rule_beside(doc: dict, folder: Path, written_before: bool = False) -> None:
    """A relative ``train.lr`` or ``batch_size = "fitted:PATH"`` in a sweep file, or in a folder's ``sweep.json``
    (:func:`rules_relative_to`), names PATH relative to the file's folder, so that the sweep means the same from
    any working directory; rewritten here relative to the current one. With ``written_before``, a PATH that is
    not there but is where it stands (a sweep.json written before its paths were kept relative to its folder,
    relative to the working directory then) is kept as it is."""
    for table, key, path in _fitted_paths(doc):
        beside = folder / path
        if not (written_before and not beside.exists() and path.exists()):
            table[key] = FITTED + os.path.relpath(beside)


def rules_relative_to(doc: dict, folder: Path) -> dict:
    """``doc`` (a resolved sweep, its relative ``fitted:PATH`` values relative to the working directory) with those
    PATHs relative to ``folder``, where its ``sweep.json`` is written: read back with :func:`rule_beside`, the
    folder names the same rules from any working directory."""
    out = copy.deepcopy(doc)
    for table, key, path in _fitted_paths(out):
        table[key] = FITTED + os.path.relpath(path, folder)
    return out


def _fitted_paths(doc: dict):
    """(table, key, PATH) for each relative ``fitted:PATH`` value of a sweep document (its ``train.lr`` and
    ``batch_size``)."""
    for table, key in ((doc.get("train"), "lr"), (doc, "batch_size")):
        if not isinstance(table, dict):
            continue
        v = table.get(key)
        if not (isinstance(v, str) and v.startswith(FITTED)):
            continue
        path = Path(v[len(FITTED) :].strip())
        if str(path) != "." and not path.is_absolute():  # "." is an empty PATH, refused where it is read
            yield table, key, path
