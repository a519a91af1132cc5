"""The resource model: addresses, refs, field roles, lifecycle options, field paths and resource types."""

from .address import KIND_RE, Address, escape_part, make_address
from .fields import FieldRole, Role, computed, identity, spec
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle, Trigger
from .paths import MISSING, FieldPath, mask, merge, parse_path, select
from .refs import Ref, as_address, iter_refs, may_hold_ref
from .resource import RESERVED, ResourceType, address_of, is_resource, ref, resource, resource_type, type_of

__all__ = [
    "Address",
    "DEFAULT_LIFECYCLE",
    "FieldPath",
    "FieldRole",
    "KIND_RE",
    "Lifecycle",
    "MISSING",
    "RESERVED",
    "Ref",
    "ResourceType",
    "Role",
    "Trigger",
    "address_of",
    "as_address",
    "computed",
    "escape_part",
    "identity",
    "is_resource",
    "iter_refs",
    "make_address",
    "mask",
    "may_hold_ref",
    "merge",
    "parse_path",
    "ref",
    "resource",
    "resource_type",
    "select",
    "spec",
    "type_of",
]
