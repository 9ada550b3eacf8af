"""Sweeps: a model-size × FLOP-budget grid of runs, run once each, resumable.

* :mod:`~isoflop.sweep.config`: TOML sweep files -> :class:`SweepConfig` (sizes: auto, params or shapes).
* :mod:`~isoflop.sweep.plan`: each budget's runs as :class:`RunSpec` (auto sizes centred on the predicted optimum).
* :mod:`~isoflop.sweep.worker`: one run in an executor's process, written to its run folder.
* :mod:`~isoflop.sweep.runner`: :func:`run_sweep` and :func:`sweep_status`.
* :mod:`~isoflop.sweep.executors`: local process pool, Ray, SLURM (submitit).
* :mod:`~isoflop.sweep.progress`: progress read from disk.
"""

from isoflop.errors import SweepError
from isoflop.sweep.config import (
    AutoSizes,
    ParamSizes,
    ShapeSizes,
    SweepConfig,
    apply_override,
    load_sweep,
    sweep_from_dict,
)
from isoflop.sweep.executors import LocalExecutor, RayExecutor, SlurmExecutor, make_executor
from isoflop.sweep.plan import budget_models, budget_runs, predicted_optimum
from isoflop.sweep.runner import SweepStatus, run_sweep, sweep_dir_for, sweep_status
from isoflop.sweep.worker import execute_run
from isoflop.train.spec import RunSpec

__all__ = [
    "AutoSizes",
    "LocalExecutor",
    "ParamSizes",
    "RayExecutor",
    "RunSpec",
    "ShapeSizes",
    "SlurmExecutor",
    "SweepConfig",
    "SweepError",
    "SweepStatus",
    "apply_override",
    "budget_models",
    "budget_runs",
    "execute_run",
    "load_sweep",
    "make_executor",
    "predicted_optimum",
    "run_sweep",
    "sweep_dir_for",
    "sweep_from_dict",
    "sweep_status",
]
