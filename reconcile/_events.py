"""Step events during an apply, and the listeners that ship with reconcile: logging and a terminal progress line."""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
from collections import Counter
from typing import Any, Protocol, TextIO

import attrs

from ._plan import Action, Change, Plan, Step
from ._resource import Address


class EventKind(enum.Enum):
    """A step transition.

    ``QUEUED``: every step it runs after has succeeded; it waits for a slot.
    ``STARTED``: the provider is about to be called (once per attempt).
    ``RETRYING``: the attempt raised ``TransientError``; another follows after ``delay``.
    ``SUCCEEDED``, ``FAILED``, ``SKIPPED``, ``CANCELLED``: how the step ended
    (see ``StepStatus``).
    """

    QUEUED = "queued"
    STARTED = "started"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """SUCCEEDED, FAILED, SKIPPED or CANCELLED: the step's last event."""
        return self in _FINAL


_FINAL = frozenset({EventKind.SUCCEEDED, EventKind.FAILED, EventKind.SKIPPED, EventKind.CANCELLED})


@attrs.frozen(repr=False)
class StepEvent:
    """One transition of one step, delivered to every listener of the apply.

    ``str(event)`` and ``repr(event)`` name the step and never show resource
    values, so events are safe to log even for resources with sensitive fields.

    Attributes:
        kind: the transition.
        step: the step (address and op).
        change: the plan's change for the step's address (its ``action`` tells a
            REPLACE's two steps apart from a plain create or delete).
        attempt: the attempt number (1 on the first call); for QUEUED the
            attempt that will start next; for SKIPPED and CANCELLED the attempts made.
        time: when it happened (``time.time()``).
        duration: for RETRYING, SUCCEEDED, FAILED and a CANCELLED running step,
            the seconds the attempt took; otherwise 0.
        error: the exception, for RETRYING and FAILED.
        cause: for SKIPPED, the failed step that caused the skip.
        delay: for RETRYING, the seconds until the next attempt.
        value: for SUCCEEDED, the new actual resource (``None`` after a delete).
    """

    kind: EventKind
    step: Step
    change: Change
    attempt: int = 0
    time: float = attrs.field(factory=time.time)
    duration: float = 0.0
    error: BaseException | None = None
    cause: Step | None = None
    delay: float | None = None
    value: Any = None

    @property
    def address(self) -> Address:
        """The step's address."""
        return self.step[0]

    @property
    def op(self) -> Action:
        """The provider operation: CREATE, UPDATE or DELETE."""
        return self.step[1]

    @property
    def action(self) -> Action:
        """The planned action for the address (REPLACE for both steps of a replacement)."""
        return self.change.action

    def __str__(self) -> str:
        text = f"{self.kind.value} {self.step}"
        if self.action is Action.REPLACE:
            text += " (replace)"
        if self.kind is EventKind.STARTED and self.attempt > 1:
            text += f" (attempt {self.attempt})"
        if self.kind is EventKind.RETRYING:
            text += f" in {self.delay:.3g}s after attempt {self.attempt}"
        if self.kind is EventKind.SKIPPED and self.cause is not None:
            text += f": {self.cause} failed"
        if self.error is not None:
            text += f": {type(self.error).__name__}: {self.error}"
        return text

    def __repr__(self) -> str:
        return f"<StepEvent {self}>"


class Listener(Protocol):
    """Anything called with each ``StepEvent`` of an apply: a function, or an object with ``__call__``.

    Listeners are called synchronously, in the thread or task that makes the
    transition (see ``Executor``), so they must be thread-safe and quick, and
    must not wait for another step to progress. An exception from a listener
    stops the apply and propagates from ``apply``.
    """

    def __call__(self, event: StepEvent, /) -> None:
        """Handle one event."""


_LEVELS = {
    EventKind.QUEUED: logging.DEBUG,
    EventKind.STARTED: logging.INFO,
    EventKind.RETRYING: logging.WARNING,
    EventKind.SUCCEEDED: logging.INFO,
    EventKind.FAILED: logging.ERROR,
    EventKind.SKIPPED: logging.WARNING,
    EventKind.CANCELLED: logging.WARNING,
}


class LoggingListener:
    """A listener that writes each event to a stdlib ``logging`` logger.

    QUEUED is logged at DEBUG, STARTED and SUCCEEDED at INFO, RETRYING, SKIPPED
    and CANCELLED at WARNING, FAILED at ERROR. The message is ``str(event)``
    (addresses, never values); the record's ``reconcile_event`` attribute holds
    the event for handlers that want structured fields.

    Args:
        logger: the logger; ``logging.getLogger("reconcile.apply")`` by default.
        levels: per-kind overrides of the levels above.
    """

    def __init__(self, logger: logging.Logger | None = None, levels: dict[EventKind, int] | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("reconcile.apply")
        self.levels = {**_LEVELS, **(levels or {})}

    def __call__(self, event: StepEvent) -> None:
        level = self.levels[event.kind]
        if self.logger.isEnabledFor(level):
            self.logger.log(level, "%s", event, extra={"reconcile_event": event})


class ProgressDisplay:
    """A listener that keeps one status line on a terminal up to date.

    The line shows, per planned action, the addresses done out of the total (a
    replacement is done when both its steps are), then failures, the steps
    running now and the time elapsed, for example::

        create 12/40  update 3/3  delete 0/2 | failed 1 | running 8: create server/web, ... | 4.2s

    It redraws at most every ``interval`` seconds and writes a final line with a
    newline when the last step ends (or on ``close()``). When ``stream`` is not a
    TTY it does nothing, so it is safe to leave on in CI and in pipes. It is
    thread-safe, and a write error turns it off rather than failing the apply.

    Args:
        plan: the plan being applied (for the totals).
        stream: where to draw; ``sys.stderr`` by default.
        enabled: force on or off; by default on exactly when ``stream.isatty()``.
        interval: the least seconds between two redraws.
        width: the most characters a line may take.
    """

    def __init__(
        self,
        plan: Plan,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        interval: float = 0.1,
        width: int = 100,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.interval = interval
        self.width = width
        self.totals = Counter(c.action.value for c in plan.changes.values())
        self.done: Counter[str] = Counter()
        self._steps_left = Counter(s[0] for s in plan.steps)
        self.failed = 0
        self.running: dict[Step, None] = {}
        self._remaining = len(plan.steps)
        self._start = time.monotonic()
        self._drawn = 0.0
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self, event: StepEvent) -> None:
        if not self.enabled:
            return
        with self._lock:
            kind = event.kind
            if kind is EventKind.STARTED:
                self.running[event.step] = None
            elif kind is EventKind.RETRYING:
                self.running.pop(event.step, None)
            elif kind.is_final:
                self.running.pop(event.step, None)
                self._remaining -= 1
                if kind is EventKind.SUCCEEDED:
                    self._steps_left[event.address] -= 1
                    if not self._steps_left[event.address]:
                        self.done[event.action.value] += 1
                elif kind is EventKind.FAILED:
                    self.failed += 1
            now = time.monotonic()
            if self._remaining <= 0:
                self._finish()
            elif now - self._drawn >= self.interval:
                self._drawn = now
                self._write("\r\x1b[2K" + self.line())

    def line(self) -> str:
        """The status line as it would be drawn now."""
        counts = (f"{a.value} {self.done[a.value]}/{n}" for a in Action if (n := self.totals[a.value]))
        parts = ["  ".join(counts)]
        if self.failed:
            parts.append(f"failed {self.failed}")
        if self.running:
            shown = ", ".join(str(s) for s in list(self.running)[:2])
            more = ", ..." if len(self.running) > 2 else ""
            parts.append(f"running {len(self.running)}: {shown}{more}")
        parts.append(f"{time.monotonic() - self._start:.1f}s")
        text = " | ".join(parts)
        return text if len(text) <= self.width else text[: self.width - 3] + "..."

    def close(self) -> None:
        """Draw the final line and end it with a newline (once)."""
        with self._lock:
            if self.enabled:
                self._finish()

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            self._write("\r\x1b[2K" + self.line() + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed or broken terminal must not fail the apply.
            self.enabled = False
