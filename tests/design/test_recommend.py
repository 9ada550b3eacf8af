"""`scaling recommend`: the target run follows the fitted rules, says what to expect and what rounding gives up,
trains as it is with `scaling train --config`, and is judged against its ×0.5/×2 LR and batch neighbours."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_runs, write

from isoflop.cli import main
from isoflop.design.recommend import recommend
from isoflop.design.recommend_check import variants
from isoflop.errors import ConfigError
from isoflop.jsonio import finite_json, write_json_atomic
from isoflop.laws.analyze import analyze
from isoflop.laws.fit.hparams import SCHEMA, PowerRule
from isoflop.laws.table_io import load_runs
from isoflop.model.flops import param_counts
from isoflop.model.shapes import clean_shapes
from isoflop.sweep import load_sweep
from isoflop.train.spec import RunSpec

#: A tiny WSD sweep on the synthetic corpus (vocabulary 64): the family and training of the recommended run.
SWEEP = """
name = "rec"
corpus = "synthetic"
seq_len = 32
batch_size = 4
budgets = [1e8, 2e8, 4e8, 8e8]
threads = 1
schedule = "wsd"
head_dim = 8
aspect_ratio = 16
[sizes]
params = [2e3, 4e3, 8e3]
"""
BUDGETS = (1e8, 2e8, 4e8, 8e8)
VOCAB = 64


def rules_file(tmp_path, d_range=(1e4, 1e5)):
    """Known rules: B* = 400 · (D/1e5)^0.5 tokens (curvature 0.05 per decade²) and η* = 0.004 · (N/5e3)^−0.3 ·
    (B/256)^0.5, as ``scaling ladder --out`` writes them."""
    nan = (math.nan, math.nan)
    batch = PowerRule("batch", ("D",), (1e5,), 400.0, (0.5,), (nan,), 6, 0.05, 0.04, (d_range,), curvature=0.05)
    lr = PowerRule(
        "lr", ("N", "B"), (5e3, 256.0), 0.004, (-0.3, 0.5), (nan, nan), 9, 0.1, 0.05, ((2e3, 1e4), (128.0, 1024.0))
    )
    path = tmp_path / "rules.json"
    write_json_atomic(path, finite_json({"schema": SCHEMA, "lr_rule": lr.to_dict(), "batch_rule": batch.to_dict()}))
    return path, lr, batch


def table_result(target, budgets=BUDGETS):
    """A fit of the known surface (Chinchilla-like, conftest.TRUTH) at tiny budgets, 1% noise."""
    df = synthetic_runs(budgets=budgets, noise=0.01, rng=np.random.default_rng(0))
    return analyze(load_runs(df), methods="approach2,approach3", targets=[target], n_bootstrap=100, seed=0)


def recommended(tmp_path, target=4e9):
    """The fit of the known surface, the tiny sweep, the known rules, and the run they recommend at ``target``."""
    res = table_result(target)
    sw = load_sweep(write(tmp_path, SWEEP))
    path, lr_rule, batch_rule = rules_file(tmp_path)
    return res, sw, lr_rule, batch_rule, recommend(res, sw, target, VOCAB, rules=path)


def test_the_recommended_run_follows_the_rules_and_the_answer(tmp_path):
    target = 4e9
    res, sw, lr_rule, batch_rule, rec = recommended(tmp_path, target)
    spec, tc = rec.spec, rec.spec.train
    n = param_counts(spec.model).total
    # the shape: the family's clean shape nearest N_opt in log space
    shapes = clean_shapes(**sw.family(VOCAB))
    best = min(abs(math.log(param_counts(m).total / rec.answer.params)) for m in shapes)
    assert abs(math.log(n / rec.answer.params)) == pytest.approx(best)
    # the budget bought exactly: steps x batch x T tokens, within half a step of C
    assert spec.tokens == spec.steps * tc.batch_size * 32
    assert abs(spec.flops - target) <= 0.5 * spec.step_flops
    # the batch: B*(D) at the D it buys, in whole sequences; the LR: the rule at N and that batch
    b_opt = batch_rule.predict(D=spec.tokens)
    assert tc.batch_size == max(1, round(b_opt / 32)) and rec.batch_opt == pytest.approx(b_opt)
    assert tc.lr == pytest.approx(lr_rule.predict(N=n, B=tc.batch_size * 32), rel=1e-3)
    assert tc.schedule == "wsd" and spec.seed == 0 and not spec.is_branch
    # what rounding gives up: the batch ladder's curvature times the squared log-distance; the shape's by the
    # IsoFLOP parabolas; the deadweight is the compute an optimal run would not need to reach that loss
    assert rec.loss_given_up["batch"] == pytest.approx(0.05 * math.log10(tc.batch_size * 32 / b_opt) ** 2)
    lost = rec.loss_given_up["batch"] + rec.loss_given_up["shape"]
    assert lost > 0 and 0 < rec.deadweight < 1
    members = rec.answer.members if rec.answer.method == "average" else (rec.answer.method,)
    l_opt = lambda c: np.mean([float(res.predict(m, c)["loss"]) for m in members])  # noqa: E731
    assert l_opt(target * (1 - rec.deadweight)) == pytest.approx(l_opt(target) + lost, rel=1e-5)
    assert rec.loss_ci[0] < rec.loss < rec.loss_ci[1]
    # extrapolation is flagged with its factor: the target is 5x the top budget; D lies beyond the batch rule's
    assert any("5.0x the sweep's top budget" in f for f in rec.flags)
    assert any(f.startswith("batch rule: D =") for f in rec.flags) == (spec.tokens > 1e5)
    # the loss law is the sweep's, trained at its fixed batch and LR: rules that differ are flagged; none, not
    assert any(f.startswith("expected loss: the sweep's law") and "batch and peak LR" in f for f in rec.flags)
    assert not any(f.startswith("expected loss") for f in recommend(res, sw, target, VOCAB).flags)
    # every number names its source; the config round-trips
    text = "\n".join(rec.lines())
    assert "B* =" in text and "eta* =" in text and "deadweight" in text and "wall time" in text
    assert RunSpec.from_dict(json.loads(json.dumps(rec.to_dict()["config"]))) == spec


def test_variants_halve_and_double_the_lr_and_the_batch(tmp_path):
    target = 4e9
    _, _, lr_rule, _, rec = recommended(tmp_path, target)
    runs = dict(variants(rec))
    base = rec.spec.train
    assert list(runs) == ["recommended", "lr x0.5", "lr x2", "batch x0.5", "batch x2"]
    assert runs["lr x0.5"].train.lr == pytest.approx(base.lr / 2, rel=1e-3)
    assert runs["lr x2"].train.batch_size == base.batch_size and runs["lr x2"].model == rec.spec.model
    for key, f in (("batch x0.5", 0.5), ("batch x2", 2)):
        s = runs[key]
        assert s.train.batch_size == round(base.batch_size * f) and s.budget == target
        # a batch variant takes the LR rule's value at its own batch
        assert s.train.lr == pytest.approx(
            lr_rule.predict(N=param_counts(s.model).total, B=s.train.batch_size * 32), rel=1e-3
        )
    assert len({s.run_id for s in runs.values()}) == 5


def test_gpu_hardware_times_the_run_at_its_peak_and_mfu(tmp_path):
    res = table_result(4e9)
    sw = load_sweep(write(tmp_path, SWEEP))
    rec = recommend(res, sw, 4e9, VOCAB, hardware="h100", mfu=0.5)
    assert rec.seconds == pytest.approx(rec.spec.flops / (989e12 * 0.5)) and rec.spec.device == "cuda"
    # without rules the sweep's own batch and LR stand, and say so
    assert rec.spec.train.batch_size == 4 and "the sweep's batch_size" in "\n".join(rec.lines())
    with pytest.raises(ConfigError, match="not in the peak table"):
        recommend(res, sw, 4e9, VOCAB, hardware="tpu-v9")
    with pytest.raises(ConfigError, match="below the sweep's top budget"):
        recommend(table_result(4e8), sw, 4e8, VOCAB)


def _one_line_2(r, *parts):
    out = r.output.strip()
    assert r.exit_code == 2 and len(out.splitlines()) == 1 and "Traceback" not in out, out
    assert all(p in out for p in parts), out


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    df = synthetic_runs(budgets=BUDGETS, noise=0.01, rng=np.random.default_rng(0))
    table = tmp_path / "t.csv"
    df.to_csv(table, index=False)
    sweep = write(tmp_path, SWEEP)
    run = lambda *a: CliRunner().invoke(main, ["recommend", *map(str, a)])  # noqa: E731
    _one_line_2(run(table, "--target", "4e9"), "t.csv", "--sweep FILE")
    _one_line_2(run(table, "--target", "4e8", "--sweep", sweep, "--bootstrap", "50"), "below the sweep's top budget")
    _one_line_2(run(table, "--target", "4e9", "--sweep", sweep, "--hardware", "abacus"), "abacus", "peak table")
    _one_line_2(run(table, "--target", "4e9", "--sweep", sweep, "--rules", tmp_path / "none.json"), "none.json")
    # scaling train --config: a file that is not a run's config, and a config with the options it sets
    bad = write(tmp_path, json.dumps({"model": {}, "budget": 1e9}), "bad.json")
    _one_line_2(CliRunner().invoke(main, ["train", "--config", str(bad)]), "bad.json", "not a run config", "train")
    _one_line_2(CliRunner().invoke(main, ["train", "--config", str(bad), "--budget", "1e9"]), "--budget")


def test_recommend_writes_a_config_that_trains_as_it_is_and_judges_it(tmp_path, cache_dir):
    """Real training: the recommended config of a fitted table, trained with `scaling train --config`, gives the
    loss the recommendation's own check gave the same run (the same spec, seed and data), and the check trains
    the run and its four neighbours and writes its verdict."""
    res_doc = tmp_path / "fit.json"
    df = synthetic_runs(budgets=BUDGETS, noise=0.01, rng=np.random.default_rng(0))
    (tmp_path / "t.csv").write_text(df.to_csv(index=False))
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "t.csv"), "--bootstrap", "100", "--json"])
    assert r.exit_code == 0, r.output
    res_doc.write_text(r.output[r.output.index("{") :])
    sweep = write(tmp_path, SWEEP)
    rules, _, _ = rules_file(tmp_path)
    cfg, check = tmp_path / "target.json", tmp_path / "check"
    argv = ["recommend", str(res_doc), "--target", "4e9", "--sweep", str(sweep), "--rules", str(rules)]
    argv += ["--out", str(cfg), "--train", str(check), "--workers", "2", "--cache-dir", str(cache_dir), "--json"]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{") :])
    verdict = json.loads((check / "verdict.json").read_text())
    assert set(verdict["runs"]) == {"recommended", "lr x0.5", "lr x2", "batch x0.5", "batch x2"}
    assert all(v["status"] == "ok" and v["loss"] > 0 for v in verdict["runs"].values())
    losses = {k: v["loss"] for k, v in verdict["runs"].items()}
    assert verdict["best"] == min(losses, key=losses.get)
    assert verdict["margin"] == pytest.approx(losses["recommended"] - min(losses.values()))
    assert verdict["loss_inside"] == (doc["loss_ci"][0] <= losses["recommended"] <= doc["loss_ci"][1])
    assert json.loads(cfg.read_text())["run_id"] == verdict["runs"]["recommended"]["run_id"]
    # the config trains as it is
    out = tmp_path / "one"
    r = CliRunner().invoke(main, ["train", "--config", str(cfg), "--out", str(out), "--cache-dir", str(cache_dir)])
    assert r.exit_code == 0, r.output
    one = json.loads((out / "result.json").read_text())
    assert one["val_loss"] == pytest.approx(losses["recommended"], rel=1e-6)
    assert json.loads((out / "config.json").read_text())["run_id"] == verdict["runs"]["recommended"]["run_id"]
