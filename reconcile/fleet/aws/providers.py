"""The boto3 providers of every AWS kind, scoped to one stack by the ``reconcile:stack`` tag (or IAM path).

Each provider is given :class:`~.session.Clients` (already translated errors:
throttling is a ``TransientError``) and a stack name; ``list()`` asks the API
for that stack's objects only, so two stacks in one account never see each
other. Creates carry the tags in the create call itself, so nothing is ever
half made; EC2 creates also carry the step's idempotency key (as
``ClientToken`` where the API takes one, else as a tag a retried create finds).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from typing import Any

import reconcile as rc

from .errors import AwsApiError
from .resources import (
    STACK_TAG,
    Bucket,
    Parameter,
    Role,
    RouteTable,
    SecureParameter,
    SecurityGroup,
    Subnet,
    Vpc,
    normalize_policy,
)
from .session import Clients

TOKEN_TAG = "reconcile:create-token"
"""The tag an EC2 create without ``ClientToken`` carries: the step's idempotency key."""


def _tags(raw: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or ()}


def _tag_list(tags: dict[str, str]) -> builtins.list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != "Name" and not k.startswith("reconcile:")}


class Ec2Provider:
    """What the EC2 providers share: the client, the stack's filters and tags, and id-to-name lookups."""

    resource_type = ""

    def __init__(self, clients: Clients, stack: str) -> None:
        self.ec2 = clients.ec2
        self.stack = stack

    def owned(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """``Filters=`` for this stack's objects (of that ``Name``)."""
        filters: builtins.list[dict[str, Any]] = [{"Name": f"tag:{STACK_TAG}", "Values": [self.stack]}]
        if name is not None:
            filters.append({"Name": "tag:Name", "Values": [name]})
        return filters

    def own_tags(self, name: str, ctx: rc.Context, extra: dict[str, str] | None = None) -> builtins.list[Any]:
        """``TagSpecifications=`` for a create: the user's tags, ``Name``, the stack and the idempotency key."""
        tags = {**(extra or {}), "Name": name, STACK_TAG: self.stack}
        if ctx.idempotency_key:
            tags[TOKEN_TAG] = ctx.idempotency_key
        return [{"ResourceType": self.resource_type, "Tags": _tag_list(tags)}]

    def made_by(self, describe: str, field: str, ctx: rc.Context) -> dict[str, Any] | None:
        """The object an earlier attempt of this very create made (found by its key tag), if any."""
        if not ctx.idempotency_key:
            return None
        filters = [*self.owned(), {"Name": f"tag:{TOKEN_TAG}", "Values": [ctx.idempotency_key]}]
        found = getattr(self.ec2, describe)(Filters=filters)[field]
        return found[0] if found else None

    def vpc_name(self, vpc_id: str) -> str:
        found = self.ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
        return _tags(found[0].get("Tags")).get("Name", vpc_id) if found else vpc_id

    def subnet_name(self, subnet_id: str) -> str:
        found = self.ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])["Subnets"]
        return _tags(found[0].get("Tags")).get("Name", subnet_id) if found else subnet_id


class VpcProvider(Ec2Provider):
    """VPCs of one stack; tags change in place, a new CIDR replaces the VPC."""

    resource_type = "vpc"

    def _value(self, raw: dict[str, Any]) -> Vpc:
        tags = _tags(raw.get("Tags"))
        return Vpc(tags["Name"], raw["CidrBlock"], _user_tags(tags), vpc_id=raw["VpcId"])

    def list(self) -> builtins.list[Vpc]:
        return [self._value(v) for page in self.ec2.pages("describe_vpcs", Filters=self.owned()) for v in page["Vpcs"]]

    def read(self, address: rc.Address) -> Vpc | None:
        found = self.ec2.describe_vpcs(Filters=self.owned(address.key[0]))["Vpcs"]
        return self._value(found[0]) if found else None

    def create(self, desired: Vpc, ctx: rc.Context) -> Vpc:
        earlier = self.made_by("describe_vpcs", "Vpcs", ctx)
        if earlier is not None:
            return self._value(earlier)
        raw = self.ec2.create_vpc(
            CidrBlock=desired.cidr, TagSpecifications=self.own_tags(desired.name, ctx, desired.tags)
        )
        return self._value(raw["Vpc"])

    def update(self, actual: Vpc, desired: Vpc, ctx: rc.Context) -> Vpc:
        current = self.read(rc.address_of(actual)) or actual
        gone = [{"Key": k} for k in current.tags if k not in desired.tags]
        if gone:
            self.ec2.delete_tags(Resources=[actual.vpc_id], Tags=gone)
        if desired.tags:
            self.ec2.create_tags(Resources=[actual.vpc_id], Tags=_tag_list(desired.tags))
        return Vpc(desired.name, actual.cidr, dict(desired.tags), vpc_id=actual.vpc_id)

    def delete(self, actual: Vpc, ctx: rc.Context) -> None:
        try:
            self.ec2.delete_vpc(VpcId=actual.vpc_id)
        except AwsApiError as exc:
            if exc.code != "InvalidVpcID.NotFound":
                raise


class SubnetProvider(Ec2Provider):
    """Subnets of one stack; every field replaces the subnet, since EC2 changes none in place."""

    resource_type = "subnet"

    def _value(self, raw: dict[str, Any]) -> Subnet:
        name = _tags(raw.get("Tags"))["Name"]
        vpc = rc.ref(Vpc, self.vpc_name(raw["VpcId"]))
        return Subnet(name, vpc, raw["CidrBlock"], raw["AvailabilityZone"], subnet_id=raw["SubnetId"])

    def list(self) -> builtins.list[Subnet]:
        pages = self.ec2.pages("describe_subnets", Filters=self.owned())
        return [self._value(s) for page in pages for s in page["Subnets"]]

    def read(self, address: rc.Address) -> Subnet | None:
        found = self.ec2.describe_subnets(Filters=self.owned(address.key[0]))["Subnets"]
        return self._value(found[0]) if found else None

    def create(self, desired: Subnet, ctx: rc.Context) -> Subnet:
        earlier = self.made_by("describe_subnets", "Subnets", ctx)
        if earlier is not None:
            return self._value(earlier)
        raw = self.ec2.create_subnet(
            VpcId=ctx.resolve(desired.vpc).vpc_id,
            CidrBlock=desired.cidr,
            AvailabilityZone=desired.zone,
            TagSpecifications=self.own_tags(desired.name, ctx),
        )
        return self._value(raw["Subnet"])

    def update(self, actual: Subnet, desired: Subnet, ctx: rc.Context) -> Subnet:
        # Every field replaces a subnet, so an update is only ever asked to keep what is there.
        return Subnet(desired.name, desired.vpc, actual.cidr, actual.zone, subnet_id=actual.subnet_id)

    def delete(self, actual: Subnet, ctx: rc.Context) -> None:
        # A route table's association would hold the subnet: leave the table first (its update re-reads the API).
        filters = [{"Name": "association.subnet-id", "Values": [str(actual.subnet_id)]}]
        for table in self.ec2.describe_route_tables(Filters=filters)["RouteTables"]:
            for a in table.get("Associations", ()):
                if a.get("SubnetId") == actual.subnet_id:
                    self.ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
        try:
            self.ec2.delete_subnet(SubnetId=actual.subnet_id)
        except AwsApiError as exc:
            if exc.code != "InvalidSubnetID.NotFound":
                raise


class RouteTableProvider(Ec2Provider):
    """Route tables of one stack and their subnet associations; created with the step's key as ``ClientToken``."""

    resource_type = "route-table"

    def _value(self, raw: dict[str, Any]) -> RouteTable:
        name = _tags(raw.get("Tags"))["Name"]
        subnets = [
            rc.ref(Subnet, self.subnet_name(a["SubnetId"])) for a in raw.get("Associations", ()) if a.get("SubnetId")
        ]
        vpc = rc.ref(Vpc, self.vpc_name(raw["VpcId"]))
        return RouteTable(name, vpc, subnets, route_table_id=raw["RouteTableId"])

    def _raw(self, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_route_tables(Filters=self.owned(name))["RouteTables"]
        return found[0] if found else None

    def list(self) -> builtins.list[RouteTable]:
        pages = self.ec2.pages("describe_route_tables", Filters=self.owned())
        return [self._value(t) for page in pages for t in page["RouteTables"]]

    def read(self, address: rc.Address) -> RouteTable | None:
        raw = self._raw(address.key[0])
        return None if raw is None else self._value(raw)

    def _associate(self, table_id: str, raw: dict[str, Any], desired: RouteTable, ctx: rc.Context) -> None:
        # From what the API holds now, not from `actual`: a retried update never associates twice.
        wanted = {ctx.resolve(s).subnet_id for s in desired.subnets}
        held = {a["SubnetId"]: a["RouteTableAssociationId"] for a in raw.get("Associations", ()) if a.get("SubnetId")}
        for subnet_id, association in held.items():
            if subnet_id not in wanted:
                try:
                    self.ec2.disassociate_route_table(AssociationId=association)
                except AwsApiError as exc:
                    if exc.code != "InvalidAssociationID.NotFound":
                        raise
        for subnet_id in sorted(s for s in wanted if s not in held and s is not None):
            self.ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)

    def create(self, desired: RouteTable, ctx: rc.Context) -> RouteTable:
        options: dict[str, Any] = {}
        if ctx.idempotency_key:
            options["ClientToken"] = ctx.idempotency_key[:64]
        raw = self.ec2.create_route_table(
            VpcId=ctx.resolve(desired.vpc).vpc_id, TagSpecifications=self.own_tags(desired.name, ctx), **options
        )["RouteTable"]
        self._associate(raw["RouteTableId"], raw, desired, ctx)
        return RouteTable(desired.name, desired.vpc, list(desired.subnets), route_table_id=raw["RouteTableId"])

    def update(self, actual: RouteTable, desired: RouteTable, ctx: rc.Context) -> RouteTable:
        raw = self._raw(actual.name) or {"Associations": []}
        self._associate(str(actual.route_table_id), raw, desired, ctx)
        return RouteTable(desired.name, desired.vpc, list(desired.subnets), route_table_id=actual.route_table_id)

    def delete(self, actual: RouteTable, ctx: rc.Context) -> None:
        raw = self._raw(actual.name)
        if raw is None:
            return
        for a in raw.get("Associations", ()):
            if a.get("SubnetId"):
                self.ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
        self.ec2.delete_route_table(RouteTableId=raw["RouteTableId"])


def _permission(rule: str) -> dict[str, Any]:
    protocol, port, cidr = rule.split(":", 2)
    return {"IpProtocol": protocol, "FromPort": int(port), "ToPort": int(port), "IpRanges": [{"CidrIp": cidr}]}


def _rules(permissions: Iterable[dict[str, Any]]) -> builtins.list[str]:
    return [f"{p['IpProtocol']}:{p['FromPort']}:{r['CidrIp']}" for p in permissions for r in p.get("IpRanges", ())]


class SecurityGroupProvider(Ec2Provider):
    """Security groups of one stack; ingress rules are authorized and revoked against what the API holds now."""

    resource_type = "security-group"

    def _value(self, raw: dict[str, Any]) -> SecurityGroup:
        vpc = rc.ref(Vpc, self.vpc_name(raw["VpcId"]))
        name = _tags(raw.get("Tags")).get("Name", raw["GroupName"])
        rules = _rules(raw.get("IpPermissions", ()))
        return SecurityGroup(name, vpc, raw["Description"], rules, group_id=raw["GroupId"])

    def _raw(self, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_security_groups(Filters=self.owned(name))["SecurityGroups"]
        return found[0] if found else None

    def list(self) -> builtins.list[SecurityGroup]:
        pages = self.ec2.pages("describe_security_groups", Filters=self.owned())
        return [self._value(g) for page in pages for g in page["SecurityGroups"]]

    def read(self, address: rc.Address) -> SecurityGroup | None:
        raw = self._raw(address.key[0])
        return None if raw is None else self._value(raw)

    def _set_rules(self, group_id: str, held: builtins.list[str], wanted: builtins.list[str]) -> None:
        removed = [r for r in held if r not in wanted]
        added = [r for r in wanted if r not in held]
        if removed:
            self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[_permission(r) for r in removed])
        if added:
            self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[_permission(r) for r in added])

    def create(self, desired: SecurityGroup, ctx: rc.Context) -> SecurityGroup:
        earlier = self.made_by("describe_security_groups", "SecurityGroups", ctx)
        if earlier is not None:
            group_id, held = earlier["GroupId"], _rules(earlier.get("IpPermissions", ()))
        else:
            # The group name is unique per VPC only: prefix the stack so two stacks sharing a VPC id never clash.
            group_id = self.ec2.create_security_group(
                GroupName=f"{self.stack}-{desired.name}",
                Description=desired.description,
                VpcId=ctx.resolve(desired.vpc).vpc_id,
                TagSpecifications=self.own_tags(desired.name, ctx),
            )["GroupId"]
            held = []
        self._set_rules(group_id, held, desired.ingress)
        return SecurityGroup(desired.name, desired.vpc, desired.description, list(desired.ingress), group_id=group_id)

    def update(self, actual: SecurityGroup, desired: SecurityGroup, ctx: rc.Context) -> SecurityGroup:
        raw = self._raw(actual.name)
        held = _rules(raw.get("IpPermissions", ())) if raw is not None else actual.ingress
        self._set_rules(str(actual.group_id), held, desired.ingress)
        return SecurityGroup(
            desired.name, desired.vpc, actual.description, list(desired.ingress), group_id=actual.group_id
        )

    def delete(self, actual: SecurityGroup, ctx: rc.Context) -> None:
        try:
            self.ec2.delete_security_group(GroupId=actual.group_id)
        except AwsApiError as exc:
            if exc.code != "InvalidGroup.NotFound":
                raise


class BucketProvider:
    """S3 buckets of one stack (names are global: the stack tag tells which are ours)."""

    def __init__(self, clients: Clients, stack: str) -> None:
        self.s3 = clients.s3
        self.region = clients.region
        self.stack = stack

    def _tags(self, name: str) -> dict[str, str] | None:
        try:
            return _tags(self.s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except AwsApiError as exc:
            if exc.code in ("NoSuchTagSet", "NoSuchBucket", "NoSuchTagSetError"):
                return None
            raise

    def _value(self, name: str, tags: dict[str, str]) -> Bucket:
        status = self.s3.get_bucket_versioning(Bucket=name).get("Status")
        try:
            rules = self.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
            encryption = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else "none"
        except AwsApiError as exc:
            if exc.code != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            encryption = "none"
        user = {k: v for k, v in tags.items() if not k.startswith("reconcile:")}
        return Bucket(name, status == "Enabled", encryption, user, arn=f"arn:aws:s3:::{name}")

    def list(self) -> builtins.list[Bucket]:
        found = []
        for b in self.s3.list_buckets().get("Buckets", ()):
            tags = self._tags(b["Name"])
            if tags is not None and tags.get(STACK_TAG) == self.stack:
                found.append(self._value(b["Name"], tags))
        return found

    def read(self, address: rc.Address) -> Bucket | None:
        tags = self._tags(address.key[0])
        if tags is None or tags.get(STACK_TAG) != self.stack:
            return None
        return self._value(address.key[0], tags)

    def _configure(self, desired: Bucket, was_versioned: bool) -> Bucket:
        tags = {**desired.tags, STACK_TAG: self.stack}
        self.s3.put_bucket_tagging(Bucket=desired.name, Tagging={"TagSet": _tag_list(tags)})
        if desired.versioning or was_versioned:
            status = "Enabled" if desired.versioning else "Suspended"
            self.s3.put_bucket_versioning(Bucket=desired.name, VersioningConfiguration={"Status": status})
        if desired.encryption == "none":
            self.s3.delete_bucket_encryption(Bucket=desired.name)
        else:
            rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": desired.encryption}}
            self.s3.put_bucket_encryption(Bucket=desired.name, ServerSideEncryptionConfiguration={"Rules": [rule]})
        return Bucket(
            desired.name, desired.versioning, desired.encryption, dict(desired.tags), arn=f"arn:aws:s3:::{desired.name}"
        )

    def create(self, desired: Bucket, ctx: rc.Context) -> Bucket:
        options: dict[str, Any] = {}
        if self.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.s3.create_bucket(Bucket=desired.name, **options)
        except AwsApiError as exc:
            # A retry of this create after a lost answer: the bucket is ours already.
            if exc.code != "BucketAlreadyOwnedByYou":
                raise
        # Tagged right after: a create cut off in between leaves an untagged bucket that
        # list() cannot see, so the next create finds it owned by us and finishes the job.
        return self._configure(desired, was_versioned=False)

    def update(self, actual: Bucket, desired: Bucket, ctx: rc.Context) -> Bucket:
        return self._configure(desired, was_versioned=actual.versioning)

    def delete(self, actual: Bucket, ctx: rc.Context) -> None:
        try:
            self.s3.delete_bucket(Bucket=actual.name)
        except AwsApiError as exc:
            if exc.code != "NoSuchBucket":
                raise


class RoleProvider:
    """IAM roles of one stack, kept under the path ``/reconcile/<stack>/`` (role names are account-wide)."""

    def __init__(self, clients: Clients, stack: str) -> None:
        self.iam = clients.iam
        self.stack = stack
        self.path = f"/reconcile/{stack}/"

    def _value(self, raw: dict[str, Any]) -> Role:
        name = raw["RoleName"]
        document = raw["AssumeRolePolicyDocument"]
        if isinstance(document, str):
            from urllib.parse import unquote

            document = json.loads(unquote(document))
        pages = self.iam.pages("list_attached_role_policies", RoleName=name)
        policies = [p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]]
        tags = _tags(self.iam.list_role_tags(RoleName=name).get("Tags"))
        return Role(
            name,
            normalize_policy(document),
            policies,
            raw.get("Description", "") or "",
            _user_tags(tags),
            arn=raw["Arn"],
        )

    def _raw(self, name: str) -> dict[str, Any] | None:
        try:
            raw: dict[str, Any] = self.iam.get_role(RoleName=name)["Role"]
        except AwsApiError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise
        return raw if raw.get("Path") == self.path else None

    def list(self) -> builtins.list[Role]:
        pages = self.iam.pages("list_roles", PathPrefix=self.path)
        names = [r["RoleName"] for page in pages for r in page["Roles"] if r.get("Path") == self.path]
        # list_roles leaves out some fields (the description): read each role whole.
        return [self._value(raw) for raw in (self._raw(n) for n in names) if raw is not None]

    def read(self, address: rc.Address) -> Role | None:
        raw = self._raw(address.key[0])
        return None if raw is None else self._value(raw)

    def _attach(self, name: str, wanted: builtins.list[str]) -> None:
        pages = self.iam.pages("list_attached_role_policies", RoleName=name)
        held = {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}
        for arn in sorted(held - set(wanted)):
            self.iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for arn in sorted(set(wanted) - held):
            self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)

    def create(self, desired: Role, ctx: rc.Context) -> Role:
        tags = {**desired.tags, STACK_TAG: self.stack}
        try:
            raw = self.iam.create_role(
                RoleName=desired.name,
                Path=self.path,
                AssumeRolePolicyDocument=json.dumps(desired.trust_policy),
                Description=desired.description,
                Tags=_tag_list(tags),
            )["Role"]
        except AwsApiError as exc:
            # A retry after a lost answer finds the role it made (same path); anything else is a clash.
            if exc.code != "EntityAlreadyExists" or self._raw(desired.name) is None:
                raise
            return self.update(self._value(self._raw(desired.name) or {}), desired, ctx)
        self._attach(desired.name, desired.managed_policies)
        return Role(
            desired.name,
            desired.trust_policy,
            list(desired.managed_policies),
            desired.description,
            dict(desired.tags),
            arn=raw["Arn"],
        )

    def update(self, actual: Role, desired: Role, ctx: rc.Context) -> Role:
        name = desired.name
        current = self.read(rc.address_of(actual)) or actual
        if current.trust_policy != desired.trust_policy:
            self.iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(desired.trust_policy))
        if current.description != desired.description:
            self.iam.update_role(RoleName=name, Description=desired.description)
        gone = [k for k in current.tags if k not in desired.tags]
        if gone:
            self.iam.untag_role(RoleName=name, TagKeys=gone)
        self.iam.tag_role(RoleName=name, Tags=_tag_list({**desired.tags, STACK_TAG: self.stack}))
        self._attach(name, desired.managed_policies)
        return Role(
            name,
            desired.trust_policy,
            list(desired.managed_policies),
            desired.description,
            dict(desired.tags),
            arn=actual.arn,
        )

    def delete(self, actual: Role, ctx: rc.Context) -> None:
        if self._raw(actual.name) is None:
            return
        self._attach(actual.name, [])
        for page in self.iam.pages("list_role_policies", RoleName=actual.name):
            for policy in page["PolicyNames"]:
                self.iam.delete_role_policy(RoleName=actual.name, PolicyName=policy)
        self.iam.delete_role(RoleName=actual.name)


class _ParameterProvider:
    """SSM parameters of one type and one stack, found by the stack tag."""

    parameter_type = "String"
    cls: type[Parameter] | type[SecureParameter] = Parameter

    def __init__(self, clients: Clients, stack: str) -> None:
        self.ssm = clients.ssm
        self.stack = stack

    def _filters(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        filters: builtins.list[dict[str, Any]] = [
            {"Key": f"tag:{STACK_TAG}", "Values": [self.stack]},
            {"Key": "Type", "Option": "Equals", "Values": [self.parameter_type]},
        ]
        if name is not None:
            filters.append({"Key": "Name", "Option": "Equals", "Values": [name]})
        return filters

    def _values(self, described: builtins.list[dict[str, Any]]) -> builtins.list[Any]:
        out = []
        for start in range(0, len(described), 10):
            batch = {d["Name"]: d for d in described[start : start + 10]}
            got = self.ssm.get_parameters(Names=sorted(batch), WithDecryption=True)["Parameters"]
            for p in got:
                d = batch[p["Name"]]
                out.append(self.cls(p["Name"], p["Value"], d.get("Description", "") or "", version=p["Version"]))
        return out

    def list(self) -> builtins.list[Any]:
        pages = self.ssm.pages("describe_parameters", ParameterFilters=self._filters())
        return self._values([d for page in pages for d in page["Parameters"]])

    def read(self, address: rc.Address) -> Any:
        described = self.ssm.describe_parameters(ParameterFilters=self._filters(address.key[0]))["Parameters"]
        found = self._values(described)
        return found[0] if found else None

    def _put(self, desired: Any, **options: Any) -> Any:
        version = self.ssm.put_parameter(
            Name=desired.name,
            Value=desired.value,
            Type=self.parameter_type,
            Description=desired.description,
            **options,
        )["Version"]
        return self.cls(desired.name, desired.value, desired.description, version=version)

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        try:
            return self._put(desired, Tags=[{"Key": STACK_TAG, "Value": self.stack}])
        except AwsApiError as exc:
            # A retried create whose first attempt landed: overwrite our own, refuse anyone else's.
            if exc.code != "ParameterAlreadyExists" or self.read(rc.address_of(desired)) is None:
                raise
            return self._put(desired, Overwrite=True)

    def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        current = self.read(rc.address_of(actual))
        if current is not None and current.value == desired.value and current.description == desired.description:
            return current  # a retry of an update that landed: putting again would bump the version
        return self._put(desired, Overwrite=True)

    def delete(self, actual: Any, ctx: rc.Context) -> None:
        try:
            self.ssm.delete_parameter(Name=actual.name)
        except AwsApiError as exc:
            if exc.code != "ParameterNotFound":
                raise


class ParameterProvider(_ParameterProvider):
    """SSM ``String`` parameters of one stack."""

    parameter_type = "String"
    cls = Parameter


class SecureParameterProvider(_ParameterProvider):
    """SSM ``SecureString`` parameters of one stack (read with decryption; the value is sensitive)."""

    parameter_type = "SecureString"
    cls = SecureParameter


PROVIDER_CLASSES: dict[str, Any] = {
    "vpc": VpcProvider,
    "subnet": SubnetProvider,
    "route-table": RouteTableProvider,
    "security-group": SecurityGroupProvider,
    "bucket": BucketProvider,
    "iam-role": RoleProvider,
    "ssm-parameter": ParameterProvider,
    "ssm-secret": SecureParameterProvider,
}
"""The provider class of every kind."""


def providers(clients: Clients, stack: str) -> dict[str, Any]:
    """A provider for every AWS kind, all scoped to ``stack``, ready for ``reconcile.plan``/``apply``."""
    return {kind: cls(clients, stack) for kind, cls in PROVIDER_CLASSES.items()}


__all__ = [
    "PROVIDER_CLASSES",
    "TOKEN_TAG",
    "BucketProvider",
    "ParameterProvider",
    "RoleProvider",
    "RouteTableProvider",
    "SecureParameterProvider",
    "SecurityGroupProvider",
    "SubnetProvider",
    "VpcProvider",
    "providers",
]
