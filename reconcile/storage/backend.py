"""The ``Backend`` interface: transactions over a SQL store, with one writer thread that commits in groups."""

from __future__ import annotations

import abc
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from .errors import StorageError

_log = logging.getLogger("reconcile.storage")

T = TypeVar("T")

Op = Callable[["Tx"], T]
"""A unit of work: a function of a ``Tx``; it either returns (its writes land) or raises (none of them do)."""


class Tx(abc.ABC):
    """One transaction as an op sees it. SQL uses ``?`` placeholders on every backend.

    Attributes:
        dialect: ``"sqlite"`` or ``"postgresql"``, for the few statements that differ.
        notes: the notifications a write transaction delivers once it commits (``None`` in a read).
        advisory_locks: the keys of the advisory locks the writer took at the start of this transaction for
            its ops (``Backend.submit``'s ``locks``; empty in a read).
    """

    dialect: str
    notes: list[tuple[str, str]] | None = None
    advisory_locks: frozenset[int] = frozenset()

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; return every row."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Run a query; return its first row, or ``None``."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def locking(self, mode: str) -> str:
        """The clause that row-locks a ``SELECT`` (``"update"`` or ``"share"``) where the backend has one.

        SQLite needs none: a write transaction holds the whole database.
        """
        return ""

    def notify(self, channel: str, payload: str = "") -> None:
        """Tell ``channel``'s subscribers ``payload`` once this transaction commits (nothing if it rolls back).

        SQLite tells the subscribers of this process; PostgreSQL (``NOTIFY``)
        those of every process listening on the database.
        """
        if self.notes is None:
            raise StorageError("notify: only a write transaction can notify")
        self.notes.append((channel, payload))


class _Stop:
    pass


_STOP = _Stop()


class Backend(abc.ABC):
    """A SQL store that ``reconcile.storage`` users read and write through ops (functions of a ``Tx``).

    Writes go through one writer thread: ``submit`` queues an op and returns a
    future; the writer takes every op queued so far, runs each in a savepoint
    of one transaction and commits them together, so a burst of writes costs
    one durable commit (group commit). An op that raises is rolled back alone;
    its future holds the exception. ``write`` is ``submit(op).result()``.

    Attributes:
        url: the store's URL without any password.
        clock: the ``time.time``-like clock leases and records use.
        commits: how many group commits were made (for benchmarks).
        ops: how many ops were committed.
    """

    dialect: str = ""

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None, max_batch: int = 1024) -> None:
        self.url = url
        self.clock = clock or time.time
        self.max_batch = max_batch
        self.commits = 0
        self.ops = 0
        self._queue: queue.SimpleQueue[tuple[Future[Any], Op[Any], tuple[int, ...]] | _Stop] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._subscribers: dict[str, list[Callable[[str | None], None]]] = {}
        self._subscribers_lock = threading.Lock()

    # ------------------------------------------------------------ public

    def submit(self, op: Op[T], *, locks: Iterable[int] = ()) -> Future[T]:
        """Queue ``op`` for the writer; the future resolves once its transaction is durably committed.

        Args:
            op: the op.
            locks: keys of the advisory locks (PostgreSQL's ``pg_advisory_xact_lock``) the op needs held. The
                writer takes every lock its group of ops asked for right after ``BEGIN``, in ascending key
                order, before any op runs: so they come before every row lock of the transaction, whatever
                ops share it, and every transaction takes them in one order (an op taking an advisory lock
                itself, after another op of its group locked rows, could deadlock with another process).
                SQLite needs none: its write transaction holds the whole database.

        Raises:
            StorageError: the backend is closed.
        """
        if self._closed:
            raise StorageError(f"store {self.url} is closed")
        if self._writer is None:
            self._start_writer()
        future: Future[T] = Future()
        self._queue.put((future, op, tuple(sorted(set(locks)))))
        return future

    def write(self, op: Op[T], *, locks: Iterable[int] = ()) -> T:
        """Run ``op`` in a write transaction and return its result once durably committed.

        Args:
            op: the op.
            locks: advisory lock keys held for the op, as for ``submit``.

        Raises:
            StorageError: the store failed (``CorruptStoreError`` for a damaged one).
            Exception: whatever ``op`` raised (nothing it wrote landed).
        """
        return self.submit(op, locks=locks).result()

    def flush(self) -> None:
        """Return once every op submitted before the call is committed (or failed)."""
        self.write(lambda tx: None)

    @abc.abstractmethod
    def read(self, op: Op[T]) -> T:
        """Run ``op`` in a read transaction (a consistent snapshot) in the calling thread and return its result."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only statement on its own snapshot and return its rows.

        What ``read`` gives for an op of one statement, for the hottest reads:
        a backend may run it with no transaction around it (PostgreSQL: one
        round trip instead of three), since one statement sees one snapshot.
        """
        return self.read(lambda tx: tx.query(sql, params))

    notifies_other_processes = False
    """Whether ``Tx.notify`` reaches subscribers in other processes (PostgreSQL) or only this one's (SQLite)."""

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> Subscription:
        """Call ``callback(payload)`` for every notification on ``channel`` committed from now on.

        Callbacks run in a thread of the backend and must be quick. A payload of
        ``None`` says notifications may have been missed (a lost connection to
        the server, now back): look at everything again.

        Raises:
            StorageError: the backend is closed, or the channel name is not an identifier.
        """
        if self._closed:
            raise StorageError(f"store {self.url} is closed")
        if not channel.isidentifier() or len(channel) > 63:
            raise StorageError(f"subscribe: channel {channel!r} must be an identifier of at most 63 characters")
        with self._subscribers_lock:
            self._subscribers.setdefault(channel, []).append(callback)
        self._listen(channel)
        return Subscription(self, channel, callback)

    def unsubscribe(self, channel: str, callback: Callable[[str | None], None]) -> None:
        """Stop calling ``callback`` for ``channel`` (what ``Subscription.close`` does)."""
        with self._subscribers_lock:
            callbacks = self._subscribers.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)

    def deliver(self, channel: str, payload: str | None) -> None:
        """Call ``channel``'s subscribers with ``payload`` (``channel`` ``"*"``: every subscriber)."""
        with self._subscribers_lock:
            if channel == "*":
                callbacks = [cb for cbs in self._subscribers.values() for cb in cbs]
            else:
                callbacks = list(self._subscribers.get(channel, ()))
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:
                # A subscriber's bug must not stop the writer or the listener.
                _log.exception("storage: a subscriber of %r failed", channel)

    def fenced(self, fence: Callable[[Tx], None]) -> Backend:
        """A view of this backend whose every write first runs ``fence(tx)`` in the same transaction.

        ``fence`` raises (``FencedError``, say) to refuse the write; then
        nothing of it lands. Reads go to this backend unchanged; closing the
        view does not close this backend.
        """
        return FencedBackend(self, fence)

    def close(self) -> None:
        """Commit what is queued, stop the writer and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        writer = self._writer
        if writer is not None:
            self._queue.put(_STOP)
            writer.join()
        self._close_connections()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    # ------------------------------------------------------------ for subclasses

    @abc.abstractmethod
    def _connect_writer(self) -> Any:
        """Open the writer's connection (called in the writer thread)."""

    @abc.abstractmethod
    def _writer_tx(self, conn: Any) -> Tx:
        """The ``Tx`` view of the writer's connection."""

    @abc.abstractmethod
    def _run(self, conn: Any, sql: str) -> None:
        """Run a transaction-control statement on ``conn``."""

    def _begin_sql(self) -> str:
        return "BEGIN"

    def _take_advisory_locks(self, conn: Any, keys: Sequence[int]) -> None:
        """Take the advisory locks ``keys`` (ascending) in the transaction just begun, where the backend has them."""
        return None

    def _listen(self, channel: str) -> None:
        """Start receiving ``channel``'s notifications from other processes, where the backend can."""
        return None

    @abc.abstractmethod
    def _store_error(self, exc: BaseException) -> BaseException:
        """The ``StorageError`` for a driver exception (``exc`` itself if it is not the driver's)."""

    @abc.abstractmethod
    def _close_connections(self) -> None:
        """Close every open connection."""

    # ------------------------------------------------------------ the writer

    def _start_writer(self) -> None:
        with self._start_lock:
            if self._writer is None:
                ready: Future[None] = Future()
                thread = threading.Thread(target=self._write_loop, args=(ready,), name=f"reconcile-writer {self.url}")
                thread.daemon = True
                thread.start()
                ready.result()
                self._writer = thread

    def _write_loop(self, ready: Future[None]) -> None:
        try:
            conn = self._connect_writer()
        except BaseException as exc:
            ready.set_exception(self._store_error(exc))
            return
        ready.set_result(None)
        tx = self._writer_tx(conn)
        notes: list[tuple[str, str]] = []
        tx.notes = notes
        stop = False
        while not stop:
            first = self._queue.get()
            if isinstance(first, _Stop):
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stop = True
                    break
                batch.append(item)
            self._commit_batch(conn, tx, batch, notes)
        # Ops queued after the stop (a race with close) are refused, not lost silently.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, _Stop):
                item[0].set_exception(StorageError(f"store {self.url} is closed"))

    def _commit_batch(
        self,
        conn: Any,
        tx: Tx,
        batch: list[tuple[Future[Any], Op[Any], tuple[int, ...]]],
        notes: list[tuple[str, str]],
    ) -> None:
        done: list[tuple[Future[Any], Any, bool]] = []
        notes.clear()
        keys = sorted({key for _future, _op, locks in batch for key in locks})
        tx.advisory_locks = frozenset()
        # An op alone in its transaction needs no savepoint: rolling the transaction back undoes it alone.
        # Most batches are one op; this saves two statements (each a round trip, or a GIL hand-off) per commit.
        alone = len(batch) == 1
        try:
            self._run(conn, self._begin_sql())
            # Before any op's row locks, and outside every op's savepoint (an op rolled back keeps them).
            self._take_advisory_locks(conn, keys)
            tx.advisory_locks = frozenset(keys)
            for future, op, _locks in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                if alone:
                    try:
                        result = op(tx)
                    except BaseException as exc:
                        notes.clear()
                        self._run(conn, "ROLLBACK")
                        future.set_exception(self._store_error(exc))
                        return
                    done.append((future, result, False))
                    continue
                self._run(conn, "SAVEPOINT op")
                mark = len(notes)
                try:
                    result = op(tx)
                except BaseException as exc:
                    del notes[mark:]
                    self._run(conn, "ROLLBACK TO SAVEPOINT op")
                    self._run(conn, "RELEASE SAVEPOINT op")
                    done.append((future, self._store_error(exc), True))
                else:
                    self._run(conn, "RELEASE SAVEPOINT op")
                    done.append((future, result, False))
            self._run(conn, "COMMIT")
        except BaseException as exc:
            error = self._store_error(exc)
            with contextlib.suppress(BaseException):
                self._run(conn, "ROLLBACK")
            for future, _op, _locks in batch:
                if future.running():
                    future.set_exception(error)
            return
        self.commits += 1
        self.ops += len(done)
        for channel, payload in notes:
            self.deliver(channel, payload)
        notes.clear()
        for future, value, failed in done:
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)


class Subscription:
    """A callback subscribed to a channel of a backend (``Backend.subscribe``); ``close`` ends it.

    Attributes:
        channel: the channel.
    """

    def __init__(self, backend: Backend, channel: str, callback: Callable[[str | None], None]) -> None:
        self._backend = backend
        self.channel = channel
        self._callback = callback

    def close(self) -> None:
        """Stop the callback (idempotent)."""
        self._backend.unsubscribe(self.channel, self._callback)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FencedBackend(Backend):
    """A view of a backend whose every write runs a fence check first, in the write's own transaction.

    Made by ``Backend.fenced``: the writes a lease holder makes go through it,
    so a holder that lost its lease has every later write refused.

    Args:
        inner: the backend written to.
        fence: called with each write's ``Tx`` before the write; raises to refuse it.
    """

    def __init__(self, inner: Backend, fence: Callable[[Tx], None]) -> None:
        super().__init__(inner.url, clock=inner.clock)
        self.inner = inner
        self.fence = fence
        self.dialect = inner.dialect
        self.notifies_other_processes = inner.notifies_other_processes

    def submit(self, op: Op[T], *, locks: Iterable[int] = ()) -> Future[T]:
        fence = self.fence

        def fenced_op(tx: Tx) -> T:
            fence(tx)
            return op(tx)

        return self.inner.submit(fenced_op, locks=locks)

    def read(self, op: Op[T]) -> T:
        return self.inner.read(op)

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> Subscription:
        return self.inner.subscribe(channel, callback)

    def close(self) -> None:
        """Nothing to close: the inner backend belongs to whoever opened it."""

    def _connect_writer(self) -> Any:
        raise StorageError("a fenced view writes through its inner backend")

    def _writer_tx(self, conn: Any) -> Tx:
        raise StorageError("a fenced view writes through its inner backend")

    def _run(self, conn: Any, sql: str) -> None:
        raise StorageError("a fenced view writes through its inner backend")

    def _store_error(self, exc: BaseException) -> BaseException:
        return exc

    def _close_connections(self) -> None:
        pass
