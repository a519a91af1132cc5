"""The resource model: addresses, refs, field roles, lifecycle, field paths, resource types, and their display."""

from .address import KIND_RE, Address, escape_part, make_address
from .display import (
    LIMIT,
    REDACTED,
    bound,
    escape,
    hidden_parts,
    printable,
    redacted_address,
    show_address,
    show_error,
    show_text,
    show_value,
)
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
    "LIMIT",
    "Lifecycle",
    "MISSING",
    "REDACTED",
    "RESERVED",
    "Ref",
    "ResourceType",
    "Role",
    "Trigger",
    "address_of",
    "as_address",
    "bound",
    "computed",
    "escape",
    "escape_part",
    "hidden_parts",
    "identity",
    "is_resource",
    "iter_refs",
    "make_address",
    "mask",
    "may_hold_ref",
    "merge",
    "parse_path",
    "printable",
    "redacted_address",
    "ref",
    "resource",
    "resource_type",
    "select",
    "show_address",
    "show_error",
    "show_text",
    "show_value",
    "spec",
    "type_of",
]
