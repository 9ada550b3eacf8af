"""Where runs execute: a local process pool, a Ray cluster, or SLURM through submitit.

Every executor has ``map(fn, args_list) -> list`` that calls ``fn(*args)`` for
each tuple and returns, in order, each call's return value or the exception
that ended it. A run's records are written by the run itself
(:func:`scaling.sweep.worker.execute_run`), so an executor only has to start it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from scaling.errors import ConfigError, DependencyError


class LocalExecutor:
    """A process pool sized so that runs in flight × threads per run fit the cores.

    Processes are spawned (not forked), so each run starts with a clean torch.
    """

    def __init__(self, threads_per_run: int = 1, max_workers: int | None = None):
        cores = os.cpu_count() or 1
        self.max_workers = max_workers or max(1, cores // max(1, threads_per_run))

    def map(self, fn, args_list: list[tuple]) -> list:
        out: list = [None] * len(args_list)
        if self.max_workers == 1 or len(args_list) == 1:
            # In-process when there is no parallelism to gain (also keeps tracebacks local).
            for i, a in enumerate(args_list):
                try:
                    out[i] = fn(*a)
                except Exception as e:  # noqa: BLE001 - reported to the caller, which records the run
                    out[i] = e
            return out
        with ProcessPoolExecutor(self.max_workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(fn, *a): i for i, a in enumerate(args_list)}
            for f in as_completed(futures):
                try:
                    out[futures[f]] = f.result()
                except Exception as e:  # noqa: BLE001 - includes a worker killed mid-run (BrokenProcessPool)
                    out[futures[f]] = e
        return out


class RayExecutor:
    """Ray core tasks, one per run, each asking for CPUs (and GPUs, fractions allowed).

    Args:
        address: a running cluster ("auto" or "ray://host:port"); None starts a local one.
        cpus_per_run: ``num_cpus`` of each task.
        gpus_per_run: ``num_gpus`` of each task; 0.25 lets four small runs share a GPU.
        max_retries: times a task is retried when its worker dies.
        num_cpus: CPUs of a local cluster started here (default: all).

    Packages are never installed through ``runtime_env``: workers use the
    environment the cluster was started in.
    """

    def __init__(self, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
                 max_retries: int = 2, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise DependencyError("the Ray executor needs ray: pip install 'scaling[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if address is None:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self.options = {"num_cpus": cpus_per_run, "num_gpus": gpus_per_run, "max_retries": max_retries,
                        "retry_exceptions": False}

    def map(self, fn, args_list: list[tuple]) -> list:
        remote = self.ray.remote(**self.options)(fn)
        refs = [remote.remote(*a) for a in args_list]
        out = []
        for r in refs:
            try:
                out.append(self.ray.get(r))
            except Exception as e:  # noqa: BLE001 - a task that failed after its retries
                out.append(e)
        return out


class SlurmExecutor:
    """SLURM job arrays through submitit; ``cluster="local"`` runs the same jobs as local processes.

    A job requeued after preemption calls the run again, which resumes from
    its checkpoint (:func:`scaling.sweep.worker.execute_run`).

    Args:
        folder: where submitit keeps job scripts and logs.
        partition: SLURM partition.
        timeout_min: wall-clock limit of each job, in minutes.
        gpus_per_run: GPUs per job.
        cpus_per_run: CPUs per job.
        array_parallelism: jobs of an array running at once (also the cap for ``cluster="local"``,
            whose executor has none of its own).
        cluster: None to let submitit detect SLURM, "slurm", or "local".
    """

    def __init__(self, folder: str | Path, partition: str | None = None, timeout_min: int = 60, gpus_per_run: int = 0,
                 cpus_per_run: int = 1, array_parallelism: int = 16, cluster: str | None = None):
        try:
            import submitit
        except ImportError:
            raise DependencyError("the SLURM executor needs submitit: pip install 'scaling[slurm]'") from None
        self.submitit = submitit
        self.ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        params = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_run}
        if self.ex.cluster == "slurm":
            params.update(slurm_array_parallelism=array_parallelism, gpus_per_node=gpus_per_run)
            if partition:
                params["slurm_partition"] = partition
        self.ex.update_parameters(**params)
        self.parallel = array_parallelism

    def map(self, fn, args_list: list[tuple]) -> list:
        task = _Resumable(fn)
        out: list = []
        # submitit's local executor runs every job at once; submit in waves of array_parallelism.
        step = len(args_list) if self.ex.cluster == "slurm" else max(1, self.parallel)
        for i in range(0, len(args_list), step):
            chunk = args_list[i : i + step]
            jobs = self.ex.map_array(task, *zip(*chunk))
            for j in jobs:
                try:
                    out.append(j.result())
                except Exception as e:  # noqa: BLE001 - job failed or was cancelled
                    out.append(e)
        return out


class _Resumable:
    """A callable submitit can requeue: on preemption it resubmits the same call,
    which picks up from the run's checkpoint."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    def checkpoint(self, *args):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args)


def make_executor(kind: str, *, threads_per_run: int = 1, address: str | None = None, gpus_per_run: float = 0,
                  partition: str | None = None, timeout_min: int = 60, folder: str | Path = "results/.submitit",
                  max_workers: int | None = None):
    """Build an executor by name: "local", "ray" or "slurm"."""
    if kind == "local":
        return LocalExecutor(threads_per_run, max_workers)
    if kind == "ray":
        return RayExecutor(address, cpus_per_run=threads_per_run, gpus_per_run=gpus_per_run)
    if kind == "slurm":
        return SlurmExecutor(folder, partition=partition, timeout_min=timeout_min, gpus_per_run=int(gpus_per_run),
                             cpus_per_run=threads_per_run)
    raise ConfigError(f"unknown executor {kind!r} (choose from local, ray, slurm)")
