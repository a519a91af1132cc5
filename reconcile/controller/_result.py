"""What a reconcile function returns (``Result``) and what it is given (``ReconcileContext``)."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any, Protocol

import attrs

from .errors import ControllerOptionError


class RunState(Protocol):
    """What a context reads from the controller running it (``Controller`` has these)."""

    @property
    def name(self) -> str: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def is_leader(self) -> bool: ...


def _check_requeue_after(_: Any, __: Any, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ControllerOptionError(f"Result: requeue_after must be a finite number of seconds >= 0, got {value!r}")


@attrs.frozen
class Result:
    """How a reconcile ended well, and when to look at the key again.

    ``Result()`` (or returning ``None``) means done: the backoff is forgotten and
    the key comes back at the next resync or add. ``requeue_after=s`` forgets the
    backoff and looks again in ``s`` seconds (a poll for something slow to
    become ready). ``requeue=True`` looks again after the rate limiter's delay,
    without forgetting the backoff (not done yet, no error to report).

    Attributes:
        requeue: look again after the rate limiter's delay.
        requeue_after: look again after this many seconds (wins over ``requeue``).
    """

    requeue: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    requeue_after: float | None = attrs.field(default=None, validator=_check_requeue_after)


class ReconcileContext:
    """What one reconcile knows about itself.

    Attributes:
        key: the key being reconciled.
        controller: the controller's name.
        attempt: 1, or one more than the retries since the key last succeeded.
        epoch: the leader lease's epoch while this reconcile runs (a fencing
            token to hand to the journal), or ``None`` without leader election.
        observed_generation: set it to the generation of the spec this
            reconcile acted on; the conditions record it.
        overrides: what ``set_condition`` recorded (type to status, reason,
            message), or ``None``.
        cancelled: set when the shutdown budget ran out while this reconcile ran.
    """

    __slots__ = (
        "_controller",
        "attempt",
        "cancelled",
        "epoch",
        "key",
        "observed_generation",
        "overrides",
    )

    def __init__(self, controller: RunState, key: Hashable, attempt: int, epoch: int | None) -> None:
        self._controller = controller
        self.key = key
        self.attempt = attempt
        self.epoch = epoch
        self.observed_generation: int | None = None
        self.cancelled = False
        self.overrides: dict[str, tuple[bool, str, str]] | None = None

    @property
    def controller(self) -> str:
        """The controller's name."""
        return self._controller.name

    @property
    def stopping(self) -> bool:
        """Whether the controller is shutting down or lost its lease: finish soon, start nothing long."""
        return self.cancelled or self._controller.stopping or not self._controller.is_leader

    def set_condition(self, type: str, status: bool, reason: str, message: str = "") -> None:
        """Record a condition of this key as this reconcile's outcome, instead of the default for ``type``.

        Raises:
            ControllerOptionError: ``type`` or ``reason`` is not a non-empty string, or ``status`` not a bool.
        """
        if not isinstance(type, str) or not type:
            raise ControllerOptionError(f"set_condition: type must be a non-empty string, got {type!r}")
        if not isinstance(status, bool):
            raise ControllerOptionError(f"set_condition: status must be a bool, got {status!r}")
        if not isinstance(reason, str) or not reason:
            raise ControllerOptionError(f"set_condition: reason must be a non-empty string, got {reason!r}")
        if self.overrides is None:
            self.overrides = {}
        self.overrides[type] = (status, reason, str(message))

    def __repr__(self) -> str:
        return f"<ReconcileContext {self.controller}:{self.key!r} attempt={self.attempt} epoch={self.epoch}>"
