"""The PostgreSQL backend, through psycopg 3 (the one module importing it, on use; extra ``postgres``)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .backend import Backend, Op, T, Tx
from .errors import StorageError


def _sql(text: str) -> str:
    # Ops write ``?`` placeholders; psycopg takes ``%s`` and reads ``%`` as the escape.
    return text.replace("%", "%%").replace("?", "%s")


class _PgTx(Tx):
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = self.conn.execute(_sql(sql), tuple(params))
        return int(cur.rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_sql(sql), [tuple(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(_sql(sql), tuple(params)).fetchall())

    def locking(self, mode: str) -> str:
        return " FOR UPDATE" if mode == "update" else " FOR SHARE"

    def notify(self, channel: str, payload: str = "") -> None:
        if self.notes is None:
            raise StorageError("notify: only a write transaction can notify")
        # NOTIFY is transactional: delivered at commit, dropped with a rolled-back savepoint.
        self.execute("SELECT pg_notify(?, ?)", (channel, payload))


def display_url(url: str) -> str:
    """``url`` without its password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


class PostgresBackend(Backend):
    """A store in a PostgreSQL database, for several machines.

    Sessions set ``idle_in_transaction_session_timeout``, so a client stopped
    inside a transaction (paused, partitioned) loses its locks instead of
    blocking everyone.

    Args:
        url: a libpq URL (``postgresql://user:password@host:port/db``).
        clock: the ``time.time``-like clock.
        idle_timeout: seconds after which the server ends a session idle inside a transaction.

    Raises:
        StorageError: psycopg is not installed (``pip install 'reconcile[postgres]'``) or the server refused.
    """

    dialect = "postgresql"
    notifies_other_processes = True

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None, idle_timeout: float = 10.0) -> None:
        super().__init__(display_url(url), clock=clock)
        try:
            import psycopg
        except ImportError:
            raise StorageError("PostgreSQL stores need psycopg 3: pip install 'reconcile[postgres]'") from None
        self._psycopg = psycopg
        self._dsn = url.replace("postgres://", "postgresql://", 1)
        self.idle_timeout = idle_timeout
        self._read_lock = threading.Lock()
        self._all: list[Any] = []
        self._reader = self._connect()
        # Reads only, also for ``query``'s statements that run with no transaction of their own around them.
        self._reader.execute("SET default_transaction_read_only = on")

        self._channels: set[str] = set()
        self._listening: list[threading.Event] = []
        self._listen_lock = threading.Lock()
        self._listener: threading.Thread | None = None

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(self._dsn, autocommit=True)
            conn.execute(f"SET idle_in_transaction_session_timeout = {int(self.idle_timeout * 1000)}")
        except self._psycopg.Error as exc:
            raise StorageError(f"cannot connect to {self.url}: {str(exc).strip()}") from None
        self._all.append(conn)
        return conn

    def read(self, op: Op[T]) -> T:
        with self._read_lock:
            conn = self._reader
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    return op(_PgTx(conn))
                finally:
                    conn.execute("ROLLBACK")
            except self._psycopg.Error as exc:
                raise self._store_error(exc) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement in autocommit: its own snapshot, in one round trip (no BEGIN and ROLLBACK around it)."""
        with self._read_lock:
            try:
                return list(self._reader.execute(_sql(sql), tuple(params)).fetchall())
            except self._psycopg.Error as exc:
                raise self._store_error(exc) from None

    def _listen(self, channel: str) -> None:
        """LISTEN on ``channel`` in the listener thread's own connection; return once it listens."""
        with self._listen_lock:
            if channel in self._channels:
                return
            self._channels.add(channel)
            ready = threading.Event()
            self._listening.append(ready)
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen_loop, name=f"reconcile-listen {self.url}")
                self._listener.daemon = True
                self._listener.start()
        if not ready.wait(10):
            raise StorageError(f"{self.url}: could not LISTEN on {channel!r} within 10s")

    def _listen_loop(self) -> None:
        conn: Any = None
        listened: set[str] = set()
        lost = False
        while not self._closed:
            ready: list[threading.Event] = []
            try:
                if conn is None:
                    conn = self._psycopg.connect(self._dsn, autocommit=True)
                    listened = set()
                with self._listen_lock:
                    wanted, ready = set(self._channels), list(self._listening)
                    self._listening.clear()
                for channel in sorted(wanted - listened):
                    conn.execute(f'LISTEN "{channel}"')
                    listened.add(channel)
                for event in ready:
                    event.set()
                if lost:
                    # Whatever was notified while the connection was down is gone: subscribers look again.
                    lost = False
                    self.deliver("*", None)
                for note in conn.notifies(timeout=0.25):
                    self.deliver(note.channel, note.payload)
            except self._psycopg.Error:
                if self._closed:
                    break
                with contextlib.suppress(Exception):
                    conn.close()
                conn, lost = None, True
                with self._listen_lock:
                    self._listening.extend(ready)
                time.sleep(0.25)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _connect_writer(self) -> Any:
        return self._connect()

    def _writer_tx(self, conn: Any) -> Tx:
        return _PgTx(conn)

    def _run(self, conn: Any, sql: str) -> None:
        conn.execute(sql)

    def _take_advisory_locks(self, conn: Any, keys: Sequence[int]) -> None:
        for key in keys:  # ascending: every transaction takes them in the same order
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def _store_error(self, exc: BaseException) -> BaseException:
        if not isinstance(exc, self._psycopg.Error):
            return exc
        error = StorageError(f"{self.url}: {str(exc).strip()}")
        error.__cause__ = exc
        return error

    def _close_connections(self) -> None:
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout=2)
        for conn in self._all:
            conn.close()
        self._all.clear()
