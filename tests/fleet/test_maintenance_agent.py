"""The agent's side of maintenance mode, in this process with a ``MemoryRuntime``, against a real control plane."""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import pytest
from click.testing import CliRunner

import reconcile as rc
from reconcile.fleet import MaintenanceSwitch, MemoryRuntime
from reconcile.fleet.agent import Agent
from reconcile.fleet.cli import main
from reconcile.fleet.runtime import Component
from tests.support.fleet import Artifacts, Fleet


class Watching(MemoryRuntime):
    """Records, during each update, what the control plane shows operators about the cell."""

    def __init__(self, cp: Fleet, cell: str) -> None:
        super().__init__()
        self.cp, self.cell = cp, cell
        self.shown: list[tuple[str, Any, Any]] = []
        self.tables: list[str] = []

    def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Component:
        view = self.cp.view(self.cell)
        row = next(r for r in self.cp.admin().fleet_status()["cells"] if r["cell"] == self.cell)
        self.shown.append((desired.name, view["maintenance"], row["maintenance"]))
        self.tables.append(cli(self.cp, "status")[1])
        return super().update(actual, desired, ctx)


def cli(cp: Fleet, *args: str) -> tuple[int, str]:
    env = {"RECONCILE_FLEET_URL": cp.url, "RECONCILE_FLEET_ADMIN_TOKEN_FILE": str(cp.root / "cp" / "admin.token")}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_the_agent_reports_the_window_while_the_update_runs_and_its_end_after(
    cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path
) -> None:
    token = cp.create_cell("maint1").read_text()
    runtime = Watching(cp, "maint1")
    agent = Agent(cp.url, tmp_path / "maint1", runtime=runtime, poll_interval=0.2)
    runtime.artifacts = agent.artifacts
    agent.register(token)
    artifacts.publish(cp.admin(), "m1", "1.0.0")
    assert agent.tick(wait=5)
    assert runtime.shown == []  # a first install opens no window
    artifacts.publish(cp.admin(), "m2", "2.0.0", maintenance={"workspaces": 90})
    assert agent.tick(wait=5)
    shown = dict((name, (view, row)) for name, view, row in runtime.shown)
    assert shown["proxy"] == (None, None)  # proxy does not require maintenance
    view, row = shown["workspaces"]
    assert view["reason"] == "update of workspaces 1.0.0 -> 2.0.0" and view["until"] - view["since"] == 90
    assert row["reason"] == view["reason"] and 0 < row["left"] <= 90
    # `reconcile-fleet status` shows it to operators while it lasts.
    table = runtime.tables[[name for name, _, _ in runtime.shown].index("workspaces")]
    header, line = table.splitlines()[0], next(x for x in table.splitlines() if x.startswith("maint1 "))
    assert header.split()[-1] == "MAINTENANCE" and "left): update of workspaces 1.0.0 -> 2.0.0" in line
    assert "MAINTENANCE" not in cli(cp, "status")[1]
    # After the update: off in the cell, and reported off.
    assert agent.maintenance.current() is None and agent.status().maintenance is None
    assert cp.view("maint1")["maintenance"] is None and cp.view("maint1")["status"]["maintenance"] is None
    assert {n: c.version for n, c in runtime.running.items()} == {"proxy": "2.0.0", "workspaces": "2.0.0"}
    agent.close()


def test_a_restarted_agent_ends_the_window_its_dead_predecessor_left(
    cp: Fleet, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = cp.create_cell("maint2").read_text()
    agent = Agent(cp.url, tmp_path / "maint2", runtime=MemoryRuntime(), poll_interval=0.2)
    agent.register(token)
    # What an agent killed in the middle of an update leaves behind.
    MaintenanceSwitch(tmp_path / "maint2" / "maintenance.json").begin(600, "update of workspaces 1 -> 2")
    assert agent.status().maintenance is not None
    with caplog.at_level(logging.WARNING, logger="reconcile.fleet.agent"):
        agent.run(max_ticks=1)
    assert "ended the maintenance window a dead agent left" in caplog.text
    assert not (tmp_path / "maint2" / "maintenance.json").exists()
    assert cp.view("maint2")["status"]["maintenance"] is None
    agent.close()


def test_releases_publish_marks_components_that_require_maintenance(cp: Fleet, artifacts: Artifacts) -> None:
    ws, proxy = artifacts.paths[("workspaces", "1.0.0")], artifacts.paths[("proxy", "1.0.0")]
    code, out = cli(
        cp, "releases", "publish", "m-cli",
        "--component", f"workspaces={ws}", "--component", f"proxy={proxy}", "--maintenance", "workspaces:120",
    )  # fmt: skip
    assert code == 0, out
    code, out = cli(
        cp, "releases", "publish", "m-cli2", "--component", f"workspaces={ws}", "--maintenance", "workspaces"
    )
    assert code == 0, out
    released = {r["version"]: {c["name"]: c for c in r["components"]} for r in cp.admin().list_releases()}
    assert released["m-cli"]["workspaces"]["maintenance_duration"] == 120.0
    assert "requires_maintenance" not in released["m-cli"]["proxy"]
    assert released["m-cli2"]["workspaces"]["maintenance_duration"] == 600.0  # the default
    code, out = cli(cp, "releases", "publish", "m-bad", "--component", f"proxy={proxy}", "--maintenance", "workspaces")
    assert code != 0 and "'workspaces' is not a --component of the release" in out
    code, out = cli(cp, "releases", "publish", "m-bad", "--component", f"proxy={proxy}", "--maintenance", "proxy:soon")
    assert code != 0 and "expected NAME[:SECONDS]" in out
    code, out = cli(cp, "releases", "publish", "m-bad", "--component", f"proxy={proxy}", "--maintenance", "proxy:0")
    assert code != 0 and "maintenance_duration: expected seconds" in out
    assert "m-bad" not in {r["version"] for r in cp.admin().list_releases()}
