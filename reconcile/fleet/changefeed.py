"""``ChangeFeed``: a controller source fed by store notifications, deadlines on the fleet clock and a paged resync.

A Kubernetes-style informer for the control plane's controllers: instead of
reading and judging every cell every few seconds, a controller hears which
cells changed (``Backend.subscribe``: ``Tx.notify`` in this process on SQLite,
``LISTEN``/``NOTIFY`` across replicas on PostgreSQL) and queues just those. What
no write announces is covered two ways: a deadline on the fleet's clock (a
grace period ending) is kept in a heap and fires when the clock reaches it,
and a resync walks the whole fleet page by page, pausing between pages, on a
slow period, when the feed starts leading, and when the store says
notifications may have been missed.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from ..controller import Stop

log = logging.getLogger("reconcile.fleet.changefeed")

Page = Callable[[str], tuple[list[str], str | None]]
"""``page(after)``: the keys to look at among those after the cursor ``after`` (``""``: from the start), and the
cursor to go on from (``None``: that was the last page)."""


class ChangeFeed:
    """A ``reconcile.controller`` source: keys from notifications, from deadlines on a clock, and from a paged resync.

    ``notify(payload)`` (the store subscription's callback, from any thread)
    queues the key ``payload``; ``""`` or ``None`` (every key, or notifications
    maybe missed) starts a resync. ``schedule(key, at)`` emits ``key`` once
    ``clock()`` reaches ``at``; the feed sleeps until the earliest such deadline,
    but never longer than ``every`` seconds, so a clock that jumps (the fleet's
    test clock) is seen within ``every``.

    Args:
        name: what the feed is for (logs, threads).
        page: one page of the resync (see ``Page``); it may call ``schedule`` for keys it finds waiting on a deadline.
        clock: the clock deadlines are on (the fleet's: seconds since the epoch).
        subscribe: called once as the feed starts, with the feed's ``notify``; returns the subscription
            (anything with ``close()``), or ``None`` without notifications.
        every: the longest sleep between looks at the deadlines, in seconds.
        resync: seconds between resyncs, or ``None`` for none but the first and those notifications ask for.
        leading: whether the controller leads now; resyncs and deadlines wait while it does not (a standby
            replica's feed does no work), and a resync runs each time it starts leading.
        pause: seconds to sleep between two pages of a resync, so the resync never holds the process or the store.
    """

    def __init__(
        self,
        name: str,
        page: Page,
        *,
        clock: Callable[[], float] = time.time,
        subscribe: Callable[[Callable[[str | None], None]], Any] | None = None,
        every: float = 5.0,
        resync: float | None = 300.0,
        leading: Callable[[], bool] = lambda: True,
        pause: float = 0.02,
    ) -> None:
        self.name = name
        self.page = page
        self.clock = clock
        self.subscribe = subscribe
        self.every = every
        self.resync = resync
        self.leading = leading
        self.pause = pause
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._changed: dict[str, None] = {}
        self._resync_wanted = True
        self._deadlines: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self.resyncs = 0
        """Resyncs finished (tests, metrics)."""
        self.notified = 0
        """Keys emitted because a notification named them."""

    # -- fed from other threads ----------------------------------------------------------------

    def notify(self, payload: str | None) -> None:
        """Queue the key ``payload`` (``""``: every key; ``None``: notifications may have been missed). Thread-safe."""
        with self._lock:
            if payload:
                self._changed[payload] = None
            else:
                self._resync_wanted = True
        self._wake.set()

    def request_resync(self) -> None:
        """Walk every key again soon (as a missed notification does)."""
        self.notify(None)

    def schedule(self, key: str, at: float | None) -> None:
        """Emit ``key`` once the clock reaches ``at`` (replacing its earlier deadline); ``None`` cancels it."""
        with self._lock:
            if at is None:
                self._due.pop(key, None)
                return
            if self._due.get(key) == at:
                return
            self._due[key] = at
            heapq.heappush(self._deadlines, (at, key))
            earliest = self._deadlines[0][0] == at
        if earliest:
            self._wake.set()

    def deadline(self, key: str) -> float | None:
        """When ``key`` is next due, if it is scheduled."""
        with self._lock:
            return self._due.get(key)

    # -- the source ------------------------------------------------------------------------------------

    def run(self, emit: Callable[[Hashable], None], stop: Stop) -> None:
        """Emit keys until ``stop`` is set (the controller runs this in a thread of its own)."""
        subscription = None
        if self.subscribe is not None:
            try:
                subscription = self.subscribe(self.notify)
            except Exception as exc:
                # Without notifications only the deadlines and the resyncs find changes.
                stop.report(exc)
                log.warning("%s: no notifications, resyncs only: %s", self.name, exc)
        try:
            self._loop(emit, stop)
        finally:
            if subscription is not None:
                subscription.close()

    def _loop(self, emit: Callable[[Hashable], None], stop: Stop) -> None:
        was_leading = False
        next_resync = time.monotonic() + (self.resync or 0.0)
        while not stop.is_set():
            self._wake.clear()
            self._emit_changed(emit)
            leading = self.leading()
            if leading:
                if not was_leading:
                    self._resync_wanted = True
                if self.resync is not None and time.monotonic() >= next_resync:
                    self._resync_wanted = True
                if self._resync_wanted:
                    self._resync_wanted = False
                    if self._walk(emit, stop):
                        self.resyncs += 1
                    next_resync = time.monotonic() + (self.resync or 0.0)
                for key in self._take_due(self.clock()):
                    emit(key)
            was_leading = leading
            self._wake.wait(self._sleep(leading, next_resync))

    def _walk(self, emit: Callable[[Hashable], None], stop: Stop) -> bool:
        """One resync, page by page; whether it went to the end (it stops early when the controller does)."""
        after: str | None = ""
        while after is not None:
            if stop.is_set():
                return False
            try:
                keys, after = self.page(after)
            except Exception as exc:
                stop.report(exc)
                self._resync_wanted = True  # try again at the next wake-up
                return False
            for key in keys:
                emit(key)
            self._emit_changed(emit)  # what was notified meanwhile goes first, not after the whole fleet
            if after is not None and self.pause > 0:
                stop.wait(self.pause)
        return True

    def _emit_changed(self, emit: Callable[[Hashable], None]) -> None:
        """Emit the keys notified since the last call, each once."""
        with self._lock:
            changed, self._changed = list(self._changed), {}
        for key in changed:
            emit(key)
        self.notified += len(changed)

    def _take_due(self, now: float) -> list[str]:
        due = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                at, key = heapq.heappop(self._deadlines)
                if self._due.get(key) == at:
                    del self._due[key]
                    due.append(key)
        return due

    def _sleep(self, leading: bool, next_resync: float) -> float:
        """Seconds until the next look: the earliest deadline or resync, at most ``every``."""
        left = self.every
        if leading:
            with self._lock:
                if self._deadlines:
                    left = min(left, self._deadlines[0][0] - self.clock())
            if self.resync is not None:
                left = min(left, next_resync - time.monotonic())
        # The stop signal is looked at between sleeps; a sleep of at most 0.25 s keeps stopping prompt.
        return min(max(left, 0.001), 0.25)

    def __repr__(self) -> str:
        return f"ChangeFeed({self.name!r}, every={self.every}, resync={self.resync})"


__all__ = ["ChangeFeed", "Page"]
