"""The ``reconcile.fleet.aws`` facade: its names pinned, each documented, and no boto3 until a client is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconcile.fleet import aws

DOC = (Path(__file__).resolve().parents[3] / "docs" / "aws.md").read_text()

PUBLIC = [
    "FORMAT", "KINDS", "OUTPUTS_TAG", "PROVIDER_CLASSES", "STACK_TAG", "THROTTLING_CODES", "TOKEN_TAG",
    "Api", "AwsApiError", "AwsError", "Bucket", "BucketProvider", "Clients", "InfraError", "InfraResult",
    "InfraTemplate", "Parameter", "ParameterProvider", "Role", "RoleProvider", "RouteTable", "RouteTableProvider",
    "SecureParameter", "SecureParameterProvider", "SecurityGroup", "SecurityGroupProvider", "StackSession",
    "Subnet", "SubnetProvider", "TemplateError", "TemplateParameter", "Vpc", "VpcProvider",
    "builtin_template", "closed_trust", "connect", "debug_grants", "expire_debug_grants", "grant_debug_access",
    "load_template", "normalize_policy", "open_journal", "outputs_parameter", "providers", "read_outputs",
    "revoke_debug_access",
]  # fmt: skip


def test_the_facade_exports_exactly_the_pinned_names():
    assert sorted(aws.__all__) == sorted(PUBLIC)
    assert all(hasattr(aws, n) for n in aws.__all__)


def test_every_export_is_documented():
    assert [n for n in aws.__all__ if f"`{n}" not in DOC] == []


def test_importing_the_room_loads_no_boto3():
    code = "import sys, reconcile.fleet.aws; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
