"""Leader election's contract (``Lease``) and ``LocalLeases``, an in-process lease table (tests, one-process apps)."""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import attrs

from ._clock import Clock, SystemClock
from ._limiter import check_number
from .errors import ControllerOptionError


@runtime_checkable
class Lease(Protocol):
    """A named, expiring claim held by one owner at a time, with an epoch that grows with every new holder.

    The epoch is a fencing token: a holder hands it to every durable write, and
    the store refuses writes carrying an older epoch than the newest one, so a
    holder that was paused past its expiry cannot write once another took over.

    Attributes:
        name: the lease's name (one per controller, usually).
        owner: who this handle claims for.
        ttl: seconds a claim lasts without a renewal.
    """

    name: str
    owner: str
    ttl: float

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, or keep it if this owner holds it; whether it is held now."""
        ...

    def renew(self) -> bool:
        """Extend this owner's claim by ``ttl``; ``False`` if it was lost (expired, or taken by another)."""
        ...

    def release(self) -> None:
        """Give the lease up now, if this owner holds it."""
        ...

    @property
    def epoch(self) -> int | None:
        """The epoch of this owner's current claim, or ``None`` when it does not hold the lease."""
        ...


@attrs.define
class _Claim:
    owner: str | None = None
    expires: float = 0.0
    epoch: int = 0


class LocalLeases:
    """A table of leases in this process's memory, on an injectable clock.

    Every lease handle made from one table sees the others' claims, so two
    controllers in one process (or one test) can compete for leadership.

    Args:
        clock: where expiry is read; the system clock by default.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._claims: dict[str, _Claim] = {}
        self._lock = threading.Lock()

    def lease(self, name: str, *, owner: str, ttl: float = 15.0) -> LocalLease:
        """A handle on lease ``name`` for ``owner``.

        Raises:
            ControllerOptionError: an empty name or owner, or ``ttl`` not > 0.
        """
        return LocalLease(self, name, owner, ttl)

    def holder(self, name: str) -> tuple[str | None, int]:
        """The current owner of ``name`` (``None`` if free or expired) and its latest epoch."""
        with self._lock:
            claim = self._claims.get(name)
            if claim is None:
                return None, 0
            live = claim.owner is not None and claim.expires > self.clock.now()
            return (claim.owner if live else None), claim.epoch

    def _acquire(self, name: str, owner: str, ttl: float) -> int | None:
        with self._lock:
            now = self.clock.now()
            claim = self._claims.setdefault(name, _Claim())
            if claim.owner == owner and claim.expires > now:
                claim.expires = now + ttl
                return claim.epoch
            if claim.owner is None or claim.expires <= now:
                claim.owner, claim.expires, claim.epoch = owner, now + ttl, claim.epoch + 1
                return claim.epoch
            return None

    def _renew(self, name: str, owner: str, ttl: float, epoch: int | None) -> bool:
        with self._lock:
            now = self.clock.now()
            claim = self._claims.get(name)
            if claim is None or claim.owner != owner or claim.epoch != epoch or claim.expires <= now:
                return False
            claim.expires = now + ttl
            return True

    def _release(self, name: str, owner: str, epoch: int | None) -> None:
        with self._lock:
            claim = self._claims.get(name)
            if claim is not None and claim.owner == owner and claim.epoch == epoch:
                claim.owner, claim.expires = None, 0.0


class LocalLease:
    """One owner's handle on a lease of a ``LocalLeases`` table (see ``Lease`` for the contract)."""

    def __init__(self, table: LocalLeases, name: str, owner: str, ttl: float) -> None:
        if not isinstance(name, str) or not name:
            raise ControllerOptionError(f"LocalLeases.lease: name must be a non-empty string, got {name!r}")
        if not isinstance(owner, str) or not owner:
            raise ControllerOptionError(f"LocalLeases.lease: owner must be a non-empty string, got {owner!r}")
        self.ttl = check_number("LocalLeases.lease", "ttl", ttl, 0, strict=True)
        self.name = name
        self.owner = owner
        self._table = table
        self._epoch: int | None = None

    def acquire(self) -> bool:
        """Take or keep the lease."""
        self._epoch = self._table._acquire(self.name, self.owner, self.ttl)
        return self._epoch is not None

    def renew(self) -> bool:
        """Extend the claim; ``False`` once lost."""
        held = self._table._renew(self.name, self.owner, self.ttl, self._epoch)
        if not held:
            self._epoch = None
        return held

    def release(self) -> None:
        """Give the lease up."""
        self._table._release(self.name, self.owner, self._epoch)
        self._epoch = None

    @property
    def epoch(self) -> int | None:
        """The epoch of the current claim, or ``None``."""
        return self._epoch

    def __repr__(self) -> str:
        return f"<LocalLease {self.name} owner={self.owner} epoch={self._epoch}>"
