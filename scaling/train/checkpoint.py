"""Resumable training state on disk: saved atomically, loaded only when it matches the run."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_checkpoint(path: Path, state: dict) -> None:
    """Save atomically: a kill while saving leaves the previous checkpoint intact."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path | None, identity: dict, device: torch.device) -> dict | None:
    """The state saved at ``path`` if it exists, can be read, and belongs to this run (same identity)."""
    if path is None or not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception:  # noqa: BLE001 - a torn or foreign file is as good as none
        return None
    ok = isinstance(state, dict) and state.get("identity") == identity and "state" in state
    return state if ok else None


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint was saved at; 0 (and the file removed) when there is none or it is torn."""
    if not path.exists():
        return 0
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["step"])
    except Exception:  # noqa: BLE001 - a torn checkpoint is as good as none
        path.unlink(missing_ok=True)
        return 0
