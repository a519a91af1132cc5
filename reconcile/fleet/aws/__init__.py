"""AWS for the fleet: boto3 providers, the versioned infrastructure template, bootstrap and infrastructure updates.

Layering inside: errors, resources < session (the only boto3 import, on use)
< providers < template < infra, access. ``import reconcile.fleet.aws`` loads
no boto3; :func:`connect` does.
"""

from __future__ import annotations

from .access import closed_trust, debug_grants, expire_debug_grants, grant_debug_access, revoke_debug_access
from .errors import AwsApiError, AwsError, InfraError, TemplateError
from .infra import OUTPUTS_TAG, InfraResult, StackSession, open_journal, outputs_parameter, read_outputs
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
from .template import FORMAT, InfraTemplate, TemplateParameter, builtin_template, load_template

__all__ = [
    "FORMAT",
    "KINDS",
    "OUTPUTS_TAG",
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
    "InfraResult",
    "InfraTemplate",
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
    "StackSession",
    "Subnet",
    "SubnetProvider",
    "TemplateError",
    "TemplateParameter",
    "Vpc",
    "VpcProvider",
    "builtin_template",
    "closed_trust",
    "connect",
    "debug_grants",
    "expire_debug_grants",
    "grant_debug_access",
    "load_template",
    "normalize_policy",
    "open_journal",
    "outputs_parameter",
    "providers",
    "read_outputs",
    "revoke_debug_access",
]
