"""``FuturesExecutor``: steps submitted to any ``concurrent.futures.Executor``, Dask's included."""

from __future__ import annotations

import concurrent.futures
import functools
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ApplyOptionError
from ..events import EventKind
from ..run import ApplyRun
from .base import Executor
from .interrupts import deferred_interrupts
from .options import check_limits, require_sync_providers
from .scheduler import Attempt, Scheduler

# A finished call and when it was submitted; None only wakes the coordinator (Ctrl-C).
_Done = tuple[concurrent.futures.Future[Any], float] | None


class FuturesExecutor(Executor):
    """Submits steps to a ``concurrent.futures.Executor`` as soon as they are ready.

    Any pool works: ``ThreadPoolExecutor``, ``ProcessPoolExecutor``, or a Dask
    distributed ``Client.get_executor()`` to spread steps over many machines
    (install the ``dask`` extra). The thread that called ``apply`` schedules,
    emits every event and records outcomes; only provider calls go to the pool.

    When the pool runs calls in other processes, the provider object and the
    resources are pickled: a provider should be a thin client (say, an
    endpoint and credentials) whose effects live in the world, not in the
    object; ``ctx.resolve`` there sees the step's own dependencies only; and a
    step's ``duration`` includes the pool's queueing and transfer time. Ctrl-C
    cancels submitted calls the pool has not started, lets the others finish,
    and marks the rest CANCELLED.

    Args:
        pool: the pool to submit provider calls to (not shut down by the executor).
        max_workers: the most steps submitted at once; by default the pool's own
            ``max_workers`` when it has one, else 32.
        limits: the most steps of one kind running at once, e.g. ``{"server": 4}``.

    Raises:
        ApplyOptionError: ``pool`` is not a ``concurrent.futures.Executor``, or
            ``max_workers`` or a limit is not an int >= 1.
    """

    def __init__(
        self,
        pool: concurrent.futures.Executor,
        max_workers: int | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        if not isinstance(pool, concurrent.futures.Executor):
            raise ApplyOptionError(f"FuturesExecutor: pool must be a concurrent.futures.Executor, got {pool!r}")
        if max_workers is None:
            max_workers = getattr(pool, "_max_workers", None) or 32
        self.limits = check_limits("FuturesExecutor", max_workers, limits)
        self.max_workers: int = max_workers
        self.pool = pool

    def execute(self, run: ApplyRun) -> None:
        """Run every step of ``run.plan`` through the pool."""
        require_sync_providers("FuturesExecutor", run)
        scheduler = Scheduler(run, self.max_workers, self.limits)
        done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        inflight: dict[concurrent.futures.Future[Any], Attempt] = {}
        interrupt = threading.Event()

        def on_interrupt() -> None:
            interrupt.set()
            done.put(None)

        with deferred_interrupts(on_interrupt):
            try:
                scheduler.start()
                while not scheduler.done and not scheduler.stopping:
                    if interrupt.is_set():
                        scheduler.stop(interrupted=True)
                        break
                    while (attempt := scheduler.take()) is not None:
                        self._submit(run, scheduler, attempt, done, inflight)
                    if scheduler.done or scheduler.stopping:
                        break
                    try:
                        item = done.get(timeout=scheduler.wait_hint())
                    except queue.Empty:
                        continue
                    if item is not None:
                        _finish(run, scheduler, inflight, *item)
            except KeyboardInterrupt:
                scheduler.stop(interrupted=True)
            except BaseException as exc:  # a listener's error: stop, let running steps end, re-raise
                scheduler.abort(exc)
            if run.interrupted:
                for future in list(inflight):
                    future.cancel()
            while inflight:
                item = done.get()
                if item is not None:
                    _finish(run, scheduler, inflight, *item)
        if scheduler.fatal is not None:
            raise scheduler.fatal

    def _submit(
        self,
        run: ApplyRun,
        scheduler: Scheduler,
        attempt: Attempt,
        done: queue.SimpleQueue[_Done],
        inflight: dict[concurrent.futures.Future[Any], Attempt],
    ) -> None:
        if run.listeners:
            run.emit(EventKind.STARTED, attempt.step, attempt.number)
        start = time.perf_counter()
        try:
            method, args = run.portable_call(attempt.step, attempt.number, attempt.deadline)
            future = self.pool.submit(_call_portably, method, *args)
        except Exception as exc:  # the pool refused the call (shut down, cannot pickle): the step fails
            scheduler.raised(attempt, exc, time.perf_counter() - start)
            return
        inflight[future] = attempt
        future.add_done_callback(functools.partial(_put, done, start))

    def __repr__(self) -> str:
        return f"FuturesExecutor({self.pool!r}, max_workers={self.max_workers}, limits={self.limits})"


def _put(done: queue.SimpleQueue[_Done], start: float, future: concurrent.futures.Future[Any]) -> None:
    done.put((future, start))


def _call_portably(method: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """Call ``method`` where the pool runs it; return ``(True, value)`` or ``(False, exception)``.

    Every exception comes back as a value, so a ``KeyboardInterrupt`` or a crash
    in a remote worker reaches the caller instead of killing the worker.
    """
    try:
        return True, method(*args)
    except BaseException as exc:
        return False, exc


def _finish(
    run: ApplyRun,
    scheduler: Scheduler,
    inflight: dict[concurrent.futures.Future[Any], Attempt],
    future: concurrent.futures.Future[Any],
    start: float,
) -> None:
    attempt = inflight.pop(future)
    duration = time.perf_counter() - start
    if future.cancelled():
        scheduler.cancelled(attempt, duration)
        return
    error = future.exception()
    if error is None:
        returned, payload = future.result()
        if returned:
            try:
                value = run.checked(attempt.step, payload)
            except Exception as exc:
                scheduler.raised(attempt, exc, duration)
            else:
                scheduler.succeeded(attempt, value, duration)
            return
        error = payload
    if isinstance(error, Exception):
        scheduler.raised(attempt, error, duration)
    elif isinstance(error, KeyboardInterrupt):
        scheduler.interrupted(attempt, duration)
    else:
        scheduler.abort(error)
