"""References between resources: ``Ref``, address coercion and the walk that finds refs in values."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import attrs

from ..errors import AddressError
from .address import Address

T = TypeVar("T")


def as_address(value: Address | str | Ref[Any]) -> Address:
    """Turn an ``Address``, its string form or a ``Ref`` into an ``Address``."""
    if isinstance(value, Address):
        return value
    if isinstance(value, Ref):
        return value.address
    if isinstance(value, str):
        return Address.parse(value)
    raise AddressError(f"expected an Address, an address string or a Ref, got {type(value).__name__} {value!r}")


@attrs.frozen(repr=False)
class Ref(Generic[T]):
    """A typed reference to another resource, by address; each Ref is a dependency edge.

    Annotate a spec field as ``Ref[Network]`` (or a list, tuple or dict of them) and
    build values with :func:`ref`. Providers turn a Ref into the live resource with
    ``ctx.resolve(ref)``.
    """

    address: Address

    def __repr__(self) -> str:
        return f"ref({str(self.address)!r})"


def may_hold_ref(tp: Any) -> bool:
    if tp is Any or tp is object:
        return True
    if tp is Ref or typing.get_origin(tp) is Ref:
        return True
    return any(may_hold_ref(a) for a in typing.get_args(tp) if a is not Ellipsis and not isinstance(a, (str, int)))


def iter_refs(value: Any, path: str) -> Iterator[tuple[str, Ref[Any]]]:
    """Yield ``(path, ref)`` for every ``Ref`` in ``value``, walking lists, tuples, sets and dicts."""
    if isinstance(value, Ref):
        yield path, value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield from iter_refs(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_refs(v, f"{path}[{k!r}]")
