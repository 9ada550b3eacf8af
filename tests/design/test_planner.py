"""The planner: candidate designs scaled to a cost cap, simulated from a prior, fitted and ranked."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write

from isoflop.cli import main
from isoflop.design import Design, Prior, design_cost, load_prior, plan_sweep
from isoflop.design.candidates import fill, parse_duration, plan_specs, to_toml
from isoflop.design.planner import evaluate_design
from isoflop.errors import ConfigError, LawError
from isoflop.laws.surface import Surface
from isoflop.runs.throughput import Throughput
from isoflop.sweep import load_sweep
from isoflop.sweep.config import sweep_from_dict, tomllib

BASE = """
name = "base"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [1e9]
threads = 1
head_dim = 16
[sizes]
params = [1e4, 2e4, 4e4]
"""
SURFACE = Surface(E=1.0, A=100.0, B=100.0, alpha=0.35, beta=0.35, name="truth")
TP = Throughput(np.log(1e9), 0.0, (1e3, 1e7), 2, "test: 1 GFLOP/s")


def _base():
    return sweep_from_dict(tomllib.loads(BASE))


def test_a_design_is_scaled_to_spend_its_cap():
    d = Design("cosine", 4, 2.0, 4, 3.0, 1, 1e10)
    got = fill(d, _base(), 64, SURFACE, TP, 2, 600.0, None)
    assert got is not None
    design, sweep, specs, cost = got
    assert 0.9 * 600 <= cost.wall_s <= 1.03 * 600
    assert sweep.budgets == design.budgets and len(specs) == 16
    # cost: FLOPs at 1 GFLOP/s over 2 workers
    assert cost.run_s == pytest.approx(cost.flops / 1e9, rel=1e-9)
    # the sizes are centred on the prior's optimum (in log N) at every budget
    for b in sweep.budgets:
        ns = sorted({s.model for s in specs if s.budget == b}, key=lambda m: m.d_model * m.n_layers)
        assert len(ns) == 4
    # WSD: the same cap buys larger budgets, since trunks are shared
    w = fill(Design("wsd", 4, 2.0, 4, 3.0, 1, 1e10), _base(), 64, SURFACE, TP, 2, 600.0, None)
    assert w is not None and w[0].top > design.top
    assert design_cost(w[2], TP, 2).flops < sum(s.budget for s in w[2])


def test_the_written_design_reads_back(tmp_path):
    d = Design("wsd", 3, 2.0, 4, 2.5, 2, 4e10)
    sw = d.sweep(_base(), (0.5, 1e10, 3e4), name="planned")
    path = write(tmp_path, to_toml(sw, "a header\nof two lines", folder=tmp_path))
    back = load_sweep(path)
    assert back.budgets == sw.budgets and back.seeds == 2 and back.schedule == "wsd"
    assert back.sizes == sw.sizes and back.train == sw.train
    assert plan_specs(back, 64) == plan_specs(sw, 64)


def test_a_design_written_elsewhere_keeps_its_fitted_rule(tmp_path):
    """A base sweep whose LR is a fitted rule named relative to its own file (sweeps/answer.toml's
    "fitted:../results/answer-lr-ladder/lr_rule.json"), planned and written into another folder, names the same
    rule there: read back, its runs have the same peak LRs."""
    base = load_sweep("sweeps/answer.toml")
    d = Design("wsd", 3, 2.0, 4, 2.5, 1, 4e10)
    sw = d.sweep(base, (0.5, 1e10, 3e4), name="planned")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    back = load_sweep(write(deep, to_toml(sw, "elsewhere", folder=deep)))
    assert back.lr_rule == sw.lr_rule is not None
    vocab = 256
    assert [s.train.lr for s in plan_specs(back, vocab)] == [s.train.lr for s in plan_specs(sw, vocab)]


def test_evaluation_recovers_the_truth_when_noise_is_small():
    d = Design("cosine", 5, 2.0, 6, 4.0, 1, 2e10)
    _, sweep, specs, _ = fill(d, _base(), 64, SURFACE, TP, 2, None, 2e12)
    prior = Prior((SURFACE,), 0.002, 0.0, "exact")
    out = evaluate_design(specs, prior, 1e14, ("approach2", "vpnls"), 3, 40, 0)
    for m in ("approach2", "vpnls"):
        assert out[m]["failed"] == 0 and len(out[m]["width"]) == 3
        assert all(1 < w < 3 for w in out[m]["width"])
        assert max(abs(e) for e in out[m]["err"]) < 0.1  # decades


def test_plan_ranks_designs_and_respects_the_cap():
    prior = Prior((SURFACE,), 0.005, 0.0, "exact")
    designs = [
        Design("cosine", 4, 2.0, 4, 3.0, 1, 1e10),
        Design("cosine", 4, 2.0, 4, 3.0, 2, 1e10),
        Design("wsd", 4, 2.0, 4, 3.0, 1, 1e10),
    ]
    plan = plan_sweep(
        prior,
        _base(),
        64,
        1e13,
        cap_s=300.0,
        methods=("approach2", "vpnls"),
        throughput=TP,
        replicates=3,
        screen=2,
        finalists=2,
        n_bootstrap=30,
        designs=designs,
    )
    assert len(plan.scores) == 2 and len(plan.screened_out) == 1
    assert plan.scores[0].score(plan.methods) <= plan.scores[1].score(plan.methods)
    assert all(s.cost.wall_s <= 1.03 * 300 for s in plan.scores)
    assert plan.best.replicates == 3 and plan.screened_out[0].replicates == 2
    doc = plan.to_dict()
    assert json.loads(json.dumps(doc))["designs"][0]["design"] == plan.best.design.label
    with pytest.raises(ConfigError, match="too small for even the cheapest design"):
        plan_sweep(prior, _base(), 64, 1e13, cap_s=0.001, methods=("approach2",), throughput=TP, designs=designs)


def test_priors(tmp_path):
    from conftest import synthetic_runs

    from isoflop import analyze, load_runs

    res = analyze(load_runs(synthetic_runs(noise=0.01, rng=np.random.default_rng(0))), methods="vpnls", n_bootstrap=40)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(res.to_dict()))
    p = load_prior(str(path))
    assert len(p.surfaces) == 41 and 0.005 < p.sigma < 0.02
    rng = np.random.default_rng(0)
    assert p.draw(rng) in p.surfaces[1:]
    table = tmp_path / "runs.csv"
    synthetic_runs().to_csv(table, index=False)
    assert load_prior(str(table), bootstrap=20).point.alpha == pytest.approx(0.34, rel=1e-3)
    bad = write(tmp_path, "hello world\n", "notes.txt")
    with pytest.raises(LawError, match="neither a fit JSON nor a loss table"):
        load_prior(str(bad))
    with pytest.raises(LawError, match="not found"):
        load_prior(str(tmp_path / "missing"))
    wide = load_prior(None)
    assert "wide default" in wide.source and len(wide.surfaces) > 100


def test_plan_takes_the_law_error_it_is_given(tmp_path):
    """--law-bump reaches the prior the law designs are simulated with (the plan then stops at its tiny cap)."""
    from isoflop.design.law_error import LAW_BUMP

    base = write(tmp_path, BASE, "base.toml")
    args = ["plan", "--target", "1e13", "--flops", "1e6", "--base", str(base), "--law", "--law-bump", "0.01,0.02"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "law designs' error: a ~ N(0.01, 0.02)" in r.output, r.output
    r = CliRunner().invoke(main, [*args[:-2]])
    assert f"law designs' error: a ~ N{LAW_BUMP}" in r.output and LAW_BUMP != (0.01, 0.02), r.output


def test_durations():
    assert parse_duration("1h") == 3600 and parse_duration("40min") == 2400 and parse_duration("90s") == 90
    assert parse_duration("2400") == 2400
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--prior", "{notes}", "--cost", "1h"], "neither a fit JSON nor a loss table"),
        (["--flops", "1e6", "--base", "{base}"], "too small for even the cheapest design"),
        (["--cost", "forever"], "not a duration"),
        (["--flops", "-1"], "must be positive"),
        (["--cost", "1h", "--flops", "1e14"], "one of them"),
        (["--cost", "1h", "--method", "approach2,approach9"], "unknown method 'approach9'"),
        (["--cost", "1h", "--law", "--law-bump", "0.01"], "not two numbers, as MEAN,SD"),
        (["--cost", "1h", "--law", "--law-bump", "0.01,-0.02"], "law_bump ((0.01, -0.02)) must be (mean, sd)"),
        (["--cost", "1h", "--law-bump", "0.01,0.02"], "give --law too"),
    ],
)
def test_plan_bad_input_is_one_line(tmp_path, args, says):
    notes = write(tmp_path, "hello\n", "notes.txt")
    base = write(tmp_path, BASE, "base.toml")
    args = [a.format(notes=notes, base=base) for a in args]
    r = CliRunner().invoke(main, ["plan", "--target", "1e13", *args])
    assert r.exit_code == 2, r.output
    assert says in r.output and "Traceback" not in r.output


def test_the_planner_simulates_a_law_design_as_its_whole_grid(tmp_path):
    """A cooldowns = "law" design trains two cooldowns per size and is read as every size at every budget:
    the planner costs the first and simulates the second, the points the law predicts moved by its error
    (zero at a trunk's trained budgets, a bump between them), and the written sweep says cooldowns = "law"."""
    from dataclasses import replace

    from isoflop.design.candidates import candidates, design_cost, grid_specs
    from isoflop.design.planner import law_errors, law_noise

    d = Design("wsd", 5, 2.0, 4, 3.0, 1, 2e10, "law")
    assert "wsd-law" in d.label
    _, sweep, specs, cost = fill(d, _base(), 64, SURFACE, TP, 2, None, 2e12)
    grid = grid_specs(sweep, 64)
    assert sweep.cooldowns == "law" and grid is not None and grid_specs(replace(sweep, cooldowns="all"), 64) is None
    assert {s.run_id for s in specs} < {s.run_id for s in grid}  # the trained points are some of the grid's
    assert cost.runs == len(specs) < len(grid) and cost.flops < design_cost(grid, TP, 2).flops
    back = load_sweep(write(tmp_path, to_toml(sweep, "a law design", folder=tmp_path)))
    assert back.cooldowns == "law" and plan_specs(back, 64) == specs

    rng = np.random.default_rng(0)
    ran = {s.run_id for s in specs}
    err = law_errors(grid, specs, (0.02, 0.0), rng)
    inner = np.array([s.run_id not in ran for s in grid])
    widest = np.log(max(sweep.budgets) / min(sweep.budgets))
    assert (err[~inner] == 0).all() and (err[inner] > 0).all() and err.max() <= 0.02 * widest + 1e-12
    assert (law_errors(grid, specs, (0.0, 0.0), rng) == 0).all()
    # the runs' noise: a predicted point carries its trunk's trained ends', interpolated; a trained one its own
    noise = rng.normal(0.0, 0.01, len(grid))
    carried = law_noise(grid, specs, noise)
    assert np.array_equal(carried[~inner], noise[~inner]) and not np.allclose(carried[inner], noise[inner])
    for i in np.flatnonzero(inner):
        ends = [j for j, s in enumerate(grid) if s.trunk_id == grid[i].trunk_id and not inner[j]]
        lo, hi = min(ends, key=lambda j: grid[j].budget), max(ends, key=lambda j: grid[j].budget)
        assert min(noise[lo], noise[hi]) - 1e-12 <= carried[i] <= max(noise[lo], noise[hi]) + 1e-12

    def worst(bump):
        prior = Prior((SURFACE,), 0.002, 0.0, "exact", law_bump=bump)
        out = evaluate_design(specs, prior, 1e14, ("approach2",), 3, 40, 0, grid=grid)
        assert out["approach2"]["failed"] == 0
        return max(abs(e) for e in out["approach2"]["err"])

    exact, biased = worst((0.0, 0.0)), worst((0.01, 0.01))
    assert exact < 0.1 and biased > exact  # decades
    with pytest.raises(ConfigError, match="law"):
        Design("cosine", 5, 2.0, 4, 3.0, 1, 2e10, "law")
    designs = candidates(1e10, law=True)
    assert len(designs) == 144 and {x.schedule for x in designs if x.cooldowns == "law"} == {"wsd"}
    assert sum(x.law_cooldowns == 3 for x in designs) == 36


def test_a_three_cooldown_law_design_bridges_two_gaps(tmp_path):
    """law_cooldowns = 3: each size trains a third cooldown in the middle of its budgets; the planner costs it
    between the two-cooldown and the full design, writes it as a sweep that reads back, and simulates the law's
    error as a bump over each of the two gaps (zero at all three trained budgets, each bump bounded by its own
    gap, so smaller than one bump over the whole range)."""
    from dataclasses import replace

    from isoflop.design.candidates import design_cost, grid_specs
    from isoflop.design.law_error import bracket, law_errors, law_noise

    d2 = Design("wsd", 5, 2.0, 4, 3.0, 1, 2e10, "law")
    d3 = replace(d2, law_cooldowns=3)
    assert "wsd-law3" in d3.label and "wsd-law3" not in d2.label
    with pytest.raises(ConfigError, match="law_cooldowns"):
        Design("wsd", 5, 2.0, 4, 3.0, 1, 2e10, "all", 3)
    with pytest.raises(ConfigError, match="law_cooldowns"):
        Design("wsd", 5, 2.0, 4, 3.0, 1, 2e10, "law", 4)
    _, sw3, specs3, cost3 = fill(d3, _base(), 64, SURFACE, TP, 2, None, 2e12)  # scaled to spend the cap
    grid = grid_specs(sw3, 64)
    assert sw3.law_cooldowns == 3 and grid is not None and cost3.flops <= 2e12 * 1.03
    two = design_cost(plan_specs(replace(sw3, law_cooldowns=2), 64), TP, 2)  # the same grid, two cooldowns
    assert two.flops < cost3.flops < design_cost(grid, TP, 2).flops and two.runs < cost3.runs < len(grid)
    back = load_sweep(write(tmp_path, to_toml(sw3, "a three-cooldown law design", folder=tmp_path)))
    assert back.law_cooldowns == 3 and plan_specs(back, 64) == specs3
    trained: dict[str, list[float]] = {}
    for s in specs3:
        trained.setdefault(str(s.trunk_id), []).append(s.budget)
    assert max(len(v) for v in trained.values()) == 3

    rng = np.random.default_rng(1)
    err = law_errors(grid, specs3, (0.02, 0.0), rng)
    ran = {s.run_id for s in specs3}
    for s, e in zip(grid, err):
        b = bracket(s.budget, trained[str(s.trunk_id)])
        if s.run_id in ran:
            assert e == 0 and b is None
        elif b is not None:
            lo, hi, p = b
            assert lo < s.budget < hi and 0 < e <= 0.02 * np.log(hi / lo) + 1e-12
            assert not any(lo < t < hi for t in trained[str(s.trunk_id)])  # the trained budgets either side
            assert e == pytest.approx(0.02 * np.log(hi / lo) * 4 * p * (1 - p))
    # a trunk's noise at a point between its middle and top cooldowns comes from those two, not its smallest
    noise = np.arange(len(grid), dtype=float)
    carried = law_noise(grid, specs3, noise)
    index = {(str(s.trunk_id), s.budget): i for i, s in enumerate(grid)}
    checked = 0
    for i, s in enumerate(grid):
        b = bracket(s.budget, trained[str(s.trunk_id)])
        if s.run_id not in ran and b is not None:
            lo, hi, p = b
            j, k = index[(str(s.trunk_id), lo)], index[(str(s.trunk_id), hi)]
            assert carried[i] == pytest.approx((1 - p) * noise[j] + p * noise[k])
            checked += 1
    assert checked > 0


def test_the_bump_is_measured_from_a_check_of_the_law():
    """measure_bump recovers each trunk's a from a law's errors against trained ends, over one gap or two,
    and leaves out the fitted ends and a trunk with nothing held out between them."""
    import pandas as pd

    from isoflop.design.law_error import bracket, bump, measure_bump

    rows = []
    truth = {"t1": 0.004, "t2": -0.002, "t3": 0.01}
    fitted = {"t1": (1.0, 8.0), "t2": (1.0, 2.83, 8.0), "t3": (1.0, 2.0)}
    for t, a in truth.items():
        for c in (1.0, 1.41, 2.0, 2.83, 4.0, 5.66, 8.0):
            fit = any(np.isclose(c, fitted[t]))
            b = None if fit else bracket(c, fitted[t])
            e = 0.0 if b is None else a * bump(*b)
            rows.append({"trunk": t, "budget": c, "error": np.expm1(e), "fitted": fit})
    m = measure_bump(pd.DataFrame(rows))
    assert set(m.per_trunk) == {"t1", "t2", "t3"}
    for t, a in truth.items():
        assert m.per_trunk[t] == pytest.approx(a, rel=1e-9)
    assert m.mean == pytest.approx(np.mean(list(truth.values()))) and m.sd > 0
    # beyond the fitted range: no bracket, so nothing measured; a trunk with only that gives none
    assert bracket(16.0, (1.0, 8.0)) is None and bracket(8.0, (1.0, 8.0)) is None
    lone = pd.DataFrame([{"trunk": "t4", "budget": 16.0, "error": 0.1, "fitted": False}])
    assert measure_bump(lone).per_trunk == {}
