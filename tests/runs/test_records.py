"""Run records: one schema both ways, one folder store, old records still read, damaged folders detected."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FIXTURES

from isoflop import analyze, load_runs
from isoflop.data import load_corpus
from isoflop.errors import RecordError, ScalingError
from isoflop.model.config import ModelConfig
from isoflop.runs import SCHEMA_VERSION, RunFolder, RunRecord, iter_records, runs_frame
from isoflop.train import TrainConfig, train

TINY = dict(n_layers=1, d_model=32, n_heads=1, seq_len=32)


@pytest.fixture(scope="module")
def record(cache_dir):
    data = load_corpus("synthetic", cache_dir=cache_dir, synthetic_vocab=16, synthetic_tokens=300_000)
    return train(ModelConfig(vocab_size=16, **TINY), 1e9, data, TrainConfig(batch_size=4, threads=1), peak_flops=1e11)


def test_record_round_trips_through_its_dict(record):
    doc = record.to_dict()
    assert doc["schema_version"] == SCHEMA_VERSION and doc["curve"] and doc["val_curve"]
    back = RunRecord.from_dict(doc)
    assert back == record
    assert isinstance(back.model, ModelConfig) and isinstance(back.train_config, TrainConfig)


def test_folder_stores_the_curve_once_and_reads_it_back(record, tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.write_run(record)
    on_disk = folder.result_path.read_text()
    assert '"curve"' not in on_disk and '"val_curve"' not in on_disk  # the curves live in metrics.jsonl only
    assert folder.read_result(curves=True) == replace(record, run_id="run")
    assert folder.read_result().curve == ()  # without curves=True, metrics.jsonl is not read


def test_failed_record_needs_a_reason():
    rec = RunRecord.failed("RuntimeError: boom", seed=3, budget_flops=1e9)
    assert RunRecord.from_dict(rec.to_dict()) == rec and rec.status == "failed"
    with pytest.raises(RecordError, match="needs an error"):
        RunRecord(status="diverged")
    with pytest.raises(RecordError, match="status"):
        RunRecord(status="exploded", error="?")


@pytest.mark.parametrize(
    "doc,msg",
    [
        ({"status": "ok", "colour": "red"}, "unknown key"),
        ({"val_loss": 1.0}, "no 'status'"),
        ({"status": "ok", "schema_version": SCHEMA_VERSION + 1}, "newer"),
        (
            {"status": "ok", "model": {"n_layers": 0, "d_model": 32, "n_heads": 1, "vocab_size": 16, "seq_len": 8}},
            "n_layers",
        ),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_record_documents_are_named(doc, msg):
    with pytest.raises(RecordError, match=msg):
        RunRecord.from_dict(doc, "x/result.json: ")


def test_committed_schema_1_records_still_load():
    # Its runs were written before records had a schema version, with the curve in result.json too.
    recs = [r for _, r in iter_records(FIXTURES / "quick-shakespeare", curves=True)]
    assert len(recs) == 20 and all(isinstance(r, RunRecord) and r.status == "ok" for r in recs)
    assert all(r.curve and r.val_curve and r.model is not None for r in recs)
    one = RunFolder(FIXTURES / "one").read_result(curves=True)
    assert one.status == "ok" and one.curve  # a bare `scaling train --out` folder without metrics.jsonl


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def test_loading_a_sweep_folder_changes_no_file(tmp_path):
    sweep = tmp_path / "quick"
    shutil.copytree(FIXTURES / "quick-shakespeare", sweep)
    (sweep / "runs.csv").unlink()  # loading must not write it back
    before = _snapshot(sweep)
    table = load_runs(sweep)
    analyze(table, n_bootstrap=20, targets=[1e15])
    load_runs(sweep, recount="6N")
    assert _snapshot(sweep) == before


def test_a_damaged_record_is_reported_not_fatal(tmp_path):
    sweep = tmp_path / "quick"
    shutil.copytree(FIXTURES / "quick-shakespeare", sweep)
    torn = sorted((sweep / "runs").iterdir())[0]
    text = (torn / "result.json").read_text()
    (torn / "result.json").write_text(text[: len(text) // 2])  # a write cut short
    got = dict(iter_records(sweep))
    assert isinstance(got[torn.name], RecordError) and isinstance(got[torn.name], ScalingError)
    assert "damaged" in str(got[torn.name]) and str(torn / "result.json") in str(got[torn.name])
    df = runs_frame(sweep)
    assert (df["status"] == "damaged").sum() == 1 and len(df) == 20
    table = load_runs(sweep)
    assert table.n_used == 19 and any("damaged" in e.reason for e in table.excluded)
