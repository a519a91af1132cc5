"""SQLite specifics: damaged files give typed errors, WAL and full sync are on, and nothing is applied from them."""

from __future__ import annotations

import os
import pathlib

import pytest

import reconcile as rc
from reconcile.journal import CorruptStoreError, Journal
from reconcile.storage import SQLiteBackend, open_store
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
