"""The LR ladder: fitting eta*(N) to synthetic grids with a known rule, sweeps that use a fitted rule, and a
real ladder trained end to end through the CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write

from isoflop.cli import main
from isoflop.laws.fit.lr_ladder import fit_lr_ladder, ladder_point
from isoflop.laws.ladder import load_ladder, load_lr_rule
from isoflop.laws.lr_rule import LRRule
from isoflop.model.flops import param_counts
from isoflop.runs import finished_records
from isoflop.sweep import SweepError, budget_runs, load_sweep


def synthetic_ladder(
    eta0=3e-3,
    n0=5e4,
    gamma=0.35,
    sizes=(1e4, 4e4, 1.6e5, 6.4e5),
    mults=(0.25, 0.5, 1, 2, 4, 8),
    noise=0.0,
    seeds=1,
    rng=None,
):
    """Loss = L0(N) + k·(log10 eta − log10 eta*(N))², eta* from the known rule, on a grid about 2e-3."""
    rows = []
    for n in sizes:
        star = eta0 * (n / n0) ** -gamma
        for m in mults:
            eta = 2e-3 * m
            for _ in range(seeds):
                y = 2.5 - 0.1 * np.log10(n) + 0.3 * (np.log10(eta) - np.log10(star)) ** 2
                rows.append((n, 1e12, eta, y + (rng.normal(0, noise) if noise else 0.0)))
    return [np.array(c) for c in zip(*rows)]


def test_the_fit_recovers_a_known_rule():
    fit = fit_lr_ladder(*synthetic_ladder())
    r = fit.rule
    assert len(fit.used) == 4
    assert r.gamma == pytest.approx(0.35, abs=1e-6)
    assert r.lr(5e4) == pytest.approx(3e-3, rel=1e-3)
    assert r.lr(1e4) > r.lr(6.4e5)


def test_with_noise_and_seeds_the_interval_holds_the_exponent():
    rng = np.random.default_rng(0)
    hits, widths = [], []
    for _ in range(40):
        lo, hi = fit_lr_ladder(*synthetic_ladder(noise=0.003, seeds=3, rng=rng)).rule.gamma_ci
        hits.append(lo < 0.35 < hi)
        widths.append(hi - lo)
    assert np.mean(hits) >= 0.85 and np.median(widths) < 0.2


def test_an_optimum_at_the_grid_edge_is_left_out_with_the_reason():
    # gamma 1.2: the smallest size wants an LR far above the grid, the largest one far below it
    fit = fit_lr_ladder(*synthetic_ladder(gamma=1.2))
    edge = [q for q in fit.points if q.status == "edge"]
    assert edge and all("grid" in q.reason for q in edge)
    assert {q.n_params for q in edge} >= {1e4, 6.4e5}
    p = ladder_point(1e4, 1e12, [1e-3, 2e-3], [2.0, 1.9])
    assert p.status == "too few" and "3" in p.reason


def test_the_ladder_says_how_the_lr_moves_the_compute_optimal_size():
    """Two budgets, five sizes: at the base LR the small sizes are handicapped (their best LR is far above it),
    so the base-LR vertex sits at larger N and a differs from the best-LR one."""
    from isoflop.laws.ladder import ladder_vertices

    rows = []
    mults = (0.25, 0.5, 1, 2, 4, 8)
    for c, n_star in ((1e12, 4e4), (4e12, 1e5)):
        for n in n_star * np.array([0.25, 0.5, 1, 2, 4]):
            best = 2e-3 * (n / 4e4) ** -0.6  # the rule's base LR is 2e-3 at every size
            for m in mults:
                y = 2.0 + 0.2 * np.log10(n / n_star) ** 2 + 0.3 * (np.log10(2e-3 * m / best)) ** 2
                rows.append((n, c, 2e-3 * m, y))
    fit = fit_lr_ladder(*[np.array(v) for v in zip(*rows)])
    moved = ladder_vertices(fit, mults)
    assert moved["a"]["best"] == pytest.approx(np.log(1e5 / 4e4) / np.log(4), abs=0.02)
    assert abs(moved["a"]["base"] - moved["a"]["best"]) > 0.05
    assert ladder_vertices(fit, (0.5, 2)) is None


def test_fewer_than_two_sizes_give_no_rule_and_say_why():
    n, c, eta, y = synthetic_ladder(sizes=(4e4,))
    fit = fit_lr_ladder(n, c, eta, y)
    assert fit.rule is None and "needs 2" in fit.message


def test_rule_round_trips_and_refuses_other_json(tmp_path):
    r = LRRule(3e-3, 5e4, 0.3, (0.2, 0.4), 4, "x", 1e4, 6e5)
    assert LRRule.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    (tmp_path / "not.json").write_text('{"a": 1}')
    with pytest.raises(Exception, match="not an LR rule"):
        load_lr_rule(tmp_path / "not.json")


LADDER = """
name = "ladder"
schedule = "cosine"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [3e8]
threads = 1
lr_grid = [0.1, 1, 10]
[sizes]
shapes = [{ n_layers = 1, d_model = 32, n_heads = 1 }, { n_layers = 2, d_model = 64, n_heads = 2 }]
"""


def test_lr_grid_trains_each_size_at_each_multiple(tmp_path):
    sw = load_sweep(write(tmp_path, LADDER))
    runs = budget_runs(sw, 3e8, 256, [])
    assert sw.planned_runs == len(runs) == 6
    by_size = {}
    for s in runs:
        by_size.setdefault(s.model.d_model, []).append(s.train.lr)
    for d, lrs in by_size.items():
        base = sw.train_config().peak_lr(d)
        assert sorted(lrs) == pytest.approx([0.1 * base, base, 10 * base], rel=1e-3)
    assert len({s.run_id for s in runs}) == 6


@pytest.mark.parametrize(
    "bad, msg", [("lr_grid = [1]", "two or more"), ("lr_grid = [0, 1]", "positive"), ("lr_grid = [1, 1]", "distinct")]
)
def test_bad_lr_grids_are_named(tmp_path, bad, msg):
    with pytest.raises(SweepError, match=msg):
        load_sweep(write(tmp_path, LADDER.replace("lr_grid = [0.1, 1, 10]", bad)))


def test_a_fitted_rule_sets_each_runs_lr_and_bad_paths_exit_2(tmp_path):
    rule = LRRule(3e-3, 5e4, 0.5, sizes=3, source="t", lo=1e4, hi=1e5)
    (tmp_path / "rule.json").write_text(json.dumps({"rule": rule.to_dict()}))
    text = LADDER.replace("lr_grid = [0.1, 1, 10]\n", "") + f'[train]\nlr = "fitted:{tmp_path / "rule.json"}"\n'
    sw = load_sweep(write(tmp_path, text))
    for s in budget_runs(sw, 3e8, 256, []):
        assert s.train.lr == pytest.approx(rule.lr(param_counts(s.model).total), rel=1e-3)
    empty = tmp_path / "empty"
    empty.mkdir()
    for path, msg in ((tmp_path / "nope", "does not exist"), (empty, "not a sweep folder")):
        f = write(tmp_path, text.replace(str(tmp_path / "rule.json"), str(path)), "bad.toml")
        res = CliRunner().invoke(main, ["sweep", "status", str(f), "--results", str(tmp_path / "r")])
        assert res.exit_code == 2 and msg in res.output and str(path) in res.output
        assert len(res.output.strip().splitlines()) == 1
    f = write(tmp_path, text.replace(f"fitted:{tmp_path / 'rule.json'}", "best"), "bad2.toml")
    with pytest.raises(SweepError, match="fitted:PATH"):
        load_sweep(f)


def test_a_relative_fitted_path_is_read_beside_the_sweep_file_from_any_directory(tmp_path, monkeypatch):
    rule = LRRule(3e-3, 5e4, 0.5, sizes=3, source="t", lo=1e4, hi=1e5)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rule.json").write_text(json.dumps({"rule": rule.to_dict()}))
    (tmp_path / "sweeps").mkdir()
    text = LADDER.replace("lr_grid = [0.1, 1, 10]\n", "") + '[train]\nlr = "fitted:../rules/rule.json"\n'
    f = write(tmp_path / "sweeps", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd in (tmp_path, elsewhere, tmp_path / "sweeps"):
        monkeypatch.chdir(cwd)
        sweep = f.resolve().relative_to(tmp_path) if cwd == tmp_path else f.resolve()
        assert load_sweep(sweep).lr_rule.lr(3e4) == rule.lr(3e4)
    # a --set override is the caller's own path, relative to where they stand
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SweepError, match=r"no such LR ladder|does not exist"):
        load_sweep(f.resolve(), ("train.lr=fitted:../rules/rule.json",))
    assert load_sweep(f.resolve(), ("train.lr=fitted:rules/rule.json",)).lr_rule.lr(3e4) == rule.lr(3e4)


def test_a_real_ladder_trains_fits_and_feeds_a_sweep(tmp_path, cache_dir):
    """Real torch runs: two sizes at three LRs; the CLI reports every point, writes the rule and figure, and a
    ladder folder with no vertex is refused as a rule with its reason."""
    f = write(tmp_path, LADDER)
    res = CliRunner().invoke(
        main,
        ["sweep", "run", str(f), "--results", str(tmp_path / "r"), "--workers", "2", "--cache-dir", str(cache_dir)],
    )
    assert res.exit_code == 0, res.output
    recs = finished_records(tmp_path / "r" / "ladder")
    assert len(recs) == 6 and len({r.lr for r in recs}) == 6
    fit = load_ladder(tmp_path / "r" / "ladder")
    assert len(fit.points) == 2 and all(len(q.lrs) == 3 for q in fit.points)
    out, fig = tmp_path / "rule.json", tmp_path / "ladder.png"
    res = CliRunner().invoke(main, ["ladder", str(tmp_path / "r" / "ladder"), "--out", str(out), "--figure", str(fig)])
    assert res.exit_code == 0, res.output
    assert fig.stat().st_size > 10_000 and json.loads(out.read_text())["points"]
    if fit.rule is None:  # ten-fold steps on tiny runs: the grid's ends may win; then the folder is no rule
        with pytest.raises(Exception, match="gives no rule"):
            load_lr_rule(tmp_path / "r" / "ladder")
    else:
        assert load_lr_rule(tmp_path / "r" / "ladder") == fit.rule
