"""Backend conformance: the same behaviour from the SQLite and the PostgreSQL store (group commit, migrations, leases)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from reconcile.storage import (
    FencedError,
    LeaseHeldError,
    LeaseNotFoundError,
    LeaseOptionError,
    Migration,
    SchemaVersionError,
    StorageError,
    StorageURLError,
    Tx,
    acquire,
    force_unlock,
    lease_info,
    migrate,
    open_store,
    schema_version,
)


def _table(tx: Tx) -> None:
    tx.execute("CREATE TABLE items (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")


def _column(tx: Tx) -> None:
    tx.execute("ALTER TABLE items ADD COLUMN note TEXT")


V1 = (Migration(1, "items", _table),)
V2 = (*V1, Migration(2, "items.note", _column))


def test_migrations_run_forward_once_and_record_the_version(store_url: str) -> None:
    with open_store(store_url) as store:
        assert migrate(store, "demo", V1) == 1
        assert migrate(store, "demo", V1) == 1
        assert migrate(store, "demo", V2) == 2
        store.write(lambda tx: tx.execute("INSERT INTO items (k, v, note) VALUES ('a', 1, 'n')"))
        assert store.read(lambda tx: schema_version(tx, "demo")) == 2
        assert store.read(lambda tx: tx.query("SELECT k, v, note FROM items")) == [("a", 1, "n")]


def test_a_store_at_a_newer_schema_is_refused_and_left_alone(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store, "demo", V2)
    with open_store(store_url) as store:
        with pytest.raises(SchemaVersionError, match="version 2, newer than the 1") as info:
            migrate(store, "demo", V1)
        assert (info.value.found, info.value.known) == (2, 1)
        assert store.read(lambda tx: schema_version(tx, "demo")) == 2


def test_a_failing_migration_leaves_the_schema_as_it_was(store_url: str) -> None:
    def broken(tx: Tx) -> None:
        tx.execute("CREATE TABLE half (x TEXT)")
        raise RuntimeError("migration bug")

    with open_store(store_url) as store:
        with pytest.raises(RuntimeError, match="migration bug"):
            migrate(store, "demo", (*V1, Migration(2, "broken", broken)))
        assert store.read(lambda tx: schema_version(tx, "demo")) == 0
        assert migrate(store, "demo", V1) == 1


def test_concurrent_writes_share_commits_and_all_land(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store, "demo", V1)
        n = 400
        futures = [
            store.submit(lambda tx, i=i: tx.execute("INSERT INTO items (k, v) VALUES (?, ?)", (f"k{i}", i)))
            for i in range(n)
        ]
        assert [f.result() for f in futures] == [1] * n
        assert store.commits < n
        assert store.read(lambda tx: tx.one("SELECT COUNT(*), SUM(v) FROM items")) == (n, n * (n - 1) // 2)
    with open_store(store_url) as again:
        assert again.read(lambda tx: tx.one("SELECT COUNT(*) FROM items")) == (n,)


def test_an_op_that_raises_is_rolled_back_alone(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store, "demo", V1)

        def bad(tx: Tx) -> None:
            tx.execute("INSERT INTO items (k, v) VALUES ('bad', 1)")
            raise ValueError("refused")

        def conflict(tx: Tx) -> None:
            tx.execute("INSERT INTO items (k, v) VALUES ('good', 2)")

        futures = [
            store.submit(lambda tx: tx.execute("INSERT INTO items (k, v) VALUES ('good', 1)")),
            store.submit(bad),
            store.submit(conflict),
            store.submit(lambda tx: tx.execute("INSERT INTO items (k, v) VALUES ('after', 3)")),
        ]
        assert futures[0].result() == 1
        with pytest.raises(ValueError, match="refused"):
            futures[1].result()
        with pytest.raises(StorageError):
            futures[2].result()
        assert futures[3].result() == 1
        assert sorted(store.read(lambda tx: tx.query("SELECT k, v FROM items"))) == [("after", 3), ("good", 1)]


def _advisory_locks_held(tx: Tx) -> tuple[list[int], list[int]]:
    """(the advisory locks the server says this session holds, the ones ``tx`` says it took)."""
    said = sorted(tx.advisory_locks)
    if tx.dialect != "postgresql":
        return said, said  # SQLite's write transaction holds the whole database: nothing more to take
    sql = "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
    return sorted(int(r[0]) for r in tx.query(sql)), said


def test_the_advisory_locks_a_write_names_are_held_from_its_transactions_start_by_every_op_of_its_group(
    store_url: str,
) -> None:
    with open_store(store_url) as store:
        running, gate = threading.Event(), threading.Event()

        def hold(tx: Tx) -> bool:
            running.set()
            return gate.wait(10)

        # The first op holds the writer (its batch taken) while the next three queue up: they share one
        # transaction, the next.
        first = store.submit(hold)
        assert running.wait(10)
        grouped = [
            store.submit(_advisory_locks_held),
            store.submit(_advisory_locks_held, locks=(7210499, 7210497, 7210499)),
            store.submit(_advisory_locks_held, locks=(7210498,)),
        ]
        gate.set()
        assert first.result() is True
        # Taken at BEGIN for the whole group, before any op ran: the first op of the group holds them already.
        assert [f.result() for f in grouped] == [([7210497, 7210498, 7210499], [7210497, 7210498, 7210499])] * 3
        assert store.write(_advisory_locks_held) == ([], [])  # released with the transaction that took them


def test_an_op_alone_in_its_commit_that_raises_lands_nothing_and_the_writer_goes_on(store_url: str) -> None:
    """A batch of one op runs without a savepoint: its failure rolls the whole transaction back, and only it."""
    with open_store(store_url) as store:
        migrate(store, "demo", V1)
        heard: list[str | None] = []
        store.subscribe("items", heard.append)

        def bad(tx: Tx) -> None:
            tx.execute("INSERT INTO items (k, v) VALUES ('bad', 1)")
            tx.notify("items", "bad")
            raise ValueError("refused")

        def duplicate(tx: Tx) -> None:
            tx.execute("INSERT INTO items (k, v) VALUES ('good', 2)")

        commits = store.commits
        with pytest.raises(ValueError, match="refused"):
            store.write(bad)  # write() waits: each op is alone in its batch
        assert store.write(lambda tx: tx.execute("INSERT INTO items (k, v) VALUES ('good', 1)")) == 1
        with pytest.raises(StorageError):
            store.write(duplicate)
        assert store.write(lambda tx: tx.execute("INSERT INTO items (k, v) VALUES ('after', 3)")) == 1
        assert store.commits == commits + 2, "the failed ops made no commit"
        assert sorted(store.read(lambda tx: tx.query("SELECT k, v FROM items"))) == [("after", 3), ("good", 1)]
        time.sleep(0.2)
        assert "bad" not in heard, "a rolled-back op notifies nobody"


def test_unknown_urls_are_typed_errors() -> None:
    with pytest.raises(StorageURLError, match="unknown store URL"):
        open_store("mysql://u@h/db")
    with pytest.raises(StorageURLError, match="bad SQLite URL"):
        open_store("sqlite://relative.db")


def test_postgres_url_errors_hide_the_password(postgres_url: str) -> None:
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(StorageError) as info:
        open_store(f"postgresql://nobody:hunter2@127.0.0.1:{port}/missing_db")
    assert "hunter2" not in str(info.value)
    assert "nobody@127.0.0.1" in str(info.value)


# ---------------------------------------------------------------- leases


def test_a_held_lease_names_its_holder_and_expiry(store_url: str) -> None:
    with open_store(store_url) as store, acquire(store, "net", "runner-1", 30) as lease:
        with pytest.raises(LeaseHeldError) as info:
            acquire(store, "net", "runner-2", 30)
        error = info.value
        assert (error.owner, error.lease_id, error.name) == ("runner-1", lease.lease_id, "net")
        assert error.expires == pytest.approx(lease.expires, abs=1.0)
        assert "runner-1" in str(error) and lease.lease_id in str(error)


def test_epochs_grow_with_every_holder(store_url: str) -> None:
    with open_store(store_url) as store:
        epochs = []
        for i in range(3):
            with acquire(store, "net", f"owner-{i}", 30) as lease:
                epochs.append(lease.epoch)
        assert epochs == [1, 2, 3]
        info = lease_info(store, "net")
        assert info is not None and info.epoch == 3 and info.lease_id is None


def test_an_expired_lease_is_free_and_its_old_holder_is_fenced(store_url: str) -> None:
    now = [1000.0]
    with open_store(store_url, clock=lambda: now[0]) as store:
        old = acquire(store, "net", "a", 10, renew=False)
        store.write(old.fence)
        now[0] += 11
        with pytest.raises(FencedError, match="expired"):
            store.write(old.fence)
        new = acquire(store, "net", "b", 10, renew=False)
        assert new.epoch == old.epoch + 1
        with pytest.raises(FencedError, match="newer epoch 2"):
            store.write(old.fence)
        with pytest.raises(FencedError):
            old.renew()
        store.write(new.fence)


def test_renewal_keeps_a_lease_past_its_ttl(store_url: str) -> None:
    with open_store(store_url) as store, acquire(store, "net", "a", 0.6) as lease:
        time.sleep(1.3)
        assert lease.held
        store.write(lease.fence)
        with pytest.raises(LeaseHeldError):
            acquire(store, "net", "b", 1)


def test_wait_takes_the_lease_once_it_is_released(store_url: str) -> None:
    with open_store(store_url) as store:
        first = acquire(store, "net", "a", 30)
        threading.Timer(0.3, first.release).start()
        start = time.monotonic()
        with acquire(store, "net", "b", 30, wait=10) as second:
            assert 0.2 < time.monotonic() - start < 5
            assert second.epoch == first.epoch + 1
        with pytest.raises(LeaseHeldError), acquire(store, "net", "c", 30):
            acquire(store, "net", "d", 30, wait=0.3)


def test_force_unlock_by_lease_id_frees_the_lease_and_fences_the_holder(store_url: str) -> None:
    with open_store(store_url) as store:
        stuck = acquire(store, "net", "a", 30)
        with pytest.raises(LeaseNotFoundError):
            force_unlock(store, "net", "not-the-id")
        freed = force_unlock(store, "net", stuck.lease_id)
        assert freed.owner == "a"
        with pytest.raises(FencedError, match="released or force-unlocked"):
            store.write(stuck.fence)
        with acquire(store, "net", "b", 30) as lease:
            assert lease.epoch == 2
        stuck.release()


def test_bad_lease_options_are_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        for args in (("", "a", 1), ("n", "", 1), ("n", "a", 0), ("n", "a", -1), ("n", "a", float("nan"))):
            with pytest.raises(LeaseOptionError):
                acquire(store, *args)  # type: ignore[arg-type]


def test_threads_competing_for_a_lease_never_overlap(new_store_url: Callable[[], str], store_url: str) -> None:
    """Invariant: at any moment at most one thread believes it holds the lease, and epochs never repeat."""
    inside = 0
    overlaps = 0
    epochs: list[int] = []
    lock = threading.Lock()

    def contender(i: int) -> None:
        nonlocal inside, overlaps
        with open_store(store_url) as store:
            for _ in range(5):
                try:
                    lease = acquire(store, "net", f"t{i}", 5, wait=5)
                except LeaseHeldError:
                    continue
                with lock:
                    inside += 1
                    overlaps += inside > 1
                    epochs.append(lease.epoch)
                time.sleep(0.005)
                with lock:
                    inside -= 1
                lease.release()

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == 0
    assert len(epochs) == 20
    assert sorted(epochs) == list(range(1, 21))
