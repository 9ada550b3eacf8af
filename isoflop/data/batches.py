"""Batches: random training windows, a fixed validation set, and gathering windows into arrays."""

from __future__ import annotations

import numpy as np

from isoflop.errors import DataError


def random_windows(n_tokens: int, batch: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """Start offsets of ``batch`` random windows of seq_len + 1 tokens."""
    hi = n_tokens - seq_len - 1
    if hi < 1:
        raise DataError(f"the split has {n_tokens} tokens, fewer than one sequence of {seq_len + 1}")
    return rng.integers(0, hi, size=batch)


def fixed_windows(n_tokens: int, n_windows: int, seq_len: int) -> np.ndarray:
    """Evenly spaced windows over a split: the same validation set every time."""
    hi = n_tokens - seq_len - 1
    if hi < 1:
        raise DataError(f"the validation split has {n_tokens} tokens, fewer than one sequence of {seq_len + 1}")
    return np.unique(np.linspace(0, hi - 1, n_windows).astype(np.int64))


def gather(tokens: np.ndarray, mask: np.ndarray | None, starts: np.ndarray, seq_len: int):
    """Inputs (B, T), targets (B, T) and a target mask (B, T) or None, as int64/bool numpy arrays."""
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    w = np.asarray(tokens[idx], dtype=np.int64)
    m = None if mask is None else np.asarray(mask[idx[:, 1:]], dtype=bool)
    return w[:, :-1], w[:, 1:], m
