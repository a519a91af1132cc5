"""SQLite specifics: damaged files give typed errors, WAL and full sync are on, and nothing is applied from them."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import threading
import time

import pytest

import reconcile as rc
from reconcile.journal import CorruptStoreError, Journal
from reconcile.storage import SQLiteBackend, StorageError, open_store
from reconcile.testing import InMemoryProvider
from tests.support.models import Network


def _journal_with_history(path: pathlib.Path) -> None:
    providers = {"network": InMemoryProvider(Network)}
    nets = rc.State([Network(f"n{i}", f"10.{i}.0.0/16", tags={"pad": "x" * 200}) for i in range(200)])
    with Journal.open(f"sqlite:///{path}") as journal:
        assert rc.apply(rc.plan(nets, rc.observe(providers)), providers, journal=journal).ok


def test_a_file_that_is_not_a_database_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CorruptStoreError, match="not a SQLite database"):
        Journal.open(f"sqlite:///{path}")


def test_a_truncated_journal_gives_a_typed_error_and_applies_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.db"
    _journal_with_history(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 3)
    providers = {"network": InMemoryProvider(Network)}
    plan = rc.plan(rc.State([Network("x", "10.0.0.0/8")]), rc.observe(providers))
    with pytest.raises(CorruptStoreError, match="corrupted or truncated"), Journal.open(f"sqlite:///{path}") as journal:
        journal.applies()
        journal.steps(journal.applies()[0].id)
        rc.apply(plan, providers, journal=journal)
    assert providers["network"].methods_called("create") == []


def test_a_damaged_page_gives_a_typed_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.db"
    _journal_with_history(path)
    with open(path, "r+b") as f:
        f.seek(4096 * 2)
        f.write(b"\xff" * 4096 * 3)
    with pytest.raises(CorruptStoreError), Journal.open(f"sqlite:///{path}") as journal:
        for run in journal.applies():
            journal.steps(run.id)


def test_wal_and_full_sync_are_on(tmp_path: pathlib.Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/x.db") as store:
        assert isinstance(store, SQLiteBackend)
        mode = store.read(lambda tx: tx.one("PRAGMA journal_mode"))
        sync = store.write(lambda tx: tx.one("PRAGMA synchronous"))
        assert mode == ("wal",)
        assert sync == (2,)  # FULL


def _hold_write_lock_on_a_rollback_file(path: pathlib.Path) -> sqlite3.Connection:
    """A connection that made ``path`` in rollback-journal mode and holds its write lock, as a process creating it would."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_opening_waits_for_a_writer_that_holds_the_file_in_rollback_mode(tmp_path: pathlib.Path) -> None:
    """SQLite refuses the WAL switch at once (no busy handler) while another connection writes; the open waits instead."""
    path = tmp_path / "x.db"
    holder = _hold_write_lock_on_a_rollback_file(path)
    releaser = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    releaser.start()
    try:
        start = time.monotonic()
        with open_store(f"sqlite:///{path}") as store:
            waited = time.monotonic() - start
            assert store.read(lambda tx: tx.one("PRAGMA journal_mode")) == ("wal",)
        assert waited >= 0.25
    finally:
        releaser.join()
        holder.close()


def test_opening_gives_up_after_the_busy_timeout_with_a_storage_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.db"
    holder = _hold_write_lock_on_a_rollback_file(path)
    try:
        start = time.monotonic()
        with pytest.raises(StorageError, match=r"x\.db: database is locked"):
            SQLiteBackend(str(path), busy_timeout=0.2)
        assert time.monotonic() - start >= 0.2
    finally:
        holder.close()


def test_threads_opening_one_new_file_at_once_all_succeed(tmp_path: pathlib.Path) -> None:
    """The race the WAL switch loses sometimes (about 1 round in 100 before the wait); 40 rounds of 8 openers."""
    for round_ in range(40):
        url = f"sqlite:///{tmp_path}/r{round_}.db"
        errors: list[BaseException] = []

        def opener(url: str = url, errors: list[BaseException] = errors) -> None:
            try:
                with open_store(url) as store:
                    store.read(lambda tx: tx.one("PRAGMA journal_mode"))
            except BaseException as exc:  # collected and asserted on below
                errors.append(exc)

        threads = [threading.Thread(target=opener) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
