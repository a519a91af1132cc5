"""The demo's rollout story as a test: real control plane, agents and components; the operator uses the CLI.

The maintenance window during such an update is pinned end to end by test_maintenance_e2e.py (and by the
demo's own checks); here the update is a plain one, so the stages move fast.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import shutil
import urllib.error
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner

from reconcile.fleet.artifacts import build_artifact, sha256_file
from reconcile.fleet.cli import main
from tests.support.fleet import COMPONENTS, Artifacts, Fleet, wait_for

pytestmark = pytest.mark.slow

CELLS = {"st1": "staging", "sa1": "saas", "de1": "dedicated"}
STAGES = ("--stage", "staging:1:0.5", "--stage", "saas:1:0.5", "--stage", "dedicated:1:0.5")


def cli(fleet: Fleet, *args: str) -> str:
    env = {"RECONCILE_FLEET_URL": fleet.url, "RECONCILE_FLEET_ADMIN_TOKEN_FILE": str(fleet.root / "cp" / "admin.token")}
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def user(fleet: Fleet, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
    """A user's call through de1's proxy (retried only while the proxy swaps ports during its own update)."""

    def once() -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        url = f"http://127.0.0.1:{fleet.ports('de1')['proxy']}{path}"
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), dict(e.headers)

    answer: tuple[int, Any, dict[str, str]] = wait_for(once, 60, 0.05, message=f"de1's proxy on {path}")
    return answer


def versions(fleet: Fleet, cell: str) -> dict[str, str]:
    """What really answers in the cell: each component's version from its own health endpoint."""
    out = {}
    for name, port in fleet.ports(cell).items():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            out[name] = json.loads(r.read())["version"]
    return out


def test_a_release_rolls_out_stage_by_stage_and_a_bad_build_halts_in_staging(
    fleet: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path
) -> None:
    fleet.clock_file = fleet.root / "clock.json"
    fleet.start_control_plane()
    for cell, stage in CELLS.items():
        fleet.create_cell(cell, stage)
        fleet.start_agent(cell)
    admin = fleet.admin()
    artifacts.publish(admin, "r1", "1.0.0")
    for cell in CELLS:
        wait_for(lambda c=cell: fleet.converged(c, "r1", "1.0.0"), message=f"{cell} at r1")
        cli(fleet, "cells", "set-release", cell, "r1")
    status, dana, _ = user(fleet, "/api/workspaces", {"owner": "dana"})
    assert status == 201

    published = artifacts.publish(admin, "r2", "2.0.0")
    assert published["cells"] == []  # every cell is pinned: only the rollout moves them
    out = cli(fleet, "rollouts", "start", "r2", *STAGES)
    rollout = out.split()[1].rstrip(":")
    assert "release r2" in out and "running" in out

    wait_for(lambda: admin.rollout(rollout)["state"] == "completed", 60, message="the rollout to complete")
    listed = {w["id"]: w for w in user(fleet, "/api/workspaces")[1]["workspaces"]}
    assert listed[dana["id"]]["status"] == "running" and listed[dana["id"]]["pid"] == dana["pid"]
    targets = sorted(
        (e["at"], e["target"])
        for e in admin.audit(500)
        if e["action"] == "cell.target" and e["detail"].startswith(f"rollout {rollout} ")
    )
    assert [c for _, c in targets] == ["st1", "sa1", "de1"]  # stage by stage
    assert all(b[0] - a[0] >= 0.5 for a, b in itertools.pairwise(targets))  # each after a bake
    for cell in CELLS:
        assert versions(fleet, cell) == {"workspaces": "2.0.0", "proxy": "2.0.0"}

    # A bad build (it exits at start, so it is never healthy) halts in staging; saas and dedicated are untouched.
    bad = tmp_path / "workspaces-bad"
    shutil.copytree(COMPONENTS / "workspaces", bad)
    manifest = json.loads((bad / "component.json").read_text())
    (bad / "component.json").write_text(json.dumps({**manifest, "command": ["{python}", "-c", "raise SystemExit(3)"]}))
    build_artifact(bad, tmp_path / "bad.tar.gz", version="3.0.0")
    digest = sha256_file(tmp_path / "bad.tar.gz")
    admin.upload_artifact(tmp_path / "bad.tar.gz", digest)
    proxy = {"name": "proxy", "digest": artifacts.digest("proxy", "2.0.0"), "config": {"upstream": "workspaces"}}
    admin.publish_release("r3", [{"name": "workspaces", "digest": digest}, proxy])
    second = cli(fleet, "rollouts", "start", "r3", *STAGES).split()[1].rstrip(":")
    wait_for(lambda: admin.rollout(second)["state"] == "halted", 60, message="the halt")
    shown = cli(fleet, "rollouts", "status", second)
    assert "halted: cell st1: Degraded: ApplyFailed" in shown and "workspaces 3.0.0" in shown
    for cell in ("sa1", "de1"):
        assert fleet.view(cell)["spec"]["release"]["version"] == "r2"
        assert versions(fleet, cell) == {"workspaces": "2.0.0", "proxy": "2.0.0"}
    assert versions(fleet, "st1")["workspaces"] == "2.0.0"  # the old version kept running
    view = admin.rollout(second)
    assert {s["stage"]: (s["updated"], s["pending"]) for s in view["stages"]}["dedicated"] == (0, 1)
    cli(fleet, "rollouts", "abort", second)
    assert admin.rollout(second)["state"] == "aborted"
