"""Failover of the control plane: two replicas on one PostgreSQL, twenty agents, the leader SIGKILLed mid-rollout.

Real processes throughout: a PostgreSQL server the session starts, two ``reconcile-fleet serve`` replicas, and
one process running twenty agents (``MemoryRuntime``), each given both replicas' URLs (half of them the dead
one's first). The test fails, never skips, under CI when PostgreSQL is missing (see ``tests.support.postgres``).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from reconcile.fleet.agent import ControlPlaneClient
from reconcile.fleet.controllers import LEASE_NAME, ROLLOUTS_LEASE
from reconcile.storage import LeaseInfo, lease_info, open_store
from tests.support.fleet import ROOT, Artifacts, Fleet, wait_for

LEASE_TTL = 3.0
RENEW_EVERY = LEASE_TTL / 3  # the controller's default
STAGES = {"staging": 2, "saas": 8, "dedicated": 10}
PREFIX = {"staging": "t", "saas": "a", "dedicated": "d"}
FAST = [
    {"name": "staging", "batch": 1, "bake_time": 1},
    {"name": "saas", "batch": 4, "bake_time": 1},
    {"name": "dedicated", "batch": 5, "bake_time": 1},
]


def _database(server: str) -> str:
    import psycopg

    name = f"failover_{os.getpid()}_{int(time.time() * 1000) % 1_000_000}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


def _replica(fleet: Fleet, name: str, store: str, shared: pathlib.Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = shared / f"{name}.port"
    proc = fleet.spawn(
        name,
        [
            "serve", "--store", store, "--artifacts", str(shared / "artifacts"), "--listen", "127.0.0.1:0",
            "--port-file", str(port_file), "--admin-token-file", str(shared / "admin.token"),
            "--poll-interval", "2", "--lease-ttl", str(LEASE_TTL), "-v",
        ],
    )  # fmt: skip
    port = wait_for(lambda: port_file.read_text().strip(), 20, message=f"{name}'s port")
    return proc, f"http://127.0.0.1:{port}"


def _held_by(backend: Any, name: str, pid: int) -> LeaseInfo | None:
    info = lease_info(backend, name)
    if info is None or not info.held(time.time()) or info.owner is None or f" {pid}@" not in info.owner:
        return None
    return info


def _records(path: pathlib.Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rollout_done(admin: ControlPlaneClient, rollout_id: str, state: str) -> dict[str, Any] | None:
    view = admin.rollout(rollout_id)
    return view if view["state"] == state else None


@pytest.mark.slow
def test_the_other_replica_takes_over_when_the_leader_is_killed(
    fleet: Fleet, artifacts: Artifacts, postgres_url: str, tmp_path: pathlib.Path
) -> None:
    store = _database(postgres_url)
    shared = tmp_path / "shared"
    shared.mkdir()
    a, url_a = _replica(fleet, "replica-a", store, shared)
    backend = open_store(store)
    try:
        # A leads both controllers before B exists, so the replica killed is the leader.
        wait_for(lambda: _held_by(backend, ROLLOUTS_LEASE, a.pid), 20, message="replica a to lead the rollouts")
        wait_for(lambda: _held_by(backend, LEASE_NAME, a.pid), 20, message="replica a to lead registration expiry")
        b, url_b = _replica(fleet, "replica-b", store, shared)
        token = (shared / "admin.token").read_text().strip()
        admin = ControlPlaneClient(f"{url_a},{url_b}", token)
        fleet.clients.append(admin)
        artifacts.publish(admin, "1", "1.0.0")

        cells: dict[str, dict[str, str]] = {}
        n = 0
        for stage, count in STAGES.items():
            for i in range(count):
                cell = f"{PREFIX[stage]}{i:02d}"
                created = admin.create_cell(cell, stage, release="1")
                order = f"{url_a},{url_b}" if n % 2 == 0 else f"{url_b},{url_a}"
                cells[cell] = {"token": created["registration_token"], "control_plane": order}
                n += 1
        artifacts.publish(admin, "2", "2.0.0")
        artifacts.publish(admin, "3", "2.0.0", {"workspaces": {"mode": "broken"}})
        (tmp_path / "cells.json").write_text(json.dumps(cells))
        record = tmp_path / "received.jsonl"
        log = (tmp_path / "agents.log").open("ab")
        agents = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fleet" / "replica_agents.py"),
             str(tmp_path / "cells.json"), str(tmp_path / "cells"), str(record)],
            env=fleet.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        fleet.procs.append(agents)

        def converged(release: str) -> bool:
            views = admin.list_cells()
            return len(views) == len(cells) and all(
                v["status"]
                and v["status"]["release"] == release
                and v["status"]["observed_generation"] == v["spec"]["generation"]
                for v in views
            )

        wait_for(lambda: converged("1"), 30, message="every cell on release 1")

        rollout = admin.start_rollout({"release": "2", "stages": FAST})
        rid = rollout["id"]
        # Mid-rollout: staging done, the later stages still to come.
        wait_for(
            lambda: admin.rollout(rid)["stages"][0]["status"] == "completed", 30, message="the staging stage to end"
        )
        assert admin.rollout(rid)["state"] == "running"
        killed_at = time.time()
        t0 = time.monotonic()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        taken = wait_for(
            lambda: _held_by(backend, ROLLOUTS_LEASE, b.pid), LEASE_TTL + 10, 0.05, message="replica b to lead"
        )
        took = time.monotonic() - t0
        print(f"replica b led {took:.2f}s after the kill (ttl {LEASE_TTL}, renew every {RENEW_EVERY:.2f})")
        old = lease_info(backend, ROLLOUTS_LEASE)
        assert old is not None and taken.epoch == old.epoch
        # The standby tries every renew interval; the dead leader's lease ends at most a ttl after the kill.
        # (One extra second for process scheduling on a busy two-core machine.)
        assert took <= LEASE_TTL + RENEW_EVERY + 1.0, f"replica b led {took:.2f}s after the kill"
        wait_for(lambda: _held_by(backend, LEASE_NAME, b.pid), LEASE_TTL + 10, message="b to lead expiry too")

        done = wait_for(lambda: _rollout_done(admin, rid, "completed"), 60, 0.2, message="the rollout to complete")
        assert sum(s["updated"] for s in done["stages"]) == len(cells)
        assert all(not s["failed_cells"] and not s["skipped"] for s in done["stages"])
        wait_for(lambda: converged("2"), 30, message="every cell reporting release 2")
        # Every agent, half of them first pointed at the dead replica, talks to the other one now.
        for view in admin.list_cells():
            assert view["status"]["reported_at"] > killed_at, f"{view['cell']['id']} never reconnected"

        # A release that fails: the rollout halts on the first cell, and no other cell ever receives it.
        broken = admin.start_rollout({"release": "3", "stages": FAST})
        halted = wait_for(lambda: _rollout_done(admin, broken["id"], "halted"), 30, 0.2, message="the halt")
        assert halted["halt"].startswith("cell t00")
        time.sleep(2 * RENEW_EVERY + 1)  # the leader's ticks go on: nothing more may be targeted
        received = _records(record)
        got_3 = {r["cell"] for r in received if r["release"] == "3"}
        assert got_3 == {"t00"}
        assert all(v["spec"]["release"]["version"] != "3" for v in admin.list_cells() if v["cell"]["id"] != "t00")

        # Per cell, generations only grow, and release 2 came in stage order from one rollout's targets.
        per_cell: dict[str, list[int]] = {}
        for r in received:
            per_cell.setdefault(r["cell"], []).append(r["generation"])
        assert set(per_cell) == set(cells)
        for cell, generations in per_cell.items():
            assert generations == sorted(set(generations)), f"{cell} received {generations}"
        first_2 = {c: min(r["at"] for r in received if r["cell"] == c and r["release"] == "2") for c in cells}
        assert max(first_2[c] for c in cells if c[0] == "t") < min(first_2[c] for c in cells if c[0] == "a")
        assert max(first_2[c] for c in cells if c[0] == "a") < min(first_2[c] for c in cells if c[0] == "d")
        # After the kill, specs came only from the surviving replica.
        assert {r["url"] for r in received if r["at"] > killed_at + 0.5} == {url_b}
        targets = [e for e in admin.audit(1000) if e["action"] == "cell.target" and f"rollout {rid} " in e["detail"]]
        assert len(targets) == len(cells) and len({e["target"] for e in targets}) == len(cells)
    finally:
        backend.close()
