"""Notifications and fenced views, on SQLite and on PostgreSQL: delivered at commit, dropped with a rollback."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

import pytest

from reconcile.storage import (
    FencedError,
    LeaseOptionError,
    Migration,
    StorageError,
    Tx,
    acquire,
    epoch_fence,
    migrate,
    open_store,
)


def _table(tx: Tx) -> None:
    tx.execute("CREATE TABLE items (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")


SCHEMA = (Migration(1, "items", _table),)


def _put(k: str, v: int, channel: str = "items") -> Callable[[Tx], None]:
    def op(tx: Tx) -> None:
        tx.execute("INSERT INTO items (k, v) VALUES (?, ?)", (k, v))
        tx.notify(channel, k)

    return op


def _drain(q: queue.Queue[str | None], timeout: float = 10.0) -> str | None:
    return q.get(timeout=timeout)


def test_a_committed_write_notifies_its_subscribers(store_url: str) -> None:
    with open_store(store_url) as backend:
        migrate(backend, "t", SCHEMA)
        got: queue.Queue[str | None] = queue.Queue()
        other: queue.Queue[str | None] = queue.Queue()
        with backend.subscribe("items", got.put), backend.subscribe("others", other.put):
            backend.write(_put("a", 1))
            assert _drain(got) == "a"
        backend.write(_put("b", 2))
        backend.flush()
        time.sleep(0.3)  # a closed subscription gets nothing more, nor does another channel
        assert got.empty() and other.empty()


def test_a_rolled_back_write_notifies_nobody(store_url: str) -> None:
    with open_store(store_url) as backend:
        migrate(backend, "t", SCHEMA)
        got: queue.Queue[str | None] = queue.Queue()
        backend.subscribe("items", got.put)

        def failing(tx: Tx) -> None:
            tx.notify("items", "lost")
            raise ValueError("boom")

        futures = [backend.submit(failing), backend.submit(_put("kept", 1))]
        with pytest.raises(ValueError):
            futures[0].result()
        futures[1].result()
        assert _drain(got) == "kept"
        time.sleep(0.3)
        assert got.empty()


def test_notify_in_a_read_is_refused(store_url: str) -> None:
    with open_store(store_url) as backend, pytest.raises(StorageError, match="only a write"):
        backend.read(lambda tx: tx.notify("items", "x"))


def test_a_bad_channel_is_refused(store_url: str) -> None:
    with open_store(store_url) as backend, pytest.raises(StorageError, match="channel"):
        backend.subscribe("no spaces; allowed", lambda p: None)


def test_postgres_notifies_other_processes_sqlite_does_not(store_url: str) -> None:
    with open_store(store_url) as writer, open_store(store_url) as listener:
        migrate(writer, "t", SCHEMA)
        got: queue.Queue[str | None] = queue.Queue()
        listener.subscribe("items", got.put)
        writer.write(_put("a", 1))
        assert writer.notifies_other_processes == store_url.startswith("postgresql")
        if writer.notifies_other_processes:
            assert _drain(got) == "a"  # another connection, as another process would have
        else:
            time.sleep(0.3)
            assert got.empty()


def test_a_fenced_view_writes_only_while_the_epoch_holds(store_url: str) -> None:
    with open_store(store_url) as backend:
        migrate(backend, "t", SCHEMA)
        first = acquire(backend, "leader", "a", ttl=60, renew=False)
        view = backend.fenced(epoch_fence(backend, "leader", first.epoch))
        view.write(_put("a", 1))
        first.release()
        with pytest.raises(FencedError, match="released"):
            view.write(_put("b", 2))
        second = acquire(backend, "leader", "b", ttl=60, renew=False)
        with pytest.raises(FencedError, match=f"newer epoch {second.epoch}"):
            view.write(_put("c", 3))
        backend.fenced(epoch_fence(backend, "leader", second.epoch)).write(_put("d", 4))
        view.close()  # closes nothing of the backend
        keys = backend.read(lambda tx: [r[0] for r in tx.query("SELECT k FROM items ORDER BY k")])
        assert keys == ["a", "d"]  # nothing of a refused write landed
        second.release()


def test_an_expired_epoch_is_fenced(store_url: str) -> None:
    now = [1000.0]
    with open_store(store_url, clock=lambda: now[0]) as backend:
        migrate(backend, "t", SCHEMA)
        held = acquire(backend, "leader", "a", ttl=5, renew=False)
        view = backend.fenced(epoch_fence(backend, "leader", held.epoch))
        now[0] += 6
        with pytest.raises(FencedError, match="expired"):
            view.write(_put("a", 1))
        with pytest.raises(FencedError, match="never taken"):
            backend.fenced(epoch_fence(backend, "other", 1)).write(_put("a", 1))


@pytest.mark.parametrize(("name", "epoch"), [("", 1), ("x", 0), ("x", True)])
def test_epoch_fence_refuses_bad_options(tmp_path: object, name: str, epoch: int) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.db") as backend, pytest.raises(LeaseOptionError):
        epoch_fence(backend, name, epoch)


def test_a_lost_listening_connection_comes_back_and_says_notes_may_be_missed(postgres_url: str) -> None:
    import psycopg

    channel = "reconcile_test_lost_listener"
    with open_store(postgres_url) as backend:
        got: queue.Queue[str | None] = queue.Queue()
        backend.subscribe(channel, got.put)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{channel}"',)
            ).fetchall()
        assert killed == [(True,)]
        assert _drain(got) is None  # back, and telling subscribers to look again

        def note(tx: Tx) -> None:
            tx.notify(channel, "after")

        deadline = time.monotonic() + 10
        while True:  # the listener may still be re-listening when the first note commits
            backend.write(note)
            try:
                assert got.get(timeout=0.5) == "after"
                break
            except queue.Empty:
                assert time.monotonic() < deadline, "no notification after the reconnection"
