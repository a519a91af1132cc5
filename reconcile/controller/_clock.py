"""Clocks: the system clock controllers use by default and ``FakeClock``, which tests move by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
import weakref
from typing import Protocol, runtime_checkable

from .errors import ControllerOptionError

# A fake-clock waiter re-checks at least this often in real seconds; it only
# matters for the one race a condition variable cannot close (a wait that begins
# while ``advance`` is notifying), so tests stay deterministic in practice.
_FAKE_POLL = 0.05


@runtime_checkable
class Clock(Protocol):
    """Where a controller reads time and how it waits.

    ``now`` is monotonic seconds (delays, backoff, durations); ``wall`` is
    ``time.time()`` seconds (condition transition times, event times).
    """

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch."""
        ...

    def wait(self, cond: threading.Condition, delay: float | None) -> None:
        """Block on ``cond`` (held by the caller) until notified or ``delay`` clock seconds pass (``None``: forever)."""
        ...

    async def sleep(self, delay: float) -> None:
        """Sleep ``delay`` clock seconds in the running event loop."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time``, ``Condition.wait`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def wall(self) -> float:
        """``time.time()``."""
        return time.time()

    def wait(self, cond: threading.Condition, delay: float | None) -> None:
        """``cond.wait(delay)``."""
        cond.wait(None if delay is None else max(delay, 0.0))

    async def sleep(self, delay: float) -> None:
        """``asyncio.sleep(delay)``."""
        await asyncio.sleep(max(delay, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that moves only when told to, for tests: days of backoff and resync run in milliseconds.

    Threads blocked in ``wait`` and tasks in ``sleep`` wake when ``advance`` or
    ``set`` moves time past their deadline. Thread-safe.

    Args:
        start: the initial ``now()`` value.
        wall_offset: ``wall()`` is ``now() + wall_offset``.
    """

    def __init__(self, start: float = 0.0, *, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_offset)
        self._lock = threading.Lock()
        self._conds: weakref.WeakSet[threading.Condition] = weakref.WeakSet()
        self._sleepers: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """The fake monotonic time."""
        return self._now

    def wall(self) -> float:
        """The fake epoch time."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake whoever waits for a time now past.

        Raises:
            ControllerOptionError: ``seconds`` is negative.
        """
        if not seconds >= 0:
            raise ControllerOptionError(f"FakeClock.advance: seconds must be >= 0, got {seconds!r}")
        self.set(self._now + seconds)

    def set(self, now: float) -> None:
        """Move time to ``now`` (never backwards) and wake whoever waits for a time now past.

        Raises:
            ControllerOptionError: ``now`` is before the current time.
        """
        with self._lock:
            if now < self._now:
                raise ControllerOptionError(f"FakeClock.set: time cannot go back from {self._now} to {now}")
            self._now = float(now)
            due = []
            while self._sleepers and self._sleepers[0][0] <= now:
                due.append(heapq.heappop(self._sleepers))
            conds = list(self._conds)
        for _, _, loop, fut in due:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, fut)
        for cond in conds:
            with cond:
                cond.notify_all()

    def wait(self, cond: threading.Condition, delay: float | None) -> None:
        """Block on ``cond`` until notified, or until ``advance`` moves past ``delay``."""
        with self._lock:
            self._conds.add(cond)
        cond.wait(None if delay is None else _FAKE_POLL)

    async def sleep(self, delay: float) -> None:
        """Wait until ``advance`` moves ``delay`` seconds past now (returns at once for ``delay <= 0``)."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            heapq.heappush(self._sleepers, (self._now + delay, next(self._seq), loop, fut))
        await fut

    def sleepers(self) -> int:
        """How many tasks are asleep in ``sleep``."""
        with self._lock:
            return sum(1 for *_, fut in self._sleepers if not fut.done())

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
