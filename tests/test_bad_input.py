"""The bad-input campaign: malformed sweep files, CLI values, loss tables, law files and unwritable folders each
end in one line and exit code 2, naming what is wrong; no traceback. (Damaged run folders: tests/sweep/test_damage.py.)"""

import errno
import json
import sys

import pytest
from click.testing import CliRunner
from conftest import COSINE_SWEEP, synthetic_runs, write

from isoflop.cli import main

BASE = COSINE_SWEEP
AUTO = "auto = { k = 3, span = 3.0, exponent = 0.5, anchor_flops = 3e8, anchor_params = 2e4 }"
BUDGETS = "budgets = [1e8, 3e8, 1e9]"


def one_line_exit_2(r, *fragments):
    """The command failed as bad input should: exit 2, one line, no traceback, naming each fragment."""
    out = r.output.strip()
    assert r.exit_code == 2, (r.exit_code, out, r.exception)
    assert len(out.splitlines()) == 1, out
    assert "Traceback" not in out and out.startswith("Error: "), out
    for f in fragments:
        assert f in out, (f, out)


def ends_in_one_error_line(r, *fragments):
    """A command that failed after it had started (progress lines above): exit 2, and one error line, last."""
    out = r.output.strip().splitlines()
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output and sum(x.startswith("Error: ") for x in out) == 1, r.output
    assert out[-1].startswith("Error: ") and all(f in out[-1] for f in fragments), out[-1]


def _sub(old, new, base=BASE):
    assert old in base, old
    return base.replace(old, new)


def _sizes(text):
    return BASE.split("[sizes]")[0] + "[sizes]\n" + text + "\n"


SWEEP_FILES = {
    # budgets
    "budgets-string": (_sub(BUDGETS, 'budgets = "lots"'), "budgets"),
    "budgets-negative": (_sub(BUDGETS, "budgets = [-1e8, 3e8]"), "positive"),
    "budgets-nan": (_sub(BUDGETS, "budgets = [nan, 3e8]"), "budgets ([nan"),
    "budgets-inf": (_sub(BUDGETS, "budgets = [inf, 3e8]"), "finite"),
    "budgets-empty": (_sub(BUDGETS, "budgets = []"), "non-empty"),
    "budgets-zero": (_sub(BUDGETS, "budgets = [0, 3e8]"), "positive"),
    "budgets-twice": (_sub(BUDGETS, "budgets = [3e8, 3e8]"), "twice"),
    "budgets-bool": (_sub(BUDGETS, "budgets = [true]"), "budgets"),
    "budgets-missing": (_sub(BUDGETS + "\n", ""), "missing key 'budgets'"),
    # lengths and counts
    "seq-len-zero": (_sub("seq_len = 32", "seq_len = 0"), "seq_len (0) must be a positive integer"),
    "seq-len-string": (_sub("seq_len = 32", 'seq_len = "32"'), "seq_len ('32')"),
    "seq-len-fraction": (_sub("seq_len = 32", "seq_len = 32.5"), "seq_len (32.5)"),
    "batch-zero": (_sub("batch_size = 4", "batch_size = 0"), "batch_size (0)"),
    "batch-negative": (_sub("batch_size = 4", "batch_size = -4"), "batch_size (-4)"),
    "seeds-fraction": (_sub("threads = 1", "threads = 1\nseeds = 1.5"), "seeds (1.5)"),
    "seeds-zero": (_sub("threads = 1", "threads = 1\nseeds = 0"), "seeds (0)"),
    "seeds-bool": (_sub("threads = 1", "threads = 1\nseeds = true"), "seeds (True)"),
    "head-dim-zero": (_sub("threads = 1", "threads = 1\nhead_dim = 0"), "head_dim (0)"),
    "aspect-negative": (_sub("threads = 1", "threads = 1\naspect_ratio = -32"), "aspect_ratio (-32)"),
    "checkpoint-every-negative": (_sub("threads = 1", "threads = 1\ncheckpoint_every_s = -5"), "checkpoint_every_s"),
    # threads (100000 used to crash the process with a segmentation fault)
    "threads-absurd": (_sub("threads = 1", "threads = 100000"), "threads (100000) must be at most"),
    "threads-zero": (_sub("threads = 1", "threads = 0"), "threads (0)"),
    "threads-string": (_sub("threads = 1", 'threads = "all"'), "threads ('all')"),
    # devices, corpora, tokenizers
    "device-unknown": (_sub("threads = 1", 'threads = 1\ndevice = "tpu"'), "device ('tpu')"),
    "device-number": (_sub("threads = 1", "threads = 1\ndevice = 0"), "device (0)"),
    "corpus-unknown": (_sub('corpus = "synthetic"', 'corpus = "wikipedia"'), "unknown corpus 'wikipedia'"),
    "corpus-text-no-path": (_sub('corpus = "synthetic"', 'corpus = "text:"'), "unknown corpus 'text:'"),
    "corpus-number": (_sub('corpus = "synthetic"', "corpus = 3"), "unknown corpus 3"),
    "tokenizer-unknown": (_sub("threads = 1", 'threads = 1\ntokenizer = "sentencepiece"'), "unknown tokenizer"),
    "tokenizer-bpe-no-size": (_sub("threads = 1", 'threads = 1\ntokenizer = "bpe:x"'), "unknown tokenizer 'bpe:x'"),
    "tokenizer-bpe-too-small": (_sub("threads = 1", 'threads = 1\ntokenizer = "bpe:10"'), "BPE vocabulary (10)"),
    # TOML itself, keys, names
    "syntax-error": (BASE + "\nthis is not toml\n", "invalid TOML"),
    "duplicate-key": (_sub('name = "t"', 'name = "t"\nname = "u"'), "invalid TOML"),
    "binary-file": ("\x00\x01\x02", "invalid TOML"),
    "empty-file": ("", "missing key 'name'"),
    "unknown-key": (BASE.replace("[sizes]", "learning_rate = 3\n[sizes]"), "unknown key 'learning_rate'"),
    "name-path": (_sub('name = "t"', 'name = "../evil"'), "name ('../evil')"),
    "schedule-unknown": (_sub('schedule = "cosine"', 'schedule = "linear"'), "schedule ('linear')"),
    "convention-unknown": (_sub("threads = 1", 'threads = 1\nflops_convention = "kaplan2"'), "flops_convention"),
    "warmup-unknown": (_sub("threads = 1", 'threads = 1\nwarmup = "sometimes"'), "warmup ('sometimes')"),
    # sizes
    "shapes-and-params": (_sizes("params = [1e4, 2e4, 4e4]\n" + AUTO), "exactly one of auto, params, shapes"),
    "sizes-empty": (_sizes(""), "exactly one of auto, params, shapes (got none)"),
    "heads-do-not-divide": (
        _sizes("shapes = [{ n_layers = 2, d_model = 50, n_heads = 3 }]"),
        "d_model (50) must be divisible by n_heads (3)",
    ),
    "shape-zero-layers": (_sizes("shapes = [{ n_layers = 0, d_model = 64, n_heads = 2 }]"), "n_layers (0)"),
    "shape-missing-key": (_sizes("shapes = [{ d_model = 64, n_heads = 2 }]"), "needs n_layers, d_model and n_heads"),
    "params-negative": (_sizes("params = [-1e4, 2e4]"), "positive parameter counts"),
    "params-empty": (_sizes("params = []"), "sizes.params ([])"),
    "params-nan": (_sizes("params = [nan]"), "sizes.params ([nan])"),
    "auto-k-too-few": (_sub("k = 3", "k = 2"), "sizes.auto.k (2)"),
    "auto-k-fraction": (_sub("k = 3", "k = 3.5"), "sizes.auto.k (3.5)"),
    "auto-span-negative": (_sub("span = 3.0", "span = -3.0"), "sizes.auto.span (-3.0)"),
    "auto-exponent-string": (
        _sub("exponent = 0.5", 'exponent = "half"'),
        "sizes.auto.exponent ('half') must be a number",
    ),
    "auto-exponent-nan": (_sub("exponent = 0.5", "exponent = nan"), "sizes.auto.exponent (nan)"),
    "auto-anchor-inf": (_sub("anchor_params = 2e4", "anchor_params = inf"), "anchor_params"),
    "auto-refine-string": (_sub("anchor_params = 2e4", 'anchor_params = 2e4, refine = "yes"'), "refine ('yes')"),
    # [train]
    "train-lr-negative": (BASE + "[train]\nlr = -1e-3\n", "train: lr (-0.001) must be positive"),
    "train-lr-word": (BASE + '[train]\nlr = "fast"\n', "train: lr ('fast')"),
    "train-lr-fitted-missing": (BASE + '[train]\nlr = "fitted:/no/such/ladder"\n', "no such LR ladder"),
    "train-evals-zero": (BASE + "[train]\nn_evals = 0\n", "n_evals"),
    "train-warmup-over-one": (BASE + "[train]\nwarmup_frac = 1.5\n", "warmup_frac (1.5)"),
    "train-unknown-key": (BASE + "[train]\nmomentum = 0.9\n", "train: unknown key 'momentum'"),
    "train-not-a-table": (_sub("[sizes]", "train = 3\n[sizes]"), "train must be a table"),
    "lr-grid-negative": (_sub("threads = 1", "threads = 1\nlr_grid = [-1, 2]"), "lr_grid"),
    "lr-grid-one": (_sub("threads = 1", "threads = 1\nlr_grid = [1]"), "two or more"),
}


@pytest.mark.parametrize("case", sorted(SWEEP_FILES))
def test_a_malformed_sweep_file_gets_one_line_naming_the_file_and_value(tmp_path, case):
    text, fragment = SWEEP_FILES[case]
    path = write(tmp_path, text)
    for cmd in ("status", "run"):
        r = CliRunner().invoke(main, ["sweep", cmd, str(path), "--results", str(tmp_path / "res")])
        one_line_exit_2(r, fragment, str(path))
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").rglob("result.json"))


def test_sweep_files_that_fail_only_where_they_run(tmp_path, cache_dir):
    """Well-formed files that this machine cannot run stop before any run, with one line."""
    cases = {
        "cuda:3": ('threads = 1\ndevice = "cuda:3"', "cuda:3"),
        "missing-text": (f'threads = 1\ncorpus = "text:{tmp_path / "nope.txt"}"', "nope.txt: no such file"),
        "empty-folder": (f'threads = 1\ncorpus = "text:{tmp_path / "empty"}"', "empty"),
    }
    (tmp_path / "empty").mkdir()
    for name, (repl, fragment) in cases.items():
        text = _sub("threads = 1", repl).replace(
            'corpus = "synthetic"\n', "" if "text:" in repl else 'corpus = "synthetic"\n'
        )
        if name == "cuda:3":
            import torch

            if torch.cuda.is_available():
                continue
        path = write(tmp_path, text, f"{name}.toml")
        r = CliRunner().invoke(
            main, ["sweep", "run", str(path), "--results", str(tmp_path / "res"), "--cache-dir", str(cache_dir)]
        )
        assert r.exit_code == 2 and fragment in r.output, (name, r.output)
        assert "Traceback" not in r.output and r.output.strip().splitlines()[-1].startswith("Error: ")
        assert not list((tmp_path / "res").rglob("result.json")), name


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A small valid loss table (runs at 3 budgets drawn from a known surface)."""
    path = tmp_path_factory.mktemp("table") / "runs.csv"
    synthetic_runs(budgets=(1e18, 1e19, 1e20)).to_csv(path, index=False)
    return path


def _csv(tmp_path, text, name="bad.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


CLI_VALUES = {
    # fit: targets, bootstrap, levels, counts
    "fit-target-negative": (["fit", "{table}", "--target", "-1e15"], "--target"),
    "fit-target-word": (["fit", "{table}", "--target", "lots"], "'lots' is not a number"),
    "fit-target-zero": (["fit", "{table}", "--target", "0"], "must be positive"),
    "fit-bootstrap-negative": (["fit", "{table}", "--bootstrap", "-5"], "--bootstrap"),
    "fit-bootstrap-word": (["fit", "{table}", "--bootstrap", "many"], "--bootstrap"),
    "fit-level-above-one": (["fit", "{table}", "--level", "1.5"], "--level"),
    "fit-level-zero": (["fit", "{table}", "--level", "0"], "--level"),
    "fit-holdout-negative": (["fit", "{table}", "--holdout", "-1"], "--holdout"),
    "fit-unique-tokens-zero": (["fit", "{table}", "--unique-tokens", "0"], "--unique-tokens"),
    "fit-method-unknown": (["fit", "{table}", "--method", "approach9"], "approach9"),
    "fit-drop-highest-negative": (["fit", "{table}", "--drop-highest", "-2"], "--drop-highest"),
    "fit-where-no-equals": (["fit", "{table}", "--where", "dataset"], "expected column=value"),
    "fit-where-no-column": (["fit", "{table}", "--where", "dataset=web"], "no column 'dataset'"),
    "fit-no-table": (["fit"], "give a TABLE"),
    "fit-missing-file": (["fit", "{tmp}/nope.csv"], "nope.csv"),
    "fit-unknown-option": (["fit", "{table}", "--targte", "1e15"], "--targte"),
    # audit
    "audit-params-zero": (["audit", "--params", "0", "--tokens", "1e9", "--preset", "epoch"], "params"),
    "audit-tokens-negative": (["audit", "--params", "1e8", "--tokens", "-1e9", "--preset", "epoch"], "tokens"),
    "audit-params-word": (["audit", "--params", "big", "--tokens", "1e9", "--preset", "epoch"], "--params"),
    "audit-law-missing": (["audit", "--params", "1e8", "--tokens", "1e9", "--law", "{tmp}/nope.json"], "nope.json"),
    "audit-law-not-json": (["audit", "--params", "1e8", "--tokens", "1e9", "--law", "{notjson}"], "notjson.json"),
    "audit-law-not-a-fit": (["audit", "--params", "1e8", "--tokens", "1e9", "--law", "{notfit}"], "notfit.json"),
    # plan, validate, train, flops, ladder, sweep options
    "plan-target-negative": (["plan", "--target", "-1", "--cost", "1h"], "--target"),
    "plan-cost-word": (["plan", "--target", "1e15", "--cost", "soon"], "soon"),
    "plan-cost-zero": (["plan", "--target", "1e15", "--cost", "0min"], "0min"),
    "validate-budget-zero": (["validate", "{sweep}", "--budget", "0"], "--budget"),
    "validate-budget-word": (["validate", "{sweep}", "--budget", "big"], "big"),
    "train-budget-zero": (["train", "--params", "2e4", "--budget", "0", "--data", "synthetic"], "budget"),
    "train-params-negative": (["train", "--params", "-2e4", "--budget", "1e9", "--data", "synthetic"], "params"),
    "ladder-missing": (["ladder", "{tmp}/no-ladder"], "no-ladder"),
    "sweep-workers-zero": (["sweep", "run", "{sweep}", "--workers", "0"], "--workers"),
    "sweep-set-no-equals": (["sweep", "run", "{sweep}", "--set", "seq_len"], "expected key=value"),
    "sweep-set-bad-value": (["sweep", "run", "{sweep}", "--set", "seq_len=-1"], "seq_len (-1)"),
    "sweep-file-missing": (["sweep", "run", "{tmp}/nope.toml"], "nope.toml"),
    "sweep-simulate-unknown-law": (["sweep", "run", "{sweep}", "--simulate", "nolaw"], "nolaw"),
    "sweep-simulate-law-is-a-folder": (["sweep", "run", "{sweep}", "--simulate", "{tmp}"], "a folder, not a fit"),
    "audit-law-is-a-folder": (["audit", "--params", "1e8", "--tokens", "1e9", "--law", "{tmp}"], "is a directory"),
    "command-unknown": (["fitt", "{table}"], "No such command 'fitt'"),
}

TABLES = {
    "table-empty-file": ("", "bad.csv"),
    "table-header-only": ("N,D,C,loss\n", "bad.csv"),
    "table-no-loss-column": ("N,D,C\n1e6,1e8,6e14\n", "loss"),
    "table-loss-word": ("N,D,C,loss\n1e6,1e8,6e14,low\n2e6,5e7,6e14,3.1\n", "loss"),
    "table-negative-params": ("N,D,C,loss\n-1e6,1e8,6e14,3.2\n2e6,5e7,6e14,3.1\n", "N"),
    "table-binary": ("\x00\x01\x02\x03", "bad.csv"),
}


@pytest.mark.parametrize("case", sorted(CLI_VALUES))
def test_a_bad_command_line_value_gets_one_line(tmp_path, table, case):
    args, fragment = CLI_VALUES[case]
    (tmp_path / "notjson.json").write_text("{not json")
    (tmp_path / "notfit.json").write_text(json.dumps({"hello": 1}))
    sweep = write(tmp_path, BASE)
    subst = {
        "{table}": str(table),
        "{tmp}": str(tmp_path),
        "{sweep}": str(sweep),
        "{notjson}": str(tmp_path / "notjson.json"),
        "{notfit}": str(tmp_path / "notfit.json"),
    }
    argv = []
    for a in args:
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
    r = CliRunner().invoke(main, argv + (["--results", str(tmp_path / "res")] if argv[:2] == ["sweep", "run"] else []))
    one_line_exit_2(r, fragment)


@pytest.mark.parametrize("case", sorted(TABLES))
def test_a_malformed_loss_table_gets_one_line_naming_it(tmp_path, case):
    text, fragment = TABLES[case]
    path = _csv(tmp_path, text)
    r = CliRunner().invoke(main, ["fit", str(path), "--bootstrap", "0"])
    one_line_exit_2(r, fragment)


# --- folders that cannot be written -------------------------------------------------------------------------------


def test_a_results_path_that_is_a_file_gets_one_line(tmp_path):
    blocker = tmp_path / "res"
    blocker.write_text("not a folder")
    r = CliRunner().invoke(
        main, ["sweep", "run", str(write(tmp_path, BASE)), "--results", str(blocker), "--simulate", "epoch"]
    )
    one_line_exit_2(r, "res")
    assert blocker.read_text() == "not a folder"


def test_a_full_disk_gets_one_line_and_keeps_what_was_written(tmp_path, monkeypatch):
    """Simulate a disk that fills up mid-sweep: the first writes succeed, then every write fails with ENOSPC."""
    import isoflop.jsonio as jsonio

    sweep = write(tmp_path, BASE)
    args = ["sweep", "run", str(sweep), "--results", str(tmp_path / "res"), "--simulate", "epoch"]
    real, calls = jsonio.write_json_atomic, []

    def filling(path, doc, *a, **kw):
        calls.append(path)
        if len(calls) > 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, doc, *a, **kw)

    monkeypatch.setattr(jsonio, "write_json_atomic", filling)
    import isoflop.runs.folder
    import isoflop.runs.store  # noqa: F401  (both write run files; load them before the patch)

    for name, mod in list(sys.modules.items()):  # every module that imported the writer by name
        if name.startswith("isoflop.") and getattr(mod, "write_json_atomic", None) is real:
            monkeypatch.setattr(mod, "write_json_atomic", filling)
    r = CliRunner().invoke(main, args)
    ends_in_one_error_line(r, "No space left on device", "result.json")
    kept = {p: p.read_text() for p in (tmp_path / "res").rglob("result.json")}
    assert all(json.loads(t) for t in kept.values())  # what was written is whole
    monkeypatch.undo()
    r = CliRunner().invoke(main, args)  # the disk has room again: the sweep finishes, keeping what was done
    assert r.exit_code == 0, r.output
    for p, t in kept.items():
        assert p.read_text() == t


def test_an_oserror_that_names_no_file_is_a_bug_and_keeps_its_traceback(tmp_path, monkeypatch):
    """Only the file system's answer about a named file becomes one line; an OSError raised by code (no
    filename, or an errno that is not the environment's) propagates with its traceback."""
    import isoflop.jsonio as jsonio
    import isoflop.runs.folder
    import isoflop.runs.store  # noqa: F401

    sweep = write(tmp_path, BASE)
    args = ["sweep", "run", str(sweep), "--results", str(tmp_path / "res"), "--simulate", "epoch"]
    real = jsonio.write_json_atomic
    for error in (OSError("a bug, not the disk"), OSError(errno.EBADF, "Bad file descriptor", "x.json")):

        def broken(path, doc, *a, error=error, **kw):
            raise error

        for name, mod in list(sys.modules.items()):
            if name.startswith("isoflop.") and getattr(mod, "write_json_atomic", None) is real:
                monkeypatch.setattr(mod, "write_json_atomic", broken)
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 1 and r.exception is error, (r.exit_code, r.output)
        monkeypatch.undo()


def test_plots_and_designs_into_an_unwritable_place_get_one_line(tmp_path, table):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    r = CliRunner().invoke(main, ["fit", str(table), "--bootstrap", "0", "--plot-dir", str(blocker / "figs")])
    one_line_exit_2(r, "blocker")
    r = CliRunner().invoke(main, ["report", str(table), "--out", str(blocker / "r.html"), "--bootstrap", "0"])
    one_line_exit_2(r, "blocker")
    r = CliRunner().invoke(main, ["plan", "--target", "1e15", "--flops", "1e13", "--out", str(blocker / "p.toml")])
    one_line_exit_2(r, "blocker")
