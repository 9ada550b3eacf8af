"""CUDA paths (bf16 autocast, fused AdamW, TF32, compile). Skipped where torch sees no GPU, as in CI."""

import pytest
import torch

from scaling.model.config import ModelConfig
from scaling.data import load_corpus
from scaling.train import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def test_bf16_training_on_gpu_learns_and_reports_mfu(cache_dir):
    data = load_corpus("shakespeare", cache_dir=cache_dir)
    cfg = ModelConfig.from_depth(4, vocab_size=256, seq_len=256)
    r = train(cfg, 1e12, data, TrainConfig(batch_size=32, dtype="bf16"), device="cuda")
    assert r.status == "ok" and r.val_loss < 3.0
    assert r.mfu is not None and 0 < r.mfu < 1 and "gpu" in r.hardware


def test_compiled_model_matches_budget(cache_dir):
    data = load_corpus("shakespeare", cache_dir=cache_dir)
    cfg = ModelConfig.from_depth(2, vocab_size=256, seq_len=128)
    r = train(cfg, 2e11, data, TrainConfig(batch_size=16, dtype="bf16", compile=True), device="cuda")
    assert r.status == "ok" and abs(r.flops - 2e11) <= 16 * 128 * r.flops_per_token["chinchilla"]
