"""The errors the storage room raises: bad URLs, unreadable or too-new stores, held or lost leases."""

from __future__ import annotations

import datetime

from ..errors import ReconcileError


class StorageError(ReconcileError):
    """A store cannot be opened, read or written."""


class StorageURLError(StorageError, ValueError):
    """A store URL has an unknown scheme or is malformed (the message names it, without any password)."""


class CorruptStoreError(StorageError):
    """A store's file or records are corrupted or truncated; nothing was changed."""


class SchemaVersionError(StorageError):
    """A store's schema is newer than this version of reconcile knows, so it is neither read nor written.

    Attributes:
        component: the schema component (``"storage"``, ``"journal"``, ...).
        found: the version the store is at.
        known: the newest version this reconcile knows.
    """

    def __init__(self, component: str, found: int, known: int) -> None:
        self.component = component
        self.found = found
        self.known = known
        super().__init__(
            f"the store's {component!r} schema is at version {found}, newer than the {known} this reconcile knows: "
            "upgrade reconcile; nothing was read or written"
        )


class LeaseError(StorageError):
    """A lease operation failed."""


class LeaseOptionError(LeaseError, ValueError):
    """A lease name, owner, ttl or wait is invalid (the message names it)."""


class LeaseHeldError(LeaseError):
    """Another owner holds the lease.

    Attributes:
        name: the lease name.
        owner: who holds it.
        lease_id: the holder's lease id (what ``force_unlock`` takes).
        since: when the holder acquired it (a ``time.time()`` timestamp).
        expires: when it expires unless renewed.
    """

    def __init__(self, name: str, owner: str, lease_id: str, since: float, expires: float, now: float) -> None:
        self.name = name
        self.owner = owner
        self.lease_id = lease_id
        self.since = since
        self.expires = expires
        super().__init__(
            f"lease {name!r} is held by {owner!r} (lease id {lease_id}) since {stamp(since)}, "
            f"expiring at {stamp(expires)} (in {max(0.0, expires - now):.1f}s) unless renewed"
        )


class FencedError(LeaseError):
    """A write under a lease was refused: a newer epoch exists, or the lease was released, unlocked or expired.

    Nothing of the refused write was stored.

    Attributes:
        name: the lease name.
        epoch: the epoch the refused write carried.
        reason: why it was refused.
    """

    def __init__(self, name: str, epoch: int, reason: str) -> None:
        self.name = name
        self.epoch = epoch
        self.reason = reason
        super().__init__(f"write under lease {name!r} epoch {epoch} refused: {reason}")


class LeaseNotFoundError(LeaseError, LookupError):
    """``force_unlock`` was given a lease name and id that do not match the current holder."""


def stamp(t: float) -> str:
    """A ``time.time()`` timestamp as UTC ISO 8601 with milliseconds, for messages."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
