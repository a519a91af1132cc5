"""``FleetHistory``: a small ring buffer of the fleet's check-in rate and release adoption over time, for the dashboard.

The control plane feeds it every accepted status report (``check_in``); time
is cut into buckets of ``interval`` seconds on the control plane's clock, and
each closed bucket becomes one ``HistorySample``. Only the newest ``capacity``
samples are kept, in memory: the history starts when the process does.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .errors import InvalidInputError

DEFAULT_INTERVAL = 10.0
"""Seconds per history sample."""

DEFAULT_CAPACITY = 120
"""How many samples are kept (with the default interval: the last 20 minutes)."""


@attrs.frozen
class HistorySample:
    """One bucket of the fleet's history.

    Attributes:
        at: when the bucket ended (seconds since the epoch, the control plane's clock).
        check_ins: status reports received during the bucket.
        interval: the bucket's length in seconds.
        releases: how many cells ran each release at the bucket's end (by their latest report;
            ``""`` counts the cells that run none yet).
    """

    at: float
    check_ins: int
    interval: float
    releases: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def rate(self) -> float:
        """Check-ins per minute during the bucket."""
        return self.check_ins * 60.0 / self.interval

    def to_json(self) -> dict[str, Any]:
        """This sample as plain JSON values."""
        return {"at": self.at, "check_ins": self.check_ins, "rate": self.rate, "releases": dict(self.releases)}


class FleetHistory:
    """The check-in rate and release adoption of the fleet, one sample per ``interval`` seconds.

    Thread-safe: the server's worker threads report while the dashboard reads.

    Args:
        clock: seconds since the epoch (the control plane's clock).
        interval: seconds per sample.
        capacity: how many samples are kept; older ones are dropped.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        interval: float = DEFAULT_INTERVAL,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if not interval > 0:
            raise InvalidInputError(f"history interval: expected seconds above 0, got {interval!r}")
        if capacity < 2:
            raise InvalidInputError(f"history capacity: expected at least 2 samples, got {capacity!r}")
        self.clock = clock
        self.interval = float(interval)
        self.capacity = capacity
        self._samples: collections.deque[HistorySample] = collections.deque(maxlen=capacity)
        self._releases: dict[str, str] = {}
        self._bucket_end: float | None = None
        self._count = 0
        self._lock = threading.Lock()

    def seed(self, releases: Iterable[tuple[str, str | None]]) -> None:
        """Learn what cells run before they next report (``(cell id, release or None)``); reported ones win."""
        with self._lock:
            for cell_id, release in releases:
                self._releases.setdefault(cell_id, release or "")

    def forget(self, cell_id: str) -> None:
        """Stop counting a deleted cell."""
        with self._lock:
            self._releases.pop(cell_id, None)

    def check_in(self, cell_id: str, release: str | None) -> None:
        """Count one status report of ``cell_id``, which now runs ``release``."""
        with self._lock:
            self._roll(self.clock())
            self._count += 1
            self._releases[cell_id] = release or ""

    def samples(self) -> list[HistorySample]:
        """The closed samples, oldest first (buckets that ended without a check-in included)."""
        with self._lock:
            self._roll(self.clock())
            return list(self._samples)

    def current(self) -> HistorySample:
        """The bucket still open, as a sample ending now."""
        with self._lock:
            now = self.clock()
            self._roll(now)
            return HistorySample(now, self._count, self.interval, self._adoption())

    def _adoption(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for release in self._releases.values():
            counts[release] = counts.get(release, 0) + 1
        return dict(sorted(counts.items()))

    def _roll(self, now: float) -> None:
        if self._bucket_end is None:
            self._bucket_end = now + self.interval
            return
        if now < self._bucket_end:
            return
        adoption = self._adoption()
        self._samples.append(HistorySample(self._bucket_end, self._count, self.interval, adoption))
        self._count = 0
        # A jump of the clock (a quiet night, a test's days) leaves empty buckets: at most a full buffer of them.
        missed = int((now - self._bucket_end) // self.interval)
        for i in range(min(missed, self.capacity)):
            end = self._bucket_end + (missed - min(missed, self.capacity) + i + 1) * self.interval
            self._samples.append(HistorySample(end, 0, self.interval, adoption))
        self._bucket_end += (missed + 1) * self.interval


__all__ = ["DEFAULT_CAPACITY", "DEFAULT_INTERVAL", "FleetHistory", "HistorySample"]
