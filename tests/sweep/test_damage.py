"""Damaged run folders, on real runs: each is detected, the damaged run is moved aside (kept, with its reason) or
restarted, and redone; no finished run is touched, and a fit of the damaged folder goes on without it."""

import json
import shutil

import pytest
import torch
from click.testing import CliRunner
from conftest import COSINE_SWEEP, write

from isoflop.cli import main
from isoflop.model.config import ModelConfig
from isoflop.model.transformer import Transformer
from isoflop.runs import run_folders

SWEEP = (
    COSINE_SWEEP.replace("budgets = [1e8, 3e8, 1e9]", "budgets = [3e8]")
    .replace('name = "t"', 'name = "dmg"')
    .replace("k = 3,", "k = 7,")
)  # seven runs: six to damage at once, one left whole


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir):
    """One real sweep of three runs, trained once; each case damages a copy."""
    root = tmp_path_factory.mktemp("damage")
    sweep = write(root, SWEEP)
    r = CliRunner().invoke(
        main, ["sweep", "run", str(sweep), "--results", str(root / "res"), "--cache-dir", str(cache_dir)]
    )
    assert r.exit_code == 0, r.output
    return root / "res" / "dmg", sweep


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (shutil.copy, ("/etc/hostname", str(self.marker)))


def _other_shape_checkpoint(path, run):
    """A plain checkpoint of another model (another width), claiming this run's step count."""
    cfg = ModelConfig(n_layers=1, d_model=48, n_heads=1, vocab_size=64, seq_len=32)
    torch.save(
        {"identity": {"model": cfg.to_dict()}, "model": Transformer(cfg).state_dict(), "step": 2, "state": {"step": 2}},
        path,
    )


def _unfinish(run):
    (run / "result.json").unlink()


DAMAGE = {
    # finished runs whose record cannot be trusted: moved aside to damaged/ and redone
    "result-truncated": (
        lambda run, other: (run / "result.json").write_text((run / "result.json").read_text()[:50]),
        "not valid JSON",
        True,
    ),
    "result-empty": (lambda run, other: (run / "result.json").write_text(""), "not valid JSON", True),
    "result-not-a-record": (lambda run, other: (run / "result.json").write_text("[1, 2, 3]"), "damaged", True),
    "result-of-another-run": (
        lambda run, other: shutil.copy(other / "result.json", run / "result.json"),
        "the record of run",
        True,
    ),
    # unfinished runs whose files belong to another run: moved aside and redone
    "config-of-another-run": (
        lambda run, other: (_unfinish(run), shutil.copy(other / "config.json", run / "config.json")),
        "not the spec of run",
        True,
    ),
    "config-not-json": (
        lambda run, other: (_unfinish(run), (run / "config.json").write_text("{torn")),
        "not the spec of run",
        True,
    ),
    # unfinished runs with a damaged curve or checkpoint: restarted in place, no step logged twice
    "metrics-torn-last-line": (
        lambda run, other: (
            _unfinish(run),
            (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text()[:-7]),
        ),
        None,
        False,
    ),
    "checkpoint-of-another-shape": (
        lambda run, other: (_unfinish(run), _other_shape_checkpoint(run / "checkpoint.pt", run)),
        None,
        False,
    ),
    "checkpoint-empty": (lambda run, other: (_unfinish(run), (run / "checkpoint.pt").write_bytes(b"")), None, False),
    "checkpoint-torn": (
        lambda run, other: (_unfinish(run), (run / "checkpoint.pt").write_bytes(b"PK\x03\x04junk")),
        None,
        False,
    ),
    "checkpoint-planted-pickle": (
        lambda run, other: (
            _unfinish(run),
            torch.save({"step": 1, "x": _Payload(run.parent.parent / "pwned")}, run / "checkpoint.pt"),
        ),
        None,
        False,
    ),
}


GROUPS = {
    "moved-aside": sorted(k for k, v in DAMAGE.items() if v[2]),
    "restarted": sorted(k for k, v in DAMAGE.items() if not v[2]),
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_damaged_runs_are_redone_alone_and_nothing_finished_is_lost(tmp_path, trained, cache_dir, group):
    """Each kind of damage in the group is done to its own run of one sweep folder; one `sweep run` redoes them."""
    src, sweep = trained
    folder = tmp_path / "dmg"
    shutil.copytree(src, folder)
    runs = [f.path for f in run_folders(folder)]
    cases = GROUPS[group]
    assert len(runs) > len(cases)
    other = runs[-1]  # left whole: the source of "another run's" files
    before = {r.name: (r / "result.json").read_bytes() for r in runs}
    victims = dict(zip(cases, runs))
    damaged_bytes = {}
    for case, victim in victims.items():
        DAMAGE[case][0](victim, other)
        damaged_bytes[case] = {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()}
    # a fit of the damaged folder goes on, without the damaged runs
    r = CliRunner().invoke(main, ["fit", str(folder), "--bootstrap", "0", "--method", "approach3"])
    assert "Traceback" not in r.output
    r = CliRunner().invoke(
        main, ["sweep", "run", str(sweep), "--results", str(tmp_path), "--cache-dir", str(cache_dir)]
    )
    assert r.exit_code == 0, r.output
    assert f"({len(cases)} to do)" in r.output, r.output
    after = {r_.name: (r_ / "result.json").read_bytes() for r_ in runs}
    hit = {v.name for v in victims.values()}
    for name in before:
        if name not in hit:
            assert after[name] == before[name], f"{name}: a finished run was touched"
    assert not (folder / "pwned").exists()
    for case, victim in victims.items():
        _, why, aside = DAMAGE[case]
        redone, old = json.loads(after[victim.name]), json.loads(before[victim.name])
        assert redone["status"] == "ok" and redone["run_id"] == victim.name, case
        assert redone["val_loss"] == pytest.approx(old["val_loss"], rel=1e-5), case  # the same seeded run, again
        steps = [
            json.loads(x)["step"]
            for x in (victim / "metrics.jsonl").read_text().splitlines()
            if json.loads(x)["kind"] == "train"
        ]
        assert steps == sorted(set(steps)), f"{case}: a step was logged twice"
        kept = sorted((folder / "damaged").glob(f"{victim.name}*")) if (folder / "damaged").exists() else []
        if aside:
            assert len(kept) == 1 and why in (kept[0] / "reason.txt").read_text(), case
            for name, data in damaged_bytes[case].items():  # nothing of the damaged folder is lost
                assert (kept[0] / name).read_bytes() == data, case
        else:
            assert not kept, case


def test_a_damaged_sweep_json_and_runs_csv_are_rewritten(tmp_path, trained, cache_dir):
    src, sweep = trained
    folder = tmp_path / "dmg"
    shutil.copytree(src, folder)
    (folder / "sweep.json").write_text("{torn")
    (folder / "runs.csv").write_text("run_id,sta")
    r = CliRunner().invoke(main, ["sweep", "status", str(sweep), "--results", str(tmp_path)])
    assert r.exit_code == 0 and "7 runs finished" in r.output, r.output
    r = CliRunner().invoke(
        main, ["sweep", "run", str(sweep), "--results", str(tmp_path), "--cache-dir", str(cache_dir)]
    )
    assert r.exit_code == 0, r.output
    assert json.loads((folder / "sweep.json").read_text())["name"] == "dmg"
    assert len((folder / "runs.csv").read_text().splitlines()) == 8
