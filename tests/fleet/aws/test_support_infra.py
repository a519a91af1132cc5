"""A mandatory infrastructure update end to end: a real v1 → v2 apply against moto, reported by the cell's agent."""

from __future__ import annotations

import json
from importlib import resources as package_files
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reconcile.fleet import aws
from reconcile.fleet.cli import main
from tests.support.fleet import Fleet, wait_for


def customer(endpoint: str, tmp: Path, *args: str, template: str) -> Any:
    """The customer's ``reconcile-fleet ARGS`` on stack ``acme`` (its own journal), against moto."""
    common = ["--template", template, "--param", "name=acme", "--journal", f"sqlite:///{tmp}/acme-infra.db"]
    return CliRunner().invoke(main, [*args, *common, "--endpoint-url", endpoint], catch_exceptions=False)


def test_the_agent_reports_what_infra_apply_wrote_and_the_cell_returns_to_sla(
    clients: aws.Clients, endpoint: str, fleet: Fleet, tmp_path: Path
) -> None:
    outputs = tmp_path / "acme-outputs.json"
    done = customer(endpoint, tmp_path, "bootstrap", "--yes", "--outputs", str(outputs), template="cell-infra-v1")
    assert done.exit_code == 0, done.output

    fleet.start_control_plane()
    admin = fleet.admin()
    fleet.create_cell("acme")
    fleet.spawn(
        "agent-acme",
        [
            "agent", "--control-plane", fleet.url, "--token-file", str(fleet.root / "acme.token"),
            "--state-dir", str(fleet.state_dir("acme")), "--poll-interval", "0.3", "--max-backoff", "1",
            "--infra-outputs", str(outputs), "--infrastructure-version", "0",
        ],
    )  # fmt: skip

    def reported() -> str | None:
        status = admin.show_cell("acme")["status"]
        return None if not status else status["infrastructure_version"]

    assert wait_for(lambda: reported() == "1", 20, message="version 1, from the bootstrap's outputs")
    v2 = json.loads(package_files.files("reconcile.fleet.aws").joinpath("templates", "cell-infra-v2.json").read_text())
    published = admin.publish_template(v2, mandatory=True)
    assert published["cells"]["acme"]["state"] == "grace"

    applied = customer(
        endpoint, tmp_path, "infra", "apply", "--yes", "--outputs", str(outputs), template="cell-infra-v2"
    )
    assert applied.exit_code == 0, applied.output
    assert json.loads(outputs.read_text())["infrastructure_version"] == "2"
    assert wait_for(lambda: reported() == "2", 20, message="version 2, from the update's outputs")
    assert wait_for(lambda: admin.show_cell("acme")["support"]["state"] == "in_sla", 20, message="back in SLA")
    changes = [e["detail"] for e in admin.audit(200) if e["action"] == "cell.support" and e["target"] == "acme"]
    assert changes[-1].startswith("grace -> in_sla")
