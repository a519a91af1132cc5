"""Leases: named, expiring, renewable claims whose epoch grows with every new holder and fences old ones."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from .backend import Backend, Tx
from .errors import FencedError, LeaseHeldError, LeaseNotFoundError, LeaseOptionError, StorageError, stamp
from .migrations import Migration, migrate

TABLE = "reconcile_leases"


def _leases_v1(tx: Tx) -> None:
    tx.execute(
        f"CREATE TABLE {TABLE} (name TEXT PRIMARY KEY, owner TEXT, lease_id TEXT, epoch BIGINT NOT NULL, "
        "acquired DOUBLE PRECISION, renewed DOUBLE PRECISION, expires DOUBLE PRECISION)"
    )


MIGRATIONS = (Migration(1, "lease rows with epochs", _leases_v1),)
"""The ``storage`` component's schema: the lease table."""


def ensure_schema(backend: Backend) -> None:
    """Create or upgrade the storage room's own tables in ``backend``.

    Raises:
        SchemaVersionError: the store is newer than this reconcile.
    """
    migrate(backend, "storage", MIGRATIONS)


@attrs.frozen
class LeaseInfo:
    """Who holds a lease, as stored.

    Attributes:
        name: the lease name.
        owner: the holder (``None`` when free).
        lease_id: the holder's lease id (``None`` when free); ``force_unlock`` takes it.
        epoch: the epoch of the last holder (0 if never held).
        acquired: when the holder acquired it.
        expires: when it expires unless renewed.
    """

    name: str
    owner: str | None
    lease_id: str | None
    epoch: int
    acquired: float | None
    expires: float | None

    def held(self, now: float) -> bool:
        """Whether a holder has it at time ``now``."""
        return self.lease_id is not None and self.expires is not None and self.expires > now


def _check_options(name: Any, owner: Any, ttl: Any, wait: Any) -> None:
    if not isinstance(name, str) or not name:
        raise LeaseOptionError(f"lease name must be a non-empty string, got {name!r}")
    if not isinstance(owner, str) or not owner:
        raise LeaseOptionError(f"lease owner must be a non-empty string, got {owner!r}")
    for label, value, low_ok in (("ttl", ttl, False), ("wait", wait, True)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            raise LeaseOptionError(f"lease {label} must be a number of seconds >= 0, got {value!r}")
        if not low_ok and value == 0:
            raise LeaseOptionError(f"lease {label} must be > 0 seconds, got {value!r}")


def _row(tx: Tx, name: str, lock: str = "") -> LeaseInfo | None:
    suffix = tx.locking(lock) if lock else ""
    row = tx.one(f"SELECT owner, lease_id, epoch, acquired, expires FROM {TABLE} WHERE name = ?{suffix}", (name,))
    if row is None:
        return None
    return LeaseInfo(name, row[0], row[1], int(row[2]), row[3], row[4])


def lease_info(backend: Backend, name: str) -> LeaseInfo | None:
    """The stored state of lease ``name``, or ``None`` if it was never taken."""
    ensure_schema(backend)
    return backend.read(lambda tx: _row(tx, name))


def epoch_fence(backend: Backend, name: str, epoch: int) -> Callable[[Tx], None]:
    """A fence for ``Backend.fenced``: it refuses a write unless lease ``name`` is held, unexpired, at ``epoch``.

    For holders that keep only the epoch (a controller's ``ctx.epoch``): a
    write carrying an epoch older than the lease's newest is refused, and so is
    one made after the holding expired (on ``backend``'s clock) or was released.

    Raises:
        LeaseOptionError: a bad name or epoch.
    """
    if not isinstance(name, str) or not name:
        raise LeaseOptionError(f"lease name must be a non-empty string, got {name!r}")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise LeaseOptionError(f"lease epoch must be an int >= 1, got {epoch!r}")

    def fence(tx: Tx) -> None:
        info = _row(tx, name, "share")
        reason = None
        if info is None:
            reason = "the lease was never taken"
        elif info.epoch != epoch:
            reason = f"a newer epoch {info.epoch} exists, held by {info.owner!r}"
        elif info.lease_id is None:
            reason = "the lease was released or force-unlocked"
        elif info.expires is None or info.expires <= backend.clock():
            reason = f"the lease expired at {stamp(info.expires or 0.0)}"
        if reason is not None:
            raise FencedError(name, epoch, reason)

    return fence


class Lease:
    """A lease this process holds; renewed in the background until released or lost.

    Use it as a context manager (it is released on exit). Code that writes
    under the lease calls ``fence(tx)`` inside the write's transaction: it
    raises ``FencedError`` unless this holder is still the current one, so a
    holder that was paused past its ttl and replaced cannot write.

    Attributes:
        backend: the store.
        name: the lease name.
        owner: this holder.
        lease_id: this holding's id (unique per acquisition).
        epoch: this holding's epoch (the fencing token), larger than every earlier holder's.
        ttl: seconds the lease lasts past each renewal.
        acquired: when it was acquired.
        expires: when it expires unless renewed (as of the last renewal).
        lost: the ``FencedError`` that ended this holding, once it is lost.
    """

    def __init__(self, backend: Backend, info: LeaseInfo, ttl: float, *, renew: bool = True) -> None:
        assert info.owner is not None and info.lease_id is not None and info.acquired is not None
        self.backend = backend
        self.name = info.name
        self.owner = info.owner
        self.lease_id = info.lease_id
        self.epoch = info.epoch
        self.ttl = float(ttl)
        self.acquired = info.acquired
        self.expires = info.expires if info.expires is not None else info.acquired + ttl
        self.lost: FencedError | None = None
        self.released = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        if renew:
            self._renewer = threading.Thread(target=self._renew_loop, name=f"reconcile-lease {self.name}", daemon=True)
            self._renewer.start()

    # ------------------------------------------------------------ fencing

    def fence(self, tx: Tx) -> None:
        """Inside a write transaction: refuse the write unless this holding is still current.

        Raises:
            FencedError: a newer epoch exists, or the lease was released, force-unlocked or expired.
        """
        if self.lost is not None:
            raise self.lost
        info = _row(tx, self.name, "share")
        now = self.backend.clock()
        reason = None
        if info is None:
            reason = "the lease no longer exists"
        elif info.epoch != self.epoch:
            reason = f"a newer epoch {info.epoch} exists, held by {info.owner!r}"
        elif info.lease_id != self.lease_id:
            reason = "the lease was released or force-unlocked"
        elif info.expires is None or info.expires <= now:
            reason = f"the lease expired at {stamp(info.expires or 0.0)}"
        if reason is not None:
            error = FencedError(self.name, self.epoch, reason)
            if info is None or info.epoch != self.epoch or info.lease_id != self.lease_id:
                self.lost = error
            raise error

    def check(self) -> None:
        """Raise the ``FencedError`` that ended this holding, if any (no store access)."""
        if self.lost is not None:
            raise self.lost

    # ------------------------------------------------------------ renewal and release

    def renew(self) -> None:
        """Extend the lease by ``ttl`` from now.

        Raises:
            FencedError: the lease was taken by another holder, released or force-unlocked.
        """
        self.check()

        def op(tx: Tx) -> float | None:
            now = self.backend.clock()
            changed = tx.execute(
                f"UPDATE {TABLE} SET expires = ?, renewed = ? WHERE name = ? AND lease_id = ? AND epoch = ?",
                (now + self.ttl, now, self.name, self.lease_id, self.epoch),
            )
            return now + self.ttl if changed else None

        expires = self.backend.write(op)
        if expires is None:
            self.lost = FencedError(self.name, self.epoch, "the lease was taken by a newer holder or unlocked")
            raise self.lost
        self.expires = expires

    def _renew_loop(self) -> None:
        interval = self.ttl / 3
        while not self._stop.wait(interval):
            try:
                self.renew()
            except FencedError:
                return
            except StorageError:
                # The store may be back before the lease runs out; fencing keeps this safe.
                continue

    def release(self) -> None:
        """Give the lease up (idempotent); later writes under it are refused."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        if self.released or self.lost is not None:
            self.released = True
            return
        self.released = True

        def op(tx: Tx) -> None:
            tx.execute(
                f"UPDATE {TABLE} SET lease_id = NULL, owner = NULL, expires = ? WHERE name = ? AND lease_id = ?",
                (self.backend.clock(), self.name, self.lease_id),
            )

        self.backend.write(op)
        self.lost = FencedError(self.name, self.epoch, "the lease was released")

    @property
    def held(self) -> bool:
        """Whether this process still believes it holds the lease (not released, not lost, not expired)."""
        return not self.released and self.lost is None and self.expires > self.backend.clock()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self.released else "lost" if self.lost else "held"
        return f"<Lease {self.name!r} owner={self.owner!r} epoch={self.epoch} {state}>"


def acquire(backend: Backend, name: str, owner: str, ttl: float, *, wait: float = 0.0, renew: bool = True) -> Lease:
    """Take lease ``name`` for ``owner`` for ``ttl`` seconds (renewed in the background while held).

    The new holding's epoch is one more than the last holder's. A lease whose
    holder stopped renewing is free once it expires.

    Args:
        backend: the store.
        name: the lease name (one applier at a time per name).
        owner: who takes it (shown to others in ``LeaseHeldError``).
        ttl: seconds it lasts past each renewal.
        wait: seconds to keep trying while another holder has it.
        renew: renew it in a background thread every ``ttl / 3``.

    Raises:
        LeaseHeldError: another holder still has it after ``wait`` seconds.
        LeaseOptionError: a bad name, owner, ttl or wait.
    """
    _check_options(name, owner, ttl, wait)
    ensure_schema(backend)
    clock = backend.clock

    def op(tx: Tx) -> LeaseInfo:
        # The placeholder row makes concurrent first acquisitions conflict on the key, then queue on the row lock.
        tx.execute(
            f"INSERT INTO {TABLE} (name, epoch) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
            (name,),
        )
        now = clock()
        info = _row(tx, name, "update")
        assert info is not None
        if info.held(now):
            assert info.owner is not None and info.lease_id is not None
            raise LeaseHeldError(name, info.owner, info.lease_id, info.acquired or now, info.expires or now, now)
        new = LeaseInfo(name, owner, uuid.uuid4().hex, info.epoch + 1, now, now + ttl)
        tx.execute(
            f"UPDATE {TABLE} SET owner = ?, lease_id = ?, epoch = ?, acquired = ?, renewed = ?, expires = ? "
            "WHERE name = ?",
            (new.owner, new.lease_id, new.epoch, new.acquired, new.acquired, new.expires, name),
        )
        return new

    deadline = time.monotonic() + wait
    while True:
        try:
            info = backend.write(op)
        except LeaseHeldError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            time.sleep(max(0.01, min(left, exc.expires - clock(), 0.25)))
            continue
        return Lease(backend, info, ttl, renew=renew)


def force_unlock(backend: Backend, name: str, lease_id: str) -> LeaseInfo:
    """Free lease ``name`` whatever its holder does, given the holder's lease id; return the holder freed.

    The freed holder's later writes are refused (``FencedError``), as after an expiry.

    Raises:
        LeaseNotFoundError: nobody holds ``name`` under ``lease_id``.
    """
    ensure_schema(backend)

    def op(tx: Tx) -> LeaseInfo:
        info = _row(tx, name, "update")
        if info is None or info.lease_id is None or info.lease_id != lease_id:
            holder = "nobody holds it" if info is None or info.lease_id is None else "it is held under another id"
            raise LeaseNotFoundError(f"cannot unlock lease {name!r} with id {lease_id!r}: {holder}")
        tx.execute(
            f"UPDATE {TABLE} SET lease_id = NULL, owner = NULL, expires = ? WHERE name = ? AND lease_id = ?",
            (backend.clock(), name, lease_id),
        )
        return info

    return backend.write(op)
