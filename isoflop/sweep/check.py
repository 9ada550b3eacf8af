"""A check run beyond a sweep: train at a budget above it, at the predicted N_opt and either side of it.

The check sweep keeps everything of the sweep it checks (corpus, family, schedule, training settings and LR
rule) but trains one budget C, at least the sweep's top budget and by default 5× above it, at
N_opt(C)/f, N_opt(C) and f·N_opt(C). Its folder is an ordinary sweep folder (``results/<name>-check``), so
``scaling fit`` reads it; :func:`isoflop.laws.check.judge_check` says whether its measured IsoFLOP minimum
landed inside the intervals the sweep predicted.
"""

from __future__ import annotations

from dataclasses import replace

from isoflop.errors import SweepError
from isoflop.sweep.config import SweepConfig
from isoflop.sweep.sizes import ParamSizes

#: A check budget at least this many times the sweep's top budget tests extrapolation, not interpolation.
MIN_FACTOR = 5.0


def check_budget(sweep: SweepConfig, budget: float) -> None:
    """Refuse a check budget below the sweep's top budget (a check must extrapolate).

    Raises:
        SweepError: naming both budgets and the budget that would test extrapolation.
    """
    top = max(sweep.budgets)
    if not (isinstance(budget, (int, float)) and budget >= top):
        raise SweepError(
            f"check budget ({budget:.3g}) is below the sweep's top budget ({top:.3g}): a check must "
            f"extrapolate (use at least {MIN_FACTOR:g}x, {MIN_FACTOR * top:.3g})"
        )


def check_sweep(
    sweep: SweepConfig, n_opt: float, budget: float, factor: float = 3.0, seeds: int = 1, name: str | None = None
) -> SweepConfig:
    """The check sweep of ``sweep`` at ``budget``: sizes N_opt/factor, N_opt, factor·N_opt.

    Raises:
        SweepError: a budget below the sweep's top budget, or a non-positive N_opt or factor ≤ 1.
    """
    check_budget(sweep, budget)
    if not (n_opt > 0 and factor > 1):
        raise SweepError(f"check: N_opt ({n_opt:.3g}) must be positive and the size factor ({factor}) above 1")
    sizes = ParamSizes((float(f"{n_opt / factor:.4g}"), float(f"{n_opt:.4g}"), float(f"{n_opt * factor:.4g}")))
    return replace(
        sweep,
        name=name or f"{sweep.name}-check",
        budgets=(float(budget),),
        sizes=sizes,
        seeds=seeds,
        warmup_budget=None,
        lr_grid=(),
        batch_grid=(),
    )
