"""The fleet end to end: a control plane and agents as real processes, components as real processes, real HTTP."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from reconcile.fleet.processes import marked_pids
from reconcile.journal import Journal
from tests.support.fleet import RECORDER, Artifacts, Fleet, wait_for

pytestmark = pytest.mark.slow


def get(port: int, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def what_runs(fleet: Fleet, cell: str) -> dict[str, tuple[str, str]]:
    """Per component, the version its own health endpoint reports and the digest its runtime record holds."""
    out = {}
    for name, port in fleet.ports(cell).items():
        out[name] = (get(port, "/healthz")["version"], fleet.record(cell, name)["current"]["digest"])
    return out


def reported(view: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["version"], c["digest"]) for c in view["status"]["components"]}


def processes(fleet: Fleet, script: str) -> list[int]:
    return [
        p
        for p in marked_pids(str(fleet.root))
        if script in pathlib.Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
    ]


def test_register_install_update_repair_and_the_control_plane_never_connects_to_a_cell(
    fleet: Fleet, artifacts: Artifacts
) -> None:
    connections = fleet.root / "connections.log"
    fleet.start_control_plane(record=connections)
    tokens = {cell: fleet.create_cell(cell, stage) for cell, stage in (("stage1", "staging"), ("acme", "dedicated"))}
    for cell in tokens:
        fleet.start_agent(cell)
    # Registered and reporting before any release: the first install is an update from nothing.
    for cell in tokens:
        view = wait_for(lambda c=cell: fleet.view(c)["status"] and fleet.view(c), message=f"{cell} to report")
        assert view["cell"]["registered"] and view["spec"]["generation"] == 0 and view["status"]["components"] == []
        assert oct(fleet.state_dir(cell).joinpath("credential.json").stat().st_mode & 0o777) == "0o600"

    artifacts.publish(fleet.admin(), "r1", "1.0.0")
    for cell in tokens:
        view = wait_for(lambda c=cell: fleet.converged(c, "r1", "1.0.0"), message=f"{cell} at r1")
        assert reported(view) == what_runs(fleet, cell)
        assert view["spec"]["generation"] == view["status"]["observed_generation"] == 1
        assert {c["type"]: c["status"] for c in view["status"]["conditions"]} == {
            "Ready": True,
            "Degraded": False,
            "Progressing": False,
        }
    proxy = fleet.ports("acme")["proxy"]
    workspace = get(proxy, "/api/workspaces", {"owner": "ann"})
    assert workspace["status"] == "running"

    artifacts.publish(fleet.admin(), "r2", "2.0.0")
    for cell in tokens:
        view = wait_for(lambda c=cell: fleet.converged(c, "r2", "2.0.0"), message=f"{cell} at r2")
        assert reported(view) == what_runs(fleet, cell)
        assert view["status"]["observed_generation"] == 2
    listed = get(fleet.ports("acme")["proxy"], "/api/workspaces")
    assert listed["version"] == "2.0.0"
    assert [(w["id"], w["pid"], w["status"]) for w in listed["workspaces"]] == [
        (workspace["id"], workspace["pid"], "running")
    ]

    # A component killed by hand is drift: started again at the next tick.
    killed = fleet.record("stage1", "proxy")["current"]["pid"]
    os.kill(killed, signal.SIGKILL)
    wait_for(
        lambda: (
            fleet.record("stage1", "proxy")["current"]["pid"] != killed
            and fleet.ports("stage1").get("proxy") == fleet.record("stage1", "proxy")["current"]["port"]
            and fleet.converged("stage1", "r2", "2.0.0")
        ),
        message="the killed proxy to be restarted",
    )
    assert what_runs(fleet, "stage1")["proxy"][0] == "2.0.0"

    # One agent per cell: a second one on the same state directory refuses to start.
    second = subprocess.run(
        [sys.executable, "-m", "reconcile.fleet.cli", "agent", "--control-plane", fleet.url,
         "--state-dir", str(fleet.state_dir("acme"))],
        capture_output=True, text=True, timeout=30, env=fleet.env,
    )  # fmt: skip
    assert second.returncode != 0 and "another agent runs" in second.stderr

    # Every connection the control plane opened: none towards a cell (in fact none at all).
    cell_ports = {p for cell in tokens for p in fleet.ports(cell).values()}
    opened = [ast.literal_eval(line) for line in connections.read_text().splitlines()]
    assert not [a for a in opened if isinstance(a, tuple) and a[1] in cell_ports]
    assert opened == []


def test_the_connection_recorder_records_connections(fleet: Fleet) -> None:
    """The recorder the test above relies on does see outgoing connections (here an operator command's)."""
    fleet.start_control_plane()
    log = fleet.root / "operator-connections.log"
    token_file = fleet.root / "cp" / "admin.token"
    subprocess.run(
        [sys.executable, str(RECORDER), "cells", "list", "--control-plane", fleet.url, "--admin-token-file", str(token_file)],
        env={**fleet.env, "RECORD_CONNECTIONS": str(log)}, check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    opened = [ast.literal_eval(line) for line in log.read_text().splitlines()]
    assert ("127.0.0.1", fleet.port) in opened


def test_a_tampered_artifact_is_refused_and_the_running_version_untouched(fleet: Fleet, artifacts: Artifacts) -> None:
    fleet.start_control_plane()
    fleet.create_cell("tamper")
    fleet.start_agent("tamper")
    artifacts.publish(fleet.admin(), "r1", "1.0.0")
    before = wait_for(lambda: fleet.converged("tamper", "r1", "1.0.0"), message="r1")
    pids = {n: fleet.record("tamper", n)["current"]["pid"] for n in ("workspaces", "proxy")}
    artifacts.publish(fleet.admin(), "r2", "2.0.0")
    # One byte changed in the control plane's store, before the agent could fetch it.
    digest = artifacts.digest("workspaces", "2.0.0")
    stored = fleet.root / "cp" / "artifacts" / digest
    blob = bytearray(stored.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    stored.write_bytes(bytes(blob))

    def refused() -> dict[str, Any] | None:
        view = fleet.view("tamper")
        ready = {c["type"]: c for c in view["status"]["conditions"]}["Ready"]
        ok = view["status"]["observed_generation"] == 2 and ready["reason"] == "DigestMismatch"
        return view if ok else None

    view = wait_for(refused, message="the mismatch to be reported")
    ready = {c["type"]: c for c in view["status"]["conditions"]}["Ready"]
    assert ready["status"] is False and digest in ready["message"]
    assert view["status"]["release"] == "r1"
    assert reported(view) == reported(before) == what_runs(fleet, "tamper")
    assert {n: fleet.record("tamper", n)["current"]["pid"] for n in pids} == pids
    assert not (fleet.state_dir("tamper") / "artifacts" / digest).exists()
    assert not list((fleet.state_dir("tamper") / "components" / "workspaces").glob("2.0.0-*"))


def test_the_cell_keeps_running_while_the_control_plane_is_away_and_catches_up(
    fleet: Fleet, artifacts: Artifacts
) -> None:
    fleet.start_control_plane()
    fleet.create_cell("away")
    fleet.start_agent("away", poll_interval=0.5, max_backoff=1.0)
    artifacts.publish(fleet.admin(), "r1", "1.0.0")
    wait_for(lambda: fleet.converged("away", "r1", "1.0.0"), message="r1")
    fleet.stop_control_plane()
    log = fleet.root / "agent-away.log"
    wait_for(lambda: "control plane unreachable" in log.read_text(), message="the agent to notice")
    # While away, the agent still repairs drift against the last spec it has.
    killed = fleet.record("away", "proxy")["current"]["pid"]
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: fleet.record("away", "proxy")["current"]["pid"] != killed, message="offline repair")
    # The runtime makes the new process current, then rewrites the ports file from the records: wait for both.
    wait_for(
        lambda: fleet.ports("away").get("proxy") == fleet.record("away", "proxy")["current"]["port"],
        message="the repaired proxy's port in the ports file",
    )
    assert {n: v for n, (v, _) in what_runs(fleet, "away").items()} == {"workspaces": "1.0.0", "proxy": "1.0.0"}
    # Backing off: the agent goes on trying a socket that answers nothing (a broken control plane), but each
    # try waits for the backoff first (1 s maximum, +-10% jitter), so four tries span three waits of at least
    # 0.9 s. Waited for by count, not in a window of fixed length: a loaded machine only makes tries come
    # later, never sooner, so the spacing has a floor and no ceiling (half the shortest wait, for our
    # accept of the first try coming late).
    tries = connection_times(fleet.port, 4)
    assert tries[-1] - tries[0] >= 3 * 0.45, f"tries {[round(t - tries[0], 2) for t in tries]} s: no backoff"
    fleet.start_control_plane()
    artifacts.publish(fleet.admin(), "r2", "2.0.0")
    view = wait_for(lambda: fleet.converged("away", "r2", "2.0.0"), message="catching up with r2")
    assert reported(view) == what_runs(fleet, "away")
    assert "control plane reachable again" in log.read_text()


def connection_times(port: int, count: int, timeout: float = 60.0) -> list[float]:
    """Listen on ``port``, closing every connection at once, until ``count`` came; when each came (monotonic)."""
    server = socket.socket()
    with server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        wait_for(lambda: server.bind(("127.0.0.1", port)) or True, message=f"port {port} to be free")
        server.listen(16)
        server.settimeout(0.1)
        times: list[float] = []
        deadline = time.monotonic() + timeout
        while len(times) < count:
            assert time.monotonic() < deadline, f"only {len(times)} of {count} connections within {timeout} s"
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            times.append(time.monotonic())
            conn.close()
    return times


def test_an_agent_killed_during_an_update_converges_after_restart_without_duplicates(
    fleet: Fleet, artifacts: Artifacts
) -> None:
    fleet.start_control_plane()
    fleet.create_cell("crash")
    agent = fleet.start_agent("crash")
    artifacts.publish(fleet.admin(), "r1", "1.0.0")
    wait_for(lambda: fleet.converged("crash", "r1", "1.0.0"), message="r1")
    workspace = get(fleet.ports("crash")["proxy"], "/api/workspaces", {"owner": "bo"})
    # workspaces 2.0.0 takes a second to get healthy: the window to kill the agent in.
    artifacts.publish(
        fleet.admin(),
        "r2",
        "2.0.0",
        config={"workspaces": {"startup_delay": "1.5"}, "proxy": {"upstream": "workspaces"}},
    )
    wait_for(lambda: fleet.record("crash", "workspaces")["others"], interval=0.02, message="the update to start")
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    assert len(processes(fleet, "service.py")) == 2  # the old one and the half-started new one
    fleet.start_agent("crash")
    view = wait_for(lambda: fleet.converged("crash", "r2", "2.0.0"), message="convergence after the restart")
    assert reported(view) == what_runs(fleet, "crash")
    wait_for(lambda: len(processes(fleet, "service.py")) == 1, message="exactly one workspaces service")
    assert len(processes(fleet, "proxy.py")) == 1
    listed = get(fleet.ports("crash")["proxy"], "/api/workspaces")
    assert [(w["id"], w["pid"], w["status"]) for w in listed["workspaces"]] == [
        (workspace["id"], workspace["pid"], "running")
    ]
    log = (fleet.root / "agent-crash.log").read_text()
    # The runtime stopped the half-started process, the journal resolved the update the dead agent had
    # pending, and the new agent took over the dead one's lease on the cell.
    assert "recovery: stopped leftover workspaces 2.0.0" in log
    assert "recovery: pending update of component/workspaces was reread" in log
    assert "taking over the lease of a dead agent" in log
    with Journal.open(f"sqlite:///{fleet.state_dir('crash') / 'journal.db'}") as journal:
        assert journal.pending() == []
        records = sorted(journal.applies(), key=lambda r: r.started)
        assert all(r.lease == "cell/crash" for r in records)
        assert records[-1].status == "succeeded"
        # The update the dead agent ran never ended; the new holder came with a newer epoch.
        assert any(r.finished is None for r in records)
        assert records[-1].epoch is not None and records[-1].epoch > min(r.epoch or 0 for r in records)
