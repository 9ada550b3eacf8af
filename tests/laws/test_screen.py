"""Screening runs far up their IsoFLOP profile: the rule, its reasons, and what it saves on real tables."""

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_runs, true_loss, true_nopt

from isoflop import analyze, load_runs
from isoflop.laws.screen import off_centre, profile_height, screen_runs, side_height


def test_a_far_tail_is_screened_and_two_runs_per_side_are_kept():
    loss = np.array([4.3, 4.1, 4.0, 4.05, 4.2, 5.0, 6.5, 8.0])  # the right side climbs far past the left's 0.3
    assert side_height(loss) == pytest.approx(0.3)
    drop = off_centre(loss, 0.3)
    assert drop.tolist() == [False, False, False, False, False, True, True, True]
    # the two nearest runs on each side stay, however high
    assert not off_centre(loss, 0.01)[[0, 1, 3, 4]].any()
    assert np.isnan(side_height([4.0, 4.1, 4.5]))  # minimum at an edge: no height of its own


def test_a_centred_grid_loses_at_most_the_top_of_a_steep_side():
    # Noise-free and centred on the optimum in log N: the Chinchilla form's profiles still climb faster on one
    # side, so the outermost run of a steep side can stand above every budget's balanced height.
    t = load_runs(synthetic_runs(span=4.0))
    s = screen_runs(t)
    assert t.n_used - s.n_used <= 1
    n, _, _, _, g = t.used_arrays()
    for e in s.excluded:
        k = t.group[e.index]
        assert t.n_params[e.index] in (n[g == k].min(), n[g == k].max())


def _with_untrained_tail(df, rng):
    """Porian-like: at every budget, models far too big for their tokens, whose loss sits near an untrained
    model's (ln 50257 ≈ 10.8), far off the Chinchilla surface."""
    rows = []
    for c in df.budget.unique():
        top = df[df.budget == c].params.max()
        for k, n in enumerate(top * np.logspace(0.3, 1.2, 4)):
            rows.append(
                {
                    "params": n,
                    "tokens": c / (6 * n),
                    "flops": c,
                    "budget": c,
                    "loss": true_loss(n, c / (6 * n)) + 0.8 * (k + 1) + rng.normal(0, 0.01),
                }
            )
    return pd.concat([df, pd.DataFrame(rows)], ignore_index=True)


def test_screening_saves_the_parametric_fits_from_an_untrained_tail():
    rng = np.random.default_rng(0)
    base = synthetic_runs(noise=0.005, rng=rng)
    df = _with_untrained_tail(base, rng)
    table = load_runs(df)
    screened = analyze(table, methods="vpnls,approach3", targets=[1e22], n_bootstrap=0)
    kept = analyze(table, methods="vpnls,approach3", targets=[1e22], n_bootstrap=0, screen=False)
    truth = true_nopt(1e22)
    for m in ("vpnls", "approach3"):
        good = abs(np.log10(screened.prediction(m, 1e22)["optimal_params"] / truth))
        bad = abs(np.log10(kept.prediction(m, 1e22)["optimal_params"] / truth))
        assert good < 0.05 < bad, (m, good, bad)
    reasons = [e.reason for e in screened.screened]
    assert len(reasons) >= 15 and all(r.startswith("off-centre: loss") for r in reasons)
    assert len(reasons) <= 20 + 5  # the tail, and at most a few runs of the centred grid itself
    assert screened.table.n_used == table.n_used  # Approaches 1 and 2 keep every run
    assert any("Approach 3 and VPNLS are fitted without them" in note for note in screened.notes)
    back = type(screened).from_dict(screened.to_dict())
    assert back.screened == screened.screened


def test_porian_rows_are_named_by_their_line_in_the_file():
    where = ("experiment=rw__tuned__short__const__standard__val",)
    t = load_runs("example:porian2024", where=where)
    s = screen_runs(t)
    h = profile_height(t)
    assert 0 < h < 1 and 0 < t.n_used - s.n_used < t.n_used / 3
    raw = pd.read_csv("isoflop/examples/porian2024_isoflops.csv")
    for e in s.excluded:
        row = raw.iloc[e.index]
        assert row.experiment == where[0].split("=")[1]
        assert f"loss {row.loss:.4g}" in e.reason
    assert screen_runs(s, height=h).n_used == s.n_used  # with its height fixed, the rule screens nothing more
