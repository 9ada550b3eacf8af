"""Where runs execute: a local process pool, a Ray cluster, or SLURM through submitit.

Every executor has ``slots`` (tasks it runs at once), ``start(fn, args) -> handle``,
``wait(handles) -> [(handle, result)]`` (blocks until at least one has ended; ``result``
is the call's return value or the exception that ended it) and ``close()``; and, on
top of those, ``map(fn, args_list) -> list`` in order. A run's records are written by
the run itself (:func:`isoflop.sweep.worker.execute_run`), so an executor only has
to start it. :func:`isoflop.sweep.schedule.run_graph` keeps the slots full.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from isoflop.errors import ConfigError, DependencyError


class Executor(ABC):
    """What every executor shares: ``map`` over ``start``/``wait``, and use as a context manager."""

    slots: int = 1

    @abstractmethod
    def start(self, fn, args: tuple):
        """Start ``fn(*args)``; return a handle that :meth:`wait` accepts."""

    @abstractmethod
    def wait(self, handles: list) -> list[tuple]:
        """Block until at least one of ``handles`` has ended; return ``(handle, result or exception)`` pairs."""

    def close(self) -> None:  # noqa: B027 - most executors hold nothing to release
        """Release what the executor holds (worker pools, clusters); the default holds nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def map(self, fn, args_list: list[tuple]) -> list:
        """``fn(*args)`` for each tuple, at most ``slots`` at a time; each return value or exception, in order."""
        from isoflop.sweep.schedule import Task, run_graph

        out = run_graph(self, [Task(str(i), fn, tuple(a)) for i, a in enumerate(args_list)])
        return [out.results.get(str(i), out.errors.get(str(i))) for i in range(len(args_list))]


def _result(future: Future):
    try:
        return future.result()
    except Exception as e:
        return e


class LocalExecutor(Executor):
    """A process pool sized so that runs in flight × threads per run fit the cores.

    Processes are spawned (not forked), so each run starts with a clean torch. The pool
    lives until :meth:`close` (or the end of a ``with`` block), so a sweep pays for starting
    its workers once; a pool broken by a worker that died is replaced by the next ``start``.
    With one worker, calls run in this process (which also keeps tracebacks local).
    """

    def __init__(self, threads_per_run: int = 1, max_workers: int | None = None):
        cores = os.cpu_count() or 1
        self.max_workers = max_workers or max(1, cores // max(1, threads_per_run))
        self.slots = self.max_workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self, fn, args: tuple) -> Future:
        if self.max_workers == 1:
            f: Future = Future()
            try:
                f.set_result(fn(*args))
            except Exception as e:
                f.set_exception(e)
            return f
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.max_workers, mp_context=mp.get_context("spawn"))
        return self._pool.submit(fn, *args)

    def wait(self, handles: list) -> list[tuple]:
        done, _ = wait_futures(handles, return_when=FIRST_COMPLETED)
        out = [(f, _result(f)) for f in done]
        if any(isinstance(r, BrokenProcessPool) for _, r in out):
            self.close()  # a worker died: every call in flight failed with it; the next start makes a new pool
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor(Executor):
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

    def __init__(
        self,
        address: str | None = None,
        cpus_per_run: float = 1,
        gpus_per_run: float = 0,
        max_retries: int = 2,
        num_cpus: int | None = None,
    ):
        try:
            import ray
        except ImportError:
            raise DependencyError("the Ray executor needs ray: pip install 'isoflop[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if address is None:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self.options: dict[str, Any] = {
            "num_cpus": cpus_per_run,
            "num_gpus": gpus_per_run,
            "max_retries": max_retries,
            "retry_exceptions": False,
        }
        self._remote: dict = {}
        resources = ray.cluster_resources()
        per = [resources.get("CPU", 1) / max(cpus_per_run, 1e-9)]
        if gpus_per_run:
            per.append(resources.get("GPU", 0) / gpus_per_run)
        self.slots = max(1, int(min(per)))

    def start(self, fn, args: tuple):
        if fn not in self._remote:
            self._remote[fn] = self.ray.remote(**self.options)(fn)
        return self._remote[fn].remote(*args)

    def wait(self, handles: list) -> list[tuple]:
        ready, _ = self.ray.wait(handles, num_returns=1)
        out = []
        for r in ready:
            try:
                out.append((r, self.ray.get(r)))
            except Exception as e:
                out.append((r, e))
        return out


class SlurmExecutor(Executor):
    """SLURM job arrays through submitit; ``cluster="local"`` runs the same jobs as local processes.

    A job requeued after preemption calls the run again, which resumes from
    its checkpoint (:func:`isoflop.sweep.worker.execute_run`).

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

    def __init__(
        self,
        folder: str | Path,
        partition: str | None = None,
        timeout_min: int = 60,
        gpus_per_run: int = 0,
        cpus_per_run: int = 1,
        array_parallelism: int = 16,
        cluster: str | None = None,
    ):
        try:
            import submitit
        except ImportError:
            raise DependencyError("the SLURM executor needs submitit: pip install 'isoflop[slurm]'") from None
        self.submitit = submitit
        self.ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        params: dict[str, Any] = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_run}
        if self.ex.cluster == "slurm":
            params.update(slurm_array_parallelism=array_parallelism, gpus_per_node=gpus_per_run)
            if partition:
                params["slurm_partition"] = partition
        self.ex.update_parameters(**params)
        self.slots = array_parallelism  # jobs in flight (submitit's local backend has no cap of its own)

    def start(self, fn, args: tuple):
        return self.ex.submit(_Resumable(fn), *args)

    def wait(self, handles: list, poll_s: float = 0.5) -> list[tuple]:
        while True:
            done = [j for j in handles if j.done()]
            if done:
                break
            time.sleep(poll_s)
        out = []
        for j in done:
            try:
                out.append((j, j.result()))
            except Exception as e:
                out.append((j, e))
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


def make_executor(
    kind: str,
    *,
    threads_per_run: int = 1,
    address: str | None = None,
    gpus_per_run: float = 0,
    partition: str | None = None,
    timeout_min: int = 60,
    folder: str | Path = "results/.submitit",
    max_workers: int | None = None,
):
    """Build an executor by name: "local", "ray" or "slurm"."""
    if kind == "local":
        return LocalExecutor(threads_per_run, max_workers)
    if kind == "ray":
        return RayExecutor(address, cpus_per_run=threads_per_run, gpus_per_run=gpus_per_run)
    if kind == "slurm":
        return SlurmExecutor(
            folder,
            partition=partition,
            timeout_min=timeout_min,
            gpus_per_run=int(gpus_per_run),
            cpus_per_run=threads_per_run,
        )
    raise ConfigError(f"unknown executor {kind!r} (choose from local, ray, slurm)")
