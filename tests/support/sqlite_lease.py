"""A lease (and a fenced write) in a SQLite file, shared by processes: the stand-in for the journal's lease in tests."""

from __future__ import annotations

import sqlite3
import threading
import time


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=normal")
    db.execute("create table if not exists leases (name text primary key, owner text, expires real, epoch integer)")
    db.execute("create table if not exists writes (id integer primary key, epoch integer, owner text, key text)")
    return db


class FencedError(Exception):
    """A write carried an epoch older than the lease's newest."""


class SqliteLease:
    """The ``reconcile.controller.Lease`` protocol over a SQLite table (wall-clock expiry)."""

    def __init__(self, path: str, name: str, *, owner: str, ttl: float) -> None:
        self.db = connect(path)
        self.name, self.owner, self.ttl = name, owner, ttl
        self._epoch: int | None = None
        # Held around every statement: a process that stops itself while holding it
        # cannot be inside one (so it holds no database lock while stopped).
        self.mutex = threading.Lock()

    def _acquire(self) -> bool:
        # One statement, so the database's write lock is held only inside SQLite:
        # a holder paused by SIGSTOP almost never sits on it.
        now = time.time()
        cur = self.db.execute(
            """
            insert into leases (name, owner, expires, epoch) values (:name, :owner, :expires, 1)
            on conflict (name) do update set
                epoch = case when leases.owner = :owner and leases.epoch = :mine and leases.expires > :now
                        then leases.epoch else leases.epoch + 1 end,
                owner = :owner,
                expires = :expires
            where (leases.owner = :owner and leases.epoch = :mine and leases.expires > :now)
                or leases.owner is null or leases.expires <= :now
            """,
            {"name": self.name, "owner": self.owner, "expires": now + self.ttl, "mine": self._epoch, "now": now},
        )
        if cur.rowcount != 1:
            self._epoch = None
            return False
        (self._epoch,) = self.db.execute("select epoch from leases where name = ?", (self.name,)).fetchone()
        return True

    def _renew(self) -> bool:
        now = time.time()
        cur = self.db.execute(
            "update leases set expires = ? where name = ? and owner = ? and epoch = ? and expires > ?",
            (now + self.ttl, self.name, self.owner, self._epoch, now),
        )
        if cur.rowcount != 1:
            self._epoch = None
            return False
        return True

    def _release(self) -> None:
        self.db.execute(
            "update leases set owner = null, expires = 0 where name = ? and owner = ? and epoch = ?",
            (self.name, self.owner, self._epoch),
        )
        self._epoch = None

    def acquire(self) -> bool:
        with self.mutex:
            return self._acquire()

    def renew(self) -> bool:
        with self.mutex:
            return self._renew()

    def release(self) -> None:
        with self.mutex:
            self._release()

    def write(self, epoch: int | None, key: str) -> None:
        """A durable write fenced by ``epoch``: refused once a newer epoch exists."""
        with self.mutex:
            self._write(epoch, key)

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def _write(self, epoch: int | None, key: str) -> None:
        """A durable write fenced by ``epoch``: refused once a newer epoch exists (one statement)."""
        cur = self.db.execute(
            "insert into writes (epoch, owner, key) select ?, ?, ? "
            "where ? >= (select epoch from leases where name = ?)",
            (epoch, self.owner, key, epoch if epoch is not None else -1, self.name),
        )
        if cur.rowcount != 1:
            raise FencedError(f"epoch {epoch} is older than the lease's newest")
