"""Debug access across the fleet: the cell reports grants and its audit trail; the control plane can only read them."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconcile.fleet import AuthenticationError, DesiredSpec, MemoryRuntime
from reconcile.fleet.agent import Agent
from reconcile.fleet.debug import call
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


@pytest.fixture
def agent(cp: Fleet, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[Agent]:
    cell = "dbg-" + request.node.name.removeprefix("test_")[:40].replace("_", "-").strip("-")
    token = cp.create_cell(cell).read_text()
    runtime = MemoryRuntime()
    a = Agent(cp.url, tmp_path / "cell", runtime=runtime, poll_interval=0.2)
    runtime.artifacts = a.artifacts
    a.register(token)
    with a.debug.serving():
        yield a
    a.close()


def get(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def grant(agent: Agent, duration: str = "2h") -> dict[str, Any]:
    return call(agent.state_dir, {"op": "grant", "duration": duration, "reason": "ticket 7", "by": "alice"})


def test_grants_uses_and_revocations_reach_the_control_plane_without_secrets(cp: Fleet, agent: Agent) -> None:
    assert agent.tick() is True
    answer = grant(agent)
    assert get(f"{answer['endpoint']}/debug/v1/status", answer["token"])[0] == 200
    assert agent.tick() is True
    admin = cp.admin()
    view = admin.show_cell(agent.cell_id)
    reported = view["status"]["debug_access"]
    assert reported["open"] is True and [g["id"] for g in reported["grants"]] == ["dg1"]
    assert [e["event"] for e in view["debug_audit"]] == ["grant", "use"]
    call(agent.state_dir, {"op": "revoke", "grant": "dg1", "by": "alice"})
    assert agent.tick() is True and agent.tick() is True  # a repeated report adds nothing
    view = admin.show_cell(agent.cell_id)
    assert view["status"]["debug_access"]["grants"] == [] and view["status"]["debug_access"]["open"] is False
    trail = admin.debug_audit(agent.cell_id)
    assert [(e["seq"], e["event"], e["grant"]) for e in trail] == [
        (1, "grant", "dg1"),
        (2, "use", "dg1"),
        (3, "revoke", "dg1"),
    ]
    assert trail[0]["by"] == "alice" and "ticket 7" in trail[0]["detail"]
    audit = [e for e in admin.audit(1000) if e["target"] == agent.cell_id and e["action"].startswith("debug.")]
    assert [e["action"] for e in audit] == ["debug.grant", "debug.use", "debug.revoke"]
    assert {e["actor"] for e in audit} == {f"cell:{agent.cell_id}"}
    everything = json.dumps([view, trail, audit])
    assert answer["token"] not in everything and answer["token"].split(".")[2] not in everything


def test_expiry_by_the_agents_clock_is_reported(cp: Fleet, tmp_path: pathlib.Path) -> None:
    now = [2_000_000_000.0]
    token = cp.create_cell("dbg-expiry").read_text()
    runtime = MemoryRuntime()
    a = Agent(cp.url, tmp_path / "cell", runtime=runtime, poll_interval=0.2, clock=lambda: now[0])
    runtime.artifacts = a.artifacts
    a.register(token)
    with a.debug.serving():
        answer = grant(a, "1m")
        now[0] += 60
        with pytest.raises(AuthenticationError, match="expired"):
            a.debug.access.authenticate(answer["token"], "GET /debug/v1/status")
        assert a.tick() is True
    a.close()
    trail = cp.admin().debug_audit("dbg-expiry")
    assert [e["event"] for e in trail] == ["grant", "expire", "refused"]
    assert cp.admin().show_cell("dbg-expiry")["status"]["debug_access"]["open"] is False


# Every place a debug grant or the debug endpoint could plausibly be reached on the control plane.
PATHS = [
    "/v1/cells/{cell}/debug",
    "/v1/cells/{cell}/debug/grant",
    "/v1/cells/{cell}/debug/grants",
    "/v1/cells/{cell}/debug-grants",
    "/v1/cells/{cell}/debug-access",
    "/v1/cells/{cell}/debug-audit",
    "/v1/cells/{cell}/debug/v1/status",
    "/v1/cells/{cell}/debug/v1/logs",
    "/v1/cells/{cell}/grants",
    "/v1/cells/{cell}/access",
    "/v1/cells/{cell}/proxy/debug/v1/status",
    "/v1/debug",
    "/v1/debug/grants",
    "/v1/debug/{cell}",
    "/v1/grants",
    "/debug/v1/status",
    "/debug/v1/logs",
]


def test_the_control_plane_has_no_call_that_grants_or_reaches_the_debug_endpoint(cp: Fleet, agent: Agent) -> None:
    agent.tick()
    cell = agent.cell_id
    credential = json.loads(agent.credential_path.read_text())["credential"]
    body = {"duration": 3600, "reason": "vendor", "by": "vendor", "debug_grants": [{"id": "dg1"}]}
    with httpx.Client(base_url=cp.url, timeout=10) as http:
        for bearer in (cp.admin_token, credential):
            for path in PATHS:
                for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                    url = path.format(cell=cell)
                    sent = None if method == "GET" else body
                    response = http.request(method, url, json=sent, headers={"Authorization": f"Bearer {bearer}"})
                    if url.endswith("/debug-audit") and method == "GET" and bearer == cp.admin_token:
                        assert response.status_code == 200 and "events" in response.json()
                    else:
                        assert response.status_code in (401, 404, 405), (method, url, response.status_code)
        admin = {"Authorization": f"Bearer {cp.admin_token}"}
        # The spec's debug_grants cannot be set through the calls that do change a spec.
        created = http.post(
            "/v1/cells", json={"id": "dbg-x", "stage": "dedicated", "debug_grants": [{}]}, headers=admin
        )
        assert created.status_code == 400 and "debug_grants" in created.json()["message"]
        target = http.put(f"/v1/cells/{cell}/target", json={"release": "base", "debug_grants": [{}]}, headers=admin)
        assert target.status_code == 200 and target.json()["debug_grants"] == []
    agent.tick()
    assert agent.spec is not None and agent.spec.debug_grants == ()
    assert agent.debug.access.grants() == [] and not agent.debug.endpoint.is_open
    assert all(e.event != "grant" for e in agent.debug.access.events())


def test_the_servers_only_debug_route_is_the_read_only_audit() -> None:
    from reconcile.fleet.server import create_app

    class Control:
        clock = staticmethod(lambda: 0.0)

    routes = [(r.path, sorted(getattr(r, "methods", None) or ())) for r in create_app(Control()).routes]  # type: ignore[arg-type, attr-defined]
    assert [r for r in routes if "debug" in r[0] or "grant" in r[0]] == [
        ("/v1/cells/{cell_id}/debug-audit", ["GET", "HEAD"])
    ]


def test_a_spec_carrying_debug_grants_opens_nothing(tmp_path: pathlib.Path) -> None:
    """A control plane (even a compromised one) cannot open access by putting grants in a cell's spec."""
    forged_token = "rd.dg1.forged-by-the-control-plane-0123456789abcdef"
    import hashlib

    forged = {
        "id": "dg1",
        "by": "vendor",
        "reason": "we want in",
        "granted_at": 0,
        "expires_at": 4_000_000_000,
        "token_hash": hashlib.sha256(forged_token.encode()).hexdigest(),
    }
    spec = DesiredSpec("evil", 3, None, {}, None, (forged,))
    reports: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/register":
            return httpx.Response(200, json={"cell_id": "evil", "credential": "rc.evil.x", "poll_interval": 1})
        if request.url.path.endswith("/desired"):
            return httpx.Response(200, json=spec.to_json(), headers={"ETag": '"g3"'})
        if request.url.path.endswith("/status"):
            reports.append(json.loads(request.content))
            return httpx.Response(200, json={"accepted": True})
        return httpx.Response(404, json={"error": "not_found"})

    a = Agent("http://cp.invalid", tmp_path / "cell", runtime=MemoryRuntime(), transport=httpx.MockTransport(handler))
    a.register("rt.evil.x")
    with a.debug.serving():
        assert a.tick() is True
        assert a.spec is not None and a.spec.debug_grants == (forged,)
        assert a.debug.access.grants() == [] and not a.debug.endpoint.is_open
        with pytest.raises(AuthenticationError) as refused:
            a.debug.access.authenticate(forged_token, "GET /debug/v1/status")
        assert refused.value.code == "invalid_credential"
    a.close()
    assert json.loads((tmp_path / "cell" / "debug" / "grants.json").read_text())["grants"] == []
    sent = reports[-1]["debug_access"]
    assert sent["grants"] == [] and sent["events"][0]["event"] == "ignored"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconcile.fleet.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_the_customers_commands(cp: Fleet, agent: Agent) -> None:
    state = str(agent.state_dir)
    bad = cli("debug", "grant", "--state-dir", state, "--duration", "3d", "--reason", "r", "--by", "alice")
    assert bad.returncode != 0 and "--duration: 3d is longer than the maximum of 1d" in bad.stderr
    bad = cli("debug", "grant", "--state-dir", state, "--reason", " ", "--by", "alice")
    assert bad.returncode != 0 and "--reason: required" in bad.stderr
    assert agent.debug.access.grants() == []
    done = cli("debug", "grant", "--state-dir", state, "--duration", "2h", "--reason", "slow starts", "--by", "alice")
    assert done.returncode == 0, done.stderr
    token = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("credential:"))
    assert done.stdout.count(token) == 1 and "debug grant dg1 open until" in done.stdout
    endpoint = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("endpoint:"))
    assert get(f"{endpoint}/debug/v1/status", token)[0] == 200
    listed = cli("debug", "list", "--state-dir", state)
    assert "dg1" in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    assert cli("debug", "revoke", "--state-dir", state, "--by", "alice").returncode == 2  # GRANT_ID or --all
    revoked = cli("debug", "revoke", "--state-dir", state, "dg1", "--by", "alice")
    assert "revoked dg1; the debug endpoint is closed" in revoked.stdout
    trail = cli("debug", "audit", "--state-dir", state)
    assert [line.split()[3] for line in trail.stdout.splitlines()] == ["grant", "use", "revoke"]
    agent.tick()
    token_file = cp.root / "cp" / "admin.token"
    shown = cli("cells", "show", agent.cell_id, "--control-plane", cp.url, "--admin-token-file", str(token_file))
    assert [e["event"] for e in json.loads(shown.stdout)["debug_audit"]] == ["grant", "use", "revoke"]
    audit = cli("cells", "debug-audit", agent.cell_id, "--control-plane", cp.url, "--admin-token-file", str(token_file))
    assert audit.returncode == 0 and "revoke" in audit.stdout and token not in audit.stdout + shown.stdout
