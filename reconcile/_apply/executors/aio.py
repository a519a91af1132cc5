"""``AsyncExecutor``: steps as asyncio tasks; async providers are awaited, sync ones run in threads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ...errors import ApplyOptionError, StepTimeoutError
from ..events import EventKind
from ..run import ApplyRun
from .base import Executor
from .options import check_limits
from .scheduler import Attempt, Scheduler


class AsyncExecutor(Executor):
    """Runs up to ``max_workers`` steps at once as asyncio tasks.

    Async provider methods are awaited on the event loop; sync ones run in a
    thread pool of ``max_workers`` threads, so one plan may mix both. With a
    ``RetryPolicy.timeout``, an async call still running at the step's deadline
    is cancelled and the step fails with ``StepTimeoutError``.

    ``apply(..., executor=AsyncExecutor())`` runs its own event loop
    (``asyncio.run``); inside a running loop use ``await apply_async(...)``.
    Ctrl-C (or cancelling ``apply_async``) cancels the running async calls,
    lets the running sync calls finish, and marks every step that did not end
    CANCELLED. Listeners run on the event loop thread and should not block.

    Args:
        max_workers: the most steps running at once.
        limits: the most steps of one kind running at once, e.g. ``{"server": 4}``.

    Raises:
        ApplyOptionError: ``max_workers`` or a limit is not an int >= 1.
    """

    def __init__(self, max_workers: int = 32, limits: Mapping[str, int] | None = None) -> None:
        self.limits = check_limits("AsyncExecutor", max_workers, limits)
        self.max_workers = max_workers

    def execute(self, run: ApplyRun) -> None:
        """Run every step of ``run.plan`` on a new event loop.

        Raises:
            ApplyOptionError: called from a thread that is running an event loop.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._execute(run, reraise_cancel=False))
        else:
            raise ApplyOptionError(
                "AsyncExecutor: apply() was called inside a running event loop; use 'await reconcile.apply_async(...)'"
            )

    async def execute_async(self, run: ApplyRun) -> None:
        """Run every step of ``run.plan`` on the running event loop; cancellation propagates after cleanup."""
        await self._execute(run, reraise_cancel=True)

    async def _execute(self, run: ApplyRun, *, reraise_cancel: bool) -> None:
        scheduler = Scheduler(run, self.max_workers, self.limits)
        wake = asyncio.Event()
        # Each running attempt's task, and whether it awaits an async call (cancellable).
        tasks: dict[asyncio.Task[None], bool] = {}
        pool: ThreadPoolExecutor | None = None
        cancelled = False
        try:
            scheduler.start()
            while not scheduler.done and not scheduler.stopping:
                wake.clear()
                while (attempt := scheduler.take()) is not None:
                    is_async = run.is_async(attempt.step)
                    if not is_async and pool is None:
                        pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="reconcile-worker")
                    task = asyncio.create_task(self._attempt(run, scheduler, attempt, is_async, pool, wake))
                    tasks[task] = is_async
                    task.add_done_callback(tasks.pop)
                if scheduler.done or scheduler.stopping:
                    break
                hint = scheduler.wait_hint()
                if hint is None:
                    await wake.wait()
                else:
                    try:
                        async with asyncio.timeout(hint):
                            await wake.wait()
                    except TimeoutError:
                        pass
        except asyncio.CancelledError:
            cancelled = True
            scheduler.stop(interrupted=True)
        except KeyboardInterrupt:
            scheduler.stop(interrupted=True)
        except BaseException as exc:  # a listener's error: stop, let running steps end, re-raise
            scheduler.abort(exc)
        if run.interrupted:
            for task, is_async in list(tasks.items()):
                if is_async:
                    task.cancel()
        while tasks:
            await asyncio.wait(list(tasks))
        if pool is not None:
            pool.shutdown()
        if scheduler.fatal is not None:
            raise scheduler.fatal
        if cancelled and reraise_cancel:
            raise asyncio.CancelledError

    async def _attempt(
        self,
        run: ApplyRun,
        scheduler: Scheduler,
        attempt: Attempt,
        is_async: bool,
        pool: ThreadPoolExecutor | None,
        wake: asyncio.Event,
    ) -> None:
        step = attempt.step
        try:
            if run.listeners:
                run.emit(EventKind.STARTED, step, attempt.number)
            start = time.perf_counter()
            try:
                if is_async:
                    value = await _call_async(run, attempt)
                else:
                    loop = asyncio.get_running_loop()
                    value = await loop.run_in_executor(pool, run.call, step, attempt.number, attempt.deadline)
            except Exception as exc:
                scheduler.raised(attempt, exc, time.perf_counter() - start)
            except (asyncio.CancelledError, KeyboardInterrupt):
                scheduler.interrupted(attempt, time.perf_counter() - start)
            else:
                scheduler.succeeded(attempt, value, time.perf_counter() - start)
        except BaseException as exc:  # a crash or a listener's error; asyncio must not see it raised in a task
            scheduler.abort(exc)
        finally:
            wake.set()

    def __repr__(self) -> str:
        return f"AsyncExecutor(max_workers={self.max_workers}, limits={self.limits})"


async def _call_async(run: ApplyRun, attempt: Attempt) -> object:
    if attempt.deadline is None:
        return await run.call_async(attempt.step, attempt.number)
    timeout = asyncio.timeout(attempt.deadline - time.monotonic())
    try:
        async with timeout:
            return await run.call_async(attempt.step, attempt.number, attempt.deadline)
    except TimeoutError:
        if not timeout.expired():
            raise
        assert run.retry.timeout is not None
        raise StepTimeoutError(attempt.step, run.retry.timeout, attempt.number) from None
