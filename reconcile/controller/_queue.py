"""``WorkQueue``: a thread-safe deduplicating work queue with delayed and rate-limited adds (controller-runtime's)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ._clock import Clock, SystemClock
from ._limiter import RateLimiter, check_number, default_rate_limiter
from .errors import ControllerOptionError

K = TypeVar("K", bound=Hashable)

_INF = float("inf")
_heappush = heapq.heappush


class WorkQueue(Generic[K]):
    """Keys waiting to be processed, each at most once in the queue and never handed out twice at once.

    - ``add`` of a key already waiting does nothing (it is *deduplicated*).
    - ``get`` hands a key out and marks it *processing*; ``done`` ends that. A
      key added while processing is handed out again after ``done``, once.
    - ``add_after`` holds a key back for a delay; of several delays for one
      key the earliest wins. ``add_rate_limited`` asks the rate limiter for the
      delay; ``forget`` resets the key's backoff.
    - ``pause`` stops ``get`` from handing keys out (adds still count);
      ``shutdown`` makes ``get`` return ``None`` and drops later adds.

    Args:
        clock: where time is read and how ``get`` waits; the system clock by default.
        rate_limiter: for ``add_rate_limited``; ``default_rate_limiter(clock)`` by default.

    Attributes:
        added: how many times a key entered the queue (delayed keys count when due).
        deduplicated: how many adds found their key already waiting.
    """

    def __init__(self, *, clock: Clock | None = None, rate_limiter: RateLimiter | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        # The system clock's ``now`` is ``time.monotonic``: call that directly, one Python frame less per read.
        self._now: Callable[[], float] = time.monotonic if type(self.clock) is SystemClock else self.clock.now
        self.rate_limiter: RateLimiter = rate_limiter if rate_limiter is not None else default_rate_limiter(self.clock)
        # ``with self._lock`` (a C-level lock) is cheaper than ``with self._cond``.
        self._lock = lock = threading.Lock()
        self._cond = threading.Condition(lock)
        # Drain waiters (wait_idle, wait_processed) wait on their own condition
        # over the same lock, so finishing a key wakes them only once all is quiet.
        self._quiet = threading.Condition(lock)
        self._drainers = 0
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}
        self._timers: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._idle = 0
        self._paused = False
        self._shut = False
        self._wakers: list[Callable[[], None]] = []
        self._observers: list[Callable[[K, bool], None]] = []
        self.added = 0
        self.deduplicated = 0

    # -- adding -----------------------------------------------------------------

    def _add_locked(self, key: K) -> bool:
        if key in self._dirty:
            self.deduplicated += 1
            return False
        self._dirty.add(key)
        self.added += 1
        if key not in self._processing:
            self._ready.append(key)
            if self._idle:
                self._cond.notify_all()
        return True

    def add(self, key: K) -> bool:
        """Queue ``key`` now; ``False`` if it was already waiting (or the queue is shut down)."""
        # ``acquire``/``release`` rather than ``with``: the cheaper of the two, on the hottest calls.
        lock = self._lock
        lock.acquire()
        try:
            if self._shut:
                return False
            # ``_add_locked`` written out: this is the hottest call of a controller.
            if key in self._dirty:
                self.deduplicated += 1
                queued = False
            else:
                self._dirty.add(key)
                self.added += 1
                queued = True
                if key not in self._processing:
                    self._ready.append(key)
                    if self._idle:
                        self._cond.notify_all()
        finally:
            lock.release()
        if self._wakers:
            for wake in self._wakers:
                wake()
        if self._observers:
            for observe in self._observers:
                observe(key, queued)
        return queued

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed (at once for ``delay <= 0``).

        Raises:
            ControllerOptionError: ``delay`` is not a finite number.
        """
        if delay <= 0:
            self.add(key)
            return
        if not delay < _INF:  # infinity and NaN (and no number: a TypeError above)
            check_number("WorkQueue.add_after", "delay", delay, 0)
        with self._lock:
            if self._shut:
                return
            self._delay_locked(key, self._now() + delay)
        for wake in self._wakers:
            wake()

    def _delay_locked(self, key: K, due: float) -> None:
        current = self._waiting.get(key)
        if current is not None and current <= due:
            return
        self._waiting[key] = due
        entry = (due, next(self._seq), key)
        _heappush(self._timers, entry)
        if self._timers[0] is entry:
            self._earliest_changed_locked()

    def _earliest_changed_locked(self) -> None:
        # A waiter sleeping until a later timer must recompute its deadline.
        if self._idle:
            self._cond.notify_all()
        if self._drainers:
            self._quiet.notify_all()

    def cancel_after(self, key: K) -> bool:
        """Drop ``key``'s pending delayed add, if any; whether there was one."""
        with self._lock:
            # The heap entry stays and is skipped when due (its time no longer matches).
            return self._waiting.pop(key, None) is not None

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after the rate limiter's delay for it; return that delay."""
        delay = self.rate_limiter.when(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff in the rate limiter (after a success, or when giving up)."""
        self.rate_limiter.forget(key)

    def retries(self, key: K) -> int:
        """How many rate-limited adds ``key`` had since it was last forgotten."""
        return self.rate_limiter.retries(key)

    def _promote(self, now: float) -> list[tuple[K, bool]]:
        """Move every delayed key that is due into the queue (lock held); what entered, for the observers."""
        timers = self._timers
        moved: list[tuple[K, bool]] = []
        while timers and timers[0][0] <= now:
            due, _, key = heapq.heappop(timers)
            if self._waiting.get(key) != due:
                continue  # superseded by an earlier delay for the same key
            del self._waiting[key]
            moved.append((key, self._add_locked(key)))
        return moved

    # -- taking -----------------------------------------------------------------

    def get(self, done: K | None = None, again_after: float | None = None) -> K | None:
        """Block until a key is due (and the queue not paused); mark it processing and return it.

        Returns ``None`` once the queue is shut down.

        Args:
            done: a key this worker finished, marked done first (``done(key)``
                and ``get()`` in one step, as a worker loop does).
            again_after: with ``done``, also ``add_after(done, again_after)``
                (a positive finite delay) in the same step.
        """
        moved: list[tuple[K, bool]] | None = None
        timers = self._timers
        ready = self._ready
        dirty = self._dirty
        processing = self._processing
        lock = self._lock
        lock.acquire()
        try:
            now = None
            if done is not None:
                shut = self._shut
                if again_after is not None and not shut:
                    # ``_delay_locked`` written out: a worker schedules its key's resync here on every success.
                    now = self._now()
                    due = now + again_after
                    waiting = self._waiting
                    current = waiting.get(done)
                    if current is None or current > due:
                        waiting[done] = due
                        entry = (due, next(self._seq), done)
                        _heappush(timers, entry)
                        if timers[0] is entry:
                            self._earliest_changed_locked()
                # ``_done_locked`` written out.
                processing.discard(done)
                if done in dirty and not shut:
                    ready.append(done)
                    if self._idle:
                        self._cond.notify_all()
                if self._drainers and not processing and (not ready or self._paused or shut):
                    self._quiet.notify_all()
            while True:
                if self._shut:
                    key = None
                    break
                delay = None
                if not self._paused:
                    if timers:
                        if now is None:
                            now = self._now()
                        # Most gets find no timer due: look at the earliest before calling out.
                        if timers[0][0] <= now:
                            moved = self._promote(now) if moved is None else moved + self._promote(now)
                    if ready:
                        key = ready.popleft()
                        processing.add(key)
                        dirty.discard(key)
                        break
                    if timers:
                        delay = timers[0][0] - now  # type: ignore[operator]  # set above whenever timers is
                self._idle += 1
                try:
                    self.clock.wait(self._cond, delay)
                finally:
                    self._idle -= 1
                now = None
        finally:
            lock.release()
        if moved:
            self._tell(moved)
        return key

    def take(self, done: K | None = None, again_after: float | None = None) -> tuple[K | None, float | None]:
        """Without blocking: ``(key, None)`` for a due key (now processing), else ``(None, seconds until one is due)``.

        The delay is ``None`` when nothing is scheduled, the queue is paused or
        it is shut down. ``done`` and ``again_after`` are as for ``get``.
        """
        moved: list[tuple[K, bool]] = []
        key: K | None = None
        delay: float | None = None
        with self._lock:
            if done is not None:
                if again_after is not None and not self._shut:
                    self._delay_locked(done, self._now() + again_after)
                self._done_locked(done)
            if not self._shut and not self._paused:
                if self._timers:
                    now = self._now()
                    if self._timers[0][0] <= now:
                        moved = self._promote(now)
                    if self._timers:
                        delay = self._timers[0][0] - now
                if self._ready:
                    key = self._ready.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    delay = None
        if moved:
            self._tell(moved)
        return key, delay

    def _tell(self, moved: list[tuple[K, bool]]) -> None:
        for wake in self._wakers:
            wake()
        for observe in self._observers:
            for key, queued in moved:
                observe(key, queued)

    def done(self, key: K) -> None:
        """``key`` is processed; if it was added meanwhile, queue it again."""
        with self._lock:
            requeued = self._done_locked(key)
        if requeued:
            for wake in self._wakers:
                wake()

    def _done_locked(self, key: K) -> bool:
        self._processing.discard(key)
        requeued = False
        if key in self._dirty and not self._shut:
            self._ready.append(key)
            if self._idle:
                self._cond.notify_all()
            requeued = True
        if self._drainers and not self._processing and (not self._ready or self._paused or self._shut):
            self._quiet.notify_all()
        return requeued

    # -- lifecycle --------------------------------------------------------------

    def pause(self) -> None:
        """Stop handing keys out until ``resume`` (keys still queue up)."""
        with self._lock:
            self._paused = True
            self._quiet.notify_all()

    def resume(self) -> None:
        """Hand keys out again after ``pause``."""
        with self._lock:
            self._paused = False
            self._cond.notify_all()
            self._quiet.notify_all()
        for wake in self._wakers:
            wake()

    def shutdown(self) -> None:
        """Hand out nothing more: ``get`` returns ``None``, adds are dropped. Keys being processed may finish."""
        with self._lock:
            self._shut = True
            self._cond.notify_all()
            self._quiet.notify_all()
        for wake in self._wakers:
            wake()

    def wait_processed(self, timeout: float | None) -> bool:
        """Block until no key is processing, or ``timeout`` clock seconds pass; whether none is."""
        with self._quiet:
            deadline = None if timeout is None else self.clock.now() + timeout
            while self._processing:
                left = None if deadline is None else deadline - self.clock.now()
                if left is not None and left <= 0:
                    return False
                self._drainers += 1
                try:
                    self.clock.wait(self._quiet, left)
                finally:
                    self._drainers -= 1
            return True

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until nothing is ready or processing (delayed keys aside), or ``timeout`` real seconds pass.

        The timeout is in real seconds even on a fake clock, so a test cannot
        hang on it. Ready keys of a paused queue do not count.
        """
        moved: list[tuple[K, bool]] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self._quiet:
                while True:
                    if self._timers and not self._paused:
                        moved += self._promote(self.clock.now())
                    if not self._processing and not (self._ready and not self._paused and not self._shut):
                        return True
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    # Wake at least when the next timer is due, so due keys count as ready.
                    nxt = self._timers[0][0] - self.clock.now() if self._timers else None
                    wait = nxt if left is None else (left if nxt is None else min(nxt, left))
                    self._drainers += 1
                    try:
                        self.clock.wait(self._quiet, wait)
                    finally:
                        self._drainers -= 1
        finally:
            if moved:
                self._tell(moved)

    # -- hooks and introspection ------------------------------------------------

    def on_wake(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (no lock held) whenever a key may have become available or the queue changed state."""
        self._wakers.append(wake)

    def on_add(self, observe: Callable[[K, bool], None]) -> None:
        """Call ``observe(key, queued)`` after every add (``queued`` is ``False`` for a deduplicated one)."""
        self._observers.append(observe)

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown`` was called."""
        return self._shut

    @property
    def paused(self) -> bool:
        """Whether the queue is paused."""
        return self._paused

    def __len__(self) -> int:
        """How many keys are ready to be handed out."""
        return len(self._ready)

    def waiting(self) -> int:
        """How many keys are held back by a delay."""
        return len(self._waiting)

    def processing(self) -> frozenset[K]:
        """The keys handed out and not yet done."""
        with self._lock:
            return frozenset(self._processing)

    def is_queued(self, key: K) -> bool:
        """Whether ``key`` waits to be handed out (not processing, not merely delayed)."""
        with self._lock:
            return key in self._dirty

    def __repr__(self) -> str:
        return (
            f"<WorkQueue ready={len(self._ready)} processing={len(self._processing)} "
            f"delayed={len(self._waiting)}{' paused' if self._paused else ''}{' shut down' if self._shut else ''}>"
        )


def check_workers(owner: str, workers: object) -> int:
    """``workers`` if it is an int >= 1, else ``ControllerOptionError``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ControllerOptionError(f"{owner}: workers must be an int >= 1, got {workers!r}")
    return workers
