"""The fleet store's writers take their locks in one order on PostgreSQL, so replicas writing flags, targets,
labels, releases, rollout steps, status reports, debug trails and cell deletes at once never deadlock (see "Lock
order" in docs/fleet.md).

Each writer here has a store of its own (its own connection and writer thread), as replicas do, on a real
PostgreSQL the tests start. ``deadlock_timeout`` is lowered so that a lock cycle, if there is one, is found and
broken in milliseconds instead of a second: the test is then quick either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from reconcile.fleet import Cell, CellStatus, Release, ReleaseComponent
from reconcile.fleet.debug import DebugEvent
from reconcile.fleet.flags import Flag
from reconcile.fleet.rollout import CellProgress, Rollout, RolloutWork, StagePolicy
from reconcile.fleet.store import BackendFleetStore, StoreRolloutRecords
from reconcile.fleet.store.flags import refresh_flags
from reconcile.fleet.store.locks import FLAGS_LOCK
from reconcile.storage import StorageError

CELLS = [f"c{i:02d}" for i in range(16)]
ROUNDS = 80
REPORTING = 4


def rel(version: str) -> Release:
    return Release(version, (ReleaseComponent("workspaces", "1.0.0", "a" * 64),), 1.0)


def flag(default: bool) -> Flag:
    return Flag.from_json({"key": "workspace-usage", "type": "bool", "default": default, "rules": []})


@pytest.fixture
def url(store_url: str) -> str:
    return f"{store_url}%20-cdeadlock_timeout%3D20ms"


@pytest.fixture
def stores(url: str) -> Iterator[Callable[[], BackendFleetStore]]:
    opened: list[BackendFleetStore] = []

    def open_one() -> BackendFleetStore:
        opened.append(BackendFleetStore.open(url))
        return opened[-1]

    try:
        yield open_one
    finally:
        for store in opened:
            store.close()


def _is_deadlock(exc: BaseException) -> bool:
    return "deadlock detected" in str(exc) or type(exc.__cause__).__name__ == "DeadlockDetected"


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def _writer(
    name: str, step: Callable[[int], None], start: threading.Barrier, deadlocks: list[str], failures: list[str]
) -> Callable[[], None]:
    """A writer thread's body: ``step(i)`` for each round, from a common start, sorting its errors."""

    def body() -> None:
        start.wait(timeout=60)
        for i in range(ROUNDS):
            try:
                step(i)
            except StorageError as exc:
                (deadlocks if _is_deadlock(exc) else failures).append(f"{name} #{i}: {exc}")
            except Exception as exc:  # any other failure fails the test below, named
                failures.append(f"{name} #{i}: {type(exc).__name__}: {exc}")

    return body


def _run_all(threads: list[threading.Thread], deadlocks: list[str], failures: list[str]) -> None:
    """Start the writers, wait for them (120 s at most), and fail on a deadlock or any other error."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer is still running after 120 s"
    assert deadlocks == [], f"{len(deadlocks)} transactions aborted for a deadlock, e.g. {deadlocks[:3]}"
    assert failures == []


def test_flag_target_label_release_and_rollout_writers_on_several_connections_never_deadlock(
    stores: Callable[[], BackendFleetStore],
) -> None:
    setup = stores()
    setup.publish_release(rel("1.0"))
    setup.publish_release(rel("1.1"))
    for cell_id in CELLS:
        setup.create_cell(Cell(cell_id, "prod", "acme", "eu", 1.0), "h", 1e12)
    setup.put_flag(flag(False), 1.0)
    records = StoreRolloutRecords(setup)
    stages = (StagePolicy("prod", 2),)
    progress = {c: CellProgress(c, "prod") for c in CELLS}
    rollout = records.create(
        Rollout("", "1.1", "stable", stages, "running", progress), RolloutWork(), lambda r, c: None
    )

    deadlocks: list[str] = []
    failures: list[str] = []
    start = threading.Barrier(11)

    def run(name: str, step: Callable[[int], None]) -> Callable[[], None]:
        return _writer(name, step, start, deadlocks, failures)

    def flags_writer() -> Callable[[int], None]:
        store = stores()
        return lambda i: store.put_flag(flag(i % 2 == 0), 2.0 + i)  # every cell's value changes each time

    def target_writer(offset: int) -> Callable[[int], None]:
        store = stores()
        return lambda i: store.set_target(CELLS[(offset + 5 * i) % len(CELLS)], "1.0" if i % 2 else None)

    def labels_writer() -> Callable[[int], None]:
        store = stores()
        return lambda i: store.update_labels(CELLS[(3 * i) % len(CELLS)], {"ring": str(i % 3)}, [])

    def release_writer() -> Callable[[int], None]:
        store = stores()
        return lambda i: store.publish_release(rel(f"2.{i}"))

    shared = stores()  # two writers through one store: their writes share group commits

    def infrastructure_writer(offset: int) -> Callable[[int], None]:
        # Single-row writes, but a group commit of two of them locks two cell rows, in no particular order.
        return lambda i: shared.set_infrastructure(CELLS[(offset - 3 * i) % len(CELLS)], f"v{i}")

    def rollout_stepper() -> Callable[[int], None]:
        mine = StoreRolloutRecords(stores())

        def step(i: int) -> None:
            current = mine.get(rollout.id)
            assert current is not None
            before = dict(current.cells)
            work = RolloutWork()
            # A batch of cells, in an order of its own (not the ids' order), as a rollout step sets them.
            for cell_id in (CELLS[(7 * i + k) % len(CELLS)] for k in (2, 0, 1)):
                work.target(cell_id, "1.1")
                current.cells[cell_id] = CellProgress(cell_id, "prod", "applying", batch=i + 1)
            current.batches = i + 1
            mine.save(current, before, work)

        return step

    threads = [
        threading.Thread(target=run(name, step))
        for name, step in [
            ("put_flag A", flags_writer()),
            ("put_flag B", flags_writer()),
            ("set_target A", target_writer(0)),
            ("set_target B", target_writer(8)),
            ("update_labels", labels_writer()),
            ("publish_release", release_writer()),
            ("rollout step", rollout_stepper()),
            ("set_infrastructure A", infrastructure_writer(0)),
            ("set_infrastructure B", infrastructure_writer(7)),
            ("set_infrastructure C", infrastructure_writer(3)),
            ("set_infrastructure D", infrastructure_writer(11)),
        ]
    ]
    _run_all(threads, deadlocks, failures)
    # Every writer's last word landed: the flag's last value is in every cell's spec.
    final = setup.get_flag("workspace-usage")
    assert final is not None
    for cell_id in CELLS:
        spec = setup.get_spec(cell_id)
        assert spec is not None
        assert spec.flags["workspace-usage"]["value"] is final.flag.default


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_write_that_re_evaluates_flags_without_the_flags_lock_from_its_start_is_refused(
    stores: Callable[[], BackendFleetStore],
) -> None:
    store = stores()
    with pytest.raises(StorageError, match=f"must hold advisory lock {FLAGS_LOCK} from its start"):
        store.backend.write(refresh_flags)
    assert store.backend.write(refresh_flags, locks=(FLAGS_LOCK,)) == []


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("failover", [False, True], ids=["reports-and-deletes", "reports-on-two-replicas"])
def test_status_reports_debug_trails_and_cell_deletes_on_several_replicas_never_deadlock(
    stores: Callable[[], BackendFleetStore], failover: bool
) -> None:
    # Replica 1 takes the cells' reports from several agents at once, so its group commits write several
    # cells' status rows, in no particular order. Replica 3 deletes cells (operators at once: a group commit
    # of deletes, each locking a status row, then the cell's rows) and creates them again. With ``failover``
    # replica 2 gets half of the reports again, with debug trails (agents that timed out on replica 1 and
    # failed over while their first report still waited there).
    cells = CELLS[:REPORTING]
    setup = stores()
    for cell_id in cells:
        setup.create_cell(Cell(cell_id, "prod", "acme", "eu", 1.0), "h", 1e12)
        setup.put_status(cell_id, CellStatus(0, infrastructure_version="i1"))
    first, second, third = stores(), stores(), stores()

    deadlocks: list[str] = []
    failures: list[str] = []
    threads: list[threading.Thread] = []
    start = threading.Barrier(8 + (2 if failover else 4))

    def run(name: str, step: Callable[[int], None]) -> None:
        threads.append(threading.Thread(target=_writer(name, step, start, deadlocks, failures)))

    def reporter(store: BackendFleetStore, k: int, debug: bool) -> Callable[[int], None]:
        def step(i: int) -> None:
            # Each agent's thread reports the cells in an order of its own.
            for cell_id in cells[k:] + cells[:k]:
                store.put_status(cell_id, CellStatus(i + 1, infrastructure_version="i1"))
                if debug:
                    event = DebugEvent(i + 1, float(i), "grant", "g1", "ops")
                    store.record_debug_events(cell_id, [event], float(i))

        return step

    def deleter(mine: list[str]) -> Callable[[int], None]:
        def step(i: int) -> None:
            cell_id = mine[i % len(mine)]
            assert third.delete_cell(cell_id)
            third.create_cell(Cell(cell_id, "prod", "acme", "eu", 1.0), "h", 1e12)

        return step

    for k in range(8):
        again = failover and k % 2 == 1
        run(f"report {k}", reporter(second if again else first, k % len(cells), debug=again))
    # Each deleter has cells of its own (a cell is deleted and created again by one of them only).
    owners = 2 if failover else 4
    for k in range(owners):
        run(f"delete {k}", deleter(cells[k::owners]))
    _run_all(threads, deadlocks, failures)
    assert sorted(c.id for c in setup.list_cells()) == cells
