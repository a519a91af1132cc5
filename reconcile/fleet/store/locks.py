"""The advisory lock keys of the fleet's store on PostgreSQL, and the one order its write transactions lock in.

Lock order (PostgreSQL; docs/fleet.md, "Lock order"):

1. advisory locks, by ascending key: ``MIGRATIONS_LOCK`` (7210431, ``reconcile.storage``) < ``PUBLISH_LOCK``
   (7210432) < ``FLAGS_LOCK`` (7210433) < ``STATUS_LOCK`` (7210434). An op never takes one itself: it names them in
   ``backend.write(op, locks=...)`` and the writer takes them right after ``BEGIN``, before any op of the
   group commit runs, so they come before every row lock of the transaction whatever ops share it;
2. then row locks: within each op, the fence's lease row (a leader's writes), then the rows it touches (a
   group commit's later op may take another lease's row after an earlier op's rows: lease rows have no
   advisory lock yet, see docs/fleet.md). Every write that
   locks a row of ``fleet_cells`` holds ``FLAGS_LOCK`` from its start, so only one transaction at a time holds
   cell rows: cell rows can never be part of a cycle, whatever order a write, or a group commit of several
   single-cell writes, locks them in. Likewise every write that locks a row of what cells report
   (``fleet_status``, ``fleet_debug_audit``: a status report, a debug trail, ``delete_cell``) holds
   ``STATUS_LOCK`` from its start: a group commit of several cells' reports locks their rows in no particular
   order, and another replica's (two ``delete_cell``; the same reports again, from agents failed over) in another.

A cell's flag values are evaluated into its spec in the transaction that changes what they depend on, so every
write that may re-evaluate flags (``refresh_flags``: a flag, a label, a target, a release, a new cell, a rollout
start or step) holds ``FLAGS_LOCK``; ``refresh_flags`` refuses to run on PostgreSQL without it.

SQLite has no order to keep: its write transaction (``BEGIN IMMEDIATE``) holds the whole database, and a
process has one writer.
"""

from __future__ import annotations

from ...storage import StorageError, Tx

PUBLISH_LOCK = 7210432
"""One release published at a time across replicas (its sequence number is the next one)."""

FLAGS_LOCK = 7210433
"""Held by every write that re-evaluates flags or locks a cell's row, so one at a time across replicas; also one
rollout start at a time (the same key, as before this order was written down, so replicas of the previous
version still exclude each other)."""

STATUS_LOCK = 7210434
"""Held by every write that locks a row of what cells report (their statuses, their debug trails), so one at a
time across replicas. Not ``FLAGS_LOCK``: reports must not wait for a flag's re-evaluation of the fleet."""


def require_lock(tx: Tx, key: int, what: str) -> None:
    """Refuse to go on, on PostgreSQL, unless the transaction's writer took advisory lock ``key`` at its start.

    Raises:
        StorageError: it did not (a programming error: the write must pass ``locks=(key,)``).
    """
    if tx.dialect == "postgresql" and key not in tx.advisory_locks:
        raise StorageError(
            f"{what}: the write must hold advisory lock {key} from its start (backend.write(op, locks=({key},))),"
            " or it could deadlock with another replica; see reconcile/fleet/store/locks.py"
        )
