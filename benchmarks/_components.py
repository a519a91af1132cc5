"""A component provider whose world is a SQLite file, so Dask worker processes and threads act on one world.

``MemoryRuntime`` keeps its components in the object: pickled into a Dask
worker process, what it starts there is lost. This provider is the thin
client ``FuturesExecutor`` asks for: it holds a path, connects on first use in
each process, and every start is a row (with the pid of the process that made
it, so the spread over workers shows). ``start_ms`` is slept per start, as a
process would take to come up, so running steps side by side matters.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs

import reconcile as rc
from reconcile.fleet import Component


class SQLiteComponents:
    """Components kept in the SQLite file ``path``; picklable (the connection is per process and thread)."""

    def __init__(self, path: str, start_ms: float = 0.0) -> None:
        self.path = path
        self.start_ms = start_ms
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "start_ms": self.start_ms}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["start_ms"])  # type: ignore[misc]

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # A stand-in world: durability is not what is measured.
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE IF NOT EXISTS components (name TEXT PRIMARY KEY, body TEXT NOT NULL, pid INTEGER)")
            self._local.db = db
        return db

    def _row(self, body: str) -> Component:
        data = json.loads(body)
        return Component(data["name"], data["version"], data["digest"], data["config"], {}, pid=data["pid"])

    def list(self) -> Iterator[Component]:
        """Every component in the world."""
        rows = self._db().execute("SELECT body FROM components ORDER BY name").fetchall()
        return iter([self._row(r[0]) for r in rows])

    def read(self, address: rc.Address) -> Component | None:
        """The component at ``address``, or ``None``."""
        row = self._db().execute("SELECT body FROM components WHERE name = ?", (address.key[0],)).fetchone()
        return None if row is None else self._row(row[0])

    def create(self, desired: Component, ctx: rc.Context) -> Component:
        """Start ``desired`` (sleep ``start_ms``), recorded with this process's pid."""
        if self.start_ms:
            time.sleep(self.start_ms / 1000)
        started: Component = attrs.evolve(desired, pid=os.getpid())  # type: ignore[misc]
        body = {"name": started.name, "version": started.version, "digest": started.digest,
                "config": started.config, "pid": started.pid}  # fmt: skip
        self._db().execute(
            "INSERT INTO components VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body,"
            " pid = excluded.pid",
            (started.name, json.dumps(body), started.pid),
        )
        return started

    def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Component:
        """Start the new version in place of the old."""
        return self.create(desired, ctx)

    def delete(self, actual: Component, ctx: rc.Context) -> None:
        """Stop the component."""
        self._db().execute("DELETE FROM components WHERE name = ?", (actual.name,))

    def pids(self) -> dict[int, int]:
        """How many components each process started."""
        return dict(self._db().execute("SELECT pid, COUNT(*) FROM components GROUP BY pid").fetchall())


def cell_components(n: int, version: str = "1.0.0") -> list[Component]:
    """``n`` components of one cell, each its own artifact (digest) and config."""
    return [Component(f"c{i:04d}", version, f"{i:064x}", {"slot": str(i)}, {}) for i in range(n)]
