"""Approach 3: known parameters recovered, Epoch's fit reproduced, batch == exhaustive loop."""

import numpy as np
import pytest
from conftest import TRUTH, synthetic_runs
from scipy.optimize import minimize

from isoflop import fit_parametric, load_runs
from isoflop.laws.fit.parametric import CHINCHILLA_GRID, bootstrap_parametric, objective_and_grad


def _chinchilla():
    t = load_runs("example:chinchilla", drop_highest=5)
    n, d, _, l, _ = t.used_arrays()
    return n, d, l


def test_grid_is_chinchillas_4500_points():
    assert CHINCHILLA_GRID.shape == (4500, 5)
    for k, vals in enumerate(
        [
            np.arange(0, 26, 5),
            np.arange(0, 26, 5),
            np.arange(-1, 1.01, 0.5),
            np.arange(0, 2.01, 0.5),
            np.arange(0, 2.01, 0.5),
        ]
    ):
        np.testing.assert_allclose(np.unique(CHINCHILLA_GRID[:, k]), vals)


def test_gradient_matches_finite_differences():
    n, d, l = _chinchilla()
    rng = np.random.default_rng(0)
    x = CHINCHILLA_GRID[rng.choice(4500, 5)] + rng.normal(0, 0.1, (5, 5))
    args = (np.log(n), np.log(d), np.log(l), 1e-3)
    _, g = objective_and_grad(x, *args)
    h = 1e-6
    for k in range(5):
        e = np.zeros(5)
        e[k] = h
        fp, _ = objective_and_grad(x + e, *args)
        fm, _ = objective_and_grad(x - e, *args)
        np.testing.assert_allclose(g[:, k], (fp - fm) / (2 * h), rtol=1e-4, atol=1e-9)


def test_noise_free_recovery_within_one_percent():
    df = synthetic_runs(budgets=np.logspace(17, 21, 5), n_sizes=7)
    f = fit_parametric(df["params"], df["tokens"], df["loss"])
    assert f.success
    for k, v in TRUTH.items():
        assert getattr(f, k) == pytest.approx(v, rel=0.01), k


def test_reproduces_epoch_summed_huber_fit():
    n, d, l = _chinchilla()
    assert n.size == 240
    f = fit_parametric(n, d, l)
    assert f.success, f.message
    assert f"{f.E:.3g}" == "1.82" and f"{f.alpha:.3g}" == "0.347" and f"{f.beta:.3g}" == "0.367"
    assert f.E == pytest.approx(1.817, abs=5e-4)
    assert f.alpha == pytest.approx(0.3473, abs=5e-5) and f.beta == pytest.approx(0.3672, abs=5e-5)
    assert f.A == pytest.approx(478, rel=2e-3) and f.B == pytest.approx(2144, rel=2e-3)
    assert f.a == pytest.approx(f.beta / (f.alpha + f.beta))
    # N_opt(C)·D_opt(C)·6 = C, at the closed form G (C/6)^a
    p = f.predict(1e24)
    assert 6 * p["optimal_params"] * p["optimal_tokens"] == pytest.approx(1e24)
    assert p["optimal_params"] == pytest.approx(f.G * (1e24 / 6) ** f.a, rel=1e-12)


def _loop(n, d, l, starts):
    args = (np.log(n), np.log(d), np.log(l), 1e-3)

    def fg(x):
        f, g = objective_and_grad(x[None], *args)
        return f[0], g[0]

    return min(minimize(fg, x0, jac=True, method="L-BFGS-B").fun for x0 in starts)


def test_batch_reaches_the_exhaustive_loops_optimum_on_a_subgrid():
    n, d, l = _chinchilla()
    sub = CHINCHILLA_GRID[::6]  # 750 starts keep the loop to a few seconds
    ours = fit_parametric(n, d, l, init_grid=sub)
    assert ours.objective <= _loop(n, d, l, sub) + 1e-9


@pytest.mark.slow
def test_batch_reaches_the_exhaustive_loops_optimum_on_the_full_grid():
    n, d, l = _chinchilla()
    assert fit_parametric(n, d, l).objective <= _loop(n, d, l, CHINCHILLA_GRID) + 1e-9


def test_bootstrap_spread_matches_epochs_standard_errors():
    # Epoch's bootstrap SEs (resampling all 240 runs): E 0.026, alpha 0.015, beta 0.021.
    n, d, l = _chinchilla()
    f = fit_parametric(n, d, l)
    rng = np.random.default_rng(0)
    w = rng.multinomial(n.size, np.full(n.size, 1 / n.size), size=300).astype(float)
    x = bootstrap_parametric(f, n, d, l, w)
    assert np.isfinite(x).all()
    assert np.std(np.exp(x[:, 2])) == pytest.approx(0.026, rel=0.25)
    assert np.std(x[:, 3]) == pytest.approx(0.015, rel=0.25)
    assert np.std(x[:, 4]) == pytest.approx(0.021, rel=0.25)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least 5 runs"):
        fit_parametric([1e6, 2e6], [1e8, 1e8], [3.0, 2.9])
    with pytest.raises(ValueError, match="positive"):
        fit_parametric([1e6, -2e6, 1, 2, 3], [1e8] * 5, [3.0] * 5)
