"""Controller events, the listener protocol, and ``Metrics``: counters and timings kept from the events."""

from __future__ import annotations

import enum
import threading
from collections.abc import Hashable
from typing import Any, NamedTuple, Protocol

import attrs


class ControllerEventKind(enum.Enum):
    """What happened.

    Queue: ``ADDED`` (a key entered the queue), ``DEDUPLICATED`` (it was
    already waiting). Reconciles: ``STARTED``, then one of ``SUCCEEDED``,
    ``REQUEUED`` (succeeded and asked to be looked at again, ``delay`` says
    when), ``RETRYING`` (raised; ``delay`` is the backoff), ``TERMINAL``
    (raised ``TerminalError``). ``DRIFT_REPAIRED``: a ``StateController`` found
    the world changed under an unchanged desired state and repaired it.
    ``LAST_APPLIED_ERROR``: a ``StateController`` could not read a key's last
    applied state back from its journal (``error`` says why) and planned without it.
    Lifecycle: ``LEADER_ACQUIRED``, ``LEADER_LOST``, ``LEASE_ERROR``,
    ``SOURCE_ERROR``, ``LISTENER_ERROR``, ``STOPPING``, ``STOPPED``.
    """

    ADDED = "added"
    DEDUPLICATED = "deduplicated"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    REQUEUED = "requeued"
    RETRYING = "retrying"
    TERMINAL = "terminal"
    DRIFT_REPAIRED = "drift_repaired"
    LAST_APPLIED_ERROR = "last_applied_error"
    LEADER_ACQUIRED = "leader_acquired"
    LEADER_LOST = "leader_lost"
    LEASE_ERROR = "lease_error"
    SOURCE_ERROR = "source_error"
    LISTENER_ERROR = "listener_error"
    STOPPING = "stopping"
    STOPPED = "stopped"


class ControllerEvent(NamedTuple):
    """One thing that happened in a controller, delivered to its listeners.

    A named tuple: cheap to build, as a busy controller makes three per
    reconcile when it has listeners.

    Attributes:
        kind: what happened.
        controller: the controller's name.
        key: the key, for queue and reconcile events.
        time: ``clock.wall()`` when it happened.
        attempt: for reconcile events, the attempt number (1 after a success).
        duration: for the end of a reconcile, its seconds.
        delay: for ``REQUEUED`` and ``RETRYING``, seconds until the key is due again.
        error: the exception, for ``RETRYING``, ``TERMINAL`` and the ``*_ERROR`` kinds.
        depth: keys ready in the queue at that moment.
        epoch: for ``LEADER_ACQUIRED``, the lease's epoch.
    """

    kind: ControllerEventKind
    controller: str
    key: Hashable = None
    time: float = 0.0
    attempt: int = 0
    duration: float = 0.0
    delay: float | None = None
    error: BaseException | None = None
    depth: int = 0
    epoch: int | None = None


class ControllerListener(Protocol):
    """Called with every ``ControllerEvent``, from the thread where it happened; must be thread-safe and quick.

    An exception from a listener is reported as a ``LISTENER_ERROR`` event to
    the other listeners and otherwise ignored: a dashboard must not stop a controller.
    """

    def __call__(self, event: ControllerEvent) -> None: ...


@attrs.define
class Timing:
    """Count, total and maximum of a duration, in seconds."""

    count: int = 0
    total: float = 0.0
    max: float = 0.0

    def add(self, seconds: float) -> None:
        """Count one more duration."""
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    @property
    def mean(self) -> float:
        """The average duration (0 with none)."""
        return self.total / self.count if self.count else 0.0


class Metrics:
    """A listener that keeps counters of a controller's events, for tests, logs and dashboards.

    Attributes:
        counts: events seen per kind.
        reconcile: timing of reconciles (every outcome).
        depth: the queue depth last reported.
        leader: whether the controller holds its lease, as last reported.
    """

    def __init__(self) -> None:
        self.counts: dict[ControllerEventKind, int] = dict.fromkeys(ControllerEventKind, 0)
        self.reconcile = Timing()
        self.depth = 0
        self.leader: bool | None = None
        self._lock = threading.Lock()

    def __call__(self, event: ControllerEvent) -> None:
        """Count ``event``."""
        kind = event.kind
        with self._lock:
            self.counts[kind] += 1
            self.depth = event.depth
            if kind in _ENDS:
                self.reconcile.add(event.duration)
            elif kind is ControllerEventKind.LEADER_ACQUIRED:
                self.leader = True
            elif kind is ControllerEventKind.LEADER_LOST:
                self.leader = False

    @property
    def adds(self) -> int:
        """Keys that entered the queue."""
        return self.counts[ControllerEventKind.ADDED]

    @property
    def dedups(self) -> int:
        """Adds that found their key already waiting."""
        return self.counts[ControllerEventKind.DEDUPLICATED]

    @property
    def retries(self) -> int:
        """Reconciles that raised and were retried with backoff."""
        return self.counts[ControllerEventKind.RETRYING]

    @property
    def errors(self) -> int:
        """Reconciles that raised (retried or terminal)."""
        return self.counts[ControllerEventKind.RETRYING] + self.counts[ControllerEventKind.TERMINAL]

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict (kind values, plus reconcile timing, depth and leader)."""
        with self._lock:
            out: dict[str, Any] = {k.value: n for k, n in self.counts.items()}
            out["reconcile_count"] = self.reconcile.count
            out["reconcile_seconds_total"] = self.reconcile.total
            out["reconcile_seconds_max"] = self.reconcile.max
            out["depth"] = self.depth
            out["leader"] = self.leader
            return out

    def __repr__(self) -> str:
        shown = ", ".join(f"{k.value}={n}" for k, n in self.counts.items() if n)
        return f"<Metrics {shown or 'empty'}>"


_ENDS = frozenset(
    {
        ControllerEventKind.SUCCEEDED,
        ControllerEventKind.REQUEUED,
        ControllerEventKind.RETRYING,
        ControllerEventKind.TERMINAL,
    }
)
