"""The customer's commands against moto's server: bootstrap, infra plan/apply/destroy, crash recovery, stacks apart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reconcile as rc
from reconcile.fleet import aws
from reconcile.fleet.cli import main

ROOT = Path(__file__).resolve().parents[3]
SECRET = "tok-9f8e7d-very-secret"


def cli(endpoint: str, tmp: Path, *args: str, stack: str = "acme", template: str = "cell-infra-v1") -> Any:
    """Run ``reconcile-fleet ARGS --template ... --journal ...`` for ``stack`` in this process."""
    token = tmp / "token"
    token.write_text(SECRET + "\n")
    common = [
        "--template",
        template,
        "--param",
        f"name={stack}",
        "--param",
        f"registration_token=@{token}",
        "--journal",
        f"sqlite:///{tmp}/{stack}-infra.db",
        "--endpoint-url",
        endpoint,
    ]
    return CliRunner().invoke(main, [*args, *common], catch_exceptions=False)


def stack_vpcs(clients: aws.Clients, stack: str) -> list[dict[str, Any]]:
    return clients.ec2.describe_vpcs(Filters=[{"Name": f"tag:{aws.STACK_TAG}", "Values": [stack]}])["Vpcs"]


def session(clients: aws.Clients, tmp: Path, version: int, stack: str = "acme") -> aws.StackSession:
    journal = aws.open_journal(f"sqlite:///{tmp}/{stack}-infra.db")
    return aws.StackSession(aws.builtin_template(version), {"name": stack}, clients, journal)


def test_bootstrap_from_an_empty_account_writes_outputs_and_then_plans_nothing(clients, endpoint, tmp_path):
    out = tmp_path / "acme-outputs.json"
    done = cli(endpoint, tmp_path, "bootstrap", "--yes", "--outputs", str(out))
    assert done.exit_code == 0, done.output
    assert "Plan: 9 to create, 0 to update" in done.output
    assert SECRET not in done.output
    outputs = json.loads(out.read_text())
    assert SECRET not in out.read_text()
    assert outputs["vpc_id"] == stack_vpcs(clients, "acme")[0]["VpcId"]
    assert outputs["infrastructure_version"] == "1"
    assert outputs["registration_token_parameter"] == "/reconcile/acme/registration-token"
    assert aws.read_outputs(clients, "acme") == outputs
    token = clients.ssm.get_parameter(Name="/reconcile/acme/registration-token", WithDecryption=True)
    assert token["Parameter"]["Type"] == "SecureString" and token["Parameter"]["Value"] == SECRET
    # The journal holds the token in the clear (as every journal holds sensitive values): owner only.
    assert (tmp_path / "acme-infra.db").stat().st_mode & 0o777 == 0o600
    again = cli(endpoint, tmp_path, "infra", "plan")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output
    refused = cli(endpoint, tmp_path, "bootstrap", "--yes")
    assert refused.exit_code != 0 and "bootstrapped already" in refused.output


def test_v1_to_v2_replaces_a_subnet_and_updates_its_dependents_in_order(clients, endpoint, tmp_path):
    assert cli(endpoint, tmp_path, "bootstrap", "--yes").exit_code == 0
    before = aws.read_outputs(clients, "acme")
    shown = cli(endpoint, tmp_path, "infra", "plan", template="cell-infra-v2")
    assert shown.exit_code == 2, shown.output
    assert "Plan: 0 to create, 3 to update, 1 to replace, 0 to delete" in shown.output
    assert "-/+ subnet/b  (replace: cidr, zone forces replacement)" in shown.output
    assert "# target replaced: subnet/b" in shown.output
    applied = cli(endpoint, tmp_path, "infra", "apply", "--yes", template="cell-infra-v2")
    assert applied.exit_code == 0, applied.output
    # The order the steps really ran in, as the journal recorded their intents.
    journal = aws.open_journal(f"sqlite:///{tmp_path}/acme-infra.db")
    ran = [f"{s.op.value} {s.address}" for s in journal.steps(journal.applies(limit=1)[0].id)]
    journal.close()
    assert ran.index("delete subnet/b") < ran.index("create subnet/b") < ran.index("update route-table/private")
    after = aws.read_outputs(clients, "acme")
    assert after["infrastructure_version"] == "2"
    assert after["subnet_b"] != before["subnet_b"] and after["subnet_a"] == before["subnet_a"]
    assert after["vpc_id"] == before["vpc_id"]
    subnet = clients.ec2.describe_subnets(SubnetIds=[after["subnet_b"]])["Subnets"][0]
    assert (subnet["CidrBlock"], subnet["AvailabilityZone"]) == ("10.40.3.0/24", "us-east-1c")
    table = clients.ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": ["private"]}])["RouteTables"][0]
    assert {a["SubnetId"] for a in table["Associations"]} == {after["subnet_a"], after["subnet_b"]}
    assert "No changes" in cli(endpoint, tmp_path, "infra", "plan", template="cell-infra-v2").output


def test_destroy_leaves_the_account_empty(clients, endpoint, tmp_path):
    assert cli(endpoint, tmp_path, "bootstrap", "--yes").exit_code == 0
    done = cli(endpoint, tmp_path, "infra", "destroy", "--yes")
    assert done.exit_code == 0, done.output
    assert "9 to delete" in done.output
    # Through boto3 directly, not through the providers: only what a new account holds is left.
    assert [v for v in clients.ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
    default = {v["VpcId"] for v in clients.ec2.describe_vpcs()["Vpcs"]}
    assert [s for s in clients.ec2.describe_subnets()["Subnets"] if s["VpcId"] not in default] == []
    assert [g for g in clients.ec2.describe_security_groups()["SecurityGroups"] if g["VpcId"] not in default] == []
    assert clients.s3.list_buckets().get("Buckets", []) == []
    assert clients.iam.list_roles()["Roles"] == []
    assert clients.ssm.describe_parameters()["Parameters"] == []


@pytest.mark.slow
def test_a_bootstrap_killed_half_way_resumes_without_a_second_vpc(clients, endpoint, tmp_path):
    marker = tmp_path / "subnet-made"
    args = ["bootstrap", "--yes", "--template", "cell-infra-v1", "--param", "name=acme"]
    args += ["--journal", f"sqlite:///{tmp_path}/acme-infra.db", "--endpoint-url", endpoint]
    # A short lease, so the dead holder's lease frees itself soon, and the next run waits for it.
    args += ["--lease-ttl", "2", "--lease-wait", "10"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fleet.aws.crashing_bootstrap", str(marker), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the bootstrap never made its first subnet"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    made = marker.read_text()
    assert len(stack_vpcs(clients, "acme")) == 1
    assert aws.read_outputs(clients, "acme") is None  # the outputs come last: not written
    # The same command again: it waits for the dead holder's lease to expire, recovers, and finishes.
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "recovered what an interrupted apply left" in done.output
    assert len(stack_vpcs(clients, "acme")) == 1
    subnets = clients.ec2.describe_subnets(Filters=[{"Name": f"tag:{aws.STACK_TAG}", "Values": ["acme"]}])["Subnets"]
    assert len(subnets) == 2 and made in {s["SubnetId"] for s in subnets}
    assert aws.read_outputs(clients, "acme") is not None
    with session(clients, tmp_path, 1) as s:
        assert s.plan().is_empty


def test_two_stacks_in_one_account_stay_apart(clients, endpoint, tmp_path):
    assert cli(endpoint, tmp_path, "bootstrap", "--yes", stack="acme").exit_code == 0
    assert cli(endpoint, tmp_path, "bootstrap", "--yes", stack="beta").exit_code == 0
    for stack in ("acme", "beta"):
        assert "No changes" in cli(endpoint, tmp_path, "infra", "plan", stack=stack).output
    assert cli(endpoint, tmp_path, "infra", "destroy", "--yes", stack="acme").exit_code == 0
    assert stack_vpcs(clients, "acme") == [] and len(stack_vpcs(clients, "beta")) == 1
    assert "No changes" in cli(endpoint, tmp_path, "infra", "plan", stack="beta").output
    assert aws.read_outputs(clients, "beta") is not None and aws.read_outputs(clients, "acme") is None


def test_a_rule_added_by_hand_shows_in_infra_plan(clients, endpoint, tmp_path):
    assert cli(endpoint, tmp_path, "bootstrap", "--yes").exit_code == 0
    group = aws.read_outputs(clients, "acme")["agent_security_group"]
    clients.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    shown = cli(endpoint, tmp_path, "infra", "plan")
    assert shown.exit_code == 2
    assert "~ security-group/agent" in shown.output
    assert "ingress: ['tcp:3389:0.0.0.0/0'] -> []" in shown.output
    assert cli(endpoint, tmp_path, "infra", "apply", "--yes").exit_code == 0
    rules = clients.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    assert rules == []


def test_destroy_refuses_a_protected_resource_and_deletes_nothing(clients, endpoint, tmp_path):
    document = json.loads((ROOT / "reconcile/fleet/aws/templates/cell-infra-v1.json").read_text())
    for entry in document["resources"]:
        if entry["kind"] == "bucket":
            entry["protect"] = True
    path = tmp_path / "protected.json"
    path.write_text(json.dumps(document))
    assert cli(endpoint, tmp_path, "bootstrap", "--yes", template=str(path)).exit_code == 0
    refused = cli(endpoint, tmp_path, "infra", "destroy", "--yes", template=str(path))
    assert refused.exit_code != 0
    assert "ProtectedResourceError" in refused.output and "bucket/acme-artifacts-123456789012" in refused.output
    assert len(stack_vpcs(clients, "acme")) == 1 and aws.read_outputs(clients, "acme") is not None


def test_the_plan_is_made_under_the_stacks_lease(clients, endpoint, tmp_path):
    journal = aws.open_journal(f"sqlite:///{tmp_path}/acme-infra.db")
    with journal.lease("infra:acme", "someone-else", ttl=30):
        held = cli(endpoint, tmp_path, "infra", "plan")
    journal.close()
    assert held.exit_code != 0 and "LeaseHeldError" in held.output and "someone-else" in held.output


def test_library_apply_leaves_nothing_pending_in_the_journal(clients, tmp_path):
    with session(clients, tmp_path, 1) as s:
        result = s.apply(s.plan())
        assert result.result.ok
        assert s.journal.pending() == []
        assert rc.Address("vpc", ("main",)) in result.result.state.addresses


def test_ec2_creates_carry_the_journals_idempotency_key(clients, tmp_path):
    sent: list[dict[str, Any]] = []
    real = clients.ec2.client.create_route_table

    def recording(**kwargs):
        sent.append(kwargs)
        return real(**kwargs)

    clients.ec2.client.create_route_table = recording
    with session(clients, tmp_path, 1) as s:
        s.apply(s.plan())
        keys = {str(r.address): r.idempotency_key for r in s.journal.steps(s.journal.applies(limit=1)[0].id)}
    assert [k["ClientToken"] for k in sent] == [keys["route-table/private"][:64]]
    vpc = stack_vpcs(clients, "acme")[0]
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]}[aws.TOKEN_TAG] == keys["vpc/main"]
