"""``SerialExecutor``: one step at a time, in the calling thread, in plan order."""

from __future__ import annotations

import time

from ..run import ApplyRun
from .base import Executor
from .options import require_sync_providers
from .scheduler import Scheduler, perform


class SerialExecutor(Executor):
    """Runs one step at a time in the thread that called ``apply``, in plan order.

    The default executor. A step waiting to retry does not hold up the others:
    the next ready step runs meanwhile. Ctrl-C during a provider call cancels
    that step. Async providers are refused (``ApplyOptionError``); ``apply``
    picks ``AsyncExecutor(max_workers=1)`` by default when some provider is async.
    """

    def execute(self, run: ApplyRun) -> None:
        """Run every step of ``run.plan`` serially."""
        require_sync_providers("SerialExecutor", run)
        scheduler = Scheduler(run, 1, {}, critical_path=False)
        try:
            scheduler.start()
            while not scheduler.done:
                attempt = scheduler.take()
                if attempt is None:
                    # Nothing is ready and nothing runs, so a step waits for its retry.
                    hint = scheduler.wait_hint()
                    assert hint is not None, "scheduler stalled: steps left but none ready or waiting to retry"
                    time.sleep(hint)
                    continue
                perform(run, scheduler, attempt)
        except KeyboardInterrupt:
            scheduler.stop(interrupted=True, running=True)

    def __repr__(self) -> str:
        return "SerialExecutor()"
