"""Package-level behaviour: no import side effects, plots take ax=, curves feed Approach 1."""

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
from conftest import synthetic_runs, true_loss
from matplotlib.figure import Figure

import isoflop
from isoflop import analyze, load_runs
from isoflop.laws.plots import plot_isoflops, plot_optimal, plot_parametric


def test_import_has_no_heavy_side_effects():
    code = "import sys, isoflop; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    for name in (
        "load_runs",
        "fit_isoflops",
        "fit_power_law",
        "fit_parametric",
        "find_optimal_params",
        "fit_linear_log",
    ):
        assert name in isoflop.__all__ and callable(getattr(isoflop, name))


def test_plot_functions_draw_on_a_given_axes():
    df = synthetic_runs(noise=0.003, rng=np.random.default_rng(1))
    a = analyze(load_runs(df), n_bootstrap=30, targets=(1e23,))
    fig = Figure()
    axes = fig.subplots(1, 3)
    assert plot_isoflops(a, ax=axes[0]) is axes[0]
    assert plot_optimal(a, "params", ax=axes[1]) is axes[1]
    assert plot_parametric(a, ax=axes[2]) is axes[2]
    assert axes[0].get_xscale() == "log" and "parameters" in axes[0].get_xlabel()
    assert axes[0].get_title() == "IsoFLOP profiles"  # no budget was excluded, so the title names none
    assert len(axes[1].get_legend().get_texts()) == len(a.fitted) == 5  # one law per approach
    assert axes[2].get_yscale() == "log" and "FLOPs" in axes[2].get_xlabel()


def test_analysis_uses_training_curves_for_approach1_when_present():
    sizes = np.logspace(6, 9, 13)
    runs, rows = [], []
    for i, n in enumerate(sizes):
        d_end = 80 * n
        runs.append({"params": n, "tokens": d_end, "loss": true_loss(n, d_end)})
        for d in np.logspace(np.log10(d_end) - 2, np.log10(d_end), 30):
            rows.append({"run": i, "flops": 6 * n * d, "tokens": d, "loss": true_loss(n, d)})
    t = dataclasses.replace(load_runs(pd.DataFrame(runs)), curves=pd.DataFrame(rows))
    a = analyze(t, methods="approach1", n_bootstrap=20)
    assert a.approach1.source == "envelope of training curves"
    assert a.approach1.flops.size > 50
    lo, hi = a.interval("approach1", "params_exponent")
    assert lo - 1e-9 <= a.approach1.params_law.exponent <= hi + 1e-9
    assert any("single run" in n for n in a.notes)  # each run is its own budget here: said, not hidden


def test_an_interval_wider_than_the_chart_does_not_set_its_scale():
    # Three noisy budgets 2x apart, extrapolated over six decades: Approach 2's interval spans many decades,
    # and the chart's scale follows the estimates.
    df = synthetic_runs(budgets=(1e17, 1.4e17, 2e17), n_sizes=5, noise=0.05, rng=np.random.default_rng(0))
    res = analyze(load_runs(df), targets=[1e23], n_bootstrap=200, seed=0, methods=("approach2", "approach3"))
    ci = res.prediction("approach2", 1e23)["params_ci"]
    lo, hi = plot_optimal(res, "params").get_ylim()
    assert ci[1] / ci[0] > 1e30 and hi / lo < 1e7  # the decades of the estimates, not the interval's 44
    assert lo > ci[0] and hi < ci[1]


def test_one_method_parser_serves_every_command():
    import pytest

    from isoflop.errors import FitError
    from isoflop.laws.analyze import parse_methods
    from isoflop.laws.result import METHODS

    assert parse_methods("3, approach2") == ("approach2", "approach3")  # METHODS order, whatever was typed
    assert parse_methods(["vpnls", "2"]) == ("approach2", "vpnls") and parse_methods("all") == METHODS
    for bad in ("approach9", ""):
        with pytest.raises(FitError, match="unknown method"):
            parse_methods(bad)
