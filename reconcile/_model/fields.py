"""Field roles: ``identity()``, ``spec()`` and ``computed()`` and the metadata they leave on attrs fields."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from ..errors import ResourceDefinitionError

METADATA_KEY = "reconcile"


class Role(enum.Enum):
    """The role of a resource field."""

    IDENTITY = "identity"
    SPEC = "spec"
    COMPUTED = "computed"
    META = "meta"


@attrs.frozen
class FieldRole:
    """How a field takes part in planning; stored in the attrs field metadata."""

    role: Role
    replace_on_change: bool = False
    ignore: bool = False
    sensitive: bool = False


def _redacted(_: object) -> str:
    return "(sensitive)"


def identity(*, default: Any = attrs.NOTHING, sensitive: bool = False) -> Any:
    """Declare an identity field: part of the address, never changed in place."""
    return attrs.field(
        default=default,
        metadata={METADATA_KEY: FieldRole(Role.IDENTITY, sensitive=sensitive)},
        repr=_redacted if sensitive else True,
    )


def spec(
    *,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
) -> Any:
    """Declare a spec field: desired configuration, compared when planning.

    Args:
        default: default value.
        factory: callable building the default (for mutable defaults).
        replace_on_change: a change to this field replaces the resource.
        ignore: never compared; differences never cause a change.
        sensitive: redacted everywhere the value could be shown or written.
        kw_only: make the field keyword-only in ``__init__``.
    """
    if factory is not None and default is not attrs.NOTHING:
        raise ResourceDefinitionError("spec(): give default or factory, not both")
    return attrs.field(
        default=attrs.Factory(factory) if factory is not None else default,
        metadata={METADATA_KEY: FieldRole(Role.SPEC, replace_on_change, ignore, sensitive)},
        repr=_redacted if sensitive else True,
        kw_only=kw_only,
    )


def computed(*, sensitive: bool = False) -> Any:
    """Declare a computed field: filled by the provider, never compared, keyword-only, default ``None``."""
    return attrs.field(
        default=None,
        kw_only=True,
        metadata={METADATA_KEY: FieldRole(Role.COMPUTED, sensitive=sensitive)},
        repr=_redacted if sensitive else True,
    )
