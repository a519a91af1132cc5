"""References between resources: ``Ref``, address coercion and the walk that finds refs in values."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from ..errors import AddressError
from .address import Address
from .display import redacted_address, show_value

T = TypeVar("T")


def as_address(value: Address | str | Ref[Any]) -> Address:
    """Turn an ``Address``, its string form or a ``Ref`` into an ``Address``."""
    if isinstance(value, Address):
        return value
    if isinstance(value, Ref):
        return value.address
    if isinstance(value, str):
        return Address.parse(value)
    raise AddressError(
        f"expected an Address, an address string or a Ref, got {type(value).__name__} {show_value(value)}"
    )


def _to_ref_address(value: Address | str) -> Address:
    if type(value) is Address:
        return value
    if isinstance(value, Address):
        return value
    if isinstance(value, str):
        return Address.parse(value)
    raise AddressError(
        f"Ref() takes an Address or an address string ('network/core'), got {type(value).__name__}; "
        "build refs with reconcile.ref(...)"
    )


@attrs.frozen(repr=False)
class Ref(Generic[T]):
    """A typed reference to another resource, by address; each Ref is a dependency edge.

    Annotate a spec field as ``Ref[Network]`` (or a list, tuple or dict value of
    them; never a dict key) and build values with :func:`ref`. ``Ref(address)``
    takes an ``Address`` or its string form (``Ref("network/core")``, parsed).
    Providers turn a Ref into the live resource with ``ctx.resolve(ref)``.

    Raises:
        AddressError: the argument is neither an ``Address`` nor a well-formed address string.
    """

    address: Address = attrs.field(converter=_to_ref_address)

    def __repr__(self) -> str:
        return f"ref({redacted_address(self.address)!r})"


def may_hold_ref(tp: Any) -> bool:
    """Whether a value of annotation ``tp`` can be or contain a ``Ref`` (``Any`` and ``object`` can)."""
    if tp is Any or tp is object:
        return True
    if tp is Ref or typing.get_origin(tp) is Ref:
        return True
    return any(may_hold_ref(a) for a in typing.get_args(tp) if a is not Ellipsis and not isinstance(a, (str, int)))


def names_ref(tp: Any) -> bool:
    """Whether the annotation ``tp`` spells out ``Ref`` anywhere (``Any`` does not)."""
    if tp is Ref or typing.get_origin(tp) is Ref:
        return True
    return any(names_ref(a) for a in typing.get_args(tp) if a is not Ellipsis and not isinstance(a, (str, int)))


def ref_in_key(tp: Any) -> Any:
    """The first mapping key annotation inside ``tp`` that spells out ``Ref``, or ``None``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(origin, type) and issubclass(origin, Mapping) and args and names_ref(args[0]):
        return args[0]
    for a in args:
        if a is not Ellipsis and not isinstance(a, (str, int)):
            found = ref_in_key(a)
            if found is not None:
                return found
    return None


def iter_refs(value: Any, path: str) -> Iterator[tuple[str, Ref[Any]]]:
    """Yield ``(path, ref)`` for every ``Ref`` in ``value``, walking lists, tuples, sets and dict values.

    Raises:
        AddressError: a dict key is (or holds) a ``Ref``: refs are dependency
            edges only as values, never as keys (see docs/concepts.md).
    """
    if isinstance(value, Ref):
        yield path, value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield from iter_refs(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, (Ref, tuple, frozenset)):
                found = next(iter_refs(k, path), None)
                if found is not None:
                    # The kind only: the key's identity values may be sensitive.
                    where = f" in field {path.partition('[')[0]!r}" if path else ""
                    raise AddressError(
                        f"a Ref to kind {found[1].address.kind!r} is used as a dict key{where}: a Ref is a "
                        "dependency only as a value, never as a key; key the dict by the address string instead"
                    )
            yield from iter_refs(v, f"{path}[{k!r}]")


def refers_to(value: Any, target: Address) -> bool:
    """Whether ``value`` is or holds a ``Ref`` to ``target``, where :func:`iter_refs` would find it.

    No paths are built: for values of a validated state (no ``Ref`` as a dict
    key, nesting bounded), where only the answer is wanted.
    """
    if isinstance(value, Ref):
        return value.address == target
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple, set, frozenset)):
        return False
    for v in value:
        if type(v) is Ref:
            if v.address == target:
                return True
        elif refers_to(v, target):
            return True
    return False
