"""The ``reconcile-fleet`` operator commands against a real control plane: create, publish, set-release, status."""

from __future__ import annotations

import os
import pathlib

from click.testing import CliRunner

from reconcile.fleet.cli import main
from tests.support.fleet import Artifacts, Fleet, run_cli


def test_an_operator_creates_cells_publishes_and_reads_the_status_table(
    cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path
) -> None:
    token_file = tmp_path / "acme.token"
    code, out = run_cli(
        cp, "cells", "create", "acme", "--stage", "dedicated", "--customer", "acme", "--token-out", str(token_file)
    )
    assert code == 0 and "registration token written" in out
    assert os.stat(token_file).st_mode & 0o777 == 0o600 and token_file.read_text().startswith("rt.acme.")
    code, out = run_cli(cp, "cells", "create", "beta", "--stage", "saas")
    assert code == 0 and out.startswith("rt.beta.")
    code, out = run_cli(
        cp, "releases", "publish", "2026.12.1",
        "--component", f"workspaces={artifacts.paths[('workspaces', '1.0.0')]}",
        "--component", f"proxy={artifacts.paths[('proxy', '1.0.0')]}",
    )  # fmt: skip
    assert code == 0 and "2 cells follow it" in out
    code, out = run_cli(cp, "cells", "set-release", "beta", "2026.12.1")
    assert code == 0 and "generation 1" in out
    code, out = run_cli(cp, "status")
    lines = out.splitlines()
    assert lines[0].split() == ["CELL", "STAGE", "GEN", "RELEASE", "HEALTH", "CHECK-IN", "CONDITIONS", "SUPPORT"]
    assert [line.split()[:3] for line in lines[1:]] == [["acme", "dedicated", "1/-"], ["beta", "saas", "1/-"]]
    code, out = run_cli(cp, "audit")
    assert code == 0 and "release.publish" in out and "rt.acme." not in out


def test_errors_are_one_clear_line(cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path) -> None:
    code, out = run_cli(cp, "cells", "set-release", "nobody", "2026.12.1")
    assert code == 1 and "NotFoundError" in out and "Traceback" not in out
    code, out = run_cli(
        cp, "releases", "publish", "r", "--component", f"proxy={artifacts.paths[('workspaces', '1.0.0')]}"
    )
    assert code == 2 and "holds component 'workspaces', not 'proxy'" in out
    bad = tmp_path / "bad.token"
    bad.write_text("not-the-admin-token")
    result = CliRunner().invoke(main, ["status", "--control-plane", cp.url, "--admin-token-file", str(bad)])
    assert result.exit_code == 1 and "AuthenticationError" in result.output
    assert "not-the-admin-token" not in result.output


def test_an_agent_without_credential_or_token_says_what_it_needs(tmp_path: pathlib.Path) -> None:
    result = CliRunner().invoke(
        main, ["agent", "--control-plane", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 1 and "pass --token-file" in result.output


def test_an_agent_with_a_used_token_fails_clearly(cp: Fleet, tmp_path: pathlib.Path) -> None:
    token = cp.create_cell("usedcli")
    args = ["agent", "--control-plane", cp.url, "--token-file", str(token)]
    from reconcile.fleet.agent import ControlPlaneClient

    with ControlPlaneClient(cp.url) as anonymous:
        anonymous.register(token.read_text(), "test")
    result = CliRunner().invoke(main, [*args, "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 1 and "already used" in result.output
    assert token.read_text() not in result.output


def test_an_operator_runs_a_rollout_from_the_command_line(cp: Fleet, artifacts: Artifacts) -> None:
    from reconcile.fleet.agent import ControlPlaneClient

    # roll-a registers and reports, so its batch waits for it (the rollout cannot finish before the pause
    # below); roll-b never registers and is skipped as unreachable when its batch comes.
    token = cp.create_cell("roll-a", "staging").read_text()
    anon = ControlPlaneClient(cp.url, "")
    cp.clients.append(anon)
    cell = ControlPlaneClient(cp.url, anon.register(token, "test")["credential"])
    cp.clients.append(cell)
    cell.put_status("roll-a", {"observed_generation": 0})
    assert run_cli(cp, "cells", "create", "roll-b", "--stage", "saas")[0] == 0
    comp = f"workspaces={artifacts.paths[('workspaces', '1.0.0')]}"
    assert run_cli(cp, "releases", "publish", "2026.12.9", "--component", comp)[0] == 0
    code, out = run_cli(
        cp, "rollouts", "start", "2026.12.9", "--track", "cli", "--stage", "staging:1:5", "--stage", "saas:50%"
    )
    assert code == 0, out
    rollout_id = out.split()[1].rstrip(":")
    assert f"rollout {rollout_id}: release 2026.12.9 track cli running" in out
    code, out = run_cli(cp, "rollouts", "start", "2026.12.9", "--track", "cli")
    assert code == 1 and "409" in out and f"rollout {rollout_id} of 2026.12.9 is running on track 'cli'" in out
    code, out = run_cli(cp, "rollouts", "pause", rollout_id)
    assert code == 0 and "paused" in out.splitlines()[0]
    code, out = run_cli(cp, "rollouts", "pause", rollout_id)
    assert code == 1 and "409" in out and "is paused; cannot pause" in out
    code, out = run_cli(cp, "rollouts", "resume", rollout_id)
    assert code == 0 and "running" in out.splitlines()[0]
    code, out = run_cli(cp, "rollouts", "status", rollout_id)
    assert code == 0 and "staging" in out and "saas" in out
    # roll-a reports the target generation healthy, bakes 5 s and counts as updated; roll-b never
    # registered: skipped as unreachable once its batch comes, listed, never dropped.
    from tests.support.fleet import wait_for

    spec = cp.admin().show_cell("roll-a")["spec"]
    assert spec["release"]["version"] == "2026.12.9"
    ready = {"type": "Ready", "status": True, "reason": "Applied", "observed_generation": spec["generation"]}
    cell.put_status(
        "roll-a", {"observed_generation": spec["generation"], "release": "2026.12.9", "conditions": [ready]}
    )
    wait_for(
        lambda: "completed" in run_cli(cp, "rollouts", "status", rollout_id)[1].splitlines()[0], 30, message="done"
    )
    out = run_cli(cp, "rollouts", "status", rollout_id)[1]
    assert "skipped roll-a" not in out
    assert "skipped roll-b: unreachable: never reported a status" in out
    code, out = run_cli(cp, "rollouts", "abort", rollout_id)
    assert code == 1 and "is completed; cannot abort" in out
    code, out = run_cli(cp, "rollouts", "status", "r99")
    assert code == 1 and "no rollout 'r99'" in out
    code, out = run_cli(cp, "rollouts", "start", "2026.12.9", "--track", "rb", "--auto-rollback", "--stage", "saas")
    assert code == 0 and "track rb running" in out and "rolled back 0" in out
    code, out = run_cli(cp, "rollouts", "start", "2026.12.9", "--stage", "a:b:c:d:e")
    assert code == 2 and "NAME[:BATCH[:BAKE[:WAIT]]]" in out
