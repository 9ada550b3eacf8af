"""Preemption: a warning signal makes the run checkpoint at its next step boundary, then passes the signal on.

A cluster warns a job before it takes its node: SLURM sends SIGTERM on preemption, and ``--signal=USR1@60``
(or submitit's SIGUSR2, see ``SUBMITIT_PREEMPT_SIGNAL``) shortly before the time limit. Whoever listens (submitit,
whose handler requeues the job through its checkpointing interface and exits; or the default action, which ends
the process) acts at once, so everything trained since the last periodic checkpoint would be trained again.

While :class:`Deferred` is active, those signals are caught and held instead. The training loop asks
:attr:`Deferred.pending` after each step, saves its checkpoint there (a consistent state: never mid-step), and
calls :meth:`Deferred.deliver`, which hands each held signal to the handler that was installed before: submitit
requeues, the default ends the process as it would have, and a handler that lets the run go on (submitit
bypasses SIGTERM) lets it go on. A signal still held when the loop ends is delivered on the way out, so none is
lost. Signal handlers can only be installed from the main thread; elsewhere (a Ray actor's thread) nothing is
deferred and the signals act as before.
"""

from __future__ import annotations

import signal
import threading

#: The signals a cluster sends before it takes a job's node.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name))


class Deferred:
    """Hold :data:`SIGNALS` while the loop runs, to be delivered at a step boundary (see the module docstring)."""

    def __init__(self, signals: tuple = SIGNALS):
        self.signals = signals
        self.previous: dict = {}
        self.held: list[int] = []

    def __enter__(self) -> Deferred:
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                prev = signal.getsignal(s)
                if prev is None:  # a handler not installed from Python: it cannot be restored, so leave it be
                    continue
                signal.signal(s, self._hold)
                self.previous[s] = prev
        return self

    def _hold(self, signum: int, frame) -> None:
        self.held.append(signum)

    @property
    def pending(self) -> bool:
        """Whether a signal arrived and awaits :meth:`deliver`."""
        return bool(self.held)

    def deliver(self) -> None:
        """Hand each held signal to the handler installed before :meth:`__enter__`; the default action is taken
        by restoring it and raising the signal again."""
        for s in self._take():
            prev = self.previous.get(s, signal.SIG_DFL)
            if callable(prev):
                prev(s, None)
            elif prev != signal.SIG_IGN:
                self._restore()
                signal.raise_signal(s)

    def _restore(self) -> None:
        for s, prev in self.previous.items():
            signal.signal(s, prev)
        self.previous = {}

    def _take(self) -> list[int]:
        """The held signals, once each in order of arrival, no longer held."""
        held, self.held = list(dict.fromkeys(self.held)), []
        return held

    def __exit__(self, *exc) -> None:
        held = self._take()
        self._restore()
        for s in held:  # arrived after the last step: delivered now, to the handlers just restored
            signal.raise_signal(s)
