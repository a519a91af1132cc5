"""The control plane's copy of each cell's debug audit trail, a table of its own (migration component ``fleet.debug``).

A cell reports its audit events in its status; each is kept once, by the
cell's sequence number, so a status repeated or reported again after an agent
restart adds nothing. The trail is kept after a cell is deleted (it is audit).
"""

from __future__ import annotations

from collections.abc import Iterable

from ...storage import Backend, Migration, Tx
from .grants import DebugEvent


def _schema_v1(tx: Tx) -> None:
    real = "DOUBLE PRECISION" if tx.dialect == "postgresql" else "REAL"
    tx.execute(
        f"CREATE TABLE fleet_debug_audit (cell_id TEXT NOT NULL, seq BIGINT NOT NULL, at {real} NOT NULL,"
        " event TEXT NOT NULL, grant_id TEXT NOT NULL, actor TEXT NOT NULL, detail TEXT NOT NULL,"
        f" hash TEXT NOT NULL, received_at {real} NOT NULL, PRIMARY KEY (cell_id, seq))"
    )


MIGRATIONS = [Migration(1, "debug audit trails reported by cells", _schema_v1)]
"""The schema of the component ``fleet.debug``."""

COMPONENT = "fleet.debug"
"""The migration component of the debug trail table."""


def record_events(
    backend: Backend, cell_id: str, events: Iterable[DebugEvent], received_at: float, *, locks: Iterable[int] = ()
) -> list[DebugEvent]:
    """Keep the events not kept yet (by sequence number); the new ones, oldest first.

    Args:
        backend: the store's backend.
        cell_id: the cell that reported them.
        events: the events reported (those kept already are left out).
        received_at: when the control plane received them.
        locks: advisory lock keys the write holds from its start (``Backend.write``): the fleet store passes
            its ``STATUS_LOCK`` (its lock order, ``reconcile/fleet/store/locks.py``).
    """
    events = list(events)
    if not events:
        return []
    # Each status repeats the newest events: a read first, so a status with nothing new costs no write.
    row = backend.read(lambda tx: tx.one("SELECT MAX(seq) FROM fleet_debug_audit WHERE cell_id = ?", (cell_id,)))
    kept = 0 if row is None or row[0] is None else int(row[0])
    batch = sorted((e for e in events if e.seq > kept), key=lambda e: e.seq)
    if not batch:
        return []
    sql = (
        "INSERT INTO fleet_debug_audit (cell_id, seq, at, event, grant_id, actor, detail, hash, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cell_id, seq) DO NOTHING"
    )

    def op(tx: Tx) -> list[DebugEvent]:
        return [
            e
            for e in batch
            if tx.execute(sql, (cell_id, e.seq, e.at, e.event, e.grant, e.by, e.detail, e.hash, received_at)) == 1
        ]

    return backend.write(op, locks=locks)


def list_events(backend: Backend, cell_id: str, limit: int = 100) -> list[DebugEvent]:
    """The newest ``limit`` events kept for ``cell_id``, oldest of them first."""
    sql = (
        "SELECT seq, at, event, grant_id, actor, detail, hash FROM fleet_debug_audit"
        " WHERE cell_id = ? ORDER BY seq DESC LIMIT ?"
    )
    rows = backend.read(lambda tx: tx.query(sql, (cell_id, limit)))
    return [DebugEvent(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in reversed(rows)]


__all__ = ["COMPONENT", "MIGRATIONS", "list_events", "record_events"]
