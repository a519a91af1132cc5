"""Field roles: ``identity()``, ``spec()`` and ``computed()`` and the metadata they leave on attrs fields."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar, overload

import attrs

from ..errors import ResourceDefinitionError
from .display import REDACTED
from .values import field_converter

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
    unordered: bool = False


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
    unordered: bool = False,
    converter: Callable[[Any], Any] | None = None,
) -> T: ...


@overload
def spec(
    *,
    factory: Callable[[], T],
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
    unordered: bool = False,
    converter: Callable[[Any], Any] | None = None,
) -> T: ...


@overload
def spec(
    *,
    converter: Callable[[Any], T],
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
    unordered: bool = False,
) -> T: ...


@overload
def spec(
    *,
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
    unordered: bool = False,
) -> Any: ...


def spec(
    *,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
    unordered: bool = False,
    converter: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a spec field: desired configuration, compared when planning.

    Args:
        default: default value.
        factory: callable building the default (for mutable defaults).
        replace_on_change: a change to this field replaces the resource.
        ignore: never compared; differences never cause a change.
        sensitive: redacted everywhere the value could be shown or written.
        kw_only: make the field keyword-only in ``__init__``.
        unordered: the field is a collection whose order means nothing (a
            ``list[...]`` or ``tuple[..., ...]`` the API treats as a set):
            its items are kept in a canonical order, so two values holding
            the same items (with the same repeats) in any order are equal;
            it is compared, rendered and saved in that order (see docs/values.md).
        converter: an attrs converter applied to every value given to the
            field at construction (and to the default), before the type
            check: normalise case, sort, parse. It must return a value of
            the field's type and give the same result when run twice (values
            read back from plan files go through it again).

    Raises:
        ResourceDefinitionError: ``default`` and ``factory`` both given, or
            ``factory``/``converter`` is not callable. (An ``unordered`` field
            whose annotation is not a list or tuple of items is refused by
            ``@resource``.)
    """
    if factory is not None and default is not attrs.NOTHING:
        raise ResourceDefinitionError("spec(): give default or factory, not both")
    if factory is not None and not callable(factory):
        raise ResourceDefinitionError(f"spec(): factory must be callable, got {type(factory).__name__}")
    if converter is not None and not callable(converter):
        raise ResourceDefinitionError(f"spec(): converter must be callable, got {type(converter).__name__}")
    if type(unordered) is not bool:
        raise ResourceDefinitionError(f"spec(): unordered must be True or False, got {type(unordered).__name__}")
    return attrs.field(
        default=attrs.Factory(factory) if factory is not None else default,
        metadata={METADATA_KEY: FieldRole(Role.SPEC, replace_on_change, ignore, sensitive, unordered)},
        repr=_redacted if sensitive else True,
        kw_only=kw_only,
        converter=field_converter(converter, unordered),
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
