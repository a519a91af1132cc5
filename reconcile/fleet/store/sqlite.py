"""``SQLiteFleetStore``: the control plane's records in one SQLite file (stdlib ``sqlite3``, WAL, synchronous=FULL)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..model import AuditEntry, Cell, CellStatus, DesiredSpec, Release
from .base import Registration

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    id TEXT PRIMARY KEY, stage TEXT NOT NULL, customer TEXT NOT NULL, region TEXT NOT NULL,
    created_at REAL NOT NULL, target_release TEXT, generation INTEGER NOT NULL,
    spec_release TEXT, flags TEXT NOT NULL DEFAULT '{}', infrastructure TEXT,
    token_hash TEXT, token_expires REAL, token_used REAL, credential_hash TEXT
);
CREATE TABLE IF NOT EXISTS releases (
    version TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS status (cell_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
"""

_CELL_COLUMNS = "id, stage, customer, region, created_at, credential_hash IS NOT NULL, target_release"


class SQLiteFleetStore:
    """A ``FleetStore`` on a SQLite file; one connection per thread.

    Args:
        path: the database file (created with its schema if missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # executescript commits by itself, so it runs outside _tx.
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn().execute(sql, args).fetchall()

    # -- cells -------------------------------------------------------------

    @staticmethod
    def _cell(row: tuple[Any, ...]) -> Cell:
        return Cell(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])

    def create_cell(self, cell: Cell, token_hash: str, expires_at: float) -> DesiredSpec:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM cells WHERE id = ?", (cell.id,)).fetchone():
                raise ConflictError(f"cell {cell.id!r} already exists")
            release = cell.target_release if cell.target_release is not None else self._latest(conn)
            conn.execute(
                "INSERT INTO cells (id, stage, customer, region, created_at, target_release, generation, spec_release,"
                " token_hash, token_expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cell.id,
                    cell.stage,
                    cell.customer,
                    cell.region,
                    cell.created_at,
                    cell.target_release,
                    0 if release is None else 1,
                    release,
                    token_hash,
                    expires_at,
                ),
            )
            spec = self._spec(conn, cell.id)
        assert spec is not None
        return spec

    def get_cell(self, cell_id: str) -> Cell | None:
        rows = self._read(f"SELECT {_CELL_COLUMNS} FROM cells WHERE id = ?", (cell_id,))
        return self._cell(rows[0]) if rows else None

    def list_cells(self) -> list[Cell]:
        return [self._cell(r) for r in self._read(f"SELECT {_CELL_COLUMNS} FROM cells ORDER BY id")]

    def delete_cell(self, cell_id: str) -> bool:
        with self._tx() as conn:
            found = conn.execute("DELETE FROM cells WHERE id = ?", (cell_id,)).rowcount > 0
            conn.execute("DELETE FROM status WHERE cell_id = ?", (cell_id,))
        return found

    def reissue_token(self, cell_id: str, token_hash: str, expires_at: float) -> bool:
        with self._tx() as conn:
            return (
                conn.execute(
                    "UPDATE cells SET token_hash = ?, token_expires = ?, token_used = NULL WHERE id = ?",
                    (token_hash, expires_at, cell_id),
                ).rowcount
                > 0
            )

    def registration(self, cell_id: str) -> Registration | None:
        rows = self._read("SELECT token_hash, token_expires, token_used FROM cells WHERE id = ?", (cell_id,))
        if not rows or rows[0][0] is None:
            return None
        return Registration(cell_id, rows[0][0], rows[0][1], rows[0][2])

    def complete_registration(self, cell_id: str, token_hash: str, credential_hash: str, now: float) -> bool:
        with self._tx() as conn:
            return (
                conn.execute(
                    "UPDATE cells SET token_used = ?, credential_hash = ? "
                    "WHERE id = ? AND token_hash = ? AND token_used IS NULL",
                    (now, credential_hash, cell_id, token_hash),
                ).rowcount
                == 1
            )

    def credential_hash(self, cell_id: str) -> str | None:
        rows = self._read("SELECT credential_hash FROM cells WHERE id = ?", (cell_id,))
        return rows[0][0] if rows else None

    # -- releases and specs ------------------------------------------------

    @staticmethod
    def _latest(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT version FROM releases ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def publish_release(self, release: Release) -> list[str]:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM releases WHERE version = ?", (release.version,)).fetchone():
                raise ConflictError(f"release {release.version!r} already exists")
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM releases").fetchone()[0]
            conn.execute(
                "INSERT INTO releases (version, seq, body) VALUES (?, ?, ?)",
                (release.version, seq, json.dumps(release.to_json())),
            )
            following = [r[0] for r in conn.execute("SELECT id FROM cells WHERE target_release IS NULL ORDER BY id")]
            conn.execute(
                "UPDATE cells SET spec_release = ?, generation = generation + 1 WHERE target_release IS NULL",
                (release.version,),
            )
        return following

    @staticmethod
    def _release(conn: sqlite3.Connection, version: str) -> Release | None:
        row = conn.execute("SELECT body FROM releases WHERE version = ?", (version,)).fetchone()
        return Release.from_json(json.loads(row[0])) if row else None

    def get_release(self, version: str) -> Release | None:
        return self._release(self._conn(), version)

    def list_releases(self) -> list[Release]:
        return [Release.from_json(json.loads(r[0])) for r in self._read("SELECT body FROM releases ORDER BY seq")]

    def set_target(self, cell_id: str, version: str | None) -> DesiredSpec:
        with self._tx() as conn:
            row = conn.execute("SELECT spec_release FROM cells WHERE id = ?", (cell_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no cell {cell_id!r}")
            if version is not None and self._release(conn, version) is None:
                raise NotFoundError(f"no release {version!r}")
            effective = version if version is not None else self._latest(conn)
            bump = 1 if effective != row[0] else 0
            conn.execute(
                "UPDATE cells SET target_release = ?, spec_release = ?, generation = generation + ? WHERE id = ?",
                (version, effective, bump, cell_id),
            )
            spec = self._spec(conn, cell_id)
        assert spec is not None
        return spec

    def _spec(self, conn: sqlite3.Connection, cell_id: str) -> DesiredSpec | None:
        row = conn.execute(
            "SELECT generation, spec_release, flags, infrastructure FROM cells WHERE id = ?", (cell_id,)
        ).fetchone()
        if row is None:
            return None
        release = None if row[1] is None else self._release(conn, row[1])
        return DesiredSpec(cell_id, row[0], release, json.loads(row[2]), row[3])

    def get_spec(self, cell_id: str) -> DesiredSpec | None:
        return self._spec(self._conn(), cell_id)

    def generation(self, cell_id: str) -> int | None:
        rows = self._read("SELECT generation FROM cells WHERE id = ?", (cell_id,))
        return int(rows[0][0]) if rows else None

    # -- status and audit --------------------------------------------------

    def put_status(self, cell_id: str, status: CellStatus) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO status (cell_id, body) VALUES (?, ?)"
                " ON CONFLICT (cell_id) DO UPDATE SET body = excluded.body",
                (cell_id, json.dumps(status.to_json())),
            )

    def get_status(self, cell_id: str) -> CellStatus | None:
        rows = self._read("SELECT body FROM status WHERE cell_id = ?", (cell_id,))
        return CellStatus.from_json(json.loads(rows[0][0])) if rows else None

    def audit(self, at: float, actor: str, action: str, target: str, detail: str = "") -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (at, actor, action, target, detail),
            )

    def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        rows = self._read("SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditEntry(*r) for r in reversed(rows)]

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()
