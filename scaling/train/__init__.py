"""The training side: one model to one FLOP budget.

* :mod:`~scaling.train.config`: :class:`TrainConfig`.
* :mod:`~scaling.train.plan`: a budget as optimiser steps.
* :mod:`~scaling.train.optim`: AdamW and the learning-rate schedule.
* :mod:`~scaling.train.evaluate`: validation loss.
* :mod:`~scaling.train.checkpoint`: resumable state on disk.
* :mod:`~scaling.train.hardware`: peak FLOP/s, MFU, provenance, per-run precision.
* :mod:`~scaling.train.loop`: :func:`train`, which reads top to bottom.

Modules that need torch load on first use, so ``import scaling.train`` stays cheap.
"""

from scaling.train.config import TrainConfig
from scaling.train.plan import Plan, plan_run

__all__ = ["Plan", "TrainConfig", "default_lr", "lr_at", "plan_run", "train"]

_LAZY = {"train": "scaling.train.loop", "default_lr": "scaling.train.optim", "lr_at": "scaling.train.optim"}


def __getattr__(name):  # PEP 562: torch is imported only when training is asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scaling.train' has no attribute {name!r}")
