"""Maintenance mode end to end: a real control plane, agent and components on one shared clock, and an agent killed."""

from __future__ import annotations

import json
import pathlib
import signal
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from reconcile.fleet import FileClock
from tests.support.fleet import Artifacts, Fleet, wait_for

pytestmark = pytest.mark.slow


def call(port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def front(fleet: Fleet, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
    """A user's call through the cell's proxy (its port read anew: the proxy may be updated meanwhile)."""
    answer: tuple[int, Any, dict[str, str]] = wait_for(
        lambda: call(fleet.ports("acme")["proxy"], path, body), 10, 0.05, message=f"the proxy to answer {path}"
    )
    return answer


def heartbeat(fleet: Fleet, cell: str, wid: str) -> int:
    path = fleet.state_dir(cell) / "data" / "workspaces" / wid / "files" / "heartbeat"
    return int(path.read_text().split()[0])


def row(fleet: Fleet, cell: str) -> dict[str, Any]:
    return next(r for r in fleet.admin().fleet_status()["cells"] if r["cell"] == cell)


def test_an_update_needing_maintenance_opens_a_reported_window_that_ends_by_itself_when_the_agent_dies(
    fleet: Fleet, artifacts: Artifacts
) -> None:
    fleet.clock_file = fleet.root / "clock.json"
    clock = FileClock(fleet.clock_file)
    fleet.start_control_plane()
    fleet.create_cell("acme")
    agent = fleet.start_agent("acme")
    artifacts.publish(fleet.admin(), "r1", "1.0.0")
    wait_for(lambda: fleet.converged("acme", "r1", "1.0.0"), message="r1")
    status, ws, _ = front(fleet, "/api/workspaces", {"owner": "ann"})
    assert status == 201
    beats = [wait_for(lambda: heartbeat(fleet, "acme", ws["id"]), 60, message="the first heartbeat")]

    # An update of workspaces that requires maintenance; the new version takes 1.5 s to become healthy.
    slow = {"workspaces": {"startup_delay": "1.5"}, "proxy": {"upstream": "workspaces"}}
    artifacts.publish(fleet.admin(), "r2", "2.0.0", config=slow, maintenance={"workspaces": 300})
    window = wait_for(lambda: fleet.view("acme")["maintenance"], 30, 0.05, message="the window to be reported")
    assert window["reason"] == "update of workspaces 1.0.0 -> 2.0.0"
    assert window["until"] - window["since"] == 300
    assert fleet.view("acme")["status"]["maintenance"] == window
    assert row(fleet, "acme")["maintenance"]["reason"] == window["reason"]
    # The user is told through the cell's front door, Retry-After included.
    status, body, headers = front(fleet, "/api/workspaces", {"owner": "bo"})
    assert status == 503 and body["error"] == "under_maintenance" and body["until"] == window["until"]
    assert "under maintenance" in body["message"] and 1 <= int(headers["Retry-After"]) <= 300
    wait_for(lambda: fleet.converged("acme", "r2", "2.0.0"), message="r2")
    wait_for(lambda: fleet.view("acme")["status"]["maintenance"] is None, 60, message="the window closed")
    assert fleet.view("acme")["maintenance"] is None and row(fleet, "acme")["maintenance"] is None
    assert not (fleet.state_dir("acme") / "maintenance.json").exists()
    assert front(fleet, "/api/workspaces", {"owner": "bo"})[0] == 201

    # The next such update never gets healthy in time, and its agent dies in the middle of the window.
    stuck = {"workspaces": {"startup_delay": "60"}, "proxy": {"upstream": "workspaces"}}
    artifacts.publish(fleet.admin(), "r3", "1.0.0", config=stuck, maintenance={"workspaces": 120})
    window = wait_for(
        lambda: (w := fleet.view("acme")["maintenance"]) and "2.0.0 -> 1.0.0" in w["reason"] and w,
        30,
        0.05,
        message="the second window",
    )
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    time.sleep(0.5)
    assert front(fleet, "/api/workspaces", {"owner": "cy"})[0] == 503  # nobody ends it: it is still on
    assert fleet.view("acme")["maintenance"] == window
    clock.advance(121)  # past enabled_until, by the clock the components and the control plane share
    status, body, _ = front(fleet, "/api/workspaces", {"owner": "cy"})
    assert status == 201, body
    assert fleet.view("acme")["maintenance"] is None and row(fleet, "acme")["maintenance"] is None
    assert fleet.view("acme")["status"]["maintenance"] == window  # the last report, judged against the clock
    assert (fleet.state_dir("acme") / "maintenance.json").exists()  # the dead agent's file, ended by its end time

    # Ann's workspace ran through both windows: same process, heartbeat still going.
    listed = front(fleet, "/api/workspaces")[1]["workspaces"]
    ann = next(w for w in listed if w["id"] == ws["id"])
    assert ann["status"] == "running" and ann["pid"] == ws["pid"]
    beats.append(heartbeat(fleet, "acme", ws["id"]))
    wait_for(lambda: heartbeat(fleet, "acme", ws["id"]) > beats[-1], 60, 0.05, message="the heartbeat")
    assert pathlib.Path(f"/proc/{ws['pid']}").exists() and beats[-1] > beats[0]
