"""Every AWS provider passes ``check_provider`` (and a ``ReconcileMachine`` runs) against moto's server; API errors map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import reconcile as rc
from reconcile.fleet import aws
from reconcile.testing import ReconcileMachine, check_provider, resources
from tests.support.moto import reset_moto


def real_api() -> hypothesis.settings:
    """The current profile (``dev``, ``ci``) for a real API: each example is a round trip, so few, and no shrinking."""
    return hypothesis.settings(
        hypothesis.settings(),
        max_examples=4,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )


names = st.sampled_from(["a", "b", "c"])
tags = st.dictionaries(st.sampled_from(["team", "cost"]), st.sampled_from(["x", "y"]), max_size=2)


def emptied(clients: aws.Clients, kind: str) -> Callable[[], Any]:
    """A provider of ``kind`` after deleting what earlier examples made (its dependencies stay)."""

    def make() -> Any:
        provider = aws.PROVIDER_CLASSES[kind](clients, "check")
        result = rc.apply(rc.plan(rc.State(), rc.observe({kind: provider})), {kind: provider})
        assert result.ok, result.errors
        return provider

    return make


def network(clients: aws.Clients) -> rc.ApplyResult:
    core = rc.ref(aws.Vpc, "core")
    world = aws.providers(clients, "check")
    desired = rc.State(
        [
            aws.Vpc("core", "10.0.0.0/16"),
            aws.Subnet("a", core, "10.0.1.0/24", "us-east-1a"),
            aws.Subnet("b", core, "10.0.2.0/24", "us-east-1b"),
        ]
    )
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert result.ok, result.errors
    return result


def test_vpc_provider(clients):
    vpcs = resources(aws.Vpc, name=names, cidr=st.sampled_from(["10.0.0.0/16", "10.1.0.0/16"]), tags=tags)
    check_provider(emptied(clients, "vpc"), vpcs, settings=real_api())


def test_subnet_provider(clients):
    core = network(clients).state["vpc/core"]
    # One subnet name, so one subnet at a time: two drawn at once may overlap, which EC2 refuses.
    subnets = resources(
        aws.Subnet,
        name=st.just("a"),
        vpc=st.just(rc.ref(aws.Vpc, "core")),
        cidr=st.sampled_from(["10.0.11.0/24", "10.0.12.0/24"]),
        zone=st.sampled_from(["us-east-1a", "us-east-1b"]),
    )
    check_provider(emptied(clients, "subnet"), subnets, dependencies=[core], settings=real_api())


def test_route_table_provider(clients):
    made = network(clients).state
    a, b = rc.ref(aws.Subnet, "a"), rc.ref(aws.Subnet, "b")
    tables = resources(
        aws.RouteTable,
        # A subnet belongs to one route table at a time: one table name, so one table at a time.
        name=st.just("main"),
        vpc=st.just(rc.ref(aws.Vpc, "core")),
        subnets=st.sampled_from([[], [a], [b], [a, b], [b, a]]),
    )
    deps = [made["vpc/core"], made["subnet/a"], made["subnet/b"]]
    check_provider(emptied(clients, "route-table"), tables, dependencies=deps, settings=real_api(), max_resources=1)


def test_security_group_provider(clients):
    core = network(clients).state["vpc/core"]
    rules = ["tcp:443:0.0.0.0/0", "tcp:80:0.0.0.0/0", "tcp:22:10.0.0.0/8"]
    groups = resources(
        aws.SecurityGroup,
        name=names,
        vpc=st.just(rc.ref(aws.Vpc, "core")),
        description=st.sampled_from(["web", "agent"]),
        ingress=st.lists(st.sampled_from(rules), unique=True),
    )
    check_provider(emptied(clients, "security-group"), groups, dependencies=[core], settings=real_api())


def test_bucket_provider(clients):
    buckets = resources(
        aws.Bucket,
        name=st.sampled_from(["check-logs", "check-data"]),
        encryption=st.sampled_from(["AES256", "none"]),
        tags=tags,
    )
    check_provider(emptied(clients, "bucket"), buckets, settings=real_api())


TRUSTS = [
    {"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}},
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]}, "Action": ["sts:AssumeRole"]}
        ],
    },
]


def test_role_provider(clients):
    doc = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'
    policies = [
        clients.iam.create_policy(PolicyName=name, PolicyDocument=doc)["Policy"]["Arn"]
        for name in ("read-logs", "write-logs")
    ]
    roles = resources(
        aws.Role,
        name=st.sampled_from(["check-agent", "check-debug"]),
        trust_policy=st.sampled_from(TRUSTS),
        managed_policies=st.lists(st.sampled_from(policies), unique=True),
        description=st.sampled_from(["", "the agent"]),
        tags=tags,
    )
    check_provider(emptied(clients, "iam-role"), roles, settings=real_api())


@pytest.mark.parametrize("cls", [aws.Parameter, aws.SecureParameter])
def test_parameter_providers(clients, cls):
    params = resources(
        cls,
        name=st.sampled_from(["/check/a", "/check/b"]),
        value=st.text("abcxyz0123", min_size=1, max_size=8),
        description=st.sampled_from(["", "outputs"]),
    )
    check_provider(emptied(clients, rc.resource_type(cls).kind), params, settings=real_api())


def test_trust_policies_that_aws_treats_alike_compare_equal():
    one = {"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:a"}, "Action": "sts:AssumeRole"}}
    many = {
        "Version": "2012-10-17",
        "Statement": [{"Action": ["sts:AssumeRole"], "Principal": {"AWS": ["arn:a"]}, "Effect": "Allow"}],
    }
    assert aws.Role("r", one) == aws.Role("r", many)
    assert aws.Role("r", one) != aws.Role("r", {**many, "Statement": [{**many["Statement"][0], "Effect": "Deny"}]})
    assert aws.normalize_policy(aws.normalize_policy(one)) == aws.normalize_policy(one)


def test_a_secure_parameter_value_never_shows_in_a_plan(clients):
    world = aws.providers(clients, "check")
    desired = rc.State([aws.SecureParameter("/check/token", "hunter2-secret")])
    plan = rc.plan(desired, rc.observe(world))
    assert "hunter2-secret" not in rc.render(plan)
    assert "hunter2-secret" not in repr(desired["ssm-secret/%2Fcheck%2Ftoken"])


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "Throttling", "SlowDown"])
def test_throttling_is_a_transient_error_with_the_apis_hint(code):
    from botocore.exceptions import ClientError

    response = {
        "Error": {"Code": code, "Message": "Request limit exceeded."},
        "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {"retry-after": "7"}},
    }
    err = aws.session.translate("CreateVpc", ClientError(response, "CreateVpc"))
    assert isinstance(err, rc.TransientError)
    assert err.retry_after == 7.0
    no_hint = {**response, "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}}}
    err = aws.session.translate("CreateVpc", ClientError(no_hint, "CreateVpc"))
    assert isinstance(err, rc.TransientError) and err.retry_after is None


def test_other_refusals_are_api_errors_with_the_code(clients):
    with pytest.raises(aws.AwsApiError) as info:
        clients.ec2.delete_vpc(VpcId="vpc-00000000")
    assert info.value.code.startswith("InvalidVpcID")


class MotoMachine(ReconcileMachine):
    """Buckets, parameters and VPCs of one stack, changed, drifted, broken and reconciled against moto."""

    endpoint = ""
    max_resources = 4
    kinds = (
        resources(aws.Vpc, name=names, cidr=st.sampled_from(["10.0.0.0/16", "10.1.0.0/16"]), tags=tags),
        resources(
            aws.Bucket,
            name=st.sampled_from(["m-logs", "m-data"]),
            encryption=st.sampled_from(["AES256", "none"]),
            tags=tags,
        ),
        resources(
            aws.Parameter,
            name=st.sampled_from(["/m/a", "/m/b"]),
            value=st.sampled_from(["1", "2"]),
            description=st.just(""),
        ),
    )

    def make_providers(self):
        reset_moto(self.endpoint)
        clients = aws.connect(endpoint=self.endpoint)
        return {kind: aws.PROVIDER_CLASSES[kind](clients, "machine") for kind in ("vpc", "bucket", "ssm-parameter")}


@pytest.mark.slow
def test_a_reconcile_machine_against_moto(endpoint):
    MotoMachine.endpoint = endpoint
    run_state_machine_as_test(
        MotoMachine, settings=hypothesis.settings(real_api(), max_examples=3, stateful_step_count=8)
    )


def test_a_throttled_create_is_retried_by_the_engine_and_makes_one_vpc(clients):
    from botocore.exceptions import ClientError

    real = clients.ec2.client.create_vpc
    calls = []

    def throttled_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            error = {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}}
            raise ClientError({**error, "ResponseMetadata": {"HTTPHeaders": {"retry-after": "0"}}}, "CreateVpc")
        return real(**kwargs)

    clients.ec2.client.create_vpc = throttled_once
    world = {"vpc": aws.VpcProvider(clients, "check")}
    result = rc.apply(rc.plan(rc.State([aws.Vpc("core", "10.0.0.0/16")]), rc.observe(world)), world)
    assert result.ok, result.errors
    assert len(calls) == 2
    assert [o.attempts for o in result.outcomes.values()] == [2]
    assert len(clients.ec2.describe_vpcs(Filters=aws.VpcProvider(clients, "check").owned())["Vpcs"]) == 1
