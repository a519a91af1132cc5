"""The SQLite backend (stdlib ``sqlite3``): WAL, ``synchronous=FULL``, group commit, a reader per thread."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .backend import Backend, Op, T, Tx
from .errors import CorruptStoreError, StorageError

_HEADER = b"SQLite format 3\x00"
_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}


class _SQLiteTx(Tx):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()


class SQLiteBackend(Backend):
    """A store in one SQLite file, for one machine (several processes may share it).

    The file is in WAL mode with ``synchronous=FULL``: a commit is on disk when
    ``write`` returns, and readers never block the writer. A process stopped
    while it holds the write transaction blocks other processes' writes until
    it resumes or dies (SQLite has no server to time it out).

    Args:
        path: the database file; its folder is created if missing.
        clock: the ``time.time``-like clock.
        busy_timeout: seconds to wait for another process's write transaction.

    Raises:
        CorruptStoreError: the file exists but is not a SQLite database.
    """

    dialect = "sqlite"

    def __init__(self, path: str, *, clock: Callable[[], float] | None = None, busy_timeout: float = 30.0) -> None:
        super().__init__(f"sqlite:///{path}", clock=clock)
        self.path = path
        self.busy_timeout = busy_timeout
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, "rb") as f:
                if f.read(len(_HEADER)) != _HEADER:
                    raise CorruptStoreError(f"{self.url} is not a SQLite database (corrupted or another file)")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        # Set WAL once, up front, so a failure shows at open rather than at the first write.
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise self._store_error(exc) from None
        try:
            mode = self._switch_to_wal(conn)
            if mode is None or str(mode[0]).lower() != "wal":
                raise StorageError(f"{self.url}: cannot switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as exc:
            conn.close()
            raise self._store_error(exc) from None
        except BaseException:
            conn.close()
            raise
        self._remember(conn)
        self._local.conn = conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> Any:
        # Two connections switching a new file to WAL at once can get SQLITE_BUSY
        # at once: SQLite skips the busy handler where waiting could deadlock. The
        # switch holds its lock only briefly, so try again until busy_timeout.
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.001
        while True:
            try:
                return conn.execute("PRAGMA journal_mode=WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorname", "") not in _BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _remember(self, conn: sqlite3.Connection) -> None:
        with self._all_lock:
            self._all.append(conn)

    def read(self, op: Op[T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._local.conn = self._connect()
                self._remember(conn)
            conn.execute("BEGIN")
            try:
                return op(_SQLiteTx(conn))
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._store_error(exc) from None

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        self._remember(conn)
        return conn

    def _writer_tx(self, conn: Any) -> Tx:
        return _SQLiteTx(conn)

    def _run(self, conn: Any, sql: str) -> None:
        conn.execute(sql)

    def _begin_sql(self) -> str:
        # Take the write lock up front: a deferred transaction that upgrades later
        # can fail with SQLITE_BUSY without waiting.
        return "BEGIN IMMEDIATE"

    def _store_error(self, exc: BaseException) -> BaseException:
        if not isinstance(exc, sqlite3.Error):
            return exc
        name = getattr(exc, "sqlite_errorname", "")
        if name in _CORRUPT:
            error: StorageError = CorruptStoreError(f"{self.url} is corrupted or truncated ({exc}); nothing changed")
        else:
            error = StorageError(f"{self.url}: {exc}")
        error.__cause__ = exc
        return error

    def _close_connections(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
