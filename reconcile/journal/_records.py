"""What the journal gives back: apply and step records, and the recovery report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .. import Action, Address


@attrs.frozen
class ApplyRecord:
    """One apply, as the journal recorded it.

    Attributes:
        id: the apply id.
        lease: the lease name it ran under, or ``None``.
        epoch: the lease epoch it ran under, or ``None``.
        owner: the lease owner, or ``None``.
        started: when it started (``time.time()`` timestamp).
        finished: when it ended, or ``None`` if it never ended (the applier died).
        status: ``"running"`` (or died), ``"succeeded"``, ``"failed"``, ``"interrupted"`` or ``"aborted"``.
        steps: how many steps its plan had.
        summary: step counts by status (``{"succeeded": 10, "failed": 1}``), once it ended.
    """

    id: str
    lease: str | None
    epoch: int | None
    owner: str | None
    started: float
    finished: float | None
    status: str
    steps: int
    summary: Mapping[str, int]


@attrs.frozen
class StepRecord:
    """One provider call: its intent and, once known, its outcome.

    Attributes:
        apply_id: the apply it belongs to.
        seq: its position among the apply's records.
        address: the address acted on.
        op: CREATE, UPDATE, DELETE or ADOPT.
        attempt: 1 for the first try of the step.
        idempotency_key: the key the provider saw as ``ctx.idempotency_key``.
        status: ``"pending"`` (no outcome yet), ``"succeeded"``, ``"failed"``, ``"not_started"``
            (written ahead, never called), or a recovery's ``"adopted"``, ``"not_done"``, ``"done"``, ``"reread"``.
        started: when the intent was written.
        finished: when the outcome was written, or ``None``.
        desired: the desired value as stored (JSON data; ``None`` for a delete).
        actual: the actual value returned or found, as stored (JSON data), or ``None``.
        error: the error, as ``"Type: message"``, for a failed call.
        epoch: the lease epoch the intent was written under, or ``None``.
    """

    apply_id: str
    seq: int
    address: Address
    op: Action
    attempt: int
    idempotency_key: str
    status: str
    started: float
    finished: float | None
    # The stored data holds sensitive values in the clear, so it is kept out of repr.
    desired: Any = attrs.field(repr=False)
    actual: Any = attrs.field(repr=False)
    error: str | None
    epoch: int | None


@attrs.frozen
class RecoveredStep:
    """A pending intent, and what recovery found at its address.

    Attributes:
        apply_id: the dead apply.
        seq: the intent's record.
        address: the address.
        op: the op that was pending.
        idempotency_key: its idempotency key (reused by the next create of a create not found).
        resolution: ``"adopted"`` (a create found: its actual recorded), ``"not_done"`` (a create not
            found, or a delete still found), ``"done"`` (a delete not found), ``"reread"`` (an update:
            the value read recorded), or ``"unresolved"`` (see ``error``).
        found: the resource read at the address, or ``None``.
        error: why it could not be resolved, for ``"unresolved"``.
    """

    apply_id: str
    seq: int
    address: Address
    op: Action
    idempotency_key: str
    resolution: str
    found: Any = None
    error: str | None = None


@attrs.frozen
class RecoveryReport:
    """What ``Journal.recover`` found: every intent that had no outcome, and how it was resolved.

    Attributes:
        steps: one entry per pending intent, in the order they were written.
    """

    steps: tuple[RecoveredStep, ...] = ()

    def _with(self, resolution: str) -> tuple[RecoveredStep, ...]:
        return tuple(s for s in self.steps if s.resolution == resolution)

    @property
    def adopted(self) -> tuple[RecoveredStep, ...]:
        """Pending creates whose object was found: now recorded as created."""
        return self._with("adopted")

    @property
    def not_done(self) -> tuple[RecoveredStep, ...]:
        """Pending creates not found and pending deletes still found: the world is as before them."""
        return self._with("not_done")

    @property
    def done(self) -> tuple[RecoveredStep, ...]:
        """Pending deletes whose object is gone."""
        return self._with("done")

    @property
    def reread(self) -> tuple[RecoveredStep, ...]:
        """Pending updates, whose address was read again."""
        return self._with("reread")

    @property
    def unresolved(self) -> tuple[RecoveredStep, ...]:
        """Pending intents that could not be resolved (they stay pending)."""
        return self._with("unresolved")

    def __len__(self) -> int:
        return len(self.steps)

    def __str__(self) -> str:
        if not self.steps:
            return "Recovery: nothing was pending."
        parts = [
            f"{len(getattr(self, n))} {n.replace('_', ' ')}"
            for n in ("adopted", "not_done", "done", "reread", "unresolved")
            if getattr(self, n)
        ]
        return f"Recovery: {len(self.steps)} pending intent(s): " + ", ".join(parts) + "."
