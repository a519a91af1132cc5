"""Listeners shipped with reconcile: a logging listener and a terminal progress line."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from typing import TextIO

from .._plan import Action, Plan, Step
from .events import EventKind, StepEvent

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
