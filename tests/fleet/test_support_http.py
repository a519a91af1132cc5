"""Support deadlines over real processes: templates published and listed over HTTP and the CLI, ``status --at``,
a frozen cell refused a retarget, and an agent reporting the version its infrastructure outputs file names."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import httpx
import pytest

from reconcile.fleet import Agent, ConflictError, InvalidInputError, MemoryRuntime
from reconcile.fleet.agent import ControlPlaneClient
from tests.support.fleet import Artifacts, Fleet, run_cli, wait_for

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "reconcile" / "fleet" / "aws" / "templates"
DAY = 86400.0


def document(version: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((TEMPLATES / f"cell-infra-v{min(version, 2)}.json").read_text())
    doc["version"] = version
    return doc


def test_templates_are_published_and_listed_from_the_command_line_and_status_previews_a_date(
    cp: Fleet, tmp_path: pathlib.Path
) -> None:
    cp.create_cell("acme")
    code, out = run_cli(cp, "templates", "publish", str(TEMPLATES / "cell-infra-v1.json"))
    assert code == 0 and "infrastructure template version 1 published (optional)" in out, out
    code, out = run_cli(cp, "templates", "publish", "cell-infra-v2", "--mandatory", "--window", "14d")
    assert code == 0 and "version 2 published (mandatory within 14 days)" in out, out
    assert "grace: acme" in out

    code, out = run_cli(cp, "templates", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["VERSION", "RELEASED", "MANDATORY", "WINDOW", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2"]
    assert lines[2].split()[4:6] == ["yes", "14d"]
    listed = cp.admin().list_templates()
    assert [(t["version"], t["mandatory"], t["window"]) for t in listed] == [(1, False, 14 * DAY), (2, True, 14 * DAY)]
    assert cp.admin().template(2)["document"] == document(2)

    code, out = run_cli(cp, "status")
    header = out.splitlines()[0].split()
    assert header[-1] == "SUPPORT"
    assert "grace until" in next(line for line in out.splitlines() if line.startswith("acme"))
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 20 * DAY))
    code, out = run_cli(cp, "status", "--at", later)
    assert code == 0 and out.startswith(f"support as it would be at {later} 00:00 UTC"), out
    assert "out_of_sla (frozen)" in next(line for line in out.splitlines() if line.startswith("acme"))
    # a preview stores nothing
    assert cp.admin().show_cell("acme")["support"]["state"] == "grace"
    rows = cp.admin().fleet_status(at=later)["cells"]
    assert next(r for r in rows if r["cell"] == "acme")["support"] == "out_of_sla (frozen)"

    code, out = run_cli(cp, "status", "--at", "tomorrow")
    assert code != 0 and "at: expected a date" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "reconcile.cell-infra", "version": 3,\n "resources": [{"kind": "vpcc"}]')
    code, out = run_cli(cp, "templates", "publish", str(bad))
    assert code != 0 and "line 2" in out, out
    code, out = run_cli(cp, "templates", "publish", "cell-infra-v2", "--window", "abc")
    assert code != 0 and "--window: expected a duration" in out
    code, out = run_cli(cp, "templates", "publish", "cell-infra-v2")
    assert code != 0 and "ConflictError" in out and "published already" in out


def test_the_templates_api_needs_the_admin_token_and_names_bad_fields(cp: Fleet) -> None:
    with httpx.Client(base_url=cp.url) as anonymous:
        assert anonymous.get("/v1/templates").status_code == 401
        assert anonymous.post("/v1/templates", json={"document": document(9)}).status_code == 401
    with httpx.Client(base_url=cp.url, headers={"Authorization": f"Bearer {cp.admin_token}"}) as admin:
        answer = admin.post("/v1/templates", json={"document": document(9), "window": -1})
        assert answer.status_code == 400 and "template.window" in answer.json()["message"]
        answer = admin.get("/v1/templates/nine")
        assert answer.status_code == 400
        assert admin.get("/v1/templates/99").status_code == 404
        assert admin.get("/v1/status", params={"at": "2026-02-30"}).status_code == 400


def test_a_cell_past_its_deadline_is_frozen_through_the_api(fleet: Fleet, artifacts: Artifacts) -> None:
    fleet.start_control_plane()
    admin = fleet.admin()
    artifacts.publish(admin, "r1", "1.0.0")
    fleet.create_cell("late")  # never reports an infrastructure version
    token = fleet.create_cell("fine").read_text()
    with ControlPlaneClient(fleet.url) as anonymous:
        credential = anonymous.register(token, "test")["credential"]
    with ControlPlaneClient(fleet.url, credential) as fine:
        fine.put_status("fine", {"observed_generation": 1, "infrastructure_version": "2"})
    answer = admin.publish_template(document(2), mandatory=True, window="1s")
    assert answer["cells"]["late"]["state"] == "grace"
    time.sleep(1.2)
    # the publish judges support first: the cell past its deadline does not get the release
    changed = artifacts.publish(admin, "r2", "2.0.0")
    assert changed["cells"] == ["fine"]
    view = admin.show_cell("late")
    assert view["support"]["state"] == "out_of_sla" and view["spec"]["release"]["version"] == "r1"
    with pytest.raises(ConflictError, match="out of SLA"):
        admin.set_target("late", "r2")
    entries = [e for e in admin.audit(200) if e["action"] == "cell.support" and e["target"] == "late"]
    changes = [e["detail"].split(":")[0].split(" until")[0].split(",")[0] for e in entries]
    # the controller may have judged the cell in SLA before the template came
    assert changes[-2:] == ["new -> grace", "grace -> out_of_sla"] or changes == [
        "new -> in_sla",
        "in_sla -> grace",
        "grace -> out_of_sla",
    ]
    with pytest.raises(InvalidInputError, match="template.document"):
        admin.publish_template({"format": "nope"})


def test_an_agent_reports_the_version_its_infrastructure_outputs_name(fleet: Fleet, tmp_path: pathlib.Path) -> None:
    fleet.start_control_plane()
    admin = fleet.admin()
    outputs = tmp_path / "acme-outputs.json"
    fleet.create_cell("acme")
    fleet.spawn(
        "agent-acme",
        [
            "agent", "--control-plane", fleet.url, "--token-file", str(fleet.root / "acme.token"),
            "--state-dir", str(fleet.state_dir("acme")), "--poll-interval", "0.3", "--max-backoff", "1",
            "--infra-outputs", str(outputs), "--infrastructure-version", "1",
        ],
    )  # fmt: skip

    def reported() -> str | None:
        status = admin.show_cell("acme")["status"]
        return None if not status else status["infrastructure_version"]

    assert wait_for(lambda: reported() == "1", 60, message="the fallback version")
    admin.publish_template(document(2), mandatory=True)
    assert admin.show_cell("acme")["support"]["state"] == "grace"
    # what `reconcile-fleet infra apply --template cell-infra-v2 --outputs PATH` leaves there
    outputs.write_text(json.dumps({"stack": "acme", "infrastructure_version": "2"}))
    assert wait_for(lambda: reported() == "2", 60, message="the outputs file's version")
    assert wait_for(lambda: admin.show_cell("acme")["support"]["state"] == "in_sla", 60, message="in SLA")


def test_the_outputs_file_is_read_at_every_report_and_falls_back_when_unusable(tmp_path: pathlib.Path) -> None:
    outputs = tmp_path / "outputs.json"
    agent = Agent(
        "http://127.0.0.1:9", tmp_path / "cell", runtime=MemoryRuntime(), durable=False, infra_outputs=outputs,
        infrastructure_version="1",
    )  # fmt: skip
    assert agent.status().infrastructure_version == "1"  # missing
    outputs.write_text(json.dumps({"infrastructure_version": "2"}))
    assert agent.status().infrastructure_version == "2"
    outputs.write_text(json.dumps({"infrastructure_version": "3"}))
    assert agent.status().infrastructure_version == "3"
    for broken in ("{not json", json.dumps([1]), json.dumps({"infrastructure_version": 3}), json.dumps({})):
        outputs.write_text(broken)
        assert agent.status().infrastructure_version == "1", broken
    agent.close()
