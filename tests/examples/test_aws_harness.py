"""``check_provider`` on each AWS example provider and a short ``ReconcileMachine`` over them, against moto's server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

import reconcile as rc
from examples import aws_network as aws
from reconcile.testing import check_provider
from tests.examples import harness_aws as h
from tests.support.moto import moto_server, reset_moto

pytestmark = pytest.mark.slow

# Few examples: every call is an HTTP round trip to moto.
FEW = settings(settings.get_profile("real-api"), max_examples=5, database=None)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def ec2(endpoint: str):
    reset_moto(endpoint)
    return aws.session_clients(endpoint)["ec2"]


def core_vpc(endpoint: str) -> aws.Vpc:
    """The dependency of subnets and groups: a VPC that exists in moto for the whole check, as created."""
    vpc = aws.VpcProvider(aws.session_clients(endpoint)["ec2"], "check")
    made = rc.apply(rc.plan(rc.State([aws.Vpc("core", "10.0.0.0/16")]), rc.observe({"vpc": vpc})), {"vpc": vpc})
    assert made.ok, made.errors
    return made.state["vpc/core"]


def test_the_vpc_provider_keeps_every_contract(endpoint, ec2):
    @contextlib.contextmanager
    def fresh() -> Iterator[aws.VpcProvider]:
        reset_moto(endpoint)  # an emulator can forget everything between examples
        yield aws.VpcProvider(ec2, "check")

    check_provider(fresh, h.vpcs, settings=FEW)


@pytest.mark.parametrize(
    ("provider", "strategy"),
    [(aws.SubnetProvider, h.subnets), (aws.SecurityGroupProvider, h.groups)],
    ids=["subnet", "sg"],
)
def test_a_provider_inside_a_vpc_keeps_every_contract(endpoint, ec2, provider, strategy):
    vpc = core_vpc(endpoint)
    # The VPC must outlive the examples, so each example deletes only what it made.
    kind = rc.resource_type(aws.Subnet if provider is aws.SubnetProvider else aws.SecurityGroup).kind

    def fresh() -> contextlib.AbstractContextManager[dict[str, object]]:
        return h.emptied_after({kind: provider(ec2, "check")})

    @contextlib.contextmanager
    def one() -> Iterator[object]:
        with fresh() as world:
            yield world[kind]

    check_provider(one, strategy, dependencies=[vpc], settings=FEW)
    assert len(rc.observe({kind: provider(ec2, "check")})) == 0


def test_the_bucket_provider_keeps_every_contract(endpoint):
    @contextlib.contextmanager
    def fresh() -> Iterator[aws.BucketProvider]:
        reset_moto(endpoint)  # bucket names are global: start each example from nothing
        yield aws.BucketProvider(aws.session_clients(endpoint)["s3"], "check")

    check_provider(fresh, h.buckets, settings=FEW)


def test_a_short_machine_over_vpcs_subnets_and_groups_converges(endpoint):
    reset_moto(endpoint)
    h.AwsNetworkMachine.endpoint = endpoint
    run_state_machine_as_test(
        h.AwsNetworkMachine, settings=settings(h.AwsNetworkMachine.TestCase.settings, max_examples=4, database=None)
    )
    assert len(rc.observe(aws.providers(endpoint, stack="machine"))) == 0
