"""Field roles: ``identity()``, ``spec()`` and ``computed()`` and the metadata they leave on attrs fields."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar, overload

import attrs

from ..errors import ResourceDefinitionError
from .display import REDACTED

METADATA_KEY = "reconcile"

T = TypeVar("T")


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
    return REDACTED


# The overloads let type checkers check a default against the annotation
# (``mtu: int = spec(default="x")`` is reported); ``identity`` and ``spec`` are
# the field specifiers of the ``dataclass_transform`` on ``resource`` and
# ``Resource``, so checkers also read ``default=``, ``factory=`` and ``kw_only=``
# at each call (see docs/typing.md).
@overload
def identity(*, default: T, sensitive: bool = False) -> T: ...


@overload
def identity(*, sensitive: bool = False) -> Any: ...


def identity(*, default: Any = attrs.NOTHING, sensitive: bool = False) -> Any:
    """Declare an identity field: part of the address, never changed in place.

    Args:
        default: default value.
        sensitive: redacted everywhere the value could be shown or written.
    """
    return attrs.field(
        default=default,
        metadata={METADATA_KEY: FieldRole(Role.IDENTITY, sensitive=sensitive)},
        repr=_redacted if sensitive else True,
    )


@overload
def spec(
    *,
    default: T,
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
) -> T: ...


@overload
def spec(
    *,
    factory: Callable[[], T],
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
) -> T: ...


@overload
def spec(
    *,
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
) -> Any: ...


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
    if factory is not None and not callable(factory):
        raise ResourceDefinitionError(f"spec(): factory must be callable, got {type(factory).__name__}")
    return attrs.field(
        default=attrs.Factory(factory) if factory is not None else default,
        metadata={METADATA_KEY: FieldRole(Role.SPEC, replace_on_change, ignore, sensitive)},
        repr=_redacted if sensitive else True,
        kw_only=kw_only,
    )


def computed(*, sensitive: bool = False) -> Any:
    """Declare a computed field: filled by the provider, never compared, keyword-only, default ``None``.

    Type checkers see the call as the field's default value (it is no field
    specifier: they would read its keyword-only default only from arguments
    written at the call), so a computed field is an optional argument to them;
    declare computed fields after the fields without a default.

    Args:
        sensitive: redacted everywhere the value could be shown or written.
    """
    return attrs.field(
        default=None,
        kw_only=True,
        metadata={METADATA_KEY: FieldRole(Role.COMPUTED, sensitive=sensitive)},
        repr=_redacted if sensitive else True,
    )
