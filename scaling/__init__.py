"""scaling: compute-optimal scaling laws, from training sweeps to fitted laws you can trust.

Two sides, one way for data to flow: ``sweeps/x.toml`` -> :class:`SweepConfig`
-> runs (:func:`train`) -> :class:`RunRecord` folders -> a :class:`RunTable`
-> fits (:func:`analyze`) -> figures and reports.

Importing the package has no side effects: it reads no file, touches no
device, sets no global state, and does not import torch or matplotlib (the
names that need them load on first use).
"""

from __future__ import annotations

import importlib

#: Public name -> module that defines it.
_EXPORTS = {
    # errors
    "ScalingError": "scaling.errors", "ConfigError": "scaling.errors", "DataError": "scaling.errors",
    "FitError": "scaling.errors", "LawError": "scaling.errors", "RecordError": "scaling.errors",
    "SweepError": "scaling.errors", "TableError": "scaling.errors",
    # the model
    "ModelConfig": "scaling.model.config", "shape_for_params": "scaling.model.shapes",
    "param_counts": "scaling.model.flops", "flops_per_token": "scaling.model.flops",
    "Transformer": "scaling.model.transformer",
    # data and training
    "load_corpus": "scaling.data.corpus", "TrainConfig": "scaling.train.config", "plan_run": "scaling.train.plan",
    "train": "scaling.train.loop",
    # run records
    "RunRecord": "scaling.runs.record", "RunFolder": "scaling.runs.store",
    # sweeps
    "SweepConfig": "scaling.sweep.config", "load_sweep": "scaling.sweep.config", "run_sweep": "scaling.sweep.runner",
    "sweep_status": "scaling.sweep.runner", "make_executor": "scaling.sweep.executors",
    "Simulator": "scaling.sweep.simulate", "Throughput": "scaling.runs.throughput",
    # sweep design
    "Design": "scaling.design.candidates", "Prior": "scaling.design.prior", "load_prior": "scaling.design.prior",
    "plan_sweep": "scaling.design.planner", "run_adaptive": "scaling.design.adaptive",
    # laws
    "RunTable": "scaling.laws.table", "load_runs": "scaling.laws.table_io", "analyze": "scaling.laws.analyze",
    "AnalysisResult": "scaling.laws.result", "Backtest": "scaling.laws.backtest", "backtest": "scaling.laws.backtest",
    "PRESETS": "scaling.laws.audit", "Audit": "scaling.laws.audit", "Law": "scaling.laws.audit",
    "audit_run": "scaling.laws.audit", "load_law": "scaling.laws.audit", "preset_law": "scaling.laws.audit",
    "save_figures": "scaling.laws.plots", "analyze_groups": "scaling.laws.groups",
    "Surface": "scaling.laws.surface", "parse_surface": "scaling.laws.surface",
    "GroupResult": "scaling.laws.groups",
    # estimators
    "BudgetFit": "scaling.laws.fit.isoflop", "IsoFLOPFit": "scaling.laws.fit.isoflop",
    "fit_budget": "scaling.laws.fit.isoflop", "fit_isoflops": "scaling.laws.fit.isoflop",
    "EnvelopeFit": "scaling.laws.fit.envelope", "fit_envelope": "scaling.laws.fit.envelope",
    "ParametricFit": "scaling.laws.fit.parametric", "fit_parametric": "scaling.laws.fit.parametric",
    "LogLinear": "scaling.laws.fit.powerlaw", "PowerLaw": "scaling.laws.fit.powerlaw",
    "Quadratic": "scaling.laws.fit.powerlaw", "find_optimal_params": "scaling.laws.fit.powerlaw",
    "fit_linear_log": "scaling.laws.fit.powerlaw", "fit_power_law": "scaling.laws.fit.powerlaw",
    "fit_vpnls": "scaling.laws.fit.vpnls", "Counting": "scaling.laws.fit.frontier",
    "Approach2Correction": "scaling.laws.fit.correction", "correct_isoflops": "scaling.laws.fit.correction",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # PEP 562: each public name is imported when first used
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scaling' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
