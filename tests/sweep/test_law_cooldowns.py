"""cooldowns = "law": each size trains its trunk and two cooldowns, its smallest and largest budget's."""

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
