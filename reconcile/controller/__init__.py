"""Controllers: level-triggered reconcile loops over a deduplicating work queue, with backoff, resync, leases.

Layer 6: this room imports the engine only through ``reconcile``'s facade and
``reconcile.errors``; nothing below imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._clock import Clock, FakeClock, SystemClock
from ._conditions import DEGRADED, PROGRESSING, READY, Condition
from ._controller import Controller
from ._events import ControllerEvent, ControllerEventKind, ControllerListener, Metrics, Timing
from ._lease import Lease, LocalLease, LocalLeases
from ._limiter import ExponentialBackoff, MaxOf, RateLimiter, TokenBucket, default_rate_limiter
from ._queue import WorkQueue
from ._result import ReconcileContext, Result
from ._sources import AsyncSource, Poll, Source, Stop, from_iterable, poll
from ._state_controller import Desired, StateController
from ._store_lease import StoreLease
from .errors import (
    ApplyFailedError,
    ControllerError,
    ControllerOptionError,
    ControllerStateError,
    LeaseError,
    TerminalError,
)

if TYPE_CHECKING:
    from ._prometheus import PrometheusListener

# Names that need an optional dependency, and the private module each lives in.
_LAZY = {"PrometheusListener": "._prometheus"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEGRADED",
    "PROGRESSING",
    "READY",
    "ApplyFailedError",
    "AsyncSource",
    "Clock",
    "Condition",
    "Controller",
    "ControllerError",
    "ControllerEvent",
    "ControllerEventKind",
    "ControllerListener",
    "ControllerOptionError",
    "ControllerStateError",
    "Desired",
    "ExponentialBackoff",
    "FakeClock",
    "Lease",
    "LeaseError",
    "LocalLease",
    "LocalLeases",
    "MaxOf",
    "Metrics",
    "Poll",
    "PrometheusListener",
    "RateLimiter",
    "ReconcileContext",
    "Result",
    "Source",
    "StateController",
    "Stop",
    "StoreLease",
    "SystemClock",
    "TerminalError",
    "Timing",
    "TokenBucket",
    "WorkQueue",
    "default_rate_limiter",
    "from_iterable",
    "poll",
]
