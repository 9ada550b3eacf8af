"""The tasks of a sweep and the order they run in.

An independent run is one task. A WSD trunk is a chain of *growth* tasks, one
per branch point, each continuing the last; a cooldown branch is a task that
may start as soon as its branch point's growth has finished (Hägele et al.
2024: the branches of one trunk are independent of each other). With every
budget's sizes known up front, the whole sweep is one graph, so no budget waits
for the slowest run of the one before it.

:func:`run_graph` keeps the executor's slots full, starting the ready task with
the longest chain of work behind it first (critical-path list scheduling). A
task that fails takes the tasks that need it with it, each reported with the
reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from isoflop.sweep.worker import execute_run, grow
from isoflop.train.spec import RunSpec


@dataclass(frozen=True)
class Task:
    """One call an executor runs: ``fn(*args)`` once every task in ``after`` has finished well.

    Attributes:
        key: unique within a graph.
        spec: the run this task finishes (a growth task finishes none).
        cost: planned FLOPs, for ordering.
    """

    key: str
    fn: Callable
    args: tuple
    after: tuple[str, ...] = ()
    spec: RunSpec | None = None
    cost: float = 0.0


class Skipped(RuntimeError):
    """Why a task never started: a task it waits on failed or was skipped."""


@dataclass
class Outcome:
    """What became of each task: its return value, the exception it ended with, or why it never started."""

    results: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)


def sweep_tasks(specs: list[RunSpec], sweep_dir: str, cache_dir: str | None) -> list[Task]:
    """The graph of runs still to do: one task per independent run; under WSD, each trunk's growth chain
    (one task per branch point still needed, in order) and one cooldown task per branch after its growth."""
    tasks: list[Task] = []
    trunks: dict[str, list[tuple[int, RunSpec]]] = {}  # trunk id -> (branch point, branch)
    for s in specs:
        b = s.branch
        if b is not None:
            trunks.setdefault(b.trunk_id, []).append((b.step, s))
        else:
            tasks.append(
                Task(f"run:{s.run_id}", execute_run, (s.to_dict(), sweep_dir, cache_dir), spec=s, cost=s.planned_cost)
            )
    for trunk_id, branches in trunks.items():
        prev, at = None, 0
        same: list[str] = []  # the keys of the branches already started from this snapshot
        branches = sorted(branches, key=lambda sb: sb[0])
        for i, (step, s) in enumerate(branches):
            # The trunk's branches at earlier branch points: a growth that finds one of them still needed (its
            # holder died before growing it) saves its snapshot on the way.
            earlier = tuple(e.to_dict() for st, e in branches[:i] if st < step)
            if prev is None or step != at:
                key = f"grow:{trunk_id}:{step}"
                tasks.append(
                    Task(
                        key,
                        grow,
                        (s.to_dict(), sweep_dir, cache_dir, earlier),
                        (prev,) if prev else (),
                        cost=(step - at) * s.step_flops,
                    )
                )
                prev, at, same = key, step, []
            # Branches that start at one snapshot (budgets a step apart) run one after another; the last deletes it.
            last = i + 1 == len(branches) or branches[i + 1][0] != step
            tasks.append(
                Task(
                    f"run:{s.run_id}",
                    execute_run,
                    (s.to_dict(), sweep_dir, cache_dir, not last, earlier),
                    (prev, *same),
                    spec=s,
                    cost=s.planned_cost,
                )
            )
            same.append(f"run:{s.run_id}")
    return tasks


def critical_paths(tasks: list[Task]) -> dict[str, float]:
    """Each task's cost plus the costliest chain of tasks that wait on it."""
    after: dict[str, list[str]] = {t.key: [] for t in tasks}
    for t in tasks:
        for d in t.after:
            after[d].append(t.key)
    cost = {t.key: t.cost for t in tasks}
    memo: dict[str, float] = {}

    def path(k: str) -> float:
        if k not in memo:
            memo[k] = cost[k] + max((path(n) for n in after[k]), default=0.0)
        return memo[k]

    return {t.key: path(t.key) for t in tasks}


def run_graph(executor, tasks: list[Task], on_done: Callable[[Task, object], None] | None = None) -> Outcome:
    """Run every task on ``executor`` (``start``, ``wait`` and ``slots``; see :mod:`isoflop.sweep.executors`),
    each once all of its ``after`` tasks have finished without an exception.

    A task whose dependency failed or was skipped is skipped, with the reason. ``on_done(task, result)``
    is called as each task ends (``result`` is the exception when it raised).
    """
    by_key = {t.key: t for t in tasks}
    missing = [d for t in tasks for d in t.after if d not in by_key]
    if missing:
        raise ValueError(f"tasks wait on unknown tasks: {', '.join(sorted(set(missing)))}")
    priority = critical_paths(tasks)
    out = Outcome()
    pending = list(by_key)  # neither started nor skipped, in the order given
    running: dict = {}  # handle -> key

    def skip(key: str, reason: str) -> None:
        pending.remove(key)
        out.skipped[key] = reason
        if on_done:
            on_done(by_key[key], Skipped(reason))

    while True:
        # Tasks whose dependencies ended badly never start (nor do the tasks that wait on them).
        changed = True
        while changed:
            changed = False
            for k in list(pending):
                d = next((d for d in by_key[k].after if d in out.errors or d in out.skipped), None)
                if d is not None:  # pass on the first cause, not a chain of skips
                    skip(
                        k,
                        out.skipped[d]
                        if d in out.skipped
                        else f"{d} did not finish: {type(out.errors[d]).__name__}: {out.errors[d]}",
                    )
                    changed = True
        ready = sorted(
            (k for k in pending if all(d in out.results for d in by_key[k].after)), key=lambda k: -priority[k]
        )
        for k in ready[: max(0, executor.slots - len(running))]:
            pending.remove(k)
            running[executor.start(by_key[k].fn, by_key[k].args)] = k
        if not running:
            if pending:
                raise ValueError(f"tasks wait on each other in a cycle: {', '.join(pending)}")
            return out
        for handle, result in executor.wait(list(running)):
            k = running.pop(handle)
            (out.errors if isinstance(result, BaseException) else out.results)[k] = result
            if on_done:
                on_done(by_key[k], result)
