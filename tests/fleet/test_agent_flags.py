"""The agent keeps the last flag values it received, hands them to the components, and reports them; while the
control plane is unreachable it reports them as ``STALE``, never as defaults (also after a restart)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import httpx

from reconcile.fleet import Agent, MemoryRuntime

VALUES = {"workspace-usage": {"value": True, "variant": "acme", "reason": "TARGETING_MATCH"}}


class FakeControlPlane:
    """Answers the agent's spec polls and status reports over ``httpx.MockTransport``, or is unreachable."""

    def __init__(self) -> None:
        self.up = True
        self.spec: dict[str, Any] = {"cell_id": "acme", "generation": 1, "flags": VALUES}
        self.reports: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/v1/cells/acme/desired":
            etag = f'"g{self.spec["generation"]}"'
            if request.headers.get("if-none-match") == etag:
                return httpx.Response(304, headers={"ETag": etag})
            return httpx.Response(200, json=self.spec, headers={"ETag": etag})
        assert request.method == "PUT" and request.url.path == "/v1/cells/acme/status"
        self.reports.append(json.loads(request.content))
        return httpx.Response(200, json={"accepted": True})


def agent(state: pathlib.Path, cp: FakeControlPlane) -> Agent:
    state.mkdir(exist_ok=True)
    (state / "credential.json").write_text(json.dumps({"cell_id": "acme", "credential": "rc.acme.secret"}))
    return Agent("http://cp", state, runtime=MemoryRuntime(), durable=False, transport=httpx.MockTransport(cp))


def handed(state: pathlib.Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "flags.json").read_text())
    return data


def test_flag_values_are_handed_over_reported_and_kept_as_stale_while_the_control_plane_is_away(
    tmp_path: pathlib.Path,
) -> None:
    cp = FakeControlPlane()
    a = agent(tmp_path / "acme", cp)
    assert a.tick() is True
    assert cp.reports[-1]["flags"] == VALUES
    assert handed(tmp_path / "acme") == {"generation": 1, "stale": False, "flags": VALUES}

    cp.up = False
    assert a.tick() is False
    stale = {"workspace-usage": {**VALUES["workspace-usage"], "reason": "STALE"}}
    assert a.status().flags == stale  # the value received, not the flag's default (false)
    assert handed(tmp_path / "acme") == {"generation": 1, "stale": True, "flags": stale}

    cp.up = True
    assert a.tick() is True
    assert cp.reports[-1]["flags"] == VALUES and handed(tmp_path / "acme")["stale"] is False
    a.close()


def test_an_agent_restarted_while_the_control_plane_is_away_keeps_the_values_it_had(tmp_path: pathlib.Path) -> None:
    cp = FakeControlPlane()
    first = agent(tmp_path / "acme", cp)
    first.tick()
    first.close()
    cp.up = False
    second = agent(tmp_path / "acme", cp)
    assert second.tick() is False
    assert second.status().flags == {"workspace-usage": {**VALUES["workspace-usage"], "reason": "STALE"}}
    assert handed(tmp_path / "acme")["flags"]["workspace-usage"]["value"] is True
    second.close()


def test_a_new_flag_value_reaches_the_components_file_at_the_next_tick(tmp_path: pathlib.Path) -> None:
    cp = FakeControlPlane()
    a = agent(tmp_path / "acme", cp)
    a.tick()
    before = (tmp_path / "acme" / "flags.json").stat().st_mtime_ns
    a.tick()  # nothing changed: the file is not rewritten
    assert (tmp_path / "acme" / "flags.json").stat().st_mtime_ns == before
    off = {"workspace-usage": {"value": False, "variant": "default", "reason": "DEFAULT"}}
    cp.spec = {"cell_id": "acme", "generation": 2, "flags": off}
    a.tick()
    assert handed(tmp_path / "acme") == {"generation": 2, "stale": False, "flags": off}
    assert cp.reports[-1]["flags"] == off and cp.reports[-1]["observed_generation"] == 2
    a.close()
