"""Unordered collections: the canonical order of any values, and the converter ``spec(unordered=True)`` installs."""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Union

import attrs

from .address import Address
from .refs import Ref


def canonical_key(value: Any) -> tuple[Any, ...]:
    """A sort key that orders any values the same way in every run: numbers numerically, strings as strings.

    Values of different types are ordered by a rank, then by type name, so a
    list mixing types (or holding unorderable values: dicts, attrs instances,
    refs) still gets one order. Equal values of the plain types get equal keys.
    """
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)) and not isinstance(value, enum.Enum):
        # NaN sorts after every number, so the order stays total.
        return (2, 1, 0) if isinstance(value, float) and math.isnan(value) else (2, 0, value)
    if isinstance(value, Address):
        # Before str, which an Address also is: its own rank, as before.
        return (7, str(value))
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        return (3, value)
    if isinstance(value, bytes):
        return (4, value)
    if isinstance(value, enum.Enum):
        return (5, type(value).__qualname__, value.name)
    if isinstance(value, Ref):
        return (6, str(value.address))
    if isinstance(value, (list, tuple)):
        return (8, tuple(canonical_key(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return (9, tuple(sorted(canonical_key(v) for v in value)))
    if isinstance(value, dict):
        return (10, tuple(sorted((canonical_key(k), canonical_key(v)) for k, v in value.items())))
    if attrs.has(type(value)):
        fields = tuple(canonical_key(getattr(value, f.name)) for f in attrs.fields(type(value)))
        return (11, type(value).__qualname__, fields)
    return (12, type(value).__qualname__, repr(value))


def in_canonical_order(value: Any) -> Any:
    """A list or tuple with its items in canonical order (see :func:`canonical_key`); anything else unchanged.

    Two lists holding the same items in any order come out equal, which is how
    an unordered field is compared as a multiset by plain equality. A value of
    the wrong type is left alone for the type check to report.
    """
    if type(value) is not list and type(value) is not tuple:
        return value
    try:
        ordered = sorted(value, key=canonical_key)
    except Exception:
        # A value whose repr fails cannot be ordered; left as given rather than
        # failing construction (equality then counts its order, as for a list).
        return value
    return ordered if type(value) is list else tuple(ordered)


def field_converter(converter: Callable[[Any], Any] | None, unordered: bool) -> Callable[[Any], Any] | None:
    """The attrs converter for a spec field: the user's ``converter`` first, then the canonical order."""
    if not unordered:
        return converter
    if converter is None:
        return in_canonical_order
    piped: Callable[[Any], Any] = attrs.converters.pipe(converter, in_canonical_order)
    return piped


def is_collection_annotation(tp: Any) -> bool:
    """Whether ``tp`` is ``list[X]``, ``tuple[X, ...]`` or ``Sequence[X]``, or one of them ``| None``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return is_collection_annotation(args[0])
    if origin is Union or origin is types.UnionType:
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and len(args) == 2 and is_collection_annotation(rest[0])
    if tp in (list, tuple, Sequence):
        return True
    if origin in (list, Sequence):
        return True
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis
