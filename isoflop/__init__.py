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
    "ScalingError": "isoflop.errors",
    "ConfigError": "isoflop.errors",
    "DataError": "isoflop.errors",
    "FitError": "isoflop.errors",
    "LawError": "isoflop.errors",
    "RecordError": "isoflop.errors",
    "SweepError": "isoflop.errors",
    "TableError": "isoflop.errors",
    # the model
    "ModelConfig": "isoflop.model.config",
    "shape_for_params": "isoflop.model.shapes",
    "param_counts": "isoflop.model.flops",
    "flops_per_token": "isoflop.model.flops",
    "Transformer": "isoflop.model.transformer",
    # data and training
    "load_corpus": "isoflop.data.corpus",
    "TrainConfig": "isoflop.train.config",
    "plan_run": "isoflop.train.plan",
    "train": "isoflop.train.loop",
    # run records
    "RunRecord": "isoflop.train.record",
    "RunFolder": "isoflop.runs.folder",
    # sweeps
    "SweepConfig": "isoflop.sweep.config",
    "load_sweep": "isoflop.sweep.config",
    "run_sweep": "isoflop.sweep.runner",
    "sweep_status": "isoflop.sweep.runner",
    "make_executor": "isoflop.sweep.executors",
    "Simulator": "isoflop.sweep.simulate",
    "Throughput": "isoflop.runs.throughput",
    "wall_time": "isoflop.runs.throughput",
    # sweep design
    "Design": "isoflop.design.candidates",
    "Prior": "isoflop.design.prior",
    "load_prior": "isoflop.design.prior",
    "plan_sweep": "isoflop.design.planner",
    "run_adaptive": "isoflop.design.adaptive",
    "recommend": "isoflop.design.recommend",
    "recommend_source": "isoflop.design.recommend",
    "Recommendation": "isoflop.design.recommend",
    "run_recommendation": "isoflop.design.recommend_check",
    "RecommendVerdict": "isoflop.design.recommend_check",
    # laws
    "RunTable": "isoflop.laws.table",
    "load_runs": "isoflop.laws.table_io",
    "analyze": "isoflop.laws.analyze",
    "AnalysisResult": "isoflop.laws.result",
    "Backtest": "isoflop.laws.backtest",
    "Answer": "isoflop.laws.answer",
    "choose_answer": "isoflop.laws.answer",
    "FitDocument": "isoflop.laws.document",
    "load_hparam_ladder": "isoflop.laws.ladder",
    "rules_moved": "isoflop.laws.moved",
    "RulesMoved": "isoflop.laws.moved",
    "plan_check": "isoflop.design.validate",
    "build_page": "isoflop.laws.page_build",
    "write_page": "isoflop.laws.page_build",
    "run_check": "isoflop.design.validate",
    "read_fit": "isoflop.laws.document",
    "backtest": "isoflop.laws.backtest",
    "rolling_backtest": "isoflop.laws.backtest",
    "backtest_source": "isoflop.laws.backtest",
    "BacktestReport": "isoflop.laws.backtest",
    "Reliability": "isoflop.laws.reliability",
    "screen_runs": "isoflop.laws.screen",
    "PRESETS": "isoflop.laws.audit",
    "Audit": "isoflop.laws.audit",
    "Law": "isoflop.laws.audit",
    "audit_run": "isoflop.laws.audit",
    "load_law": "isoflop.laws.audit",
    "preset_law": "isoflop.laws.audit",
    "save_figures": "isoflop.laws.plots",
    "analyze_groups": "isoflop.laws.groups",
    "fit_groups": "isoflop.laws.groups",
    "GroupedAnalysis": "isoflop.laws.groups",
    "load_curves": "isoflop.laws.curves.table",
    "CurveTable": "isoflop.laws.curves.table",
    "Curve": "isoflop.laws.curves.table",
    "fit_multipower": "isoflop.laws.curves.law",
    "fit_curves": "isoflop.laws.curves.fits",
    "CurveLaws": "isoflop.laws.curves.fits",
    "MultiPowerLaw": "isoflop.laws.curves.law",
    "Schedule": "isoflop.laws.curves.law",
    "CurveFit": "isoflop.laws.curves.law",
    "Surface": "isoflop.laws.surface",
    "parse_surface": "isoflop.laws.surface",
    "GroupResult": "isoflop.laws.groups",
    # estimators
    "BudgetFit": "isoflop.laws.fit.isoflop",
    "IsoFLOPFit": "isoflop.laws.fit.isoflop",
    "fit_budget": "isoflop.laws.fit.isoflop",
    "fit_isoflops": "isoflop.laws.fit.isoflop",
    "EnvelopeFit": "isoflop.laws.fit.envelope",
    "fit_envelope": "isoflop.laws.fit.envelope",
    "ParametricFit": "isoflop.laws.fit.parametric",
    "fit_parametric": "isoflop.laws.fit.parametric",
    "LogLinear": "isoflop.laws.fit.powerlaw",
    "PowerLaw": "isoflop.laws.fit.powerlaw",
    "Quadratic": "isoflop.laws.fit.powerlaw",
    "find_optimal_params": "isoflop.laws.fit.powerlaw",
    "fit_linear_log": "isoflop.laws.fit.powerlaw",
    "fit_power_law": "isoflop.laws.fit.powerlaw",
    "fit_vpnls": "isoflop.laws.fit.vpnls",
    "Counting": "isoflop.laws.fit.frontier",
    "Approach2Correction": "isoflop.laws.fit.correction",
    "correct_isoflops": "isoflop.laws.fit.correction",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # PEP 562: each public name is imported when first used
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'isoflop' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
