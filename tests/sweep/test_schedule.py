"""The task graph of a sweep: dependencies respected, failures passed on with the reason, longest chains first."""

import json
import time

import pytest
from conftest import WSD_SWEEP, write

from isoflop.runs import finished_records
from isoflop.sweep import budget_runs, load_sweep, run_sweep
from isoflop.sweep.executors import LocalExecutor
from isoflop.sweep.schedule import Skipped, Task, critical_paths, run_graph, sweep_tasks


def stamp(folder: str, key: str, seconds: float, fail: bool = False) -> str:
    """A task that logs when it started and ended (in its own file), and may fail."""
    t0 = time.time()
    time.sleep(seconds)
    if fail:
        raise RuntimeError(f"{key} broke")
    with open(f"{folder}/{key}.json", "w") as f:
        json.dump({"start": t0, "end": time.time()}, f)
    return key


def _graph(tmp_path, fail=()):
    spec = {
        "a": (0.3, ()),
        "b": (0.1, ("a",)),
        "c": (0.1, ("b",)),
        "d": (0.1, ("a",)),
        "e": (0.2, ()),
        "f": (0.1, ("e",)),
        "g": (0.1, ("f",)),
    }
    return [Task(k, stamp, (str(tmp_path), k, s, k in fail), after, cost=s) for k, (s, after) in spec.items()]


def test_tasks_start_only_after_what_they_wait_on(tmp_path):
    tasks = _graph(tmp_path)
    with LocalExecutor(1, max_workers=2) as ex:
        out = run_graph(ex, tasks)
    assert sorted(out.results) == sorted(t.key for t in tasks) and not out.errors and not out.skipped
    times = {t.key: json.loads((tmp_path / f"{t.key}.json").read_text()) for t in tasks}
    for t in tasks:
        for d in t.after:
            assert times[t.key]["start"] >= times[d]["end"], f"{t.key} started before {d} ended"
    # Both workers were used: some two tasks overlapped in time.
    spans = sorted((v["start"], v["end"]) for v in times.values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_a_failed_task_skips_what_waits_on_it_and_nothing_else(tmp_path):
    tasks = _graph(tmp_path, fail={"b"})
    ended = []
    out = run_graph(LocalExecutor(1, max_workers=1), tasks, lambda t, r: ended.append((t.key, r)))
    assert set(out.errors) == {"b"} and "b broke" in str(out.errors["b"])
    assert set(out.skipped) == {"c"} and "b did not finish: RuntimeError: b broke" in out.skipped["c"]
    assert set(out.results) == {"a", "d", "e", "f", "g"}
    assert {k for k, r in ended if isinstance(r, Skipped)} == {"c"} and len(ended) == len(tasks)


def test_the_longest_chain_starts_first(tmp_path):
    tasks = _graph(tmp_path)
    cp = critical_paths(tasks)
    assert cp["a"] == pytest.approx(0.3 + 0.1 + 0.1) and cp["e"] == pytest.approx(0.4) and cp["c"] == 0.1
    order = []
    run_graph(LocalExecutor(1, max_workers=1), tasks, lambda t, r: order.append(t.key))
    assert order[0] == "a" and order.index("e") < order.index("d")  # e's chain (0.4) before d (0.1)


def test_cycles_and_unknown_dependencies_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        run_graph(LocalExecutor(1, max_workers=1), [Task("x", stamp, (str(tmp_path), "x", 0), ("nope",))])


WSD = WSD_SWEEP.replace('name = "w"', 'name = "g"').replace(
    ",\n          { n_layers = 2, d_model = 64, n_heads = 2 }]", "]"
)  # two sizes


def test_a_wsd_sweep_is_one_graph_of_growth_chains_and_cooldowns(tmp_path):
    sweep = load_sweep(write(tmp_path, WSD))
    specs = [s for b in sweep.budgets for s in budget_runs(sweep, b, 64, [])]
    tasks = {t.key: t for t in sweep_tasks(specs, str(tmp_path), None)}
    grows = [t for t in tasks.values() if t.key.startswith("grow:")]
    runs = [t for t in tasks.values() if t.spec is not None]
    assert len(grows) == 6 and len(runs) == 6  # 2 trunks x 3 branch points; 6 cooldowns
    for r in runs:  # each cooldown waits for the growth to its own branch point
        (g,) = r.after
        assert g == f"grow:{r.spec.trunk_id}:{r.spec.branch_step}"
    for g in grows:  # each growth continues the one before it on the same trunk
        trunk, step = g.key.split(":")[1], int(g.key.split(":")[2])
        earlier = [
            int(x.key.split(":")[2]) for x in grows if x.key.split(":")[1] == trunk and int(x.key.split(":")[2]) < step
        ]
        assert g.after == ((f"grow:{trunk}:{max(earlier)}",) if earlier else ())
    # The cost of the graph is the sweep's planned cost: each trunk step once, plus every cooldown.
    from isoflop.sweep.plan import planned_cost

    assert sum(t.cost for t in tasks.values()) == pytest.approx(planned_cost(sweep, 64))


def test_a_trunk_that_diverges_fails_its_branches_with_the_reason(tmp_path, cache_dir):
    sweep = load_sweep(
        write(tmp_path, WSD.replace("cooldown_frac = 0.25", "cooldown_frac = 0.25\nlr = 50.0\ndiverge_factor = 1.01"))
    )
    st = run_sweep(sweep, LocalExecutor(1, max_workers=2), results_root=tmp_path / "res", cache_dir=str(cache_dir))
    recs = finished_records(tmp_path / "res" / "g")
    assert st.done == 6 and len(recs) == 6 and st.ok == 0
    assert all(r.status == "failed" for r in recs)
    assert any("trunk diverged" in (r.error or "") for r in recs)
    assert all(("did not finish" in r.error) or ("trunk diverged" in r.error) for r in recs)


def test_a_growth_reached_before_the_one_below_it_saves_that_snapshot_on_its_way(tmp_path, cache_dir):
    # A driver that takes over a dead one's trunk can reach the growth to the second branch point while the
    # first was never grown (its task skipped while the trunk was held). Growing straight past the first branch
    # point would leave its branch to grow the trunk again from step 0; the growth saves that snapshot instead.
    sweep = load_sweep(write(tmp_path, WSD_SWEEP))
    specs = [s for b in sweep.budgets for s in budget_runs(sweep, b, 64, [])]
    specs = [s for s in specs if s.trunk_id == specs[0].trunk_id]  # one trunk
    root = tmp_path / "res" / sweep.name
    tasks = sweep_tasks(specs, str(root), str(cache_dir))
    grows = sorted((t for t in tasks if t.key.startswith("grow:")), key=lambda t: int(t.key.split(":")[2]))
    assert len(grows) == 3
    steps = [int(t.key.split(":")[2]) for t in grows]
    middle = grows[1]
    out = middle.fn(*middle.args)  # grows 0 -> steps[1], passing steps[0]
    assert out["skipped"] is False and out["recreated"] is False
    from isoflop.runs.claim import attempts
    from isoflop.runs.store import trunk_folders

    (tf,) = trunk_folders(root)
    assert tf.snapshot_path(steps[0]).exists() and tf.snapshot_path(steps[1]).exists()
    assert [e["step"] for e in attempts(root)] == steps[:2]  # each growth logged with its step
    # The first branch finishes from that snapshot, then the last growth passes no stop (the first branch is
    # done, its snapshot deleted); every branch finishes and no trunk step was trained twice.
    for t in tasks:
        if t.key.startswith("run:") and t.spec.branch_step == steps[0]:
            assert t.fn(*t.args)["status"] == "ok"
    assert not tf.snapshot_path(steps[0]).exists()
    grows[2].fn(*grows[2].args)
    assert [e["step"] for e in attempts(root) if e["key"].startswith("trunk-")] == steps
    for t in tasks:
        if t.key.startswith("run:") and t.spec.branch_step != steps[0]:
            assert t.fn(*t.args)["status"] == "ok"
    state = tf.read_state()
    assert state.recreated_flops == 0 and state.steps == steps[2]
    assert len(finished_records(root)) == 3 and not list(tf.path.glob("at-*.pt"))
