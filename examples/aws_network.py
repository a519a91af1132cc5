"""Providers for real AWS API shapes through boto3: a VPC, its subnets and security groups, and an S3 bucket.

The worked example of docs/real-api-providers.md. Every object a stack owns
carries the tag ``reconcile:stack=<stack>``, and ``list()`` looks for that tag
only, so two stacks in one account never see each other's objects. ``read()``
also finds what the stack does not own, so a plan can read the account's
default VPC as an external object (``rc.external(Vpc, "default")``) and adopt a
bucket made by hand (``BucketProvider.adopt`` tags it; see
docs/externals-and-adoption.md). Run it against moto's server
(``python -m moto.server -p 5000``) or a real account:

    python examples/aws_network.py http://127.0.0.1:5000
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import boto3

import reconcile as rc

STACK_TAG = "reconcile:stack"


@rc.resource(kind="vpc")
class Vpc:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    tags: dict[str, str] = rc.spec(factory=dict)
    vpc_id: str | None = rc.computed()


@rc.resource(kind="subnet")
class Subnet:
    name: str = rc.identity()
    vpc: rc.Ref[Vpc] = rc.spec(replace_on_change=True)
    cidr: str = rc.spec(replace_on_change=True)
    zone: str = rc.spec(replace_on_change=True, default="us-east-1a")
    subnet_id: str | None = rc.computed()


@rc.resource(kind="sg")
class SecurityGroup:
    name: str = rc.identity()
    vpc: rc.Ref[Vpc] = rc.spec(replace_on_change=True)
    description: str = rc.spec(replace_on_change=True, default="managed by reconcile")
    # Rules as "tcp:443:0.0.0.0/0". The API treats them as a set and returns
    # them in its own order: unordered=True compares them as one.
    ingress: list[str] = rc.spec(factory=list, unordered=True)
    group_id: str | None = rc.computed()


@rc.resource(kind="bucket")
class Bucket:
    name: str = rc.identity()
    versioning: bool = rc.spec(default=False)
    tags: dict[str, str] = rc.spec(factory=dict)
    arn: str | None = rc.computed()


def session_clients(endpoint: str | None, region: str = "us-east-1") -> dict[str, Any]:
    """boto3 clients for EC2 and S3; ``endpoint`` points them at moto's server (with dummy credentials)."""
    options: dict[str, Any] = {"region_name": region}
    if endpoint is not None:
        options |= {"endpoint_url": endpoint, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return {"ec2": boto3.client("ec2", **options), "s3": boto3.client("s3", **options)}


def _tags(raw: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or ()}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class _Ec2Provider:
    """What the EC2 providers share: the client, the stack tag and the Name-tag identity."""

    resource_type = ""

    def __init__(self, ec2: Any, stack: str) -> None:
        self.ec2 = ec2
        self.stack = stack

    def owned(self, name: str | None = None) -> list[dict[str, Any]]:
        filters = [{"Name": f"tag:{STACK_TAG}", "Values": [self.stack]}]
        if name is not None:
            filters.append({"Name": "tag:Name", "Values": [name]})
        return filters

    def own_tags(self, name: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
        tags = {**(extra or {}), "Name": name, STACK_TAG: self.stack}
        return [{"ResourceType": self.resource_type, "Tags": _tag_list(tags)}]

    def user_tags(self, raw: Iterable[dict[str, str]] | None) -> dict[str, str]:
        return {k: v for k, v in _tags(raw).items() if k not in ("Name", STACK_TAG)}

    def vpc_name(self, vpc_id: str) -> str:
        found = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
        if not found:
            return vpc_id
        # The account's default VPC has no Name tag; it is the external vpc/default.
        return _tags(found[0].get("Tags")).get("Name", "default" if found[0].get("IsDefault") else vpc_id)


class VpcProvider(_Ec2Provider):
    """VPCs of one stack; tags are updated in place, a new CIDR replaces the VPC."""

    resource_type = "vpc"

    def _value(self, raw: dict[str, Any]) -> Vpc:
        tags = raw.get("Tags")
        name = _tags(tags).get("Name", "default" if raw.get("IsDefault") else raw["VpcId"])
        return Vpc(name, raw["CidrBlock"], self.user_tags(tags), vpc_id=raw["VpcId"])

    def list(self) -> list[Vpc]:
        pages = self.ec2.get_paginator("describe_vpcs").paginate(Filters=self.owned())
        return [self._value(v) for page in pages for v in page["Vpcs"]]

    def read(self, address: rc.Address) -> Vpc | None:
        found = self.ec2.describe_vpcs(Filters=self.owned(address.key[0]))["Vpcs"]
        if not found and address.key[0] == "default":
            # Not ours, never listed: the account's default VPC, for rc.external(Vpc, "default").
            found = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        return self._value(found[0]) if found else None

    def create(self, desired: Vpc, ctx: rc.Context) -> Vpc:
        raw = self.ec2.create_vpc(CidrBlock=desired.cidr, TagSpecifications=self.own_tags(desired.name, desired.tags))
        return self._value(raw["Vpc"])

    def update(self, actual: Vpc, desired: Vpc, ctx: rc.Context) -> Vpc:
        gone = [{"Key": k} for k in actual.tags if k not in desired.tags]
        if gone:
            self.ec2.delete_tags(Resources=[actual.vpc_id], Tags=gone)
        if desired.tags:
            self.ec2.create_tags(Resources=[actual.vpc_id], Tags=_tag_list(desired.tags))
        return Vpc(desired.name, actual.cidr, dict(desired.tags), vpc_id=actual.vpc_id)

    def delete(self, actual: Vpc, ctx: rc.Context) -> None:
        self.ec2.delete_vpc(VpcId=actual.vpc_id)


class SubnetProvider(_Ec2Provider):
    """Subnets of one stack; every field replaces, since EC2 changes none of them in place."""

    resource_type = "subnet"

    def _value(self, raw: dict[str, Any]) -> Subnet:
        name = _tags(raw.get("Tags"))["Name"]
        vpc = rc.ref(Vpc, self.vpc_name(raw["VpcId"]))
        return Subnet(name, vpc, raw["CidrBlock"], raw["AvailabilityZone"], subnet_id=raw["SubnetId"])

    def list(self) -> list[Subnet]:
        pages = self.ec2.get_paginator("describe_subnets").paginate(Filters=self.owned())
        return [self._value(s) for page in pages for s in page["Subnets"]]

    def read(self, address: rc.Address) -> Subnet | None:
        found = self.ec2.describe_subnets(Filters=self.owned(address.key[0]))["Subnets"]
        return self._value(found[0]) if found else None

    def create(self, desired: Subnet, ctx: rc.Context) -> Subnet:
        vpc = ctx.resolve(desired.vpc)
        raw = self.ec2.create_subnet(
            VpcId=vpc.vpc_id,
            CidrBlock=desired.cidr,
            AvailabilityZone=desired.zone,
            TagSpecifications=self.own_tags(desired.name),
        )
        return self._value(raw["Subnet"])

    def update(self, actual: Subnet, desired: Subnet, ctx: rc.Context) -> Subnet:
        raise AssertionError("every field of a subnet replaces it; the planner never asks for an update")

    def delete(self, actual: Subnet, ctx: rc.Context) -> None:
        self.ec2.delete_subnet(SubnetId=actual.subnet_id)


def _permission(rule: str) -> dict[str, Any]:
    protocol, port, cidr = rule.split(":", 2)
    return {"IpProtocol": protocol, "FromPort": int(port), "ToPort": int(port), "IpRanges": [{"CidrIp": cidr}]}


def _rules(permissions: Iterable[dict[str, Any]]) -> list[str]:
    return [f"{p['IpProtocol']}:{p['FromPort']}:{r['CidrIp']}" for p in permissions for r in p.get("IpRanges", ())]


class SecurityGroupProvider(_Ec2Provider):
    """Security groups of one stack; ingress rules are authorized and revoked one by one on update."""

    resource_type = "security-group"

    def _value(self, raw: dict[str, Any]) -> SecurityGroup:
        vpc = rc.ref(Vpc, self.vpc_name(raw["VpcId"]))
        return SecurityGroup(
            raw["GroupName"], vpc, raw["Description"], _rules(raw.get("IpPermissions", ())), group_id=raw["GroupId"]
        )

    def list(self) -> list[SecurityGroup]:
        pages = self.ec2.get_paginator("describe_security_groups").paginate(Filters=self.owned())
        return [self._value(g) for page in pages for g in page["SecurityGroups"]]

    def read(self, address: rc.Address) -> SecurityGroup | None:
        found = self.ec2.describe_security_groups(Filters=self.owned(address.key[0]))["SecurityGroups"]
        return self._value(found[0]) if found else None

    def create(self, desired: SecurityGroup, ctx: rc.Context) -> SecurityGroup:
        vpc = ctx.resolve(desired.vpc)
        group_id = self.ec2.create_security_group(
            GroupName=desired.name,
            Description=desired.description,
            VpcId=vpc.vpc_id,
            TagSpecifications=self.own_tags(desired.name),
        )["GroupId"]
        if desired.ingress:
            self.ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[_permission(r) for r in desired.ingress]
            )
        return SecurityGroup(desired.name, desired.vpc, desired.description, desired.ingress, group_id=group_id)

    def update(self, actual: SecurityGroup, desired: SecurityGroup, ctx: rc.Context) -> SecurityGroup:
        # The rules the group has now, not those of `actual`: a retried update
        # (or one after drift) must not authorize a rule twice.
        current = self.read(ctx.address)
        have = current.ingress if current is not None else actual.ingress
        added = [r for r in desired.ingress if r not in have]
        removed = [r for r in have if r not in desired.ingress]
        if removed:
            self.ec2.revoke_security_group_ingress(
                GroupId=actual.group_id, IpPermissions=[_permission(r) for r in removed]
            )
        if added:
            self.ec2.authorize_security_group_ingress(
                GroupId=actual.group_id, IpPermissions=[_permission(r) for r in added]
            )
        return SecurityGroup(desired.name, desired.vpc, actual.description, desired.ingress, group_id=actual.group_id)

    def delete(self, actual: SecurityGroup, ctx: rc.Context) -> None:
        self.ec2.delete_security_group(GroupId=actual.group_id)


class BucketProvider:
    """S3 buckets of one stack (bucket names are global: the stack tag tells which are ours).

    ``list()`` shows the stack's buckets only; ``read()`` finds any bucket of the
    account, so a bucket made by hand can be adopted: ``adopt()`` puts the stack
    tag on it (and refuses a bucket another stack owns).
    """

    def __init__(self, s3: Any, stack: str) -> None:
        self.s3 = s3
        self.stack = stack

    def _tags(self, name: str) -> dict[str, str] | None:
        """The bucket's tags (``{}`` for none), or ``None`` if there is no such bucket."""
        try:
            return _tags(self.s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except self.s3.exceptions.ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "NoSuchBucket":
                return None
            if code == "NoSuchTagSet":
                return {}
            raise

    def _value(self, name: str, tags: dict[str, str]) -> Bucket:
        status = self.s3.get_bucket_versioning(Bucket=name).get("Status")
        user = {k: v for k, v in tags.items() if k != STACK_TAG}
        return Bucket(name, status == "Enabled", user, arn=f"arn:aws:s3:::{name}")

    def list(self) -> list[Bucket]:
        found = []
        for b in self.s3.list_buckets()["Buckets"]:
            tags = self._tags(b["Name"])
            if tags is not None and tags.get(STACK_TAG) == self.stack:
                found.append(self._value(b["Name"], tags))
        return found

    def read(self, address: rc.Address) -> Bucket | None:
        tags = self._tags(address.key[0])
        return None if tags is None else self._value(address.key[0], tags)

    def adopt(self, found: Bucket, desired: Bucket, ctx: rc.Context) -> Bucket:
        """Take a bucket made by hand over: tag it as the stack's, keeping its own tags."""
        tags = self._tags(found.name) or {}
        owner = tags.get(STACK_TAG)
        if owner not in (None, self.stack):
            raise PermissionError(f"bucket {found.name!r} belongs to stack {owner!r}; it is not adopted")
        tags[STACK_TAG] = self.stack
        self.s3.put_bucket_tagging(Bucket=found.name, Tagging={"TagSet": _tag_list(tags)})
        return self._value(found.name, tags)

    def _configure(self, desired: Bucket) -> Bucket:
        tags = {**desired.tags, STACK_TAG: self.stack}
        self.s3.put_bucket_tagging(Bucket=desired.name, Tagging={"TagSet": _tag_list(tags)})
        status = "Enabled" if desired.versioning else "Suspended"
        self.s3.put_bucket_versioning(Bucket=desired.name, VersioningConfiguration={"Status": status})
        return Bucket(desired.name, desired.versioning, dict(desired.tags), arn=f"arn:aws:s3:::{desired.name}")

    def create(self, desired: Bucket, ctx: rc.Context) -> Bucket:
        self.s3.create_bucket(Bucket=desired.name)
        return self._configure(desired)

    def update(self, actual: Bucket, desired: Bucket, ctx: rc.Context) -> Bucket:
        return self._configure(desired)

    def delete(self, actual: Bucket, ctx: rc.Context) -> None:
        self.s3.delete_bucket(Bucket=actual.name)


def providers(endpoint: str | None, stack: str) -> dict[str, Any]:
    """The provider of every kind above, for one stack."""
    clients = session_clients(endpoint)
    return {
        "vpc": VpcProvider(clients["ec2"], stack),
        "subnet": SubnetProvider(clients["ec2"], stack),
        "sg": SecurityGroupProvider(clients["ec2"], stack),
        "bucket": BucketProvider(clients["s3"], stack),
    }


def desired_network(stack: str) -> rc.State:
    """A small network: a VPC, two subnets, a web security group and a bucket for logs."""
    core = rc.ref(Vpc, "core")
    return rc.State(
        [
            Vpc("core", "10.0.0.0/16", {"team": "platform"}),
            Subnet("a", core, "10.0.1.0/24", "us-east-1a"),
            Subnet("b", core, "10.0.2.0/24", "us-east-1b"),
            SecurityGroup("web", core, ingress=["tcp:80:0.0.0.0/0", "tcp:443:0.0.0.0/0"]),
            Bucket(f"{stack}-logs", versioning=True),
        ]
    )


def main(endpoint: str | None) -> None:
    world = providers(endpoint, stack="demo")
    desired = desired_network("demo")
    plan = rc.plan(desired, rc.observe(world))
    print(rc.render(plan))
    result = rc.apply(plan, world)
    assert result.ok, result.errors
    assert rc.plan(desired, rc.observe(world)).is_empty
    print("converged: the next plan is empty")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
