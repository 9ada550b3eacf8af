"""What a run costs in wall time on a machine: a throughput model fitted to finished run records.

Tiny models run far below a machine's peak (their matmuls are small), so the achieved FLOP rate grows
with the model: on a 2-core CPU, 1.2e10 FLOP/s at 7k parameters and 5.6e10 at 630k. The model is a
power law in N fitted to finished runs' own cost (FLOPs their steps spent, over their wall time),
log(FLOP/s) = c0 + c1 · log N, held flat outside the sizes it was read from.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np

from isoflop.errors import ConfigError


@dataclass(frozen=True)
class Throughput:
    """Achieved FLOP/s as a function of N.

    Attributes:
        c0, c1: log(FLOP/s) = c0 + c1 · log N (natural logs).
        n_range: the smallest and largest N it was fitted on; outside, the rate is held at the edge.
        runs: how many runs it was fitted on.
        source: where they came from.
    """

    c0: float
    c1: float
    n_range: tuple[float, float]
    runs: int
    source: str

    def flops_per_second(self, n) -> np.ndarray:
        n = np.clip(np.asarray(n, dtype=float), *self.n_range)
        return np.exp(self.c0 + self.c1 * np.log(n))

    def seconds(self, n, flops) -> np.ndarray:
        """Wall time of spending ``flops`` on a model of N parameters."""
        return np.asarray(flops, dtype=float) / self.flops_per_second(n)

    def describe(self) -> str:
        lo, hi = self.flops_per_second(self.n_range[0]), self.flops_per_second(self.n_range[1])
        return (
            f"{lo:.3g} FLOP/s at N={self.n_range[0]:.3g} to {hi:.3g} at N={self.n_range[1]:.3g} "
            f"(fitted to {self.runs} runs of {self.source})"
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_range"] = list(self.n_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Throughput:
        return cls(
            float(d["c0"]),
            float(d["c1"]),
            cast("tuple[float, float]", tuple(float(x) for x in d["n_range"])),
            int(d["runs"]),
            str(d["source"]),
        )

    @classmethod
    def fit(cls, n_params, cost_flops, wall_s, source: str) -> Throughput:
        """Fit to runs' parameter counts, the FLOPs they spent and their wall times.

        Raises:
            ConfigError: fewer than two usable runs.
        """
        n, f, w = (np.asarray(x, dtype=float) for x in (n_params, cost_flops, wall_s))
        ok = np.isfinite(n) & np.isfinite(f) & np.isfinite(w) & (n > 0) & (f > 0) & (w > 0)
        if ok.sum() < 2:
            raise ConfigError(
                f"{source}: a throughput model needs two or more finished runs with wall times, found {int(ok.sum())}"
            )
        x, y = np.log(n[ok]), np.log(f[ok] / w[ok])
        c1, c0 = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(np.mean(y)))
        return cls(float(c0), float(c1), (float(n[ok].min()), float(n[ok].max())), int(ok.sum()), source)

    @classmethod
    def from_sweeps(cls, folders) -> Throughput:
        """Fit to the finished ok runs of one or more sweep folders (reads only)."""
        from isoflop.runs.store import finished_records

        n, f, w, names = [], [], [], []
        for folder in folders:
            recs = [r for r in finished_records(folder) if r.status == "ok" and r.wall_time_s]
            recs = [r for r in recs if not r.simulated]  # a simulated run's wall time is the model's own
            n += [r.n_params for r in recs]
            f += [r.cost for r in recs]
            w += [r.wall_time_s for r in recs]
            if recs:
                names.append(Path(folder).name)
        return cls.fit(n, f, w, ", ".join(names) or ", ".join(map(str, folders)))


#: The default cost model, for a package installed without run records: fitted to the 30 cosine runs of
#: results/cpu-shakespeare (one thread each, on the 2-core development machine) and shipped as a fit document
#: (``isoflop/examples/throughput_cpu.json``; ``tests/test_committed.py`` refits it from the committed records).
DEFAULT_FILE = Path(__file__).resolve().parents[1] / "examples" / "throughput_cpu.json"


@functools.cache
def default_throughput() -> Throughput:
    """The shipped cost model of a 2-core CPU (:data:`DEFAULT_FILE`), read once."""
    return Throughput.from_dict(json.loads(DEFAULT_FILE.read_text()))


#: The MFU assumed on a GPU when none is given (not measured here: pass one measured on that GPU).
DEFAULT_MFU = 0.4


def hardware_peak(name: str) -> float | None:
    """A GPU's dense bf16 peak (FLOP/s) by name, case-insensitive (:data:`~isoflop.train.hardware.GPU_PEAK_FLOPS`);
    None for "cpu".

    Raises:
        ConfigError: a name that is neither "cpu" nor in the peak table.
    """
    from isoflop.train.hardware import GPU_PEAK_FLOPS

    if name.lower() == "cpu":
        return None
    for k, v in GPU_PEAK_FLOPS.items():
        if k.lower() == name.lower():
            return v
    raise ConfigError(f"--hardware {name!r} is not in the peak table: give cpu or one of {', '.join(GPU_PEAK_FLOPS)}")


def wall_time(
    flops: float, n_params: float, hardware: str = "cpu", throughput: Throughput | None = None, mfu: float = DEFAULT_MFU
) -> tuple[float, str, list[str]]:
    """The wall time of spending ``flops`` on a model of N parameters: on "cpu" by ``throughput`` (default: the
    shipped 2-core model), on a GPU by its peak times ``mfu``. Returns (seconds, where the rate came from, flags:
    an N outside the sizes the throughput was measured on).

    Raises:
        ConfigError: an unknown hardware name, or an MFU outside (0, 1].
    """
    peak = hardware_peak(hardware)
    if not 0 < mfu <= 1:
        raise ConfigError(f"--mfu ({mfu}) must be in (0, 1]")
    if peak is not None:
        return flops / (peak * mfu), f"{hardware} peak {peak:.3g} FLOP/s x MFU {mfu:g} (assumed)", []
    tp = throughput or default_throughput()
    flags = []
    lo, hi = tp.n_range
    if not lo <= n_params <= hi:
        far = n_params / hi if n_params > hi else lo / n_params
        flags.append(
            f"throughput: N = {n_params:.3g} is {far:.1f}x beyond the sizes it was measured on; its rate is held"
        )
    return float(tp.seconds(n_params, flops)), f"throughput of {tp.source} ({tp.runs} runs)", flags
