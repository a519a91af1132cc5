"""The support controller is incremental: it judges the cells that changed, each grace deadline on time, and resyncs."""

from __future__ import annotations

import collections
import json
import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconcile.controller import Stop, SystemClock
from reconcile.fleet import ArtifactStore, BackendFleetStore, CellStatus, ControlPlane
from reconcile.fleet.changefeed import ChangeFeed
from reconcile.fleet.controllers import FedController, support_controller
from reconcile.fleet.support import SUPPORT_CHANNEL
from tests.fleet.test_support import DAY, START, document, status_body
from tests.support.fleet import wait_for


class Clock:
    """The fleet's clock: fake (set ``now``) or, with ``wall``, the wall clock."""

    def __init__(self, wall: bool = False) -> None:
        self.now = START
        self.wall = wall

    def __call__(self) -> float:
        return time.time() if self.wall else self.now


class Fleet:
    """A control plane on a store, cells that report an infrastructure version, and counts of the controller's work."""

    def __init__(self, tmp_path: pathlib.Path, url: str | None = None, *, wall: bool = False) -> None:
        self.clock = Clock(wall)
        self.store = BackendFleetStore.open(url or f"sqlite:///{tmp_path / 'f.db'}")
        self.cp = ControlPlane(self.store, ArtifactStore(tmp_path / "a"), admin_token="x" * 32, clock=self.clock)
        self.judged: collections.Counter[str] = collections.Counter()
        self.reads = 0
        judge = self.cp.support.reconcile_cell

        def counted(cell_id: str) -> float | None:
            if threading.current_thread().name.startswith("support-"):
                self.judged[cell_id] += 1
            return judge(cell_id)

        self.cp.support.reconcile_cell = counted  # type: ignore[method-assign]
        backend = self.store.backend
        read, query = backend.read, backend.query

        def counted_read(op: Any) -> Any:
            self._count()
            return read(op)

        def counted_query(sql: str, params: Any = ()) -> Any:
            self._count()
            return query(sql, params)

        backend.read = counted_read  # type: ignore[method-assign]
        backend.query = counted_query  # type: ignore[method-assign]

    def _count(self) -> None:
        # The support controller's own reads: its workers and its feed (its lease has a thread of its own).
        name = threading.current_thread().name
        if name.startswith("support-") and not name.endswith("-lease"):
            self.reads += 1

    def reset(self) -> None:
        self.judged.clear()
        self.reads = 0

    def cell(self, cell_id: str, infra: str = "1") -> None:
        token = self.cp.create_cell({"id": cell_id, "stage": "dedicated"})["registration_token"]
        self.cp.register({"token": token, "agent_version": "test"})
        self.report(cell_id, infra)

    def report(self, cell_id: str, infra: str) -> None:
        spec = self.store.get_spec(cell_id)
        assert spec is not None
        self.cp.report_status(cell_id, status_body(spec.generation, None, infra))

    def state(self, cell_id: str) -> str | None:
        record = self.cp.support.status(cell_id)
        return None if record is None else record.state

    def controller(self, **options: Any) -> FedController:
        controller = support_controller(self.cp, **options)
        controller.start()
        wait_for(lambda: controller.feed.resyncs >= 1 and controller.wait_idle(0.1), 10, message="the first resync")
        return controller


@pytest.fixture
def fleet(tmp_path: pathlib.Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path)
    for i in range(30):
        made.cell(f"c{i:02}")
    made.cp.support.publish({"document": document(2), "mandatory": True, "window": "3d"})
    yield made
    made.store.close()


@pytest.fixture
def running(fleet: Fleet) -> Iterator[Callable[..., FedController]]:
    started: list[FedController] = []

    def start(**options: Any) -> FedController:
        started.append(fleet.controller(**options))
        return started[-1]

    yield start
    for controller in started:
        controller.stop()
        controller.join()


def test_a_cell_reporting_another_version_is_judged_at_once_and_alone(fleet: Fleet, running: Any) -> None:
    running(every=60.0, resync=None)  # no poll and no resync could find the change: only the notification
    fleet.reset()
    fleet.report("c07", "2")
    wait_for(lambda: fleet.state("c07") == "in_sla", 5, 0.01, "c07 judged in SLA")
    wait_for(lambda: sum(fleet.judged.values()) >= 1, 5, 0.01)
    assert set(fleet.judged) == {"c07"}
    assert fleet.state("c08") == "grace"


def test_cells_reporting_what_they_reported_before_are_not_read_again(fleet: Fleet, running: Any) -> None:
    controller = running(every=0.02, resync=None)
    fleet.reset()
    for _ in range(3):  # agents report on every tick, nearly always the same thing
        for i in range(30):
            fleet.report(f"c{i:02}", "1")
    time.sleep(0.5)  # 25 looks at the deadlines, at least
    assert controller.wait_idle(1)
    assert fleet.judged == collections.Counter()
    assert fleet.reads == 0


def test_a_grace_deadline_passing_with_no_other_change_freezes_the_cell_on_time(fleet: Fleet, running: Any) -> None:
    controller = running(every=0.05, resync=None)
    due = START + 3 * DAY
    assert controller.feed.deadline("c03") == due  # the first resync scheduled every cell in grace
    fleet.reset()
    fleet.clock.now = due - 1
    time.sleep(0.3)
    assert fleet.state("c03") == "grace" and fleet.judged == collections.Counter() and fleet.reads == 0
    fleet.clock.now = due
    wait_for(lambda: fleet.state("c03") == "out_of_sla", 5, 0.01, "c03 out of SLA")
    wait_for(lambda: all(fleet.state(f"c{i:02}") == "out_of_sla" for i in range(30)), 5, 0.01)
    assert controller.feed.resyncs == 1  # the deadlines did it, not a walk over the fleet
    assert set(fleet.judged) == {f"c{i:02}" for i in range(30)}


def test_on_the_wall_clock_the_controller_wakes_at_the_deadline_it_computed(tmp_path: pathlib.Path) -> None:
    fleet = Fleet(tmp_path, wall=True)
    fleet.cell("acme")
    published = time.time()
    fleet.cp.support.publish({"document": document(2), "mandatory": True, "window": 2.0})
    assert fleet.state("acme") == "grace"
    controller = fleet.controller(every=60.0, resync=None)
    try:
        wait_for(lambda: fleet.state("acme") == "out_of_sla", 10, 0.01, "acme out of SLA")
        record = fleet.cp.support.status("acme")
        # At the deadline, not at the next look 60 s on (a few seconds' slack for a loaded machine).
        assert record is not None and published + 2.0 <= record.since < published + 5.0
    finally:
        controller.stop()
        controller.join()
        fleet.store.close()


def _sneak(fleet: Fleet, cell_id: str, infra: str) -> None:
    """A status written without its notification (a write from another process on SQLite, or a lost NOTIFY)."""
    body = json.dumps(CellStatus(1, infrastructure_version=infra).to_json())
    fleet.store.backend.write(
        lambda tx: tx.execute("UPDATE fleet_status SET body = ? WHERE cell_id = ?", (body, cell_id))
    )


def test_a_missed_notification_is_caught_by_the_resync_it_triggers(fleet: Fleet, running: Any) -> None:
    controller = running(every=0.05, resync=None)
    _sneak(fleet, "c05", "2")
    time.sleep(0.3)
    assert fleet.state("c05") == "grace"  # nothing said it changed
    fleet.store.backend.deliver(SUPPORT_CHANNEL, None)  # what a listener says after losing its connection
    wait_for(lambda: fleet.state("c05") == "in_sla", 5, 0.01, "c05 in SLA")
    assert controller.feed.resyncs == 2
    assert set(fleet.judged) == {"c05"}  # the resync judged the fleet page by page, and queued the one that lagged


def test_a_change_no_notification_announced_is_caught_by_the_periodic_resync(fleet: Fleet, running: Any) -> None:
    controller = running(every=0.05, resync=0.3)
    _sneak(fleet, "c05", "2")
    wait_for(lambda: fleet.state("c05") == "in_sla", 5, 0.01, "c05 in SLA")
    assert controller.feed.resyncs >= 2


def test_a_template_published_through_the_api_makes_the_leader_resync(fleet: Fleet, running: Any) -> None:
    controller = running(every=0.05, resync=None)
    fleet.cp.support.publish({"document": document(3), "mandatory": True, "window": "7d"})
    wait_for(lambda: controller.feed.resyncs == 2, 5, 0.01, "a resync")
    # Its deadlines are the new version's where a cell meets v2; here every cell misses v2 first.
    assert controller.feed.deadline("c01") == START + 3 * DAY


def test_a_deleted_cell_loses_its_support_record_through_the_controller(fleet: Fleet, running: Any) -> None:
    running(every=60.0, resync=None)
    fleet.cp.delete_cell("c09")
    wait_for(lambda: fleet.cp.support.status("c09") is None, 5, 0.01, "c09's record gone")


def test_the_store_notifies_a_first_report_and_a_changed_version_only(tmp_path: pathlib.Path, store_url: str) -> None:
    fleet = Fleet(tmp_path, store_url)
    heard: list[str | None] = []
    subscription = fleet.store.watch_support(heard.append)
    try:
        fleet.cell("acme")  # created, then its first report
        wait_for(lambda: heard.count("acme") == 2, 10, 0.01, "two notifications")
        for infra in ("1", "1", "2", "2", "2"):
            fleet.report("acme", infra)
        fleet.cp.report_status("acme", status_body(1, None, None))  # no version now: a change too
        fleet.cp.report_status("acme", status_body(1, None, None))
        wait_for(lambda: heard.count("acme") == 4, 10, 0.01, "four notifications")
        time.sleep(0.3 if store_url.startswith("postgresql") else 0)
        assert heard == ["acme"] * 4
        status = fleet.store.get_status("acme")
        assert status is not None and status.infrastructure_version is None  # every report was written
        # A first report naming no version is judged as no report: only the cell's creation is told.
        token = fleet.cp.create_cell({"id": "globex", "stage": "dedicated"})["registration_token"]
        fleet.cp.register({"token": token, "agent_version": "test"})
        fleet.cp.report_status("globex", status_body(1, None, None))
        fleet.report("acme", "3")
        wait_for(lambda: heard.count("acme") == 5, 10, 0.01, "acme's fifth notification")
        assert heard.count("globex") == 1
        globex = fleet.store.get_status("globex")
        assert globex is not None and globex.observed_generation == 1
    finally:
        subscription.close()
        fleet.store.close()


def test_a_feed_does_no_work_while_it_does_not_lead_and_resyncs_when_it_starts() -> None:
    pages: list[str] = []
    leading = threading.Event()

    def page(after: str) -> tuple[list[str], str | None]:
        pages.append(after)
        return ([f"k{after}"], None if after == "b" else chr(ord(after or "`") + 1))

    emitted: list[Any] = []
    feed = ChangeFeed("test", page, every=0.01, resync=None, leading=leading.is_set, pause=0.0)
    stop = Stop(SystemClock())
    thread = threading.Thread(target=feed.run, args=(emitted.append, stop))
    thread.start()
    try:
        feed.notify("x")
        wait_for(lambda: emitted == ["x"], 5, 0.01)
        feed.schedule("late", 0.0)  # due long ago, but a standby does not act on deadlines
        time.sleep(0.1)
        assert pages == [] and emitted == ["x"]
        leading.set()
        wait_for(lambda: feed.resyncs == 1, 5, 0.01)
        assert pages == ["", "a", "b"]
        wait_for(lambda: "late" in emitted, 5, 0.01)
        assert emitted[:4] == ["x", "k", "ka", "kb"]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_serve_without_controllers_beside_a_controllers_process_freezes_on_time(tmp_path: pathlib.Path) -> None:
    """``serve --controllers off`` judges no deadline; ``reconcile-fleet controllers`` on the same store does."""
    from reconcile.fleet.clock import FileClock
    from tests.support.fleet import Fleet as Processes

    procs = Processes(tmp_path)
    procs.clock_file = tmp_path / "clock.json"
    cp, store = tmp_path / "cp", f"sqlite:///{tmp_path / 'cp' / 'fleet.db'}"
    cp.mkdir()
    try:
        procs.spawn(
            "control-plane",
            ["serve", "--store", store, "--artifacts", str(cp / "artifacts"), "--listen", "127.0.0.1:0",
             "--port-file", str(cp / "port"), "--admin-token-file", str(cp / "admin.token"),
             "--poll-interval", "0.2", "--controllers", "off", *procs.clock_args()],
        )  # fmt: skip
        procs.port = int(wait_for(lambda: (cp / "port").read_text().strip(), 20, message="the port"))
        procs.url, procs.admin_token = f"http://127.0.0.1:{procs.port}", (cp / "admin.token").read_text().strip()
        admin = procs.admin()
        admin.create_cell("acme", "dedicated")
        published = admin.publish_template(document(2), mandatory=True, window="1d")
        assert published["cells"]["acme"]["state"] == "grace"  # judged by the publish itself
        FileClock(procs.clock_file).advance(2 * DAY)
        time.sleep(1.0)  # five of the poll intervals the controllers would have looked in
        assert admin.show_cell("acme")["support"]["state"] == "grace"  # no controller here
        procs.spawn(
            "controllers",
            ["controllers", "--store", store, "--artifacts", str(cp / "artifacts"), "--poll-interval", "0.2",
             *procs.clock_args()],
        )  # fmt: skip
        wait_for(lambda: admin.show_cell("acme")["support"]["state"] == "out_of_sla", 20, 0.1, "acme frozen")
    finally:
        procs.close()
