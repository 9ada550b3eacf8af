"""How a change of rules moves the law: two sweeps of one plan on surfaces of known a, fitted side by side."""

import pytest
from click.testing import CliRunner
from conftest import write

from isoflop.cli import main
from isoflop.laws.moved import rules_moved
from isoflop.laws.surface import Surface
from isoflop.sweep import load_sweep, run_sweep
from isoflop.sweep.executors import make_executor
from isoflop.sweep.simulate import Simulator

SWEEP = """
name = "sim"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [2e9, 8e9, 3.2e10, 1.28e11]
threads = 1
schedule = "cosine"
seeds = 2
[sizes]
params = [4e3, 8e3, 1.6e4, 3.2e4, 6.4e4, 1.28e5, 2.56e5, 5.12e5, 1.024e6, 2.048e6]
"""


def _folder(tmp_path, root, surface):
    sw = load_sweep(write(tmp_path, SWEEP))
    run_sweep(sw, make_executor("local", threads_per_run=1), results_root=tmp_path / root, simulate=surface)
    return str(tmp_path / root / "sim")


def test_the_law_under_each_rule_is_recovered_and_set_side_by_side(tmp_path):
    """a = β/(α+β) of each surface (0.5, then 0.6), recovered by the parametric fit; N_opt at the target moves by the answers' ratio; the
    where filter keeps one seed of each."""
    old = Surface(E=1.5, A=100.0, B=100.0, alpha=0.35, beta=0.35, name="old")
    new = Surface(E=1.5, A=100.0, B=100.0, alpha=0.28, beta=0.42, name="new")
    before = _folder(tmp_path, "before", Simulator(old, sigma=0.0))
    after = _folder(tmp_path, "after", Simulator(new, sigma=0.0))
    m = rules_moved(before, after, 1e13, ("seed=0",), methods="approach2,vpnls", n_bootstrap=30, seed=0)
    assert m.before.runs == m.after.runs == 40 and m.before.budgets == 4
    assert m.before.a["vpnls"][0] == pytest.approx(0.5, abs=1e-3)
    assert m.after.a["vpnls"][0] == pytest.approx(0.6, abs=1e-3)
    # the parabolas of one fixed grid of sizes are biased, but they move the way the surfaces do
    assert m.after.a["approach2"][0] > m.before.a["approach2"][0] + 0.05
    lo, hi = m.before.a["approach2"][1]
    assert lo <= m.before.a["approach2"][0] <= hi
    text = "\n".join(m.lines())
    ratio = m.after.answer.params / m.before.answer.params
    assert ratio > 1 and f"moved {ratio:.2f}x" in text and text.count("a = ") == 2


def test_before_without_after_is_one_line_and_exit_2(tmp_path):
    r = CliRunner().invoke(main, ["ladder", str(tmp_path), "--before", str(tmp_path)])
    assert r.exit_code == 2 and "--before and --after" in r.output and "Traceback" not in r.output
