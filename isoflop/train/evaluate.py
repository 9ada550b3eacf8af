"""Validation loss on a fixed set of windows."""

from __future__ import annotations

import torch

from isoflop.data.batches import gather
from isoflop.data.corpus import Corpus


def evaluate(
    model: torch.nn.Module, corpus: Corpus, windows, seq_len: int, device: torch.device, autocast, batch: int = 16
) -> float:
    """Mean loss in nats per counted token over the validation windows (model left in train mode)."""
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad(), autocast():
        for i in range(0, len(windows), batch):
            x, y, m = gather(corpus.val, corpus.val_mask, windows[i : i + batch], seq_len)
            xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            mt = None if m is None else torch.from_numpy(m).to(device)
            _, loss = model(xt, yt, mt)  # (B, T) inputs -> mean loss over counted targets
            w = float(m.sum()) if m is not None else float(y.size)
            total += float(loss) * w
            count += w
    model.train()
    return total / max(count, 1.0)
