"""The world of the crash tests: items in their own SQLite file, a provider over it, and the applier that gets killed."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import uuid
from typing import Any

import reconcile as rc
from reconcile.journal import Journal
from reconcile.storage import SQLiteBackend


@rc.resource(kind="item")
class Item:
    name: str = rc.identity()
    size: int = rc.spec(default=0)
    shape: str = rc.spec(default="a", replace_on_change=True)
    item_id: str | None = rc.computed()


def _item(row: Any) -> Item:
    return Item(row[0], size=row[1], shape=row[2], item_id=row[3])


class World:
    """Items in a SQLite file. Names are not unique (like tagged cloud instances): a second create makes a twin."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        # SIGKILL loses nothing the kernel already has; only power loss needs fsync.
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, name TEXT NOT NULL, size INT, shape TEXT)"
        )
        self.conn.execute("CREATE TABLE IF NOT EXISTS creates (n INTEGER PRIMARY KEY, name TEXT, key TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, item_id TEXT)")
        self.lock = threading.Lock()

    def items(self) -> list[Item]:
        with self.lock:
            rows = self.conn.execute("SELECT name, size, shape, item_id FROM items ORDER BY name").fetchall()
        return [_item(r) for r in rows]

    def creates(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM creates").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


class WorldProvider:
    """The provider of kind ``item`` over a ``World``; ``idempotent`` honours ``ctx.idempotency_key``."""

    def __init__(self, world: World, *, idempotent: bool = False) -> None:
        self.world = world
        self.idempotent = idempotent

    def list(self) -> list[Item]:
        return self.world.items()

    def read(self, address: rc.Address) -> Item | None:
        with self.world.lock:
            row = self.world.conn.execute(
                "SELECT name, size, shape, item_id FROM items WHERE name = ? ORDER BY rowid LIMIT 1", (address.key[0],)
            ).fetchone()
        return None if row is None else _item(row)

    def create(self, desired: Item, ctx: rc.Context) -> Item:
        w = self.world
        with w.lock:
            if self.idempotent:
                row = w.conn.execute(
                    "SELECT i.name, i.size, i.shape, i.item_id FROM tokens t JOIN items i ON i.item_id = t.item_id "
                    "WHERE t.key = ?",
                    (ctx.idempotency_key,),
                ).fetchone()
                if row is not None:
                    return _item(row)
            item_id = "i-" + uuid.uuid4().hex[:12]
            w.conn.execute("BEGIN")
            w.conn.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?)", (item_id, desired.name, desired.size, desired.shape)
            )
            w.conn.execute("INSERT INTO creates (name, key) VALUES (?, ?)", (desired.name, ctx.idempotency_key))
            if self.idempotent:
                w.conn.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?)", (ctx.idempotency_key, item_id))
            w.conn.execute("COMMIT")
        return _item((desired.name, desired.size, desired.shape, item_id))

    def update(self, actual: Item, desired: Item, ctx: rc.Context) -> Item:
        with self.world.lock:
            self.world.conn.execute("UPDATE items SET size = ? WHERE item_id = ?", (desired.size, actual.item_id))
        return _item((desired.name, desired.size, desired.shape, actual.item_id))

    def delete(self, actual: Item, ctx: rc.Context) -> None:
        with self.world.lock:
            self.world.conn.execute("DELETE FROM items WHERE item_id = ?", (actual.item_id,))


class ReadOnlyProvider(WorldProvider):
    """A provider that cannot list: its kind is observed from the journal."""

    def list(self) -> list[Item]:
        raise NotImplementedError


def initial_items() -> list[Item]:
    """210 items: 60 to update, 40 to replace, 60 to delete, 50 left alone."""
    return [Item(f"old{i:03d}", size=1, shape="a") for i in range(210)]


def desired_items() -> list[Item]:
    """The desired state: a 300-step plan from the initial one (100 creates, 60 updates, 40 replaces, 60 deletes)."""
    out = [Item(f"new{i:03d}", size=i, shape="a") for i in range(100)]
    for i in range(210):
        if i < 60:
            out.append(Item(f"old{i:03d}", size=2, shape="a"))
        elif i < 100:
            out.append(Item(f"old{i:03d}", size=1, shape="b"))
        elif i < 160:
            continue
        else:
            out.append(Item(f"old{i:03d}", size=1, shape="a"))
    return out


def providers_for(world: World, variant: str) -> dict[str, Any]:
    if variant == "read-only":
        return {"item": ReadOnlyProvider(world)}
    return {"item": WorldProvider(world, idempotent=variant == "idempotent")}


class KillingBackend(SQLiteBackend):
    """A SQLite store that SIGKILLs its own process at its ``commit``-th commit, just before or after it."""

    def __init__(self, path: str, commit: int, when: str) -> None:
        super().__init__(path)
        self.commit_at = commit
        self.when = when
        self.seen = 0

    def _run(self, conn: Any, sql: str) -> None:
        if sql != "COMMIT":
            super()._run(conn, sql)
            return
        self.seen += 1
        if self.seen == self.commit_at and self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        super()._run(conn, sql)
        if self.seen == self.commit_at and self.when == "after":
            os.kill(os.getpid(), signal.SIGKILL)


def observe(journal: Journal, providers: dict[str, Any], variant: str) -> rc.State:
    if variant == "read-only":
        return journal.observe(providers, [rc.address_of(i) for i in desired_items()])
    return rc.observe(providers)


def run_child(folder: str, variant: str, kill_commit: int, when: str, ready: Any, commits: Any) -> None:
    """The applier that gets killed: observe, plan and apply the 300-step plan under a lease."""
    world = World(os.path.join(folder, "world.db"))
    path = os.path.join(folder, "journal.db")
    backend = KillingBackend(path, kill_commit, when) if kill_commit else SQLiteBackend(path)
    journal = Journal(backend, types=[Item])
    providers = providers_for(world, variant)
    with journal.lease("crash", owner=f"child-{os.getpid()}", ttl=30) as lease:
        plan = rc.plan(rc.State(desired_items()), observe(journal, providers, variant))
        ready.set()
        rc.apply(plan, providers, journal=journal, lease=lease, executor=rc.ThreadExecutor(8))
    commits.value = backend.commits
    journal.close()
    world.close()
