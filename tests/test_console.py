"""rich where output is a terminal, plain text where it is not: the sweep's live view, tables, the bootstrap bar."""

import io
import json

import numpy as np

from isoflop.laws import analyze, load_runs
from isoflop.laws.report import format_analysis
from isoflop.laws.text import table, table_style
from isoflop.model.config import ModelConfig
from isoflop.runs.folder import run_folder
from isoflop.sweep.progress import Monitor
from isoflop.train.config import TrainConfig
from isoflop.train.spec import RunSpec


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _sweep_with_an_active_run(tmp_path):
    spec = RunSpec(
        ModelConfig(vocab_size=16, n_layers=1, d_model=32, n_heads=1, seq_len=32),
        1e9,
        TrainConfig(batch_size=4),
        "synthetic",
        "byte",
        0,
        "cpu",
    )
    folder = run_folder(tmp_path, spec.run_id)
    folder.write_config(spec)
    folder.append_metrics(
        [
            {
                "kind": "train",
                "step": s,
                "tokens": 1000 * s,
                "flops": 1e8 * s,
                "train_loss": 3.0 - s / 10,
                "wall_time_s": float(s),
            }
            for s in (1, 2)
        ]
    )
    return tmp_path, spec.run_id


def test_the_live_view_draws_a_bar_and_a_table_on_a_terminal_and_plain_lines_elsewhere(tmp_path):
    root, run_id = _sweep_with_an_active_run(tmp_path)
    term = _Terminal()
    with Monitor(root, 4, 4e9, stream=term, interval=60):
        pass
    out = term.getvalue()
    assert "━" in out and run_id[:8] in out and "2.800" in out and "runs 0/4" in out
    plain = io.StringIO()
    with Monitor(root, 4, 4e9, stream=plain, interval=60):
        pass
    lines = plain.getvalue().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("runs 0/4") and "━" not in plain.getvalue()
    assert "\x1b" not in plain.getvalue()  # no escape codes in logs


def test_tables_are_rich_only_inside_the_rich_style():
    rows = [["approach2", "2.7e+06"], ["approach3", "2.6e+06"]]
    plain = table(["method", "N_opt"], rows)
    assert plain.splitlines()[1].startswith("---------") and "\x1b" not in plain
    with table_style("rich", 80):
        fancy = table(["method", "N_opt"], rows)
    assert "approach2" in fancy and "━" in fancy and fancy != plain
    assert table(["method", "N_opt"], rows) == plain  # the style ends with its block


def test_the_bootstrap_reports_its_progress_to_a_callback():
    from conftest import synthetic_runs

    seen = []
    runs = load_runs(synthetic_runs(noise=0.003, rng=np.random.default_rng(0)))
    res = analyze(runs, n_bootstrap=20, seed=0, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen) and seen[-1][1:] == (4, 4)
    assert "approach2" in format_analysis(res)
    assert json.dumps(seen)
