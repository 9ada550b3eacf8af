"""cooldowns = "law": each size trains its trunk and two cooldowns, its smallest and largest budget's."""

import numpy as np
import pytest

from isoflop.errors import SweepError
from isoflop.sweep.config import load_sweep
from isoflop.sweep.plan import budget_runs, law_budgets, planned_cost, planned_runs


def test_law_sweep_trains_two_cooldowns_per_size_and_costs_less():
    full = load_sweep("sweeps/answer.toml")
    law = load_sweep("sweeps/answer-law.toml")
    chosen = law_budgets(law, 256)
    assert all(1 <= len(b) <= 2 for b in chosen.values())
    runs = {s.run_id for c in law.budgets for s in budget_runs(law, c, 256, [])}
    assert planned_runs(law, 256) == len(runs) == sum(len(b) for b in chosen.values()) * law.seeds
    every = {s.run_id for c in full.budgets for s in budget_runs(full, c, 256, [])}
    assert runs < every  # the same runs as the full grid's, fewer of them
    assert planned_cost(law, 256) < 0.5 * planned_cost(full, 256)


def test_law_cooldowns_need_wsd_and_fixed_sizes(tmp_path):
    base = open("sweeps/answer-law.toml").read().replace('"fitted:../results/answer-lr-ladder/lr_rule.json"', "3e-3")
    for change, why in (
        ('schedule = "cosine"', "wsd"),
        ("refine = true", "fixed up front"),
        ('cooldowns = "some"', "must be one of"),
    ):
        text = base.replace('schedule = "wsd"', change) if "schedule" in change else base
        text = text.replace("refine = false", change) if "refine" in change else text
        text = text.replace('cooldowns = "law"', change) if "cooldowns" in change else text
        p = tmp_path / "s.toml"
        p.write_text(text)
        with pytest.raises(SweepError, match=why):
            load_sweep(p)


def test_a_law_sweep_trains_less_and_its_folder_fits_as_the_full_grid(tmp_path, cache_dir):
    """A real cooldowns = "law" sweep: 6 runs where the full grid trains 9. Its folder reads as every size at
    every budget, trained or predicted by the law (the table records which); the law's points are checked
    against the full sweep's trained cooldowns of the same trunks; and bad input is one line."""
    import json

    import pandas as pd
    from click.testing import CliRunner
    from conftest import WSD_SWEEP, write

    from isoflop.cli import main
    from isoflop.laws.table import RunTable
    from isoflop.laws.table_io import load_runs
    from isoflop.runs import finished_records
    from isoflop.sweep import run_sweep
    from isoflop.sweep.executors import LocalExecutor

    law = load_sweep(write(tmp_path, WSD_SWEEP.replace('schedule = "wsd"', 'schedule = "wsd"\ncooldowns = "law"')))
    full = load_sweep(write(tmp_path, WSD_SWEEP, "full.toml"))
    for s, root in ((law, "law"), (full, "full")):
        run_sweep(s, LocalExecutor(1, max_workers=2), results_root=tmp_path / root, cache_dir=str(cache_dir))
    law_dir, full_dir = tmp_path / "law" / "w", tmp_path / "full" / "w"
    assert len(finished_records(law_dir)) == 6 and len(finished_records(full_dir)) == 9
    assert {r.run_id for r in finished_records(law_dir)} < {r.run_id for r in finished_records(full_dir)}

    table = load_runs(law_dir)
    from isoflop.laws.sensitivity import recounted_table

    assert recounted_table(law_dir) is None  # the report's 6N variant is left out for a law grid, not fatal
    assert table.n_used == 9 and table.n_predicted == 3 and table.budgets.size == 3
    assert RunTable.from_dict(json.loads(json.dumps(table.to_dict()))).predicted.tolist() == table.predicted.tolist()
    trained = {round(r.val_loss, 9) for r in finished_records(law_dir)}
    assert {round(x, 9) for x in table.loss[~table.predicted]} == trained  # trained points keep their losses
    # the law's bootstrap draws, row by row: a trained point's loss in every draw, a predicted one's spread
    from isoflop.laws.curves.grid import DRAWS

    u = table.used
    # (a draw in which some trunk's refit fails is left out: here tiny curves, a few of the 20)
    assert table.draws is not None and DRAWS // 2 <= table.draws.shape[0] <= DRAWS
    assert table.draws.shape[1] == table.n_runs
    assert np.array_equal(
        table.draws[:, u & ~table.predicted], np.tile(table.loss[u & ~table.predicted], (len(table.draws), 1))
    )
    assert (table.draws[:, u & table.predicted].std(axis=0) > 0).all()

    r = CliRunner().invoke(main, ["fit", str(law_dir), "--json", "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert sum(doc["table"]["predicted"]) == 3 and any(
        "predicted by each trunk's loss-curve law" in n for n in doc["notes"]
    )

    out, plot = tmp_path / "grid.csv", tmp_path / "check.png"
    args = ["curves", "profile", str(law_dir), "--against", str(full_dir), "--out", str(out), "--plot", str(plot)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    grid = pd.read_csv(out)
    assert len(grid) == 9 and (grid["source"] == "predicted").sum() == 3 and plot.stat().st_size > 0
    line = next(x for x in r.output.splitlines() if "held-out trained ends" in x)
    worst = float(line.split("worst ")[1].split("%")[0])
    assert "3 held-out" in line and worst < 5.0  # measured 2.4% on these 30-second runs
    # the law's error per trunk, as the planner models it: each trunk's one held-out end gives its a
    bump = next(x for x in r.output.splitlines() if "as scaling plan --law simulates it" in x)
    assert "over 3 trunks (3 points)" in bump and "--law-bump " in bump
    mean, sd = (float(v) for v in bump.split("--law-bump ")[1].split(";")[0].split(","))
    assert np.isfinite(mean) and sd > 0

    r = CliRunner().invoke(main, ["curves", "profile", str(law_dir), "--plot", str(plot)])
    assert r.exit_code == 2 and "needs --against" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["curves", "profile", str(law_dir), "--own", "alpha", "--out", str(out)])
    assert r.exit_code == 0, r.output
    # each trunk its own alpha (on these 30-second runs the shared alpha already sits at its bound, 0, and
    # stays there: tests/laws/test_curve_law.py checks that freeing it recovers differing exponents)
    freed = pd.read_csv(out)
    assert len(freed) == 9 and np.isfinite(freed["predicted"]).all()
    assert (freed["loss"][freed["source"] == "trained"] == grid["loss"][grid["source"] == "trained"]).all()
    r = CliRunner().invoke(main, ["curves", "profile", str(law_dir), "--own", "alpha", "--per-trunk"])
    assert r.exit_code == 2 and "--per-trunk" in r.output and len(r.output.strip().splitlines()) == 1


def test_law_cooldowns_3_adds_the_cooldown_nearest_the_middle_of_each_sizes_budgets(tmp_path):
    two = load_sweep("sweeps/answer-law.toml")
    three = load_sweep("sweeps/answer-law.toml", ("law_cooldowns=3",))
    a, b = law_budgets(two, 256), law_budgets(three, 256)
    assert a.keys() == b.keys()
    for m, cs in b.items():
        assert set(a[m]) <= set(cs) and min(cs) == min(a[m]) and max(cs) == max(a[m])
        served = [c for c in three.budgets if m in {s.model for s in budget_runs(replace_all(three), c, 256, [])}]
        if len(served) >= 3:
            (mid,) = set(cs) - set(a[m])
            centre = np.sqrt(min(served) * max(served))
            assert all(abs(np.log(mid / centre)) <= abs(np.log(c / centre)) + 1e-12 for c in served)
        else:
            assert cs == a[m]
    full = load_sweep("sweeps/answer.toml")
    assert planned_cost(two, 256) < planned_cost(three, 256) < planned_cost(replace_all(three), 256)
    assert planned_cost(three, 256) < 0.75 * planned_cost(full, 256)
    assert "law_cooldowns" not in two.to_dict() and three.to_dict()["law_cooldowns"] == 3
    for bad, why in (("law_cooldowns=4", "must be 2 or 3"), ("law_cooldowns=true", "must be 2 or 3")):
        with pytest.raises(SweepError, match=why):
            load_sweep("sweeps/answer-law.toml", (bad,))
    with pytest.raises(SweepError, match='law_cooldowns needs cooldowns = "law"'):
        load_sweep("sweeps/answer.toml", ("law_cooldowns=3",))


def replace_all(sweep):
    """The same sweep training every cooldown."""
    from dataclasses import replace

    return replace(sweep, cooldowns="all", law_cooldowns=2)
