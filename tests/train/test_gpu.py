"""CUDA paths (bf16 autocast, fused AdamW, TF32, compile). Skipped where torch sees no GPU, as in CI."""

import pytest
import torch

from isoflop.data import load_corpus
from isoflop.model.config import ModelConfig
from isoflop.train import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def test_bf16_training_on_gpu_learns_and_reports_mfu(cache_dir):
    data = load_corpus("shakespeare", cache_dir=cache_dir)
    cfg = ModelConfig.from_depth(4, vocab_size=256, seq_len=256)
    r = train(cfg, 1e12, data, TrainConfig(batch_size=32, dtype="bf16"), device="cuda")
    assert r.status == "ok" and r.val_loss < 3.0
    assert r.mfu is not None and 0 < r.mfu < 1 and "gpu" in r.hardware


def test_tf32_is_switched_on_for_a_run_only(cache_dir):
    data = load_corpus("synthetic", cache_dir=cache_dir)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    r = train(
        ModelConfig(n_layers=1, d_model=32, n_heads=1, vocab_size=64, seq_len=32),
        1e9,
        data,
        TrainConfig(batch_size=4),
        device="cuda",
    )
    assert r.status == "ok"
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_compiled_model_matches_budget(cache_dir):
    data = load_corpus("shakespeare", cache_dir=cache_dir)
    cfg = ModelConfig.from_depth(2, vocab_size=256, seq_len=128)
    r = train(cfg, 2e11, data, TrainConfig(batch_size=16, dtype="bf16", compile=True), device="cuda")
    assert r.status == "ok" and abs(r.flops - 2e11) <= 16 * 128 * r.flops_per_token["chinchilla"]
