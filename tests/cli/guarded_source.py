"""A CLI source over a world in a SQLite file that refuses to delete an app another app still needs.

Environment: ``$WORLD_DB`` the world's file; ``$APPS`` the desired apps, space separated, ``b>a`` for an app
``b`` that ``depends_on`` ``a`` (no ref); ``$GUARD`` the edges the world enforces on delete, same syntax
(``b>a``: ``a`` is not deleted while ``b`` exists, as a real API refuses to delete what is in use);
``$FAIL_DELETE`` the apps whose delete fails. The world stores no ``depends_on``, as no real API reports it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from typing import Any

import reconcile as rc
from tests.support.delete_order import App


def _pairs(text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for word in text.split():
        name, _, needed = word.partition(">")
        out.append((name, needed or None))
    return out


class GuardedWorld:
    """The provider of kind ``app`` over a SQLite file; each delete takes 0.2 s after its check."""

    def __init__(self, path: str, guard: dict[str, str], fail_delete: set[str]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("CREATE TABLE IF NOT EXISTS apps (name TEXT PRIMARY KEY, size TEXT, app_id TEXT)")
        self.lock = threading.Lock()
        self.guard = guard
        self.fail_delete = fail_delete

    def list(self) -> list[App]:
        with self.lock:
            rows = self.conn.execute("SELECT name, size, app_id FROM apps ORDER BY name").fetchall()
        return [App(name, size=size, app_id=app_id) for name, size, app_id in rows]

    def read(self, address: rc.Address) -> App | None:
        return next((o for o in self.list() if o.name == address.key[0]), None)

    def create(self, desired: App, ctx: rc.Context) -> App:
        made = App(desired.name, size=desired.size, app_id="app-" + uuid.uuid4().hex[:8])
        with self.lock:
            self.conn.execute("INSERT INTO apps VALUES (?, ?, ?)", (made.name, made.size, made.app_id))
        return made

    def update(self, actual: App, desired: App, ctx: rc.Context) -> App:
        with self.lock:
            self.conn.execute("UPDATE apps SET size = ? WHERE name = ?", (desired.size, actual.name))
        return App(actual.name, size=desired.size, app_id=actual.app_id)

    def delete(self, actual: App, ctx: rc.Context) -> None:
        if actual.name in self.fail_delete:
            raise RuntimeError(f"app {actual.name}: the API refuses this delete today")
        existing = {o.name for o in self.list()}
        holders = sorted(b for b, a in self.guard.items() if a == actual.name and b in existing)
        if holders:
            raise RuntimeError(f"app {actual.name} is still in use by {', '.join(holders)}")
        # Long enough that a delete started at the same time still finds this app.
        time.sleep(0.2)
        with self.lock:
            self.conn.execute("DELETE FROM apps WHERE name = ?", (actual.name,))


def desired() -> tuple[rc.State, dict[str, Any]]:
    apps = [
        App(name, depends_on=[rc.ref(App, needed)] if needed else []) for name, needed in _pairs(os.environ["APPS"])
    ]
    guard = {b: a for b, a in _pairs(os.environ.get("GUARD", "")) if a}
    fail = set(os.environ.get("FAIL_DELETE", "").split())
    return rc.State(apps), {"app": GuardedWorld(os.environ["WORLD_DB"], guard, fail)}
