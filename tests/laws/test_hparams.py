"""The learning-rate and batch ladder: η*(N, D, B) and B*(D, C, N) recovered from known surfaces, their forms
chosen by leave-one-cell-out error, batch grids in sweeps, and a real ladder trained and reported."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from isoflop.cli import main
from isoflop.errors import FitError
from isoflop.laws.fit.hparams import PowerRule, fit_hparam_ladder
from isoflop.laws.ladder import fixed_batch_costs, is_batch_ladder, load_hparam_ladder
from isoflop.runs import runs_frame
from isoflop.sweep import budget_runs, load_sweep


def ladder_runs(eta_star, batch_star, noise=0.0, seed=0, budgets=(1e17, 4e17, 1.6e18), sizes=(1e6, 4e6, 1.6e7)):
    """Runs of a ladder on a known surface: the loss is quadratic in log10 η and log10 B about the optima that
    ``eta_star(N, D, B)`` and ``batch_star(N, D, C)`` give, at five LRs and five batches (powers of 2) per cell."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in budgets:
        for n in sizes:
            d = c / (6 * n)
            bstar = batch_star(n, d, c)
            for bm in (0.25, 0.5, 1, 2, 4):
                b = float(2 ** np.round(np.log2(bstar * bm)))
                es = eta_star(n, d, b)
                for lm in (0.25, 0.5, 1, 2, 4):
                    loss = 2 + 0.2 * np.log10(lm) ** 2 + 0.1 * np.log10(b / bstar) ** 2 + rng.normal(0, noise)
                    rows.append((n, c, d, b, es * lm, loss))
    return np.array(rows).T


def test_the_fit_recovers_step_law_forms_and_exponents():
    """η* = 1.79·N^−0.5·D^0.2 (no batch term) and B* = 0.58·D^0.571 (Step Law's batch law): the forms kept are
    (N, D) and (D,), with their exponents, and each leaves the others' errors beside it."""
    a = ladder_runs(lambda n, d, b: 1.79 * n**-0.5 * d**0.2, lambda n, d, c: 0.58 * d**0.571)
    fit = fit_hparam_ladder(*a, rng=np.random.default_rng(1))
    assert len(fit.cells) == len(fit.used) == 9
    lr, bt = fit.lr_rule, fit.batch_rule
    assert lr.variables == ("N", "D") and lr.exponents == pytest.approx((-0.5, 0.2), abs=0.01)
    assert bt.variables == ("D",) and bt.exponents == pytest.approx((0.571,), abs=0.01)
    assert lr.predict(N=4e6, D=1e10) == pytest.approx(1.79 * 4e6**-0.5 * 1e10**0.2, rel=0.03)
    assert bt.predict(D=1e10) == pytest.approx(0.58 * 1e10**0.571, rel=0.03)
    cv = dict(bt.forms)
    assert cv[("D",)] < cv[("N",)] / 10 and cv[("D",)] < cv[("C",)] / 10  # D, not N or C, carries the batch
    assert bt.extrapolation(D=1e14)["D"] > 1 and not bt.extrapolation(D=float(bt.ref[0]))
    assert PowerRule.from_dict(json.loads(json.dumps(bt.to_dict()))) == bt


def test_a_batch_law_in_compute_is_told_from_one_in_tokens():
    a = ladder_runs(lambda n, d, b: 3e-3 * (b / 1e5) ** 0.5, lambda n, d, c: 2e-3 * c**0.35)
    fit = fit_hparam_ladder(*a, rng=np.random.default_rng(2))
    assert fit.batch_rule.variables == ("C",) and fit.batch_rule.exponents[0] == pytest.approx(0.35, abs=0.02)
    lr = fit.lr_rule
    assert "B" in lr.variables and lr.exponents[lr.variables.index("B")] == pytest.approx(0.5, abs=0.02)


def test_with_noise_the_intervals_hold_the_exponents():
    hits = 0
    for seed in range(10):
        a = ladder_runs(lambda n, d, b: 1.79 * n**-0.5 * d**0.2, lambda n, d, c: 0.58 * d**0.571, 1e-3, seed)
        r = fit_hparam_ladder(*a, rng=np.random.default_rng(seed), n_boot=400).batch_rule
        if r.variables == ("D",):
            hits += r.exponents_ci[0][0] <= 0.571 <= r.exponents_ci[0][1]
    assert hits >= 7


def test_a_best_batch_at_the_grid_edge_is_left_out_with_the_reason():
    a = ladder_runs(lambda n, d, b: 1e-3, lambda n, d, c: 0.58 * d**0.571)
    smallest3 = {
        (n, c): np.unique(a[3][(a[0] == n) & (a[1] == c)])[:3] for n, c in {(n, c) for n, c in zip(a[0], a[1])}
    }
    keep = np.array([b in smallest3[(n, c)] for n, c, b in zip(a[0], a[1], a[3])])
    cut = a[:, keep]  # each cell keeps its three smallest batches: the best one is the grid's largest
    fit = fit_hparam_ladder(*cut, rng=np.random.default_rng(0))
    assert all(c.status == "edge" and "batch size" in c.reason for c in fit.cells)
    assert fit.batch_rule is None and "needs 2" in fit.messages["batch"]


def test_one_batch_size_is_no_batch_ladder():
    a = ladder_runs(lambda n, d, b: 1e-3, lambda n, d, c: 1e3)
    a[3] = 1024.0
    with pytest.raises(FitError, match="two or more batch sizes"):
        fit_hparam_ladder(*a)


LADDER = """
name = "hp"
schedule = "cosine"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [3e8]
threads = 1
lr_grid = [0.3, 1, 3]
batch_grid = [0.5, 1]
[sizes]
shapes = [{ n_layers = 1, d_model = 32, n_heads = 1 }, { n_layers = 2, d_model = 64, n_heads = 2 }]
"""


def test_batch_grid_trains_each_size_at_each_batch_and_lr(tmp_path):
    (tmp_path / "hp.toml").write_text(LADDER)
    sw = load_sweep(tmp_path / "hp.toml")
    runs = budget_runs(sw, 3e8, 256, [])
    assert sw.batch_sizes == (2, 4) and sw.planned_runs == len(runs) == 12 and len({s.run_id for s in runs}) == 12
    for s in runs:  # the budget's FLOPs buy half the steps at twice the batch (to a step)
        small = next(r for r in runs if r.model == s.model and r.train.batch_size == 2)
        assert abs(s.steps * s.train.batch_size - small.steps * 2) <= s.train.batch_size


@pytest.mark.parametrize(
    "bad, msg",
    [
        ("batch_grid = [1]", "two or more"),
        ("batch_grid = [0.3, 1]", "whole number"),
        ("batch_grid = [1, 1]", "distinct"),
    ],
)
def test_bad_batch_grids_are_named(tmp_path, bad, msg):
    (tmp_path / "hp.toml").write_text(LADDER.replace("batch_grid = [0.5, 1]", bad))
    r = CliRunner().invoke(main, ["sweep", "run", str(tmp_path / "hp.toml"), "--results", str(tmp_path / "r")])
    assert r.exit_code == 2 and "batch_grid" in r.output and msg in r.output and "Traceback" not in r.output


def _trained(tmp_path, name, text, cache_dir):
    """The folder of the sweep ``text`` (named ``name``), trained for real by ``scaling sweep run``."""
    (tmp_path / f"{name}.toml").write_text(text)
    res = CliRunner().invoke(
        main,
        [
            "sweep",
            "run",
            str(tmp_path / f"{name}.toml"),
            "--results",
            str(tmp_path / "r"),
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    return tmp_path / "r" / name


def test_a_real_batch_ladder_trains_and_is_reported(tmp_path, cache_dir):
    """Real torch runs: two sizes at two batches and three LRs. runs.csv carries each run's batch; the ladder
    reports every (cell, batch) LR point, says that two batches give no B*, and writes its JSON."""
    folder = _trained(tmp_path, "hp", LADDER, cache_dir)
    df = runs_frame(folder)
    assert len(df) == 12 and sorted(df.batch_size.unique()) == [2, 4]
    assert is_batch_ladder(folder)
    fit = load_hparam_ladder(folder)
    assert len(fit.cells) == 2 and all(c.batches == (64.0, 128.0) for c in fit.cells)
    assert all(c.status == "too few" and "batch sizes" in c.reason for c in fit.cells)
    assert all(np.isfinite(c.tokens_per_second).all() for c in fit.cells)
    costs = fixed_batch_costs(fit, 128.0)  # no cell has a B*: each is judged against its grid's best batch
    assert len(costs) == 2 and all(r["at_least"] and r["loss_given_up"] >= 0 for r in costs)
    assert all(r["batch_opt"] in (64.0, 128.0) and r["seconds_opt"] > 0 for r in costs)
    out = tmp_path / "hp.json"
    res = CliRunner().invoke(main, ["ladder", str(folder), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "LR and batch ladder" in res.output and res.output.count("no B*") == 2
    doc = json.loads(out.read_text())
    assert doc["schema"] == "scaling.hparam_rules/1" and len(doc["cells"]) == 2 and doc["fixed_batch"] == 128
    # A later sweep extends the ladder with a third size on the LR grid at one batch: pooled, its cell joins
    ext = LADDER.replace('name = "hp"', 'name = "hp-top"').replace("batch_grid = [0.5, 1]\n", "")
    ext = ext.split("[sizes]")[0] + "[sizes]\nshapes = [{ n_layers = 2, d_model = 96, n_heads = 3 }]\n"
    top = _trained(tmp_path, "hp-top", ext, cache_dir)
    pooled = load_hparam_ladder([folder, top])
    assert len(pooled.cells) == 3 and {c.n_params for c in fit.cells} < {c.n_params for c in pooled.cells}
    new = next(c for c in pooled.cells if c.n_params not in {c.n_params for c in fit.cells})
    assert new.batches == (128.0,) and len(new.lr_points[0].lrs) == 3
    res = CliRunner().invoke(main, ["ladder", str(folder), str(top), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"{folder}, {top}" in res.output and len(json.loads(out.read_text())["cells"]) == 3
    res = CliRunner().invoke(main, ["ladder", str(top), str(folder)])  # the first folder must be the batch ladder
    assert res.exit_code == 2 and "not a batch ladder" in res.output and "Traceback" not in res.output


def _rules_file(tmp_path):
    """A rules JSON (what ``scaling ladder --out`` writes) of a known ladder at tiny scale: η* = 0.02·N^−0.3·D^0.1
    and B* = 0.58·D^0.571 tokens per step."""
    from isoflop.jsonio import finite_json, write_json_atomic
    from isoflop.laws.ladder import hparam_doc

    a = ladder_runs(
        lambda n, d, b: 0.02 * n**-0.3 * d**0.1,
        lambda n, d, c: 0.58 * d**0.571,
        budgets=(1e10, 4e10, 1.6e11),
        sizes=(1e4, 4e4, 1.6e5),
    )
    fit = fit_hparam_ladder(*a, rng=np.random.default_rng(0), n_boot=100)
    assert fit.lr_rule.variables == ("N", "D") and fit.batch_rule.variables == ("D",)
    path = tmp_path / "rules.json"
    write_json_atomic(path, finite_json(hparam_doc(fit, 128.0)))
    return path, fit


def test_a_sweep_takes_its_batch_and_lr_from_fitted_rules(tmp_path):
    from isoflop.model.flops import param_counts

    path, fit = _rules_file(tmp_path)
    text = LADDER.replace("batch_size = 4", 'batch_size = "fitted:rules.json"').replace("lr_grid = [0.3, 1, 3]\n", "")
    text = text.replace("batch_grid = [0.5, 1]\n", "").replace("budgets = [3e8]", "budgets = [1e10, 1.6e11]")
    (tmp_path / "sw.toml").write_text(text + '[train]\nlr = "fitted:rules.json"\n')
    sw = load_sweep(tmp_path / "sw.toml")
    assert sw.batch_rule == fit.batch_rule and sw.lr_rule == fit.lr_rule
    batches = {}
    for c in sw.budgets:
        for s in budget_runs(sw, c, 256, []):
            n, d = param_counts(s.model).total, s.tokens
            # each run's batch is B*(D) in whole sequences at the D its budget buys at that batch
            assert s.train.batch_size == max(1, round(fit.batch_rule.predict(D=d) / 32))
            assert s.train.lr == pytest.approx(fit.lr_rule.predict(N=n, D=d), rel=1e-3)
            batches[(s.model.d_model, c)] = s.train.batch_size
    for d_model in (32, 64):  # more tokens, a larger batch
        assert batches[(d_model, 1.6e11)] > batches[(d_model, 1e10)]
    doc = sw.to_dict()
    assert doc["batch_size"].startswith("fitted:") and "batch_rule" not in doc


@pytest.mark.parametrize(
    "value, msg",
    [
        ('"fitted:missing.json"', "no such batch ladder"),
        ('"sixteen"', "must be a positive integer or"),
        ('"fitted:lr.json"', "not a batch rule"),
    ],
)
def test_a_bad_fitted_batch_is_one_line_and_exit_2(tmp_path, value, msg):
    (tmp_path / "lr.json").write_text('{"rule": {}}')
    (tmp_path / "sw.toml").write_text(
        LADDER.replace("batch_size = 4", f"batch_size = {value}").replace("batch_grid = [0.5, 1]\n", "")
    )
    r = CliRunner().invoke(main, ["sweep", "run", str(tmp_path / "sw.toml"), "--results", str(tmp_path / "r")])
    assert r.exit_code == 2 and msg in r.output and "batch_size" in r.output and "Traceback" not in r.output


def test_a_batch_grid_needs_a_fixed_batch(tmp_path):
    path, _ = _rules_file(tmp_path)
    (tmp_path / "sw.toml").write_text(LADDER.replace("batch_size = 4", 'batch_size = "fitted:rules.json"'))
    r = CliRunner().invoke(main, ["sweep", "run", str(tmp_path / "sw.toml"), "--results", str(tmp_path / "r")])
    assert r.exit_code == 2 and "fixed batch_size" in r.output


def test_batch_vertices_say_how_the_fixed_batch_moves_a():
    """IsoFLOP profiles with N*(C) = 1e6·(C/1e17)^0.5 and a best batch growing with D: at each size's best batch
    the vertices are N*(C), so a = 0.5; at a fixed batch of 1024 tokens (B* at N* of the lower budget) the higher
    budget's vertex moves up by 10^(1/6) (the quadratics add exactly), so a = 0.5 + 1/6."""
    from isoflop.laws.ladder import batch_vertices

    rows = []
    d_ref = 1e17 / 6e6
    for c in (1e17, 1e18):
        n_star = 1e6 * (c / 1e17) ** 0.5
        for u in (-0.5, 0.0, 0.5):
            n = n_star * 10**u
            d = c / (6 * n)
            b_star = 1024 * (d / d_ref) ** 0.5
            for b in (256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0):
                for lm in (0.5, 1.0, 2.0):
                    loss = 2 + 0.05 * u**2 + 0.1 * np.log10(b / b_star) ** 2 + 0.2 * np.log10(lm) ** 2
                    rows.append((n, c, d, b, 1e-3 * lm, loss))
    fit = fit_hparam_ladder(*np.array(rows).T, n_boot=0)
    moved = batch_vertices(fit, 1024.0)
    assert moved["a"]["best"] == pytest.approx(0.5, abs=1e-6)
    assert moved["a"]["fixed"] == pytest.approx(0.5 + 1 / 6, abs=1e-6)
    assert moved["vertices"]["1e+17"]["fixed"] == pytest.approx(1e6, rel=1e-6)
    assert moved["vertices"]["1e+18"]["fixed"] == pytest.approx(10**0.5 * 1e6 * 10 ** (1 / 6), rel=1e-6)
    assert batch_vertices(fit, 3000.0) is None  # a batch outside the grid
    # the batch ladder's own curvature is kept on the rule: 0.1 loss per decade² of B
    assert fit.batch_rule.curvature == pytest.approx(0.1, rel=1e-6)
    assert fit.lr_rule.curvature == pytest.approx(0.2, rel=1e-6)


def test_forms_the_ladder_cannot_tell_apart_are_kept_as_rivals_and_their_spread_reported():
    """With noise, the η* forms within one standard error of the best are kept beside the rule (the rule's own
    among them); where they agree the spread is narrow, and far outside the ladder a form with a variable more
    drifts from one without it, so the spread widens."""
    a = ladder_runs(lambda n, d, b: 1.79 * n**-0.5 * d**0.2, lambda n, d, c: 0.58 * d**0.571, noise=0.01, seed=3)
    lr = fit_hparam_ladder(*a, rng=np.random.default_rng(3), n_boot=50).lr_rule
    assert lr.variables in {f for f, *_ in lr.rivals}
    near = lr.spread(N=4e6, D=1e10, B=1e5)
    assert near[0] <= lr.predict(N=4e6, D=1e10, B=1e5) <= near[1]
    assert len(lr.rivals) > 1  # (N, D) and (N, D, B): the ladder cannot rule the batch term out
    far = lr.spread(N=4e9, D=1e13, B=1e8)
    assert far[1] / far[0] > near[1] / near[0]
    again = PowerRule.from_dict(json.loads(json.dumps(lr.to_dict())))
    assert again == lr and again.spread(N=4e6, D=1e10, B=1e5) == near


def test_a_folder_names_its_rules_from_any_working_directory(tmp_path, monkeypatch):
    """sweep.json keeps a fitted:PATH relative to its own folder, so the folder's sweep (what scaling recommend
    reads) finds its rules from anywhere; a sweep.json written before, relative to the working directory then,
    still reads from there."""
    import json

    from isoflop.laws.surface import Surface
    from isoflop.sweep import run_sweep
    from isoflop.sweep.config import folder_sweep
    from isoflop.sweep.executors import make_executor
    from isoflop.sweep.simulate import Simulator

    path, fit = _rules_file(tmp_path)
    text = LADDER.replace("batch_size = 4", 'batch_size = "fitted:rules.json"').replace("lr_grid = [0.3, 1, 3]\n", "")
    text = text.replace("batch_grid = [0.5, 1]\n", "").replace("budgets = [3e8]", "budgets = [1e10]")
    (tmp_path / "sw.toml").write_text(text + '[train]\nlr = "fitted:rules.json"\n')
    monkeypatch.chdir(tmp_path)
    sim = Simulator(Surface(E=1.5, A=100.0, B=100.0, alpha=0.35, beta=0.35, name="s"), sigma=0.0)
    run_sweep(load_sweep("sw.toml"), make_executor("local", threads_per_run=1), results_root="res", simulate=sim)
    folder = tmp_path / "res" / "hp"
    doc = json.loads((folder / "sweep.json").read_text())
    assert doc["batch_size"] == "fitted:../../rules.json" and doc["train"]["lr"] == "fitted:../../rules.json"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    sw = folder_sweep(folder)
    assert sw.batch_rule == fit.batch_rule and sw.lr_rule == fit.lr_rule
    monkeypatch.chdir(tmp_path)  # as written before: relative to the working directory of the run
    doc["batch_size"] = doc["train"]["lr"] = "fitted:rules.json"
    (folder / "sweep.json").write_text(json.dumps(doc))
    assert folder_sweep(folder).batch_rule == fit.batch_rule
    assert folder_sweep(tmp_path / "elsewhere") is None
