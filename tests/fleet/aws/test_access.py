"""Debug access on AWS: the role trusts nobody until a time-bound grant; revoke and expiry remove grants."""

from __future__ import annotations

import time

import pytest

from reconcile.fleet import aws

ALICE = "arn:aws:iam::999999999999:user/alice"
BOB = "arn:aws:iam::999999999999:user/bob"


@pytest.fixture
def stack(clients, tmp_path):
    s = aws.StackSession(
        aws.builtin_template(1), {"name": "acme"}, clients, aws.open_journal(f"sqlite:///{tmp_path}/j.db")
    )
    with s:
        s.apply(s.plan())
    return s


def statements(clients, role="acme-debug-access"):
    document = clients.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return aws.normalize_policy(document)["Statement"]


def test_the_debug_role_trusts_nobody_until_a_grant(clients, stack):
    assert aws.debug_grants(clients, "acme-debug-access") == {}
    (closed,) = statements(clients)
    assert closed["Condition"] == {"DateLessThan": {"aws:CurrentTime": ["1970-01-01T00:00:00Z"]}}


def test_a_grant_allows_one_principal_until_its_expiry_and_survives_an_infra_update(clients, stack):
    until = time.time() + 3600
    shown = aws.grant_debug_access(clients, "acme-debug-access", ALICE, until)
    grant = next(s for s in statements(clients) if s.get("Sid", "").startswith("DebugGrant"))
    assert grant["Principal"] == {"AWS": [ALICE]} and grant["Action"] == ["sts:AssumeRole"]
    assert grant["Condition"] == {"DateLessThan": {"aws:CurrentTime": [shown]}}
    assert aws.debug_grants(clients, "acme-debug-access") == {ALICE: float(int(until))}
    with stack:
        assert stack.plan().is_empty  # the template leaves the grant alone


def test_revoke_and_expiry_remove_grants(clients, stack):
    now = time.time()
    aws.grant_debug_access(clients, "acme-debug-access", ALICE, now + 60)
    aws.grant_debug_access(clients, "acme-debug-access", BOB, now + 7200)
    assert aws.expire_debug_grants(clients, "acme-debug-access", now=now + 120) == [ALICE]
    assert set(aws.debug_grants(clients, "acme-debug-access")) == {BOB}
    assert aws.revoke_debug_access(clients, "acme-debug-access", BOB) == [BOB]
    assert aws.debug_grants(clients, "acme-debug-access") == {}
    assert len(statements(clients)) == 1  # the closed statement stays


def test_a_grant_must_end_in_the_future_and_name_an_arn(clients, stack):
    with pytest.raises(aws.InfraError, match="not in the future"):
        aws.grant_debug_access(clients, "acme-debug-access", ALICE, time.time() - 1)
    with pytest.raises(aws.InfraError, match="IAM ARN"):
        aws.grant_debug_access(clients, "acme-debug-access", "alice", time.time() + 60)
