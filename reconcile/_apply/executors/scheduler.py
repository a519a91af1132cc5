"""The scheduler every executor drives: ready steps by critical path, limits, retries, skips and stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from heapq import heapify, heappop, heappush
from typing import Any, NamedTuple

from ..._graph import longest_path_lengths
from ..._plan import Step
from ...errors import StepTimeoutError, TransientError
from ..events import EventKind
from ..retry import MAX_WAIT
from ..run import ApplyRun, StepOutcome, StepStatus


class Attempt(NamedTuple):
    """One try of one step, handed out by the scheduler.

    Attributes:
        step: the step.
        number: 1 for the first try.
        deadline: the step's deadline on the ``time.monotonic()`` clock, or ``None``.
        position: the step's index in ``plan.steps`` (the scheduler's key for it).
    """

    step: Step
    number: int
    deadline: float | None
    position: int


class Scheduler:
    """Decides which step starts next and records how steps end; thread-safe.

    Ready steps wait in a heap ordered by the longest chain of steps still to
    run after them (critical path first), then plan order; or plan order alone
    for the serial executor. A step of a kind at its limit is parked until a
    step of that kind ends. A step waiting to retry holds no slot. Events of
    scheduling decisions (QUEUED, SKIPPED, CANCELLED) are emitted under the lock
    so each step's events arrive in order; STARTED, RETRYING and final events of
    an attempt are emitted by its runner, outside the lock.

    Internally steps are their plan positions: hashing a ``Step`` hashes an
    enum member in Python code, and the hot path would otherwise do it a dozen
    times per step.

    Worker threads block in ``next()``; single-coordinator executors poll
    ``take()`` and sleep until ``wait_hint()``.
    """

    def __init__(self, run: ApplyRun, max_workers: int, limits: Mapping[str, int], *, critical_path: bool = True):
        plan = run.plan
        self.run = run
        self.max_workers = max_workers
        self.limits = dict(limits)
        steps = self._steps = plan.steps
        n = len(steps)
        index = {s: i for i, s in enumerate(steps)}
        self._kind = [s[0].kind for s in steps]
        preds: dict[int, list[int]] = {}
        self._dependents: dict[int, list[int]] = {}
        self._waiting = [0] * n
        for s, before in plan.predecessors.items():
            i = index.get(s)
            if i is None:
                continue
            found = [index[p] for p in before if p in index]
            preds[i] = found
            self._waiting[i] = len(found)
            for j in found:
                self._dependents.setdefault(j, []).append(i)
        if critical_path:
            chain = longest_path_lengths(range(n), preds)
            self._priority = [-int(chain[i]) for i in range(n)]
        else:
            self._priority = [0] * n
        self._ready: list[tuple[int, int]] = []
        self._parked: dict[str, list[tuple[int, int]]] = {}
        self._running_kind: dict[str, int] = dict.fromkeys(self.limits, 0)
        self._running = 0
        self._active: set[int] = set()
        self._ended = bytearray(n)
        self._delayed: list[tuple[float, int]] = []
        self._attempts = [0] * n
        self._spent = [0.0] * n
        self._deadline: list[float | None] = [None] * n
        self._open = n
        self._timeout = run.retry.timeout
        self.stopping = False
        self.fatal: BaseException | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.quiet = threading.Event()
        """Set once every step has ended, or on a stop."""

    @property
    def done(self) -> bool:
        """Every step has an outcome."""
        return self._open == 0

    def start(self) -> None:
        """Queue the steps that run after nothing (emitting QUEUED)."""
        with self._lock:
            roots = [i for i, w in enumerate(self._waiting) if w == 0]
            priority = self._priority
            self._ready = [(priority[i], i) for i in roots]
            heapify(self._ready)
            if self.run.listeners:
                for i in roots:
                    self.run.emit(EventKind.QUEUED, self._steps[i], 1)
            if self._open == 0:
                self.quiet.set()

    def take(self) -> Attempt | None:
        """The next attempt to start now, or ``None`` (nothing ready, no free slot, or stopping)."""
        with self._lock:
            return self._take()

    def next(self) -> Attempt | None:
        """Block until an attempt may start and return it; ``None`` once done or stopping."""
        with self._cond:
            while True:
                if self.stopping or self._open == 0:
                    return None
                attempt = self._take()
                if attempt is not None:
                    return attempt
                self._cond.wait(min(self._delayed[0][0] - time.monotonic(), MAX_WAIT) if self._delayed else None)

    def wait_hint(self) -> float | None:
        """Seconds until the next retry is due, at most ``MAX_WAIT`` (then ask again); ``None`` if none waits."""
        with self._lock:
            return min(max(0.0, self._delayed[0][0] - time.monotonic()), MAX_WAIT) if self._delayed else None

    def _take(self) -> Attempt | None:
        if self.stopping or self._running >= self.max_workers:
            return None
        if self._delayed:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                i = heappop(self._delayed)[1]
                heappush(self._ready, (self._priority[i], i))
        ready = self._ready
        limits = self.limits
        while ready:
            entry = heappop(ready)
            i = entry[1]
            kind = self._kind[i]
            if kind in limits:
                if self._running_kind[kind] >= limits[kind]:
                    heappush(self._parked.setdefault(kind, []), entry)
                    continue
                self._running_kind[kind] += 1
            self._running += 1
            self._active.add(i)
            number = self._attempts[i] = self._attempts[i] + 1
            deadline = self._deadline[i]
            if deadline is None and self._timeout is not None:
                deadline = self._deadline[i] = time.monotonic() + self._timeout
            return Attempt(self._steps[i], number, deadline, i)
        return None

    def _release(self, i: int) -> int:
        """Free the slot of a step that stopped running; return how many entries became takeable."""
        self._running -= 1
        self._active.discard(i)
        kind = self._kind[i]
        if kind in self.limits:
            self._running_kind[kind] -= 1
            parked = self._parked.get(kind)
            if parked:
                heappush(self._ready, heappop(parked))
                return 1
        return 0

    def _changed(self, pushed: int) -> None:
        # The thread that ends a step takes the next one itself, so one entry
        # needs no wake-up; waking more threads than entries only wastes switches.
        if self._open == 0:
            self.quiet.set()
            self._cond.notify_all()
        elif pushed > 1:
            self._cond.notify(pushed - 1)

    def _end(self, i: int, outcome: StepOutcome) -> None:
        self.run.record(outcome)
        self._ended[i] = 1
        self._open -= 1

    def succeeded(self, attempt: Attempt, value: Any, duration: float) -> None:
        """The attempt returned ``value``: emit SUCCEEDED, record it, queue the steps it unblocks."""
        run = self.run
        step, i = attempt.step, attempt.position
        if run.listeners:
            run.emit(EventKind.SUCCEEDED, step, attempt.number, duration=duration, value=value)
        with self._lock:
            spent = self._spent[i] + duration
            self._end(i, StepOutcome(step, StepStatus.SUCCEEDED, value=value, attempts=attempt.number, duration=spent))
            pushed = self._release(i)
            if not self.stopping:
                waiting, priority = self._waiting, self._priority
                for d in self._dependents.get(i, ()):
                    waiting[d] -= 1
                    if not waiting[d]:
                        heappush(self._ready, (priority[d], d))
                        pushed += 1
                        if run.listeners:
                            run.emit(EventKind.QUEUED, self._steps[d], 1)
            self._changed(pushed)

    def raised(self, attempt: Attempt, error: Exception, duration: float) -> None:
        """The attempt raised: schedule a retry (TransientError) or fail the step and skip its descendants."""
        run = self.run
        step, i = attempt.step, attempt.position
        policy = run.retry
        with self._lock:
            self._spent[i] += duration
            spent = self._spent[i]
        delay = None
        final: BaseException = error
        if isinstance(error, TransientError) and attempt.number < policy.max_attempts:
            delay = policy.delay(attempt.number, error)
            if attempt.deadline is not None and time.monotonic() + delay >= attempt.deadline:
                assert policy.timeout is not None
                final = StepTimeoutError(step, policy.timeout, attempt.number)
                final.__cause__ = error
                delay = None
        if delay is not None:
            if run.listeners and not self.stopping:
                run.emit(EventKind.RETRYING, step, attempt.number, duration=duration, error=error, delay=delay)
            with self._lock:
                pushed = self._release(i)
                if self.stopping:
                    # The retry will not happen, so the step ends cancelled, not failed.
                    self._cancel(i, duration)
                else:
                    heappush(self._delayed, (time.monotonic() + delay, i))
                self._changed(pushed)
            return
        if run.listeners:
            run.emit(EventKind.FAILED, step, attempt.number, duration=duration, error=final)
        with self._lock:
            self._end(i, StepOutcome(step, StepStatus.FAILED, error=final, attempts=attempt.number, duration=spent))
            pushed = self._release(i)
            self._skip_descendants(i)
            if run.fail_fast:
                self._stop(interrupted=False)
            self._changed(pushed)

    def cancelled(self, attempt: Attempt, duration: float) -> None:
        """The attempt was interrupted before it returned: the step ends CANCELLED."""
        i = attempt.position
        with self._lock:
            self._spent[i] += duration
            pushed = self._release(i)
            self._cancel(i, duration)
            self._changed(pushed)

    def interrupted(self, attempt: Attempt, duration: float) -> None:
        """Ctrl-C or task cancellation hit the attempt's call: stop the apply, the step ends CANCELLED."""
        self.stop(interrupted=True)
        self.cancelled(attempt, duration)

    def _cancel(self, i: int, duration: float = 0.0) -> None:
        step, attempts = self._steps[i], self._attempts[i]
        self._end(i, StepOutcome(step, StepStatus.CANCELLED, attempts=attempts, duration=self._spent[i]))
        if self.run.listeners:
            self.run.emit(EventKind.CANCELLED, step, attempts, duration=duration)

    def _skip_descendants(self, failed: int) -> None:
        found: set[int] = set()
        stack = list(self._dependents.get(failed, ()))
        ended = self._ended
        while stack:
            d = stack.pop()
            if d in found or ended[d]:
                continue
            found.add(d)
            stack.extend(self._dependents.get(d, ()))
        cause = self._steps[failed]
        emit = bool(self.run.listeners)
        for d in sorted(found):
            step = self._steps[d]
            self._end(d, StepOutcome(step, StepStatus.SKIPPED, cause=cause))
            if emit:
                self.run.emit(EventKind.SKIPPED, step, cause=cause)

    def stop(self, *, interrupted: bool, running: bool = False) -> None:
        """Start nothing new; every step not running and not ended is CANCELLED.

        Args:
            interrupted: the stop comes from Ctrl-C or cancellation (sets ``run.interrupted``).
            running: cancel running steps too (for a runner that can no longer report them).
        """
        with self._lock:
            self._stop(interrupted)
            if running:
                for i in sorted(self._active):
                    if not self._ended[i]:
                        self._cancel(i)
                self._active.clear()
            self._changed(0)

    def _stop(self, interrupted: bool) -> None:
        if interrupted:
            self.run.interrupted = True
        if self.stopping:
            return
        self.stopping = True
        ended, active = self._ended, self._active
        for i in range(len(self._steps)):
            if not ended[i] and i not in active:
                self._cancel(i)
        self._ready.clear()
        self._parked.clear()
        self._delayed.clear()
        self.quiet.set()
        self._cond.notify_all()

    def abort(self, error: BaseException) -> None:
        """A fatal error (not a step failure): start nothing new; the executor re-raises it once running steps end."""
        with self._lock:
            if self.fatal is None:
                self.fatal = error
            self.stopping = True
            self.quiet.set()
            self._cond.notify_all()


def perform(run: ApplyRun, scheduler: Scheduler, attempt: Attempt) -> None:
    """Run one attempt of a sync provider call in this thread and report it to ``scheduler``.

    ``KeyboardInterrupt`` during the call stops the apply and cancels the step;
    other ``BaseException``s propagate (the caller aborts).
    """
    step = attempt.step
    if run.listeners:
        run.emit(EventKind.STARTED, step, attempt.number)
    start = time.perf_counter()
    try:
        value = run.call(step, attempt.number, attempt.deadline)
    except Exception as exc:
        scheduler.raised(attempt, exc, time.perf_counter() - start)
    except KeyboardInterrupt:
        scheduler.interrupted(attempt, time.perf_counter() - start)
    else:
        scheduler.succeeded(attempt, value, time.perf_counter() - start)
