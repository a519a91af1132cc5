"""AWS for the fleet: boto3 providers, the versioned infrastructure template, bootstrap and infrastructure updates.

Layering inside: errors, resources < session (the only boto3 import, on use)
< providers < template < infra, access. ``import reconcile.fleet.aws`` loads
no boto3; :func:`connect` does.
"""

from __future__ import annotations

from .errors import AwsApiError, AwsError, InfraError, TemplateError
from .providers import (
    PROVIDER_CLASSES,
    TOKEN_TAG,
    BucketProvider,
    ParameterProvider,
    RoleProvider,
    RouteTableProvider,
    SecureParameterProvider,
    SecurityGroupProvider,
    SubnetProvider,
    VpcProvider,
    providers,
)
from .resources import (
    KINDS,
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
from .session import THROTTLING_CODES, Api, Clients, connect

__all__ = [
    "KINDS",
    "PROVIDER_CLASSES",
    "STACK_TAG",
    "THROTTLING_CODES",
    "TOKEN_TAG",
    "Api",
    "AwsApiError",
    "AwsError",
    "Bucket",
    "BucketProvider",
    "Clients",
    "InfraError",
    "Parameter",
    "ParameterProvider",
    "Role",
    "RoleProvider",
    "RouteTable",
    "RouteTableProvider",
    "SecureParameter",
    "SecureParameterProvider",
    "SecurityGroup",
    "SecurityGroupProvider",
    "Subnet",
    "SubnetProvider",
    "TemplateError",
    "Vpc",
    "VpcProvider",
    "connect",
    "normalize_policy",
    "providers",
]
