"""Step events: what happens to each step during an apply, delivered to listeners."""

from __future__ import annotations

import enum
import time
from typing import Any, Protocol

import attrs

from .._model import Address, show_error
from .._plan import Action, Change, Step


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
    values, so events are safe to log even for resources with sensitive fields:
    the address reads as ``show_address`` shows it (sensitive identity values
    redacted, escaped), and an error's message is escaped and bounded to one line.

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
        """The provider operation: CREATE, UPDATE, DELETE or ADOPT."""
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
            text += f": {show_error(self.error)}"
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
