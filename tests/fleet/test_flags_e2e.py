"""Feature flags end to end with real processes: enabling a flag changes what a cell's workspaces API does, with no
release and no restart; the cell keeps (and reports as stale) its values while the control plane is stopped."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.fleet import Artifacts, Fleet, wait_for

pytestmark = pytest.mark.slow


def call(port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def reported_flag(fleet: Fleet, cell: str, key: str = "workspace-usage") -> dict[str, Any] | None:
    """The flag as the cell reports it, once the cell observed its current generation."""
    view = fleet.view(cell)
    status = view["status"]
    if not status or status["observed_generation"] != view["spec"]["generation"]:
        return None
    found: dict[str, Any] | None = status["flags"].get(key)
    return found


def handed(fleet: Fleet, cell: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fleet.state_dir(cell) / "flags.json").read_text())
    return data


def test_a_flag_switched_on_for_one_customer_changes_its_cell_without_a_release_and_survives_an_outage(
    fleet: Fleet, artifacts: Artifacts
) -> None:
    fleet.start_control_plane()
    fleet.create_cell("acme", customer="acme")
    fleet.create_cell("globex", customer="globex")
    agents = {cell: fleet.start_agent(cell) for cell in ("acme", "globex")}
    artifacts.publish(fleet.admin(), "2026.12.1", "1.0.0")
    for cell in agents:
        wait_for(lambda c=cell: fleet.converged(c, "2026.12.1", "1.0.0"), message=f"{cell} installed")
    proxies = {cell: fleet.ports(cell)["proxy"] for cell in agents}
    workspaces = {cell: call(proxies[cell], "/api/workspaces", {"owner": "ann"})[1]["id"] for cell in agents}
    services = {cell: fleet.record(cell, "workspaces")["current"]["pid"] for cell in agents}
    # Off until enabled: the flagged feature is absent everywhere.
    assert call(proxies["acme"], f"/api/workspaces/{workspaces['acme']}/usage")[0] == 404

    admin = fleet.admin()
    rule = {"name": "acme", "match": {"customer": "acme"}, "value": True}
    admin.put_flag("workspace-usage", {"type": "bool", "default": False, "rules": [rule]})
    on = wait_for(lambda: reported_flag(fleet, "acme"), message="acme to report the flag")
    assert on == {"value": True, "variant": "acme", "reason": "TARGETING_MATCH"}
    assert wait_for(lambda: reported_flag(fleet, "globex"), message="globex to report it") == {
        "value": False,
        "variant": "default",
        "reason": "DEFAULT",
    }
    code, usage = call(proxies["acme"], f"/api/workspaces/{workspaces['acme']}/usage")
    assert code == 200 and usage["id"] == workspaces["acme"] and usage["heartbeats"] >= 1
    listed = call(proxies["acme"], "/api/workspaces")[1]["workspaces"]
    assert [set(w["usage"]) for w in listed] == [{"uptime_seconds", "heartbeats"}]
    code, body = call(proxies["globex"], f"/api/workspaces/{workspaces['globex']}/usage")
    assert (code, body["error"]) == (404, "feature_disabled")
    assert ["usage" in w for w in call(proxies["globex"], "/api/workspaces")[1]["workspaces"]] == [False]
    # No release, no restart: the same processes serve, and the release is the one installed before.
    for cell in agents:
        assert fleet.record(cell, "workspaces")["current"]["pid"] == services[cell]
        assert fleet.view(cell)["status"]["release"] == "2026.12.1"

    # A label change re-evaluates: a second rule for gold cells, then globex becomes gold.
    generation = fleet.view("globex")["spec"]["generation"]
    gold = {"name": "gold", "match": {"labels": {"tier": "gold"}}, "value": True}
    assert admin.put_flag("workspace-usage", {"type": "bool", "default": False, "rules": [rule, gold]})["changed"] == []
    assert fleet.view("globex")["spec"]["generation"] == generation
    admin.label_cell("globex", {"tier": "gold"})
    wait_for(lambda: (reported_flag(fleet, "globex") or {}).get("variant") == "gold", message="globex gold")
    assert call(proxies["globex"], f"/api/workspaces/{workspaces['globex']}/usage")[0] == 200

    # The control plane goes away: acme keeps its value, marked stale, even across an agent restart.
    fleet.stop_control_plane()
    wait_for(lambda: handed(fleet, "acme")["stale"], message="acme to notice the outage")
    assert handed(fleet, "acme")["flags"]["workspace-usage"] == {**on, "reason": "STALE"}
    agents["acme"].send_signal(signal.SIGTERM)
    agents["acme"].wait(timeout=15)
    # What the restarted agent hands over comes from the spec it kept, not from the dead one's file.
    (fleet.state_dir("acme") / "flags.json").unlink()
    fleet.start_agent("acme")
    wait_for(lambda: handed(fleet, "acme")["stale"], message="the restarted agent to hand over stale values")
    assert handed(fleet, "acme")["flags"]["workspace-usage"]["value"] is True
    assert call(proxies["acme"], f"/api/workspaces/{workspaces['acme']}/usage")[0] == 200

    fleet.start_control_plane()
    wait_for(
        lambda: (
            (reported_flag(fleet, "acme") or {}).get("reason") == "TARGETING_MATCH"
            and not handed(fleet, "acme")["stale"]
        ),
        message="acme to report fresh values again",
    )
