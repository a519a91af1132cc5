"""The ``workspaces`` component under maintenance, over real HTTP: what it refuses, what it serves, what it leaves running."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from reconcile.fleet import FileClock, MaintenanceSwitch
from reconcile.fleet.maintenance import component_env
from reconcile.fleet.processes import MARKER, stop_marked
from reconcile.fleet.runtime import free_port, probe
from tests.support.fleet import COMPONENTS, wait_for

IDLE_TIMEOUT = 60.0


@attrs.define
class Response:
    status: int
    body: Any
    headers: dict[str, str]


@attrs.define
class Cell:
    """One workspaces service as a real process, with the maintenance file and shared clock an agent would give it."""

    root: pathlib.Path
    port: int
    clock: FileClock
    switch: MaintenanceSwitch
    proc: subprocess.Popen[bytes]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
        data = None if method == "GET" else json.dumps(body or {}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return Response(r.status, json.loads(r.read()), dict(r.headers))
        except urllib.error.HTTPError as e:
            return Response(e.code, json.loads(e.read()), dict(e.headers))

    def start(self, owner: str = "ann") -> dict[str, Any]:
        answer = self.call("POST", "/api/workspaces", {"owner": owner})
        assert answer.status == 201, answer
        body: dict[str, Any] = answer.body
        return body

    def heartbeat(self, wid: str) -> int:
        return int((self.root / "data" / "workspaces" / wid / "files" / "heartbeat").read_text().split()[0])


@pytest.fixture
def cell(tmp_path: pathlib.Path) -> Iterator[Cell]:
    clock = FileClock(tmp_path / "clock.json")
    switch = MaintenanceSwitch(tmp_path / "maintenance.json", clock=clock)
    port = free_port()
    (tmp_path / "data").mkdir()
    env = {
        **os.environ,
        **component_env(switch.path, clock),
        MARKER: str(tmp_path),
        "PORT": str(port),
        "RECONCILE_CELL_DATA": str(tmp_path / "data"),
        "RECONCILE_COMPONENT_VERSION": "1.0.0",
        "RECONCILE_CONFIG": json.dumps({"idle_timeout": str(IDLE_TIMEOUT), "idle_check_every": "0.1"}),
    }
    log = (tmp_path / "service.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, str(COMPONENTS / "workspaces" / "service.py")], env=env, stdout=log, stderr=log
    )
    log.close()
    try:
        wait_for(lambda: probe(port, "/healthz"), 60, 0.05, message="the workspaces service")
        yield Cell(tmp_path, port, clock, switch, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        stop_marked(str(tmp_path))


def assert_refused(answer: Response, switch: MaintenanceSwitch) -> None:
    window = switch.current()
    assert window is not None
    assert answer.status == 503
    assert answer.body["error"] == "under_maintenance"
    assert "under maintenance" in answer.body["message"]
    assert answer.body["until"] == window.until
    left = window.until - switch.clock()
    assert 1 <= int(answer.headers["Retry-After"]) <= left + 1


def test_while_maintenance_is_on_start_stop_and_snapshot_are_refused_and_reads_work(cell: Cell) -> None:
    running = cell.start()
    wid = running["id"]
    cell.switch.begin(300, "update of workspaces 1.0.0 -> 2.0.0")

    assert_refused(cell.call("POST", "/api/workspaces", {"owner": "bo"}), cell.switch)
    assert_refused(cell.call("POST", f"/api/workspaces/{wid}/stop"), cell.switch)
    assert_refused(cell.call("POST", f"/api/workspaces/{wid}/snapshot"), cell.switch)

    listed = cell.call("GET", "/api/workspaces")
    assert listed.status == 200 and [w["id"] for w in listed.body["workspaces"]] == [wid]
    read = cell.call("GET", f"/api/workspaces/{wid}")
    assert read.status == 200 and read.body["status"] == "running" and read.body["pid"] == running["pid"]
    assert cell.call("POST", f"/api/workspaces/{wid}/activity").status == 200  # the IDE's ping is no state change
    assert cell.call("GET", "/healthz").status == 200

    # Nothing was started, stopped or snapshotted by the refused calls.
    assert cell.call("GET", f"/api/workspaces/{wid}").body == {**running, "status": "running"}
    assert len(cell.call("GET", "/api/workspaces").body["workspaces"]) == 1
    assert not (cell.root / "data" / "snapshots").exists()

    cell.switch.end()
    assert cell.call("POST", f"/api/workspaces/{wid}/snapshot").body["snapshots"] == 1
    assert cell.call("POST", f"/api/workspaces/{wid}/stop").body["status"] == "stopped"
    assert cell.start("bo")["status"] == "running"


def test_without_maintenance_every_call_works(cell: Cell) -> None:
    ws = cell.start()
    assert cell.call("POST", f"/api/workspaces/{ws['id']}/snapshot").status == 200
    assert cell.call("POST", f"/api/workspaces/{ws['id']}/stop").status == 200
    assert cell.call("GET", f"/api/workspaces/{ws['id']}").body["status"] == "stopped"
    assert cell.call("GET", "/api/workspaces/ffffffffffff").status == 404


def test_a_running_workspace_keeps_running_with_its_heartbeat_across_the_whole_window(cell: Cell) -> None:
    ws = cell.start()
    wid, pid = ws["id"], ws["pid"]
    wait_for(lambda: cell.heartbeat(wid) >= 1, 60, message="the first heartbeat")
    cell.switch.begin(300, "update")
    beats = [cell.heartbeat(wid)]
    for _ in range(3):  # the heartbeat goes on at every moment of the window
        wait_for(lambda: cell.heartbeat(wid) > beats[-1], 60, 0.05, message="the next heartbeat")
        beats.append(cell.heartbeat(wid))
        assert pathlib.Path(f"/proc/{pid}").exists()
    cell.switch.end()
    wait_for(lambda: cell.heartbeat(wid) > beats[-1], 60, 0.05, message="a heartbeat after the window")
    assert cell.call("GET", f"/api/workspaces/{wid}").body["status"] == "running"
    assert beats == sorted(set(beats))


def test_idle_timeouts_stop_no_workspace_during_the_window(cell: Cell) -> None:
    kept = cell.start("ann")
    cell.switch.begin(3600, "update")
    cell.clock.advance(IDLE_TIMEOUT * 3)  # idle far past the timeout, but the cell is under maintenance
    time.sleep(1.0)  # ten idle checks
    assert cell.call("GET", f"/api/workspaces/{kept['id']}").body["status"] == "running"
    assert pathlib.Path(f"/proc/{kept['pid']}").exists()
    cell.switch.end()
    # After the window the timeout applies again: the idle workspace is stopped.
    wait_for(
        lambda: cell.call("GET", f"/api/workspaces/{kept['id']}").body["status"] == "timed_out",
        10,
        message="the idle timeout after the window",
    )
    wait_for(lambda: not pathlib.Path(f"/proc/{kept['pid']}").exists(), 60, message="the workspace to exit")


def test_activity_keeps_a_workspace_from_timing_out(cell: Cell) -> None:
    busy, idle = cell.start("busy"), cell.start("idle")
    cell.clock.advance(IDLE_TIMEOUT * 0.75)
    assert cell.call("POST", f"/api/workspaces/{busy['id']}/activity").status == 200
    cell.clock.advance(IDLE_TIMEOUT * 0.5)
    wait_for(lambda: cell.call("GET", f"/api/workspaces/{idle['id']}").body["status"] == "timed_out", 60)
    assert cell.call("GET", f"/api/workspaces/{busy['id']}").body["status"] == "running"


def test_a_window_ends_by_itself_at_its_end_time_by_the_cell_clock(cell: Cell) -> None:
    cell.switch.begin(120, "update by an agent that then died")
    assert cell.call("POST", "/api/workspaces", {"owner": "ann"}).status == 503
    cell.clock.advance(119)
    assert_refused(cell.call("POST", "/api/workspaces", {"owner": "ann"}), cell.switch)
    cell.clock.advance(1.5)
    # Nobody removed the file: the component compares its end time with the clock.
    assert cell.switch.path.exists()
    assert cell.start()["status"] == "running"
