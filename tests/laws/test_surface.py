"""Known loss surfaces: the Chinchilla form, Muennighoff's data-constrained form, and how they are written."""

import json

import numpy as np
import pytest
from conftest import TRUTH, true_loss, true_nopt

from isoflop.errors import LawError
from isoflop.laws.surface import Surface, parse_surface


def test_chinchilla_form_and_its_closed_form_optimum():
    s = Surface(**TRUTH)
    n, d = np.array([1e6, 1e8]), np.array([1e9, 1e11])
    assert np.allclose(s.loss(n, d), true_loss(n, d))
    for c in (1e18, 1e22):
        n_opt, d_opt = s.optimum(c)
        assert n_opt == pytest.approx(true_nopt(c), rel=2e-3)
        assert 6 * n_opt * d_opt == pytest.approx(c, rel=1e-9)


def test_data_constrained_tokens_follow_muennighoff():
    u = 1e9
    s = Surface(**TRUTH, unique_tokens=u)
    # one epoch or less: every token counts; beyond, repeats are discounted and D' saturates at U(1 + R*)
    assert s.effective_tokens(5e8) == pytest.approx(5e8)
    four = s.effective_tokens(4 * u)
    assert four == pytest.approx(u + u * 15.4 * (1 - np.exp(-3 / 15.4)))
    assert u < four < 4 * u
    assert s.effective_tokens(1e15) == pytest.approx(u * (1 + 15.4), rel=1e-6)
    # so with scarce data the optimum moves to larger models than the unconstrained one
    assert s.optimum(1e21)[0] > Surface(**TRUTH).optimum(1e21)[0] * 1.5


def test_the_optimum_is_the_brute_force_minimum_under_any_counting_and_scarce_data():
    from isoflop.laws.fit.frontier import TABLE, Counting

    counted = Counting(TABLE, r0=2.0, rho=-0.2, n_range=(1e6, 1e9))
    grid = np.logspace(5, 12, 200001)
    for s, counting in ((Surface(**TRUTH, unique_tokens=1e9), Counting()), (Surface(**TRUTH), counted)):
        n_opt, d_opt = s.optimum(1e21, counting)
        brute = grid[np.argmin(s.loss(grid, 1e21 / counting.per_token(grid)))]
        assert n_opt == pytest.approx(brute, rel=2e-4)
        assert d_opt * counting.per_token(n_opt) == pytest.approx(1e21, rel=1e-9)


def test_written_forms(tmp_path):
    s = parse_surface("E=1.8, A=400, B=2000, alpha=0.34, beta=0.36, unique_tokens=1e9")
    assert (s.E, s.unique_tokens) == (1.8, 1e9)
    assert parse_surface("epoch").alpha == pytest.approx(0.3478)
    assert Surface.from_dict(s.to_dict()) == s
    with pytest.raises(LawError, match="missing beta"):
        parse_surface("E=1.8,A=400,B=2000,alpha=0.34")
    with pytest.raises(LawError, match="'x' is not a number"):
        parse_surface("E=1.8,A=x,B=2000,alpha=0.34,beta=0.3")
    with pytest.raises(LawError, match="alpha, beta > 0"):
        parse_surface("E=1.8,A=400,B=2000,alpha=-0.34,beta=0.3")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(LawError):
        parse_surface(str(bad))
    with pytest.raises(LawError, match="not found"):
        parse_surface(str(tmp_path / "nope.json"))


def test_a_fit_file_gives_its_parametric_surface(tmp_path):
    from conftest import synthetic_runs

    from isoflop import analyze, load_runs

    res = analyze(load_runs(synthetic_runs()), methods="vpnls", n_bootstrap=0)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(res.to_dict()))
    s = parse_surface(str(path))
    assert s.alpha == pytest.approx(TRUTH["alpha"], rel=1e-4) and s.beta == pytest.approx(TRUTH["beta"], rel=1e-4)


def test_repeated_data_biases_the_fit_and_effective_tokens_undo_it(tmp_path):
    """Runs that repeat a corpus (up to 10 epochs) drawn from Muennighoff's surface: fitted on raw D, Approach 3
    misreads beta; fitted on D' (--unique-tokens), it recovers the fresh-data law and its optimum."""
    from click.testing import CliRunner
    from conftest import synthetic_runs

    from isoflop.cli import main
    from isoflop.laws.analyze import analyze
    from isoflop.laws.table_io import load_runs

    u = 3e9
    s = Surface(**TRUTH, unique_tokens=u)
    df = synthetic_runs(budgets=(1e18, 3e18, 1e19, 3e19, 1e20))
    df["loss"] = s.loss(df["params"], df["tokens"])
    assert (df["tokens"] / u).max() > 5
    table = load_runs(df)
    raw = analyze(table, methods="approach3", n_bootstrap=0).approach3
    fixed = analyze(table.with_unique_tokens(u), methods="approach3", n_bootstrap=0).approach3
    assert abs(raw.beta - TRUTH["beta"]) > 0.03
    assert fixed.alpha == pytest.approx(TRUTH["alpha"], abs=0.01) and fixed.beta == pytest.approx(
        TRUTH["beta"], abs=0.01
    )
    path = str(tmp_path / "runs.csv")
    df.to_csv(path, index=False)
    r = CliRunner().invoke(
        main, ["fit", path, "--method", "approach3", "--bootstrap", "0", "--json", "--unique-tokens", str(u)]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["approach3"]["beta"] == pytest.approx(TRUTH["beta"], abs=0.01)
    bad = CliRunner().invoke(main, ["fit", path, "--unique-tokens", "-1"])
    assert bad.exit_code == 2
