"""A provider of quickstart ``Network``s kept in a SQLite file, so several processes act on one world (and log calls)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator

import attrs

import reconcile as rc
from tests.support.models import Network

FIELDS = ("name", "cidr", "tags", "network_id")


class SharedNetworks:
    """``Network``s in a SQLite file; every write is logged with the calling ``owner`` and time."""

    def __init__(self, path: str, owner: str) -> None:
        self.owner = owner
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("pragma journal_mode=wal")
        self.db.execute("create table if not exists networks (name text primary key, body text)")
        self.db.execute("create table if not exists calls (id integer primary key, owner text, method text, at real)")

    def _log(self, method: str) -> None:
        self.db.execute("insert into calls (owner, method, at) values (?, ?, ?)", (self.owner, method, time.time()))

    def list(self) -> Iterator[Network]:
        for (body,) in self.db.execute("select body from networks").fetchall():
            yield Network(**json.loads(body))

    def read(self, address: rc.Address) -> Network | None:
        row = self.db.execute("select body from networks where name = ?", (address.key[0],)).fetchone()
        return None if row is None else Network(**json.loads(row[0]))

    def _store(self, net: Network) -> Network:
        stored = attrs.evolve(net, network_id=net.network_id or f"net-{net.name}")
        self.db.execute(
            "insert into networks values (?, ?) on conflict (name) do update set body = excluded.body",
            (net.name, json.dumps({f: getattr(stored, f) for f in FIELDS})),
        )
        return stored

    def create(self, desired: Network, ctx: rc.Context) -> Network:
        self._log("create")
        return self._store(desired)

    def update(self, actual: Network, desired: Network, ctx: rc.Context) -> Network:
        self._log("update")
        return self._store(attrs.evolve(desired, network_id=actual.network_id))

    def delete(self, actual: Network, ctx: rc.Context) -> None:
        self._log("delete")
        self.db.execute("delete from networks where name = ?", (actual.name,))


def calls(path: str) -> list[tuple[str, str, float]]:
    """Every logged write: (owner, method, time), in order."""
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute("select owner, method, at from calls order by id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
