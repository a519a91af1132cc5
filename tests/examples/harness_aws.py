"""Strategies and fresh-world hooks for testing the AWS example providers against moto (the guide's worked example)."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from typing import Any, ClassVar

from hypothesis import strategies as st

import reconcile as rc
from examples import aws_network as aws
from reconcile.testing import Drawn, ReconcileMachine, resources

ZONES = st.sampled_from(["us-east-1a", "us-east-1b"])
# In any order: the field is unordered, so the API's own order never shows as a change.
RULES = st.lists(st.sampled_from(["tcp:443:0.0.0.0/0", "tcp:80:0.0.0.0/0", "tcp:22:10.0.0.0/8"]), unique=True)


def subnet_cidr(drawn: Drawn) -> st.SearchStrategy[str] | None:
    """A /24 inside the subnet's VPC, overlapping no other subnet; ``None`` when the VPC is full or unknown."""
    vpc = drawn.resolve(drawn.fields["vpc"])
    if vpc is None:
        return None
    taken = [ipaddress.ip_network(o.cidr) for o in drawn.others if isinstance(o, aws.Subnet)]
    inside = list(ipaddress.ip_network(vpc.cidr).subnets(new_prefix=24))[:6]
    free = [str(c) for c in inside if not any(c.overlaps(t) for t in taken)]
    return st.sampled_from(free) if free else None


vpcs = resources(
    aws.Vpc,
    name=st.sampled_from(["core", "edge"]),
    cidr=st.sampled_from(["10.0.0.0/16", "10.1.0.0/16"]),
    tags=st.dictionaries(st.sampled_from(["team", "env"]), st.sampled_from(["a", "b"]), max_size=2),
)
subnets = resources(aws.Subnet, name=st.sampled_from(["a", "b", "c"]), cidr=subnet_cidr, zone=ZONES)
groups = resources(
    aws.SecurityGroup,
    name=st.sampled_from(["web", "db"]),
    description=st.sampled_from(["managed by reconcile", "web tier"]),
    ingress=RULES,
)
buckets = resources(
    aws.Bucket,
    name=st.sampled_from(["logs-1", "logs-2", "assets"]),
    tags=st.dictionaries(st.sampled_from(["team", "env"]), st.sampled_from(["a", "b"]), max_size=2),
)


@contextlib.contextmanager
def emptied_after(providers: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield ``providers``; on exit delete everything they list (dependents first): what works on a real account."""
    try:
        yield providers
    finally:
        leftover = rc.apply(rc.plan(rc.State(), rc.observe(providers)), providers)
        assert leftover.ok, leftover.errors


class AwsNetworkMachine(ReconcileMachine):
    """VPCs, subnets and security groups against moto, a fresh world per example."""

    endpoint: ClassVar[str] = ""
    kinds = (vpcs, subnets, groups)
    weights: ClassVar[dict[str, float]] = {"vpc": 1, "subnet": 2, "sg": 2}
    max_resources = 5
    real_api = True

    def make_providers(self) -> Any:
        world = aws.providers(self.endpoint, stack="machine")
        return emptied_after({kind: world[kind] for kind in ("vpc", "subnet", "sg")})
