"""The held-out vertex's own interval: the noise of its budget's losses, and how much it leans on single runs."""

import numpy as np
from conftest import true_loss, true_nopt

from isoflop.laws.fit.isoflop import fit_budget
from isoflop.laws.vertex import jackknife_interval, noise_interval, observed_vertex

#: Hoffmann et al.'s fitted surface, whose IsoFLOP profiles are lopsided in log N (α ≠ β).
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def porian_like_budget(rng):
    """One budget sampled as Porian et al.'s are: 5, 6 or 8 sizes over 0.8–1.2 decades, the grid off-centre by
    up to 0.4 decades, 0.002 or 0.01 nats of noise."""
    k, sigma, span, off = (
        rng.choice([5, 6, 8]),
        rng.choice([0.002, 0.01]),
        rng.uniform(0.8, 1.2),
        rng.uniform(-0.4, 0.4),
    )
    c = 10 ** rng.uniform(18, 20)
    n = true_nopt(c, CHINCHILLA) * 10 ** (np.linspace(-span / 2, span / 2, k) + off)
    d = c / (6 * n)
    return c, n, d, true_loss(n, d, CHINCHILLA) + rng.normal(0, sigma, k)


def test_the_vertex_interval_holds_the_true_optimum_where_the_budgets_are_sampled_like_porians():
    """On a surface of known optimum, the interval (each side the wider of the noise's and the jackknife's) holds
    the true N_opt in at least 90% of budgets, at least as often as the noise's alone (measured: 98 and 95 of
    100), and the jackknife widens it by a bounded factor in log width where the parabola and its noise describe
    the runs."""
    rng = np.random.default_rng(1)
    hits_noise = hits = n_budgets = 0
    ratio = []
    for _ in range(100):
        c, n, d, l = porian_like_budget(rng)
        bf = fit_budget(c, n, d, l)
        noise = noise_interval(bf, n, d, np.random.default_rng(0)) if bf.status == "ok" else None
        if noise is None or noise[0] is None:
            continue
        v = observed_vertex(c, n, d, l, np.random.default_rng(0))
        assert v.params_ci == (min(noise[0][0], v.params_ci[0]), max(noise[0][1], v.params_ci[1]))
        n_budgets += 1
        truth = true_nopt(c, CHINCHILLA)
        hits_noise += noise[0][0] <= truth <= noise[0][1]
        hits += v.params_ci[0] <= truth <= v.params_ci[1]
        ratio.append(np.log(v.params_ci[1] / v.params_ci[0]) / np.log(noise[0][1] / noise[0][0]))
    assert n_budgets >= 90
    assert hits >= hits_noise and hits >= 0.9 * n_budgets
    assert 1.0 < np.median(ratio) < 1.6  # measured 1.42 (on the real tables shipped, 2.0)


def test_a_vertex_resting_on_one_run_gets_the_jackknifes_width():
    """A budget whose minimum sits by its largest size: the noise interval is narrow (the runs fit their parabola
    closely), but dropping the run past the minimum moves the vertex, and the interval holds that spread."""
    c = 1e19
    n = true_nopt(c, CHINCHILLA) * 10 ** np.linspace(-0.9, 0.12, 6)
    d = c / (6 * n)
    l = true_loss(n, d, CHINCHILLA) + np.random.default_rng(3).normal(0, 0.002, n.size)
    bf = fit_budget(c, n, d, l)
    noise, jack = noise_interval(bf, n, d, np.random.default_rng(0)), jackknife_interval(bf, n, d, l)
    width = lambda iv: iv[1] / iv[0]  # noqa: E731
    assert width(jack[0]) > width(noise[0])
    v = observed_vertex(c, n, d, l, np.random.default_rng(0))
    assert v.params_ci[0] <= min(noise[0][0], jack[0][0]) and v.params_ci[1] >= max(noise[0][1], jack[0][1])
    assert v.tokens_ci[0] <= jack[1][0] and v.tokens_ci[1] >= jack[1][1]


def test_the_jackknife_needs_three_refits_with_a_vertex():
    """Three runs refit as two-run profiles, which have no vertex: no jackknife interval."""
    c = 1e19
    n = true_nopt(c, CHINCHILLA) * np.array([0.5, 1.0, 2.0])
    d = c / (6 * n)
    assert jackknife_interval(fit_budget(c, n, d, true_loss(n, d, CHINCHILLA)), n, d, true_loss(n, d, CHINCHILLA)) == (
        None,
        None,
    )
