"""The AWS example providers against moto's server: plan, apply, converge, drift repair, replacement, teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import reconcile as rc
from examples import aws_network as aws
from tests.support.moto import moto_server, reset_moto

HANDMADE_ARN = "arn:aws:s3:::handmade"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def world(endpoint: str) -> dict[str, object]:
    reset_moto(endpoint)
    return aws.providers(endpoint, stack="t1")


def converge(desired: rc.State, world: dict[str, object]) -> rc.ApplyResult:
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert result.ok, result.errors
    assert rc.plan(desired, rc.observe(world)).is_empty
    return result


def test_the_example_network_is_created_and_then_needs_nothing(world):
    result = converge(aws.desired_network("t1"), world)
    vpc = result.state["vpc/core"]
    assert vpc.vpc_id.startswith("vpc-")
    assert result.state["subnet/a"].subnet_id.startswith("subnet-")
    assert result.state["bucket/t1-logs"].arn == "arn:aws:s3:::t1-logs"


def test_a_tag_edited_by_hand_is_drift_and_is_repaired(world, endpoint):
    result = converge(aws.desired_network("t1"), world)
    ec2 = aws.session_clients(endpoint)["ec2"]
    ec2.create_tags(Resources=[result.state["vpc/core"].vpc_id], Tags=[{"Key": "team", "Value": "someone-else"}])
    plan = rc.plan(aws.desired_network("t1"), rc.observe(world))
    assert [(str(c.address), c.action) for c in plan] == [("vpc/core", rc.Action.UPDATE)]
    converge(aws.desired_network("t1"), world)


def test_a_new_vpc_cidr_replaces_the_vpc_and_everything_in_it_in_order(world):
    converge(aws.desired_network("t1"), world)
    desired = aws.desired_network("t1").with_resources(aws.Vpc("core", "10.9.0.0/16", {"team": "platform"}))
    desired = desired.with_resources(
        aws.Subnet("a", rc.ref(aws.Vpc, "core"), "10.9.1.0/24", "us-east-1a"),
        aws.Subnet("b", rc.ref(aws.Vpc, "core"), "10.9.2.0/24", "us-east-1b"),
    )
    plan = rc.plan(desired, rc.observe(world))
    assert {str(c.address) for c in plan if c.action is rc.Action.REPLACE} == {
        "vpc/core",
        "subnet/a",
        "subnet/b",
        "sg/web",
    }
    order = [str(s) for s in plan.steps]
    assert order.index("delete subnet/a") < order.index("delete vpc/core") < order.index("create vpc/core")
    assert order.index("create vpc/core") < order.index("create subnet/a")
    result = converge(desired, world)
    assert result.state["subnet/a"].cidr == "10.9.1.0/24"


def test_two_stacks_in_one_account_never_see_each_other(world, endpoint):
    converge(aws.desired_network("t1"), world)
    other = aws.providers(endpoint, stack="t2")
    assert len(rc.observe(other)) == 0
    converge(aws.desired_network("t2"), other)
    assert {str(a) for a in rc.observe(world).addresses} >= {"vpc/core", "bucket/t1-logs"}
    assert "bucket/t2-logs" not in {str(a) for a in rc.observe(world).addresses}


def test_deleting_the_desired_state_tears_everything_down(world):
    converge(aws.desired_network("t1"), world)
    converge(rc.State(), world)
    assert len(rc.observe(world)) == 0


def test_security_group_rules_in_any_order_converge_against_the_api_order(world):
    """``ingress`` is unordered: the API returns rules in its own order, the desired list is not sorted."""
    unsorted = ["tcp:80:0.0.0.0/0", "tcp:22:10.0.0.0/8", "tcp:443:0.0.0.0/0", "tcp:8080:10.1.0.0/16"]
    core = rc.ref(aws.Vpc, "core")
    desired = aws.desired_network("t1").with_resources(aws.SecurityGroup("web", core, ingress=unsorted))
    result = converge(desired, world)
    assert sorted(result.state["sg/web"].ingress) == sorted(unsorted)
    # A rule removed in the desired list is revoked; the rest stay, whatever their order.
    fewer = [unsorted[3], unsorted[0], unsorted[2]]
    desired = desired.with_resources(aws.SecurityGroup("web", core, ingress=fewer))
    plan = rc.plan(desired, rc.observe(world))
    assert [(str(c.address), c.action) for c in plan] == [("sg/web", rc.Action.UPDATE)]
    assert [str(f) for f in plan.changes[rc.Address.parse("sg/web")].explain()] == [
        "ingress[0]: removed 'tcp:22:10.0.0.0/8'"
    ]
    converge(desired, world)


def test_a_subnet_in_the_default_vpc_reads_the_vpc_and_never_writes_it(world, endpoint):
    ec2 = aws.session_clients(endpoint)["ec2"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    default = rc.external(aws.Vpc, "default")
    desired = rc.State([default, aws.Subnet("extra", default.ref, "172.31.200.0/24", "us-east-1a")])
    plan = rc.plan(desired, rc.observe(world, desired))
    assert [str(s) for s in plan.steps] == ["create subnet/extra"]
    assert plan.reads[rc.Address("vpc", "default")].vpc_id == default_vpc["VpcId"]
    assert "<= vpc/default  (external: read, never changed)" in rc.render(plan)
    result = rc.apply(plan, world)
    assert result.ok, result.errors
    subnet = ec2.describe_subnets(SubnetIds=[result.state["subnet/extra"].subnet_id])["Subnets"][0]
    assert subnet["VpcId"] == default_vpc["VpcId"]
    assert rc.plan(desired, rc.observe(world, desired)).is_empty
    # Tearing the stack down deletes the subnet only: the default VPC is not the stack's.
    converge(rc.State(), world)
    assert ec2.describe_vpcs(VpcIds=[default_vpc["VpcId"]])["Vpcs"][0]["CidrBlock"] == default_vpc["CidrBlock"]


def test_a_missing_external_vpc_is_a_typed_error(world):
    ghost = rc.external(aws.Vpc, "ghost")
    desired = rc.State([ghost, aws.Subnet("a", ghost.ref, "10.0.1.0/24")])
    with pytest.raises(rc.MissingExternalError, match="vpc/ghost"):
        rc.plan(desired, rc.observe(world, desired))


def test_a_bucket_made_by_hand_is_adopted_then_managed(world, endpoint):
    s3 = aws.session_clients(endpoint)["s3"]
    s3.create_bucket(Bucket="handmade")
    s3.put_bucket_tagging(Bucket="handmade", Tagging={"TagSet": [{"Key": "owner", "Value": "alice"}]})
    assert "bucket/handmade" not in rc.observe(world)  # list() sees the stack's buckets only
    desired = rc.State([aws.Bucket("handmade", versioning=True, tags={"owner": "alice"})])
    adopt = ["bucket/handmade"]
    plan = rc.plan(desired, rc.observe(world, desired, adopt=adopt), adopt=adopt)
    assert [(str(c.address), c.action, c.changed_fields) for c in plan] == [
        ("bucket/handmade", rc.Action.ADOPT, ("versioning",))
    ]
    assert [str(s) for s in plan.steps] == ["adopt bucket/handmade", "update bucket/handmade"]
    assert "=> bucket/handmade" in rc.render(plan) and "1 to adopt" in rc.render(plan)
    result = rc.apply(plan, world)
    assert result.ok, result.errors
    assert result.adopted == (rc.Address("bucket", "handmade"),)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="handmade")["TagSet"]}
    assert tags == {"owner": "alice", aws.STACK_TAG: "t1"}
    assert s3.get_bucket_versioning(Bucket="handmade")["Status"] == "Enabled"
    # Owned now: observe lists it, the same adopt= is a no-op, and a later change is a plain update.
    assert rc.observe(world)["bucket/handmade"] == aws.Bucket("handmade", True, {"owner": "alice"}, arn=HANDMADE_ARN)
    assert rc.plan(desired, rc.observe(world, desired, adopt=adopt), adopt=adopt).is_empty
    changed = rc.State([aws.Bucket("handmade", versioning=True, tags={"owner": "bob"})])
    later = rc.plan(changed, rc.observe(world))
    assert [(str(c.address), c.action) for c in later] == [("bucket/handmade", rc.Action.UPDATE)]
    converge(changed, world)
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="handmade")["TagSet"]}["owner"] == "bob"


def test_a_bucket_another_stack_owns_is_not_adopted(world, endpoint):
    converge(rc.State([aws.Bucket("shared")]), aws.providers(endpoint, stack="t2"))
    desired = rc.State([aws.Bucket("shared")])
    plan = rc.plan(desired, rc.observe(world, desired, adopt=["bucket/shared"]), adopt=["bucket/shared"])
    result = rc.apply(plan, world)
    assert result.failed == (rc.Step("bucket/shared", rc.Action.ADOPT),)
    assert "belongs to stack 't2'" in str(result.errors[rc.Step("bucket/shared", rc.Action.ADOPT)])
