"""The trainable state of one run: model, optimiser and batch order, with the form a checkpoint saves.

:class:`Trainer` is built seeded, saves itself with :meth:`Trainer.state`
and restores a saved state only after :meth:`Trainer.misfit` says it fits.
:class:`LoopState` is what the loop advances besides the tensors: the step,
the curves and the time spent. :func:`isolated` runs a block under a run's
thread count and precision with the global RNG state restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from isoflop.model.config import ModelConfig
from isoflop.model.transformer import Transformer
from isoflop.train.config import TrainConfig
from isoflop.train.hardware import run_precision, run_threads
from isoflop.train.optim import build_optimizer


@dataclass
class LoopState:
    """What a checkpoint saves besides the model and optimiser: where the run is and what it logged."""

    step: int = 0
    curve: list = field(default_factory=list)
    val_curve: list = field(default_factory=list)
    t_train: float = 0.0
    train_loss: float | None = None
    val_loss: float | None = None
    #: The training losses of the steps since the last curve row (their sum and count), so that each row
    #: also holds their mean: every step's loss counts, not only the logged one's.
    loss_sum: float = 0.0
    loss_n: int = 0

    def fresh_curves(self) -> LoopState:
        """This state with empty curves and no training time: a branch's or a trunk growth's own log."""
        self.curve, self.val_curve, self.t_train = [], [], 0.0
        return self


class Trainer:
    """The model, optimiser and batch generator of one run (or trunk), seeded, with their saved form."""

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, lr: float, device: torch.device, seed: int):
        torch.manual_seed(seed)
        self.model = Transformer(model_cfg).to(device)
        self.opt = build_optimizer(self.model, train_cfg, lr, device)
        self.step_model = torch.compile(self.model) if train_cfg.compile else self.model
        self.rng = np.random.default_rng(seed)

    def state(self, identity: dict, st: LoopState) -> dict:
        """Everything needed to continue exactly where the run is."""
        return {
            "identity": identity,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "np_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "state": st.__dict__,
            "step": st.step,
        }

    def misfit(self, saved: dict) -> str | None:
        """Why ``saved`` cannot be restored into this trainer (parts missing, parameters of another model or
        shape), or None. Checked before anything is loaded, so a refused state leaves the trainer as it was."""
        missing = [k for k in ("model", "optimizer", "np_rng", "torch_rng", "state") if k not in saved]
        if missing:
            return f"it has no {', '.join(missing)}"
        own, theirs = self.model.state_dict(), saved["model"]
        if not isinstance(theirs, dict) or set(theirs) != set(own):
            return "its parameters are another model's"
        k = next((k for k, v in own.items() if getattr(theirs[k], "shape", None) != v.shape), None)
        return None if k is None else f"{k} is {tuple(getattr(theirs[k], 'shape', ()))}, not {tuple(own[k].shape)}"

    def resume(self, saved: dict | None, path, notes: list | None = None) -> LoopState | None:
        """Restore ``saved`` (a checkpoint read from ``path``) and return its state; None when there is none or
        it does not fit this run (noted in ``notes``: the run starts over)."""
        if saved is None:
            return None
        why = self.misfit(saved)
        if why:
            if notes is not None:
                notes.append(f"{path}: does not fit this run ({why}); the run starts over")
            return None
        return self.restore(saved)

    def restore(self, saved: dict) -> LoopState:
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["optimizer"])
        self.rng.bit_generator.state = saved["np_rng"]
        torch.set_rng_state(saved["torch_rng"])
        return LoopState(**saved["state"])


@contextlib.contextmanager
def isolated(device: torch.device, threads: int) -> Iterator[None]:
    """Run a block with ``threads`` intra-op threads and the device's precision, restoring the global RNG
    state (CPU, and the GPU's when ``device`` is one) and both settings afterwards."""
    with (
        run_threads(threads),
        run_precision(device),
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
    ):
        yield
