"""The machine a run trains on: peak FLOP/s for MFU, hardware and version provenance, per-run precision.

MFU is always measured under the PaLM count (6N + attention, Chowdhery et al.
2022, Appendix B), whatever convention set the budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from isoflop.meta import package_version

#: Dense bf16 peaks of common GPUs, in FLOP/s (vendor data sheets, without sparsity).
GPU_PEAK_FLOPS = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
    "V100": 125e12,
    "T4": 65e12,
}


def measure_cpu_peak(threads: int | None = None, size: int = 1024, seconds: float = 1.0, seed: int = 0) -> float:
    """fp32 matmul FLOP/s of this CPU (best of several runs), at ``threads`` threads if given.

    The operands come from a private generator, so the global RNG is untouched.
    """
    prev = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(size, size, generator=g)
        b = torch.randn(size, size, generator=g)
        torch.mm(a, b)
        best = 0.0
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            for _ in range(4):
                torch.mm(a, b)
            best = max(best, 4 * 2 * size**3 / (time.perf_counter() - t0))
        return best
    finally:
        torch.set_num_threads(prev)


def cpu_peak(cache_dir: Path | None, threads: int) -> float:
    """The fp32 matmul peak for this machine and thread count, measured once and cached in ``cache_dir``."""
    key = f"{platform.node()}-{platform.machine()}-torch{torch.__version__}-t{threads}"
    path = Path(cache_dir) / "cpu_peak.json" if cache_dir is not None else None
    table = {}
    if path is not None and path.exists():
        try:
            table = json.loads(path.read_text())
        except json.JSONDecodeError:
            table = {}
    if key not in table:
        table[key] = measure_cpu_peak(threads)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(table, indent=1))
    return float(table[key])


def gpu_peak(device: torch.device) -> float | None:
    """Dense bf16 peak of a known GPU, or None."""
    name = torch.cuda.get_device_name(device)
    for k in sorted(GPU_PEAK_FLOPS, key=len, reverse=True):
        if k.lower() in name.lower():
            return GPU_PEAK_FLOPS[k]
    return None


def peak_flops_for(device: torch.device, threads: int, cache_dir: Path | None) -> float | None:
    """The peak MFU is measured against: the GPU table on CUDA, the measured fp32 matmul peak on CPU."""
    return gpu_peak(device) if device.type == "cuda" else cpu_peak(cache_dir, threads)


@contextlib.contextmanager
def run_precision(device: torch.device):
    """TF32 matmuls on CUDA for the length of one run; the previous settings come back afterwards."""
    if device.type != "cuda":
        yield
        return
    prev = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev


@contextlib.contextmanager
def run_threads(threads: int):
    """torch's CPU thread count set for one run and restored afterwards."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def autocast_for(dtype: str):
    """A factory of the autocast context of a run: bf16 on CUDA, nothing for fp32."""
    if dtype == "bf16":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def hardware_info(device: torch.device, threads: int) -> dict:
    """Machine, processor, cores, threads and GPU name, for the run record."""
    hw = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
    }
    if device.type == "cuda":
        hw["gpu"] = torch.cuda.get_device_name(device)
    return hw


def versions() -> dict:
    """torch, numpy, python and package versions and the git commit, for the run record."""
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "isoflop": package_version(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
