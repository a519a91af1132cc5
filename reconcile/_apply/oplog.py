"""The operation-log hook: how an apply tells a durable log (such as ``reconcile.journal``) about provider calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .._plan import Plan, Step


@runtime_checkable
class StepLog(Protocol):
    """The log of one apply; ``ApplyRun`` calls it around every provider call.

    ``intent`` runs before the call and must be durable when it returns (its
    exception fails the attempt before the provider is called); ``outcome`` or
    ``failure`` runs after it; ``finish`` once the apply ended. The methods are
    called from the threads that run steps, so they must be thread-safe.
    """

    def intent(self, step: Step, attempt: int) -> str:
        """Record that attempt ``attempt`` of ``step`` is about to call the provider; return its idempotency key."""
        ...

    def outcome(self, step: Step, attempt: int, value: Any) -> None:
        """Record that the attempt returned ``value`` (``None`` for a delete)."""
        ...

    def failure(self, step: Step, attempt: int, error: BaseException) -> None:
        """Record that the attempt raised ``error``."""
        ...

    def finish(self, result: Any) -> None:
        """Record how the apply ended: ``result`` is the ``ApplyResult`` (``None`` when the apply raised).

        Outcomes the log missed (calls run in another process) are in it.
        """
        ...


@runtime_checkable
class OperationLog(Protocol):
    """What ``apply(..., journal=)`` takes: a factory of one ``StepLog`` per apply."""

    def begin(self, plan: Plan, providers: Mapping[str, Any], *, lease: Any = None) -> StepLog:
        """Start logging an apply of ``plan``, under ``lease`` if given; may refuse (nothing then runs)."""
        ...
