"""Stopping a run cleanly on a signal: SIGTERM (preemption, scancel, torchrun shutting down) and,
inside a submitit job, its preemption signal (USR1/USR2, already handled in Python). The trainer
finishes the step, saves ``last.pt`` and exits; a submitit handler is then called (it requeues the
job)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger(__name__)


class StopSignals:
    """Records the first stop signal while installed; :meth:`exit` ends the process after the
    checkpoint."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
            previous = signal.getsignal(sig)
            if sig == signal.SIGTERM or callable(previous):
                self._previous[sig] = previous
                signal.signal(sig, self.on_signal)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def on_signal(self, signum: int, _frame) -> None:
        self.received = signum

    def exit(self, step: int) -> None:
        """After the checkpoint: hand a submitit signal on (it requeues the job), then exit."""
        signum = self.received or signal.SIGTERM  # another rank was signalled
        log.warning("signal %d: checkpoint saved at step %d, exiting", signum, step)
        previous = self._previous.get(signum)
        self.restore()
        if signum != signal.SIGTERM and callable(previous):
            previous(signum, None)
        raise SystemExit(128 + signum)
