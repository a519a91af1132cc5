"""A customer's debug grant can also open the cell's AWS debug role to a principal, and revoking closes both."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from reconcile.fleet import aws
from reconcile.fleet.debug import DebugService, read_audit

ALICE = "arn:aws:iam::999999999999:user/alice"


@pytest.fixture
def outputs(clients: aws.Clients, tmp_path: pathlib.Path) -> pathlib.Path:
    session = aws.StackSession(
        aws.builtin_template(1), {"name": "acme"}, clients, aws.open_journal(f"sqlite:///{tmp_path}/j.db")
    )
    with session:
        done = session.apply(session.plan())
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(done.outputs))
    return path


@pytest.fixture
def cell(tmp_path: pathlib.Path) -> Iterator[DebugService]:
    service = DebugService(tmp_path / "cell")
    with service.serving():
        yield service


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconcile.fleet.cli", "debug", *args], capture_output=True, text=True, timeout=120
    )


def test_a_grant_opens_the_aws_role_for_its_time_and_a_revoke_closes_it(
    cell: DebugService, outputs: pathlib.Path, clients: aws.Clients, endpoint: str
) -> None:
    state = str(cell.state_dir)
    common = ["--aws-outputs", str(outputs), "--endpoint-url", endpoint]
    done = cli("grant", "--state-dir", state, "--reason", "r", "--by", "alice", "--aws-principal", ALICE, *common)
    assert done.returncode == 0, done.stderr
    (grant,) = cell.access.active()
    assert grant.aws_principal == ALICE
    assert aws.debug_grants(clients, "acme-debug-access") == {ALICE: float(int(grant.expires_at))}
    assert "the AWS debug role for " + ALICE in read_audit(cell.access.directory)[0].detail
    revoked = cli("revoke", "--state-dir", state, "dg1", "--by", "alice", *common)
    assert revoked.returncode == 0, revoked.stderr
    assert f"AWS: {ALICE} may no longer assume role acme-debug-access" in revoked.stdout
    assert aws.debug_grants(clients, "acme-debug-access") == {}
    assert cell.access.active() == []


def test_a_failed_aws_grant_leaves_no_grant_in_the_cell(
    cell: DebugService, outputs: pathlib.Path, tmp_path: pathlib.Path, endpoint: str
) -> None:
    data: dict[str, Any] = json.loads(outputs.read_text())
    data["debug_access_role"] = data["debug_access_role"].replace("acme-debug-access", "no-such-role")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(data))
    done = cli(
        "grant", "--state-dir", str(cell.state_dir), "--reason", "r", "--by", "alice",
        "--aws-principal", ALICE, "--aws-outputs", str(wrong), "--endpoint-url", endpoint,
    )  # fmt: skip
    assert done.returncode != 0 and "debug grant dg1 revoked" in done.stderr
    assert cell.access.active() == [] and not cell.endpoint.is_open
    assert [e.event for e in read_audit(cell.access.directory)] == ["grant", "revoke"]


def test_bad_aws_options_are_named(cell: DebugService, tmp_path: pathlib.Path) -> None:
    state = str(cell.state_dir)
    done = cli("grant", "--state-dir", state, "--reason", "r", "--by", "a", "--aws-principal", "alice")
    assert done.returncode != 0 and "--aws-principal: expected an IAM ARN" in done.stderr
    done = cli("grant", "--state-dir", state, "--reason", "r", "--by", "a", "--aws-principal", ALICE)
    assert done.returncode != 0 and "--aws-principal needs --aws-outputs" in done.stderr
    (tmp_path / "junk.json").write_text("{}")
    done = cli(
        "grant", "--state-dir", state, "--reason", "r", "--by", "a", "--aws-principal", ALICE,
        "--aws-outputs", str(tmp_path / "junk.json"),
    )  # fmt: skip
    assert done.returncode != 0 and "--aws-outputs" in done.stderr and "debug_access_role" in done.stderr
    assert cell.access.grants() == []
