"""The training side: one model to one FLOP budget.

* :mod:`~isoflop.train.config`: :class:`TrainConfig`.
* :mod:`~isoflop.train.plan`: a budget as optimiser steps.
* :mod:`~isoflop.train.optim`: AdamW and the learning rate at each step of a run.
* :mod:`~isoflop.train.evaluate`: validation loss.
* :mod:`~isoflop.train.trainer`: model, optimiser and batch order, seeded, with their saved form.
* :mod:`~isoflop.train.checkpoint`: resumable state on disk.
* :mod:`~isoflop.train.hardware`: peak FLOP/s, MFU, provenance, per-run precision.
* :mod:`~isoflop.train.loop`: :func:`train`, which reads top to bottom.
* :mod:`~isoflop.train.branch`: WSD trunks and their cooldown branches.
* :mod:`~isoflop.train.record`: :class:`RunRecord`, what a run returns, one schema both ways.

Modules that need torch load on first use, so ``import isoflop.train`` stays cheap.
"""

from isoflop.train.config import TrainConfig
from isoflop.train.plan import Plan, plan_run

__all__ = ["Plan", "TrainConfig", "default_lr", "lr_at", "plan_run", "train"]

_LAZY = {"train": "isoflop.train.loop", "default_lr": "isoflop.train.optim", "lr_at": "isoflop.schedules"}


def __getattr__(name):  # PEP 562: torch is imported only when training is asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'isoflop.train' has no attribute {name!r}")
