"""``ThreadExecutor``: steps in a pool of threads, as soon as they are ready, under global and per-kind limits."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from ..run import ApplyRun
from .base import Executor
from .options import check_limits, require_sync_providers
from .scheduler import Scheduler, perform


class ThreadExecutor(Executor):
    """Runs up to ``max_workers`` steps at once in threads, each as soon as its dependencies succeed.

    Worker threads take ready steps themselves (no coordinator thread in
    between), longest remaining chain first. Providers are called from several
    threads at once, never twice at once for the same address. Ctrl-C stops
    the apply: nothing new starts, running calls finish (threads cannot be
    interrupted), and the rest is CANCELLED.

    Args:
        max_workers: the most steps running at once (the number of threads).
        limits: the most steps of one kind running at once, e.g. ``{"server": 4}``;
            kinds not named are bound by ``max_workers`` only.

    Raises:
        ApplyOptionError: ``max_workers`` or a limit is not an int >= 1.
    """

    def __init__(self, max_workers: int = 8, limits: Mapping[str, int] | None = None) -> None:
        self.limits = check_limits("ThreadExecutor", max_workers, limits)
        self.max_workers = max_workers

    def execute(self, run: ApplyRun) -> None:
        """Run every step of ``run.plan`` in worker threads."""
        require_sync_providers("ThreadExecutor", run)
        scheduler = Scheduler(run, self.max_workers, self.limits)
        threads = [
            threading.Thread(target=_work, args=(run, scheduler), name=f"reconcile-worker-{i}", daemon=True)
            for i in range(min(self.max_workers, len(run.plan.steps)))
        ]
        try:
            scheduler.start()
            for t in threads:
                t.start()
            scheduler.quiet.wait()
        except KeyboardInterrupt:
            scheduler.stop(interrupted=True)
        for t in threads:
            if t.ident is not None:
                t.join()
        if scheduler.fatal is not None:
            raise scheduler.fatal

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self.max_workers}, limits={self.limits})"


def _work(run: ApplyRun, scheduler: Scheduler) -> None:
    try:
        while (attempt := scheduler.next()) is not None:
            perform(run, scheduler, attempt)
    except BaseException as exc:  # a crash or a listener's error: stop the apply and hand it to the caller
        scheduler.abort(exc)
