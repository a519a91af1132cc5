"""The agent's loop, in this process with a ``MemoryRuntime``, against a real control plane process."""

from __future__ import annotations

import json
import pathlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

import reconcile as rc
from reconcile.fleet import AgentLockedError, AuthenticationError, MemoryRuntime
from reconcile.fleet.agent import Agent, sanitise
from reconcile.fleet.runtime import Component
from tests.support.fleet import Artifacts, Fleet


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp("cp"))
    f.start_control_plane()
    Artifacts(f.root).publish(f.admin(), "base", "1.0.0")
    try:
        yield f
    finally:
        f.close()


def new_agent(cp: Fleet, cell: str, tmp_path: pathlib.Path, **kwargs: Any) -> Agent:
    token = cp.create_cell(cell).read_text()
    runtime = MemoryRuntime()
    agent = Agent(cp.url, tmp_path / cell, runtime=runtime, poll_interval=0.2, **kwargs)
    runtime.artifacts = agent.artifacts  # what starts must be downloaded and verified first
    agent.register(token)
    return agent


def conditions(agent: Agent) -> dict[str, tuple[bool, str]]:
    return {k: (c.status, c.reason) for k, c in agent.conditions.items()}


def test_the_agent_installs_from_nothing_then_repairs_drift(
    cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path
) -> None:
    agent = new_agent(cp, "mem1", tmp_path)
    runtime: MemoryRuntime = agent.runtime
    assert runtime.running == {}
    assert agent.tick() is True
    assert {n: c.version for n, c in runtime.running.items()} == {"proxy": "1.0.0", "workspaces": "1.0.0"}
    assert conditions(agent)["Ready"] == (True, "Applied")
    artifacts.publish(cp.admin(), "next", "2.0.0")
    assert agent.tick(wait=5) is True
    assert {n: c.version for n, c in runtime.running.items()} == {"proxy": "2.0.0", "workspaces": "2.0.0"}
    status = cp.view("mem1")["status"]
    assert status["observed_generation"] == agent.spec.generation and status["last_apply"]["ok"] is True
    runtime.kill("proxy")
    agent.tick()
    assert runtime.started == {"proxy": 3, "workspaces": 2}  # install, update, and the repair of proxy
    assert agent.tick() and runtime.started == {"proxy": 3, "workspaces": 2}  # nothing left to do


def test_without_the_control_plane_the_agent_keeps_repairing_against_the_last_spec(
    cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path
) -> None:
    online = new_agent(cp, "mem2", tmp_path)
    online.tick()
    assert online.spec is not None and online.spec.release is not None
    runtime: MemoryRuntime = online.runtime
    # The same cell, its control plane gone (a closed port), restarted from its state directory.
    offline = Agent("http://127.0.0.1:9", tmp_path / "mem2", runtime=runtime, poll_interval=0.2)
    assert offline.spec == online.spec
    runtime.kill("workspaces")
    assert offline.tick() is False
    assert offline.offline_since is not None
    assert set(runtime.running) == {"proxy", "workspaces"}


def test_a_refused_credential_stops_the_agent(cp: Fleet, tmp_path: pathlib.Path) -> None:
    agent = new_agent(cp, "mem3", tmp_path)
    cp.admin().delete_cell("mem3")
    with pytest.raises(AuthenticationError):
        agent.run(max_ticks=1)


def test_the_apply_goes_through_the_applier_given(cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path) -> None:
    calls: list[int] = []

    def applier(plan: rc.Plan, providers: Any) -> rc.ApplyResult:
        calls.append(len(plan.steps))
        return rc.apply(plan, providers)

    agent = new_agent(cp, "mem4", tmp_path, applier=applier)
    agent.tick()
    assert calls == [2]


def test_one_agent_per_state_directory(cp: Fleet, tmp_path: pathlib.Path) -> None:
    agent = new_agent(cp, "mem5", tmp_path)
    twin = Agent(cp.url, tmp_path / "mem5", runtime=MemoryRuntime())
    with agent.locked(), pytest.raises(AgentLockedError), twin.locked():
        pass


def test_credentials_are_kept_readable_by_the_owner_only(cp: Fleet, tmp_path: pathlib.Path) -> None:
    agent = new_agent(cp, "mem6", tmp_path)
    assert agent.credential_path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "mem6").stat().st_mode & 0o777 == 0o700


def test_waits_vary_by_the_jitter_and_no_more(tmp_path: pathlib.Path) -> None:
    agent = Agent("http://127.0.0.1:9", tmp_path / "j", runtime=MemoryRuntime(), rng=random.Random(7))
    waits = [agent._jittered(60.0) for _ in range(200)]
    assert all(54.0 <= w <= 66.0 for w in waits)
    assert max(waits) - min(waits) > 6.0


def test_sanitise_replaces_secret_values_and_shortens() -> None:
    assert sanitise("password hunter2 refused", ["hunter2", ""]) == "password (sensitive) refused"
    assert len(sanitise("x" * 1000, [])) == 300


def test_while_a_new_generation_applies_the_cell_reports_progressing(cp: Fleet, tmp_path: pathlib.Path) -> None:
    seen: list[dict[str, Any]] = []

    def applier(plan: rc.Plan, providers: Any) -> rc.ApplyResult:
        seen.append(cp.view("mem7")["status"])
        return rc.apply(plan, providers)

    agent = new_agent(cp, "mem7", tmp_path, applier=applier)
    agent.tick()
    (during,) = seen
    conds = {c["type"]: (c["status"], c["reason"]) for c in during["conditions"]}
    assert during["observed_generation"] == agent.spec.generation  # type: ignore[union-attr]
    assert conds["Progressing"] == (True, "Applying") and conds["Ready"] == (False, "Applying")
    after = {c["type"]: c["status"] for c in cp.view("mem7")["status"]["conditions"]}
    assert after == {"Progressing": False, "Ready": True, "Degraded": False}
    row = next(r for r in cp.admin().fleet_status()["cells"] if r["cell"] == "mem7")
    assert row["health"] == "healthy"


def test_sensitive_fields_never_leave_the_cell(cp: Fleet, tmp_path: pathlib.Path) -> None:
    agent = new_agent(cp, "mem8", tmp_path)
    runtime: MemoryRuntime = agent.runtime
    running = Component("workspaces", "1.0.0", "a" * 64, {"mode": "fast"}, {"db_password": "hunter2-secret"})
    runtime.running["workspaces"] = running
    agent.spec = None
    agent.conditions.clear()
    assert agent.report()
    assert "hunter2-secret" not in json.dumps(agent.status().to_json())
    assert "hunter2-secret" not in json.dumps(cp.view("mem8"))
    assert cp.view("mem8")["status"]["components"] == [
        {"name": "workspaces", "version": "1.0.0", "digest": "a" * 64, "health": "healthy"}
    ]
