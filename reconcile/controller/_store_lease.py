"""``StoreLease``: leader election over a durable ``reconcile.storage`` lease (SQLite or PostgreSQL, as the journal)."""

from __future__ import annotations

from typing import Any

from .. import storage
from ._limiter import check_number
from .errors import ControllerOptionError


class StoreLease:
    """The ``Lease`` protocol over a lease in a journal's store, shared by processes and machines.

    Each acquisition is a new holding of ``reconcile.storage``'s lease table,
    with an epoch one more than the last holder's; the controller renews it
    (no background thread of the store's own). ``held`` is that holding: pass it
    as ``lease=`` to ``reconcile.apply`` with the journal, so every journal write
    of an apply is refused once a newer holder exists. ``StateController`` does
    this when it is given ``journal=`` and a ``StoreLease``.

    Args:
        store: a ``reconcile.journal.Journal`` or a ``reconcile.storage.Backend``.
        name: the lease's name (one leader per name).
        owner: who claims it (shown to the others; a host name and pid, say).
        ttl: seconds a claim lasts without a renewal.

    Raises:
        ControllerOptionError: ``store`` is neither, or a bad name, owner or ttl.
    """

    def __init__(self, store: Any, name: str, *, owner: str, ttl: float = 15.0) -> None:
        backend = getattr(store, "backend", store)
        if not isinstance(backend, storage.Backend):
            raise ControllerOptionError(
                f"StoreLease: store must be a reconcile.journal.Journal or a reconcile.storage.Backend, got {store!r}"
            )
        if not isinstance(name, str) or not name:
            raise ControllerOptionError(f"StoreLease: name must be a non-empty string, got {name!r}")
        if not isinstance(owner, str) or not owner:
            raise ControllerOptionError(f"StoreLease: owner must be a non-empty string, got {owner!r}")
        self.ttl = check_number("StoreLease", "ttl", ttl, 0, strict=True)
        self.backend = backend
        self.name = name
        self.owner = owner
        self.held: storage.Lease | None = None

    @classmethod
    def from_held(cls, held: storage.Lease) -> StoreLease:
        """A ``StoreLease`` that starts out holding ``held`` (what ``journal.lease(...)`` returned).

        Once lost, it is acquired again like any ``StoreLease``: same store, name, owner and ttl.
        """
        lease = cls(held.backend, held.name, owner=held.owner, ttl=held.ttl)
        lease.held = held
        return lease

    def acquire(self) -> bool:
        """Take the lease if it is free or expired (a new holding, a new epoch), or keep this holding."""
        if self.held is not None and self.held.held:
            return self.renew()
        try:
            self.held = storage.acquire(self.backend, self.name, self.owner, self.ttl, renew=False)
        except storage.LeaseHeldError:
            self.held = None
            return False
        return True

    def renew(self) -> bool:
        """Extend this holding; ``False`` once another holder took over (or it was unlocked)."""
        if self.held is None:
            return False
        try:
            self.held.renew()
        except storage.FencedError:
            self.held = None
            return False
        return True

    def release(self) -> None:
        """Give the lease up now (a successor need not wait for the expiry)."""
        held, self.held = self.held, None
        if held is not None:
            held.release()

    @property
    def epoch(self) -> int | None:
        """This holding's epoch, or ``None`` when not held."""
        held = self.held
        return None if held is None else held.epoch

    def __repr__(self) -> str:
        return f"<StoreLease {self.name!r} owner={self.owner!r} epoch={self.epoch}>"
