"""The AWS resource kinds an infrastructure template declares: network, bucket, IAM role, SSM parameters."""

from __future__ import annotations

import json
from typing import Any

import reconcile as rc

STACK_TAG = "reconcile:stack"
"""The tag every object of a stack carries: ``list()`` finds a stack's objects by it and by nothing else."""


def _as_sorted_list(value: Any) -> list[Any]:
    """A string or a list of them (or of dicts) as one sorted list: AWS means the same by both."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))


def normalize_policy(policy: Any) -> dict[str, Any]:
    """An IAM policy document in one canonical form, so two documents AWS treats alike compare equal.

    A single statement becomes a list of one; ``Action``, ``Resource``, the
    principals and condition values become sorted lists (AWS accepts a string
    or a list and means the same); statements are sorted. Anything that is not
    a dict is returned as is, for the resource's type check to refuse.
    """
    if not isinstance(policy, dict):
        return policy  # type: ignore[no-any-return]
    out: dict[str, Any] = {"Version": policy.get("Version", "2012-10-17")}
    out |= {k: v for k, v in policy.items() if k not in ("Version", "Statement")}
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    normal = []
    for s in statements if isinstance(statements, list) else [statements]:
        if not isinstance(s, dict):
            normal.append(s)
            continue
        item: dict[str, Any] = {}
        for key, value in s.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                item[key] = _as_sorted_list(value)
            elif key in ("Principal", "NotPrincipal") and isinstance(value, dict):
                item[key] = {k: _as_sorted_list(v) for k, v in value.items()}
            elif key == "Condition" and isinstance(value, dict):
                item[key] = {
                    op: {k: _as_sorted_list(v) for k, v in keys.items()} if isinstance(keys, dict) else keys
                    for op, keys in value.items()
                }
            else:
                item[key] = value
        normal.append(item)
    out["Statement"] = sorted(normal, key=lambda v: json.dumps(v, sort_keys=True))
    return out


@rc.resource(kind="vpc")
class Vpc:
    """A VPC, named by its ``Name`` tag; a new CIDR replaces it."""

    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    tags: dict[str, str] = rc.spec(factory=dict)
    vpc_id: str | None = rc.computed()


@rc.resource(kind="subnet")
class Subnet:
    """A subnet of a VPC; EC2 changes none of its fields in place, so each replaces it."""

    name: str = rc.identity()
    vpc: rc.Ref[Vpc] = rc.spec(replace_on_change=True)
    cidr: str = rc.spec(replace_on_change=True)
    zone: str = rc.spec(replace_on_change=True)
    subnet_id: str | None = rc.computed()


@rc.resource(kind="route-table")
class RouteTable:
    """A route table of a VPC and the subnets associated with it (reassociated in place)."""

    name: str = rc.identity()
    vpc: rc.Ref[Vpc] = rc.spec(replace_on_change=True)
    subnets: list[rc.Ref[Subnet]] = rc.spec(factory=list, unordered=True)
    route_table_id: str | None = rc.computed()


@rc.resource(kind="security-group")
class SecurityGroup:
    """A security group of a VPC; ingress rules (``tcp:443:0.0.0.0/0``) are a set, changed in place."""

    name: str = rc.identity()
    vpc: rc.Ref[Vpc] = rc.spec(replace_on_change=True)
    description: str = rc.spec(replace_on_change=True, default="managed by reconcile")
    ingress: list[str] = rc.spec(factory=list, unordered=True)
    group_id: str | None = rc.computed()


@rc.resource(kind="bucket")
class Bucket:
    """An S3 bucket: versioning, default encryption (``AES256``, ``aws:kms`` or ``none``) and tags."""

    name: str = rc.identity()
    versioning: bool = rc.spec(default=False)
    encryption: str = rc.spec(default="AES256")
    tags: dict[str, str] = rc.spec(factory=dict)
    arn: str | None = rc.computed()


@rc.resource(kind="iam-role")
class Role:
    """An IAM role: its trust policy (compared semantically) and attached managed policies (a set)."""

    name: str = rc.identity()
    trust_policy: dict[str, Any] = rc.spec(converter=normalize_policy)
    managed_policies: list[str] = rc.spec(factory=list, unordered=True)
    description: str = rc.spec(default="")
    tags: dict[str, str] = rc.spec(factory=dict)
    arn: str | None = rc.computed()


@rc.resource(kind="ssm-parameter")
class Parameter:
    """An SSM ``String`` parameter (shown in plans)."""

    name: str = rc.identity()
    value: str = rc.spec()
    description: str = rc.spec(default="")
    version: int | None = rc.computed()


@rc.resource(kind="ssm-secret")
class SecureParameter:
    """An SSM ``SecureString`` parameter: its value is sensitive, redacted in every plan, log and file."""

    name: str = rc.identity()
    value: str = rc.spec(sensitive=True)
    description: str = rc.spec(default="")
    version: int | None = rc.computed()


KINDS: dict[str, type] = {
    rc.resource_type(cls).kind: cls
    for cls in (Vpc, Subnet, RouteTable, SecurityGroup, Bucket, Role, Parameter, SecureParameter)
}
"""Every resource class of this room, by kind."""

__all__ = [
    "KINDS",
    "STACK_TAG",
    "Bucket",
    "Parameter",
    "Role",
    "RouteTable",
    "SecureParameter",
    "SecurityGroup",
    "Subnet",
    "Vpc",
    "normalize_policy",
]
