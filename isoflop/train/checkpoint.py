"""Resumable training state on disk: saved atomically, loaded only when it matches the run.

Checkpoints hold plain data only (tensors, dicts, lists, numbers, strings), and are read with
``torch.load(weights_only=True)``, so a planted or foreign ``checkpoint.pt`` cannot run code: its pickle is
refused before any of it executes, the refusal is noted with the file's name, and the run starts over.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import torch

from isoflop.jsonio import replaced

#: What reading a torn, truncated or foreign checkpoint raises: torch's zip reader (RuntimeError), a short file
#: (EOFError), the file system (OSError), and contents of the wrong shape (KeyError, TypeError, ValueError). A
#: file whose pickle asks for code is refused apart, as :class:`pickle.UnpicklingError`, and said so.
TORN = (RuntimeError, EOFError, OSError, KeyError, TypeError, ValueError)


def save_checkpoint(path: Path, state: dict) -> None:
    """Save atomically: a kill while saving leaves the previous checkpoint intact."""
    with replaced(path) as tmp:
        torch.save(state, tmp)


def _read(path: Path, device) -> dict:
    """The checkpoint's contents, unpickled with only plain data allowed.

    Raises:
        pickle.UnpicklingError: the file asks for anything else (a function call, a class): it is refused.
        TORN: a torn or unreadable file (see :data:`TORN`).
    """
    return torch.load(path, map_location=device, weights_only=True)


def _refused(path: Path, e: Exception) -> str:
    return (
        f"{path}: refused: not a plain checkpoint (it asks to unpickle more than tensors and plain data: "
        f"{str(e).splitlines()[0][:160]}); the run starts over"
    )


def load_checkpoint(path: Path | None, identity: dict, device: torch.device, notes: list | None = None) -> dict | None:
    """The state saved at ``path`` if it exists, can be read as plain data, and belongs to this run (same
    identity); else None. A refused file is named in ``notes`` (the run's warnings) and on stderr."""
    if path is None or not path.exists():
        return None
    try:
        state = _read(path, device)
    except pickle.UnpicklingError as e:
        msg = _refused(path, e)
        print(f"warning: {msg}", file=sys.stderr)
        if notes is not None:
            notes.append(msg)
        return None
    except TORN:  # a torn or foreign file is as good as none
        return None
    ok = isinstance(state, dict) and state.get("identity") == identity and "state" in state
    return state if ok else None


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint was saved at; 0 (and the file removed) when there is none, it is torn, or it is
    refused as not plain data (named on stderr)."""
    if not path.exists():
        return 0
    try:
        return int(_read(path, "cpu")["step"])
    except pickle.UnpicklingError as e:
        print(f"warning: {_refused(path, e)}", file=sys.stderr)
        path.unlink(missing_ok=True)
        return 0
    except TORN:  # a torn checkpoint is as good as none
        path.unlink(missing_ok=True)
        return 0
