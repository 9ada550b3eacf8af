"""Sweep design: which runs buy the most certainty per FLOP.

``prior.py`` (what is believed before the sweep: surfaces to simulate from, and the noise),
``candidates.py`` (a design: budgets, sizes, seeds, schedule; its plan and cost on this machine),
``planner.py`` (simulate replicate sweeps of each candidate, fit them, rank by interval width at the
target), ``adaptive.py`` (re-plan the runs not yet started as budgets finish), ``decisions.py`` (its log of
decisions, from which a killed adaptive sweep resumes).
"""

from isoflop.design.candidates import Design, design_cost
from isoflop.design.planner import DesignScore, Plan, evaluate_design, plan_sweep
from isoflop.design.prior import Prior, default_prior, load_prior

__all__ = [
    "Design",
    "DesignScore",
    "Plan",
    "Prior",
    "default_prior",
    "design_cost",
    "evaluate_design",
    "load_prior",
    "plan_sweep",
]
