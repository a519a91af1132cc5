"""``BackendFleetStore``: the control plane's records on a ``reconcile.storage`` backend (SQLite or PostgreSQL).

Writes are ops of the backend's one writer thread (group commit); reads run in
the calling thread on a consistent snapshot. Schema changes are migrations of
the component ``fleet``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

from ...storage import Backend, Migration, Subscription, Tx, migrate
from ...storage import open_store as open_backend
from ..debug import DebugEvent, trail
from ..errors import ConflictError, NotFoundError
from ..flags import Flag
from ..model import AuditEntry, Cell, CellStatus, DesiredSpec, Release
from ..support import FROZEN_CELLS, SUPPORT_CHANNEL, migrate_support, reported_infrastructure
from .base import SPEC_CHANNEL, Registration, StoredFlag
from .flags import (
    migrate_flags,
    read_all_labels,
    read_flag,
    read_flags,
    read_labels,
    refresh_flags,
    with_labels,
    write_flag,
    write_labels,
)
from .locks import FLAGS_LOCK, PUBLISH_LOCK, STATUS_LOCK
from .rollout_schema import ROLLOUT_MIGRATIONS


def _schema_v1(tx: Tx) -> None:
    real = "DOUBLE PRECISION" if tx.dialect == "postgresql" else "REAL"
    serial = "BIGSERIAL PRIMARY KEY" if tx.dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    tx.execute(
        "CREATE TABLE fleet_cells (id TEXT PRIMARY KEY, stage TEXT NOT NULL, customer TEXT NOT NULL,"
        f" region TEXT NOT NULL, created_at {real} NOT NULL, target_release TEXT, generation BIGINT NOT NULL,"
        " spec_release TEXT, flags TEXT NOT NULL DEFAULT '{}', infrastructure TEXT, token_hash TEXT,"
        f" token_expires {real}, token_used {real}, credential_hash TEXT)"
    )
    tx.execute("CREATE TABLE fleet_releases (version TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE, body TEXT NOT NULL)")
    tx.execute("CREATE TABLE fleet_status (cell_id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    tx.execute(
        f"CREATE TABLE fleet_audit (id {serial}, at {real} NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)"
    )


MIGRATIONS = [Migration(1, "cells, releases, status, audit", _schema_v1)]

_CELL = "id, stage, customer, region, created_at, credential_hash IS NOT NULL, target_release"

# A status report's write when the stored status reports the same infrastructure version (NULL alike).
_SAME_INFRASTRUCTURE = {
    dialect: f"UPDATE fleet_status SET body = ? WHERE cell_id = ? AND {reported_infrastructure(dialect, 'body')} {same}"
    for dialect, same in (("sqlite", "IS ?"), ("postgresql", "IS NOT DISTINCT FROM ?::text"))
}


def _cell(row: tuple[Any, ...]) -> Cell:
    return Cell(row[0], row[1], row[2], row[3], float(row[4]), bool(row[5]), row[6])


def _latest(tx: Tx) -> str | None:
    row = tx.one("SELECT version FROM fleet_releases ORDER BY seq DESC LIMIT 1")
    return None if row is None else str(row[0])


def _release(tx: Tx, version: str) -> Release | None:
    row = tx.one("SELECT body FROM fleet_releases WHERE version = ?", (version,))
    return None if row is None else Release.from_json(json.loads(row[0]))


def _spec(tx: Tx, cell_id: str) -> DesiredSpec | None:
    row = tx.one("SELECT generation, spec_release, flags, infrastructure FROM fleet_cells WHERE id = ?", (cell_id,))
    if row is None:
        return None
    release = None if row[1] is None else _release(tx, row[1])
    return DesiredSpec(cell_id, int(row[0]), release, json.loads(row[2]), row[3])


def set_target_in(tx: Tx, cell_id: str, version: str | None) -> DesiredSpec:
    """``FleetStore.set_target`` inside a transaction of its caller (a rollout's commit, say).

    The write must hold ``FLAGS_LOCK`` (``locks=(FLAGS_LOCK,)``): it re-evaluates the cell's flags.
    """
    row = tx.one(f"SELECT spec_release FROM fleet_cells WHERE id = ?{tx.locking('update')}", (cell_id,))
    if row is None:
        raise NotFoundError(f"no cell {cell_id!r}")
    if version is not None and _release(tx, version) is None:
        raise NotFoundError(f"no release {version!r}")
    effective = version if version is not None else _latest(tx)
    tx.execute(
        "UPDATE fleet_cells SET target_release = ?, spec_release = ?, generation = generation + ? WHERE id = ?",
        (version, effective, 1 if effective != row[0] else 0, cell_id),
    )
    refresh_flags(tx, [cell_id], bumped=[cell_id] if effective != row[0] else [])
    if effective != row[0]:
        tx.notify(SPEC_CHANNEL, cell_id)
    spec = _spec(tx, cell_id)
    assert spec is not None
    return spec


def audit_in(tx: Tx, at: float, actor: str, action: str, target: str, detail: str = "") -> None:
    """``FleetStore.audit`` inside a transaction of its caller."""
    sql = "INSERT INTO fleet_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"
    tx.execute(sql, (at, actor, action, target, detail))


class BackendFleetStore:
    """A ``FleetStore`` on a ``reconcile.storage`` backend: every write is one op of its group-committing writer.

    Args:
        backend: an open backend (``reconcile.storage.open_store``); its schema is migrated on open.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        migrate(backend, "fleet", MIGRATIONS)
        migrate(backend, "fleet.rollouts", ROLLOUT_MIGRATIONS)
        migrate_flags(backend)
        migrate_support(backend)
        migrate(backend, trail.COMPONENT, trail.MIGRATIONS)

    @classmethod
    def open(cls, url: str) -> BackendFleetStore:
        """Open the store at ``sqlite:///path`` or ``postgresql://...``."""
        return cls(open_backend(url))

    def create_cell(self, cell: Cell, token_hash: str, expires_at: float) -> DesiredSpec:
        def op(tx: Tx) -> DesiredSpec:
            if tx.one("SELECT 1 FROM fleet_cells WHERE id = ?", (cell.id,)):
                raise ConflictError(f"cell {cell.id!r} already exists")
            release = cell.target_release if cell.target_release is not None else _latest(tx)
            tx.execute(
                "INSERT INTO fleet_cells (id, stage, customer, region, created_at, target_release, generation,"
                " spec_release, token_hash, token_expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cell.id, cell.stage, cell.customer, cell.region, cell.created_at, cell.target_release,
                 0 if release is None else 1, release, token_hash, expires_at),
            )  # fmt: skip
            write_labels(tx, cell.id, dict(cell.labels))
            refresh_flags(tx, [cell.id], bumped=[cell.id] if release is not None else [])
            tx.notify(SUPPORT_CHANNEL, cell.id)
            spec = _spec(tx, cell.id)
            assert spec is not None
            return spec

        # Lock order (locks.py): the flags lock from the transaction's start, then the cell's row.
        return self.backend.write(op, locks=(FLAGS_LOCK,))

    def get_cell(self, cell_id: str) -> Cell | None:
        def read(tx: Tx) -> Cell | None:
            row = tx.one(f"SELECT {_CELL} FROM fleet_cells WHERE id = ?", (cell_id,))
            return None if row is None else with_labels(_cell(row), read_labels(tx, cell_id))

        return self.backend.read(read)

    def list_cells(self) -> list[Cell]:
        def read(tx: Tx) -> list[Cell]:
            labels = read_all_labels(tx)
            rows = tx.query(f"SELECT {_CELL} FROM fleet_cells ORDER BY id")
            return [with_labels(_cell(r), labels.get(r[0], {})) for r in rows]

        return self.backend.read(read)

    def delete_cell(self, cell_id: str) -> bool:
        def op(tx: Tx) -> bool:
            tx.execute("DELETE FROM fleet_status WHERE cell_id = ?", (cell_id,))
            tx.execute("DELETE FROM fleet_cell_labels WHERE cell_id = ?", (cell_id,))
            tx.notify(SPEC_CHANNEL, cell_id)
            tx.notify(SUPPORT_CHANNEL, cell_id)
            return tx.execute("DELETE FROM fleet_cells WHERE id = ?", (cell_id,)) > 0

        # Lock order (locks.py): every write that locks a cell's row holds the flags lock from its start, and
        # every write that locks a status row the status lock (a group commit of two deletes locks two).
        return self.backend.write(op, locks=(FLAGS_LOCK, STATUS_LOCK))

    def reissue_token(self, cell_id: str, token_hash: str, expires_at: float) -> bool:
        sql = "UPDATE fleet_cells SET token_hash = ?, token_expires = ?, token_used = NULL WHERE id = ?"
        return self.backend.write(
            lambda tx: tx.execute(sql, (token_hash, expires_at, cell_id)) > 0, locks=(FLAGS_LOCK,)
        )

    def registration(self, cell_id: str) -> Registration | None:
        sql = "SELECT token_hash, token_expires, token_used FROM fleet_cells WHERE id = ?"
        row = self.backend.read(lambda tx: tx.one(sql, (cell_id,)))
        if row is None or row[1] is None:
            return None
        return Registration(cell_id, row[0], float(row[1]), None if row[2] is None else float(row[2]))

    def pending_registrations(self) -> list[Registration]:
        sql = (
            "SELECT id, token_hash, token_expires FROM fleet_cells"
            " WHERE token_hash IS NOT NULL AND token_used IS NULL ORDER BY id"
        )
        rows = self.backend.read(lambda tx: tx.query(sql))
        return [Registration(r[0], r[1], float(r[2]), None) for r in rows]

    def expire_registration(self, cell_id: str, now: float) -> bool:
        sql = (
            "UPDATE fleet_cells SET token_hash = NULL WHERE id = ? AND token_hash IS NOT NULL"
            " AND token_used IS NULL AND token_expires <= ?"
        )
        return self.backend.write(lambda tx: tx.execute(sql, (cell_id, now)) == 1, locks=(FLAGS_LOCK,))

    def complete_registration(self, cell_id: str, token_hash: str, credential_hash: str, now: float) -> bool:
        sql = (
            "UPDATE fleet_cells SET token_used = ?, credential_hash = ? "
            "WHERE id = ? AND token_hash = ? AND token_used IS NULL"
        )
        return self.backend.write(
            lambda tx: tx.execute(sql, (now, credential_hash, cell_id, token_hash)) == 1, locks=(FLAGS_LOCK,)
        )

    def credential_hash(self, cell_id: str) -> str | None:
        row = self.backend.read(lambda tx: tx.one("SELECT credential_hash FROM fleet_cells WHERE id = ?", (cell_id,)))
        return None if row is None else row[0]

    def publish_release(self, release: Release) -> list[str]:
        def op(tx: Tx) -> list[str]:
            if tx.one("SELECT 1 FROM fleet_releases WHERE version = ?", (release.version,)):
                raise ConflictError(f"release {release.version!r} already exists")
            seq = tx.one("SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_releases")
            assert seq is not None
            tx.execute(
                "INSERT INTO fleet_releases (version, seq, body) VALUES (?, ?, ?)",
                (release.version, int(seq[0]), json.dumps(release.to_json())),
            )
            # A cell out of SLA follows no release until it is back (reconcile.fleet.support).
            following_sql = f"FROM fleet_cells WHERE target_release IS NULL AND id NOT IN ({FROZEN_CELLS})"
            following = [r[0] for r in tx.query(f"SELECT id {following_sql} ORDER BY id")]
            tx.execute(
                "UPDATE fleet_cells SET spec_release = ?, generation = generation + 1 WHERE target_release IS NULL"
                f" AND id NOT IN ({FROZEN_CELLS})",
                (release.version,),
            )
            tx.notify(SPEC_CHANNEL, "")
            refresh_flags(tx, following, bumped=following)
            return following

        # Lock order (locks.py): one publisher at a time across replicas, then the flags lock, both from the
        # transaction's start, before the UPDATE locks every following cell's row.
        return self.backend.write(op, locks=(PUBLISH_LOCK, FLAGS_LOCK))

    def get_release(self, version: str) -> Release | None:
        return self.backend.read(lambda tx: _release(tx, version))

    def list_releases(self) -> list[Release]:
        rows = self.backend.read(lambda tx: tx.query("SELECT body FROM fleet_releases ORDER BY seq"))
        return [Release.from_json(json.loads(r[0])) for r in rows]

    def set_target(self, cell_id: str, version: str | None) -> DesiredSpec:
        # Lock order (locks.py): the flags lock from the transaction's start, then the cell's row.
        return self.backend.write(lambda tx: set_target_in(tx, cell_id, version), locks=(FLAGS_LOCK,))

    def get_spec(self, cell_id: str) -> DesiredSpec | None:
        return self.backend.read(lambda tx: _spec(tx, cell_id))

    def set_infrastructure(self, cell_id: str, version: str | None) -> DesiredSpec:
        def op(tx: Tx) -> DesiredSpec:
            row = tx.one(f"SELECT infrastructure FROM fleet_cells WHERE id = ?{tx.locking('update')}", (cell_id,))
            if row is None:
                raise NotFoundError(f"no cell {cell_id!r}")
            if row[0] != version:
                sql = "UPDATE fleet_cells SET infrastructure = ?, generation = generation + 1 WHERE id = ?"
                tx.execute(sql, (version, cell_id))
            spec = _spec(tx, cell_id)
            assert spec is not None
            return spec

        # Lock order (locks.py): every write that locks a cell's row holds the flags lock from its start.
        return self.backend.write(op, locks=(FLAGS_LOCK,))

    def generation(self, cell_id: str) -> int | None:
        row = self.backend.read(lambda tx: tx.one("SELECT generation FROM fleet_cells WHERE id = ?", (cell_id,)))
        return None if row is None else int(row[0])

    def check_in(self, cell_id: str) -> tuple[str | None, int] | None:
        rows = self.backend.query("SELECT credential_hash, generation FROM fleet_cells WHERE id = ?", (cell_id,))
        return (rows[0][0], int(rows[0][1])) if rows else None

    def generations(self, cell_ids: list[str]) -> dict[str, int]:
        def op(tx: Tx) -> dict[str, int]:
            found: dict[str, int] = {}
            # In chunks, under every backend's limit on bound parameters.
            for i in range(0, len(cell_ids), 500):
                chunk = cell_ids[i : i + 500]
                marks = ", ".join("?" * len(chunk))
                rows = tx.query(f"SELECT id, generation FROM fleet_cells WHERE id IN ({marks})", chunk)
                found.update((r[0], int(r[1])) for r in rows)
            return found

        return self.backend.read(op)

    @property
    def reads_in_process(self) -> bool:
        """Whether a read is a lookup in this process's own file (SQLite), cheap enough to run on an event loop."""
        return self.backend.dialect == "sqlite"

    def put_status(self, cell_id: str, status: CellStatus) -> None:
        first = "INSERT INTO fleet_status (cell_id, body) VALUES (?, ?) ON CONFLICT (cell_id) DO NOTHING"
        body, version = json.dumps(status.to_json()), status.infrastructure_version

        def op(tx: Tx) -> None:
            # Nearly every report repeats the infrastructure version: one UPDATE, as the upsert was. Another
            # version tells the support controller, which judges only the cells named; so does a first report,
            # unless it names no version (support judges that as no report at all).
            if tx.execute(_SAME_INFRASTRUCTURE[tx.dialect], (body, cell_id, version)) == 1:
                return
            if tx.execute(first, (cell_id, body)) == 1:
                if version is None:
                    return
            else:
                tx.execute("UPDATE fleet_status SET body = ? WHERE cell_id = ?", (body, cell_id))
            tx.notify(SUPPORT_CHANNEL, cell_id)

        # Lock order (locks.py): a group commit of several cells' reports locks their status rows in no
        # particular order, and another replica's in another: every write of a status row holds the status lock.
        self.backend.write(op, locks=(STATUS_LOCK,))

    def get_status(self, cell_id: str) -> CellStatus | None:
        row = self.backend.read(lambda tx: tx.one("SELECT body FROM fleet_status WHERE cell_id = ?", (cell_id,)))
        return None if row is None else CellStatus.from_json(json.loads(row[0]))

    def audit(self, at: float, actor: str, action: str, target: str, detail: str = "") -> None:
        self.backend.write(lambda tx: audit_in(tx, at, actor, action, target, detail))

    def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        sql = "SELECT id, at, actor, action, target, detail FROM fleet_audit ORDER BY id DESC LIMIT ?"
        rows = self.backend.read(lambda tx: tx.query(sql, (limit,)))
        return [AuditEntry(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5]) for r in reversed(rows)]

    def record_debug_events(self, cell_id: str, events: Sequence[DebugEvent], received_at: float) -> list[DebugEvent]:
        # Lock order (locks.py): the trail's rows are what a cell reports, as its status row is.
        return trail.record_events(self.backend, cell_id, events, received_at, locks=(STATUS_LOCK,))

    def debug_audit(self, cell_id: str, limit: int = 100) -> list[DebugEvent]:
        return trail.list_events(self.backend, cell_id, limit)

    def watch_specs(self, callback: Callable[[str | None], None]) -> Subscription:
        """Call ``callback(cell_id)`` after every committed spec change (``""``: every cell; ``None``: maybe missed).

        Changes made by other processes reach it on PostgreSQL (``LISTEN``/``NOTIFY``), this process's on SQLite.
        """
        return self.backend.subscribe(SPEC_CHANNEL, callback)

    def watch_support(self, callback: Callable[[str | None], None]) -> Subscription:
        """Call ``callback(cell_id)`` after every committed change a cell's support status follows from.

        A cell created or deleted, or reporting another infrastructure version; ``""`` after a template is
        published; ``None``: notifications may have been missed (see ``reconcile.fleet.support.SUPPORT_CHANNEL``).
        """
        return self.backend.subscribe(SUPPORT_CHANNEL, callback)

    def fenced(self, fence: Callable[[Tx], None]) -> BackendFleetStore:
        """This store with every write first running ``fence(tx)`` (a leader's writes: see ``epoch_fence``)."""
        view = copy.copy(self)
        view.backend = self.backend.fenced(fence)
        return view

    def close(self) -> None:
        self.backend.close()

    def update_labels(self, cell_id: str, to_set: dict[str, str], to_remove: list[str]) -> tuple[Cell, DesiredSpec]:
        def op(tx: Tx) -> tuple[Cell, DesiredSpec]:
            if tx.one(f"SELECT 1 FROM fleet_cells WHERE id = ?{tx.locking('update')}", (cell_id,)) is None:
                raise NotFoundError(f"no cell {cell_id!r}")
            labels = {k: v for k, v in read_labels(tx, cell_id).items() if k not in to_remove}
            labels.update(to_set)
            row = tx.one(f"SELECT {_CELL} FROM fleet_cells WHERE id = ?", (cell_id,))
            assert row is not None
            cell = with_labels(_cell(row), labels)  # validates the merged set (at most 64 labels)
            write_labels(tx, cell_id, dict(cell.labels))
            refresh_flags(tx, [cell_id])
            spec = _spec(tx, cell_id)
            assert spec is not None
            return cell, spec

        # Lock order (locks.py): the flags lock from the transaction's start, then the cell's row.
        return self.backend.write(op, locks=(FLAGS_LOCK,))

    def put_flag(self, flag: Flag, now: float) -> tuple[int, list[str]]:
        def op(tx: Tx) -> tuple[int, list[str]]:
            revision = write_flag(tx, flag, now)
            return revision, refresh_flags(tx)

        # Lock order (locks.py): the flags lock from the transaction's start, then the flag's row and the
        # rows of the cells whose values change.
        return self.backend.write(op, locks=(FLAGS_LOCK,))

    def get_flag(self, key: str) -> StoredFlag | None:
        found = self.backend.read(lambda tx: read_flag(tx, key))
        return None if found is None else StoredFlag(Flag.from_json(found[0]), found[1], found[2])

    def list_flags(self) -> list[StoredFlag]:
        return [StoredFlag(Flag.from_json(b), r, t) for b, r, t in self.backend.read(read_flags)]
