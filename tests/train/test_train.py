"""Real training on CPU: the budget is respected, models learn, divergence is recorded, runs repeat."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from isoflop.cli import main
from isoflop.data import load_corpus
from isoflop.model.config import ModelConfig
from isoflop.model.flops import flops_per_token
from isoflop.runs import RunFolder, RunRecord
from isoflop.train import TrainConfig, lr_at, plan_run, train

TINY = dict(n_layers=1, d_model=32, n_heads=1, seq_len=32)


@pytest.fixture(scope="module")
def synthetic(cache_dir):
    return load_corpus("synthetic", cache_dir=cache_dir, synthetic_vocab=16, synthetic_tokens=300_000)


def test_budget_is_respected_within_one_step(synthetic):
    cfg = ModelConfig(vocab_size=16, **TINY)
    r = train(cfg, 1e9, synthetic, TrainConfig(batch_size=4, threads=1), peak_flops=1e11)
    step_flops = 4 * 32 * flops_per_token(cfg)
    assert r.status == "ok" and r.steps_done == r.steps
    assert abs(r.flops - 1e9) <= step_flops
    assert r.tokens == r.steps * 4 * 32 and r.flops == pytest.approx(r.tokens * flops_per_token(cfg))
    assert len(r.val_curve) == 5 and r.val_curve[-1]["step"] == r.steps
    assert r.curve[-1]["step"] == r.steps and r.mfu == pytest.approx(
        r.tokens_per_second * flops_per_token(cfg, "6N+attn") / 1e11
    )


def test_schedule_ends_at_the_budget():
    lrs = [lr_at(s, 100, 1.0, 5, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.2) and max(lrs) == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="smaller than one step"):
        plan_run(1e3, ModelConfig(vocab_size=16, **TINY), 4, "chinchilla")


def test_learns_the_synthetic_entropy_rate(synthetic):
    cfg = ModelConfig(vocab_size=16, n_layers=1, d_model=32, n_heads=1, seq_len=64)
    r = train(cfg, 3e10, synthetic, TrainConfig(batch_size=16, lr=1e-2, threads=2), peak_flops=1e11)
    assert r.status == "ok"
    assert -0.05 < r.val_loss - synthetic.entropy_rate < 0.1, (r.val_loss, synthetic.entropy_rate)


def test_learns_shakespeare_bytes(cache_dir):
    data = load_corpus("shakespeare", cache_dir=cache_dir)
    cfg = ModelConfig.from_depth(2, vocab_size=256, seq_len=64)
    r = train(cfg, 5e10, data, TrainConfig(batch_size=16, threads=2), peak_flops=1e11)
    assert r.status == "ok" and r.val_loss < math.log(256) - 2.0  # well below a uniform guess (5.55)
    assert r.val_bpb == pytest.approx(r.val_loss / math.log(2))
    assert r.val_curve[0]["val_loss"] > r.val_curve[-1]["val_loss"]


def test_absurd_learning_rate_diverges_without_crashing(synthetic):
    cfg = ModelConfig(vocab_size=16, **TINY)
    r = train(cfg, 3e9, synthetic, TrainConfig(batch_size=8, lr=1e4, warmup_frac=0.0, grad_clip=0.0), peak_flops=1e11)
    assert r.status == "diverged" and r.val_loss is None and "step" in r.error
    assert r.steps_done < r.steps


def test_a_crash_mid_run_is_a_failed_record_for_runs_and_branches(synthetic, tmp_path):
    """A caller's metrics sink that raises mid-run (a full disk) ends the run as "failed" with the error and
    its traceback, for an independent run and for a WSD branch alike; the steps done so far are kept."""
    from isoflop.train.branch import branch_point, grow_trunk, train_branch

    cfg = ModelConfig(vocab_size=16, **TINY)
    seen = []

    def full_disk(rows):
        seen.extend(rows)
        if len(seen) >= 3:
            raise OSError(28, "No space left on device")

    tc = TrainConfig(batch_size=4, threads=1, schedule="wsd", warmup_steps=2)
    r = train(cfg, 5e8, synthetic, tc, peak_flops=1e11, on_metrics=full_disk)
    assert r.status == "failed" and "OSError" in r.error and "No space left" in r.error
    assert 0 < r.steps_done < r.steps and any("Traceback" in w for w in r.warnings)
    seen.clear()
    start = branch_point(cfg, 5e8, tc)
    grow_trunk(
        cfg,
        synthetic,
        tc,
        warmup_steps=2,
        to_step=start,
        head_path=tmp_path / "head.pt",
        snapshot_path=tmp_path / "snap.pt",
    )
    b = train_branch(
        cfg,
        5e8,
        synthetic,
        tc,
        warmup_steps=2,
        snapshot_path=tmp_path / "snap.pt",
        trunk_id="t",
        peak_flops=1e11,
        on_metrics=full_disk,
    )
    assert b.status == "failed" and "No space left" in b.error and b.trunk_id == "t" and b.branch_step == start
    assert b.steps_done > start and any("Traceback" in w for w in b.warnings)


def test_a_trunk_logs_its_validation_loss_at_each_branch_point(synthetic, tmp_path):
    """Grown to a branch point and then to the next, a WSD trunk measures the validation loss at each (the
    stable LR's loss, beside which a cooldown's end can be read); resuming from its head logs only the new one."""
    from isoflop.train.branch import branch_point, grow_trunk

    cfg = ModelConfig(vocab_size=16, **TINY)
    tc = TrainConfig(batch_size=4, threads=1, schedule="wsd", warmup_steps=2)
    rows = []
    points = [branch_point(cfg, c, tc) for c in (2.5e8, 5e8)]
    for k in points:
        grow_trunk(
            cfg,
            synthetic,
            tc,
            warmup_steps=2,
            to_step=k,
            head_path=tmp_path / "head.pt",
            snapshot_path=tmp_path / f"snap{k}.pt",
            on_metrics=rows.extend,
            logged_until=max([r["step"] for r in rows], default=0),
        )
    val = [r for r in rows if r["kind"] == "val"]
    assert [r["step"] for r in val] == points and points[0] < points[1]
    assert all(np.isfinite(r["val_loss"]) and 0 < r["val_loss"] < 2 * np.log(16) for r in val)
    assert sum(r["kind"] == "train" for r in rows) > 0


def test_same_seed_same_losses(synthetic):
    cfg = ModelConfig(vocab_size=16, **TINY)
    tc = TrainConfig(batch_size=4, threads=1)
    a = train(cfg, 5e8, synthetic, tc, seed=1, peak_flops=1e11)
    b = train(cfg, 5e8, synthetic, tc, seed=1, peak_flops=1e11)
    c = train(cfg, 5e8, synthetic, tc, seed=2, peak_flops=1e11)
    assert [p["train_loss"] for p in a.curve] == [p["train_loss"] for p in b.curve]
    assert a.val_loss == b.val_loss and a.val_loss != c.val_loss


def test_cli_flops_json():
    r = CliRunner().invoke(
        main, ["flops", "--n-layers", "4", "--d-model", "128", "--seq-len", "256", "--vocab-size", "4096", "--json"]
    )
    doc = json.loads(r.output)
    assert doc["params"] == {"total": 1_311_872, "embedding": 524_288, "non_embedding": 787_584}
    assert set(doc["flops_per_token"]) == {"6N", "6N+attn", "chinchilla"}
    assert doc["flops_per_token"]["6N"] == 6 * 787_584


def test_cli_train_writes_result(tmp_path, cache_dir):
    out = tmp_path / "one"
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--n-layers",
            "1",
            "--d-model",
            "32",
            "--seq-len",
            "32",
            "--budget",
            "2e9",
            "--data",
            "synthetic",
            "--out",
            str(out),
            "--cache-dir",
            str(cache_dir),
            "--peak-tflops",
            "0.1",
            "--threads",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = RunFolder(out).read_result(curves=True).to_dict()
    assert doc["curve"] and doc["val_curve"], "the curves are read back from metrics.jsonl"
    for key in (
        "status",
        "budget_flops",
        "flops",
        "tokens",
        "steps",
        "flops_convention",
        "n_params",
        "train_bpb",
        "n_params_non_embedding",
        "val_loss",
        "val_bpb",
        "train_loss",
        "tokens_per_second",
        "flops_per_second",
        "mfu",
    ):
        assert key in doc, key
    assert doc["status"] == "ok" and doc["flops_convention"] == "chinchilla" and doc["mfu"] > 0


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--data", "wikipedia"], "unknown corpus 'wikipedia'"),
        (["--d-model", "100", "--n-heads", "3"], "d_model (100) must be divisible by n_heads (3)"),
        (["--budget", "10"], "smaller than one step"),
        (["--tokenizer", "wordpiece"], "unknown tokenizer"),
    ],
)
def test_cli_train_bad_values(cache_dir, args, msg):
    base = {"--n-layers": "1", "--d-model": "32", "--budget": "1e9", "--data": "synthetic", "--seq-len": "32"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    argv = ["train", "--cache-dir", str(cache_dir)] + [x for kv in base.items() for x in kv]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output


def test_cpu_peak_measurement_leaves_global_state_alone():
    import torch

    from isoflop.train.hardware import measure_cpu_peak

    torch.manual_seed(123)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    assert measure_cpu_peak(threads=1, size=128, seconds=0.05) > 0
    assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == threads


def test_wsd_schedule_holds_the_peak_then_cools_down():
    from isoflop.train.optim import cooldown_start, schedule_lr

    for shape in ("1-sqrt", "linear", "cosine"):
        cfg = TrainConfig(schedule="wsd", cooldown_frac=0.2, cooldown_shape=shape, warmup_frac=0.05, final_lr_frac=0.0)
        lrs = [schedule_lr(s, 100, 1.0, cfg) for s in range(100)]
        assert cooldown_start(100, 0.2) == 80
        assert lrs[0] == pytest.approx(0.2) and all(lr == 1.0 for lr in lrs[5:81])  # stable until the cooldown
        assert lrs[-1] == pytest.approx(0.0) and all(a >= b for a, b in zip(lrs[80:], lrs[81:]))
    # (1 - sqrt) drops fastest at first: halfway through the cooldown it is below linear's 0.5.
    half = [
        schedule_lr(90, 100, 1.0, TrainConfig(schedule="wsd", cooldown_shape=s, final_lr_frac=0.0))
        for s in ("1-sqrt", "linear")
    ]
    assert half[0] < 0.35 < half[1]


def test_wsd_run_trains_to_its_budget(synthetic):
    cfg = ModelConfig(vocab_size=16, **TINY)
    r = train(
        cfg, 1e9, synthetic, TrainConfig(batch_size=4, threads=1, schedule="wsd", cooldown_frac=0.25), peak_flops=1e11
    )
    assert r.status == "ok" and r.steps_done == r.steps and r.val_loss < math.log(16)
    lrs = [row["lr"] for row in r.curve]
    assert lrs[-1] == pytest.approx(0.1 * r.lr, rel=1e-6) and max(lrs) == pytest.approx(r.lr)
    assert RunRecord.from_dict(r.to_dict()).train_config.schedule == "wsd"


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--schedule", "wsd", "--cooldown-frac", "1.5"], "cooldown_frac (1.5) must be in (0, 1)"),
        (["--schedule", "wsd", "--cooldown-frac", "0"], "cooldown_frac (0.0) must be in (0, 1)"),
        (["--schedule", "wsd", "--cooldown-frac", "0.99"], "the cooldown would start before the warmup ends"),
    ],
)
def test_bad_wsd_settings_are_one_line(args, msg, cache_dir):
    r = CliRunner().invoke(
        main,
        ["train", "--n-layers", "1", "--budget", "1e9", "--data", "synthetic", "--cache-dir", str(cache_dir), *args],
    )
    assert r.exit_code == 2 and msg in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_train_takes_a_warmup_in_steps(cache_dir):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--n-layers",
            "1",
            "--d-model",
            "32",
            "--n-heads",
            "1",
            "--seq-len",
            "32",
            "--batch-size",
            "4",
            "--budget",
            "1e9",
            "--data",
            "synthetic",
            "--threads",
            "1",
            "--cache-dir",
            str(cache_dir),
            "--warmup-steps",
            "7",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    rec = RunRecord.from_dict(json.loads(r.output[r.output.index("{") :]))
    assert rec.train_config.warmup_steps == 7
    lrs = [row["lr"] for row in rec.curve]
    assert lrs.index(max(lrs)) == 6 and lrs[0] == pytest.approx(rec.lr / 7)


def test_a_saved_state_of_another_shape_is_refused_before_anything_is_loaded():
    import torch

    from isoflop.train.trainer import LoopState, Trainer

    tc = TrainConfig(batch_size=4, threads=1)
    small = ModelConfig(n_layers=1, d_model=32, n_heads=1, vocab_size=64, seq_len=32)
    wide = ModelConfig(n_layers=1, d_model=48, n_heads=1, vocab_size=64, seq_len=32)
    mine, other = Trainer(small, tc, 1e-3, torch.device("cpu"), 0), Trainer(wide, tc, 1e-3, torch.device("cpu"), 1)
    before = {k: v.clone() for k, v in mine.model.state_dict().items()}
    notes = []
    assert "not (" in mine.misfit(other.state({}, LoopState(step=3)))
    assert mine.resume(other.state({}, LoopState(step=3)), "ckpt.pt", notes) is None
    assert notes and "ckpt.pt: does not fit this run" in notes[0] and "the run starts over" in notes[0]
    assert all(torch.equal(v, before[k]) for k, v in mine.model.state_dict().items())  # nothing was loaded
    assert "it has no optimizer" in mine.misfit({"model": {}, "np_rng": 0, "torch_rng": 0, "state": {}})
    same = Trainer(small, tc, 1e-3, torch.device("cpu"), 5)
    st = mine.resume(same.state({}, LoopState(step=7)), "ckpt.pt", notes)
    assert st.step == 7 and len(notes) == 1
    assert all(torch.equal(v, same.model.state_dict()[k]) for k, v in mine.model.state_dict().items())


def test_each_curve_row_holds_the_mean_loss_of_every_step_since_the_last(synthetic):
    """Every step's loss counts: a row's train_loss_mean is the mean over the steps since the previous row,
    the same steps a run that logs every step records one by one (same seed, same losses)."""
    cfg = ModelConfig(vocab_size=16, **TINY)
    every = train(cfg, 5e8, synthetic, TrainConfig(batch_size=4, threads=1, max_curve_points=10**6), peak_flops=1e11)
    steps = every.steps
    assert all(r["train_loss_steps"] == 1 and r["train_loss_mean"] == r["train_loss"] for r in every.curve)
    sparse = train(
        cfg, 5e8, synthetic, TrainConfig(batch_size=4, threads=1, max_curve_points=steps // 4), peak_flops=1e11
    )
    per_step = {r["step"]: r["train_loss"] for r in every.curve}
    prev = 0
    assert len(sparse.curve) >= 4
    for r in sparse.curve:
        assert r["train_loss_steps"] == r["step"] - prev >= 1
        assert r["train_loss_mean"] == pytest.approx(np.mean([per_step[s] for s in range(prev + 1, r["step"] + 1)]))
        prev = r["step"]
