"""Value strategies for the harness: what to draw for a field, from its annotation (and ``register_strategy``)."""

from __future__ import annotations

import collections.abc
import types
import typing
from collections.abc import Callable
from typing import Any, Protocol, Union

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._model import Address, Ref, is_resource, resource_type
from ._errors import HarnessError


class RefPool(Protocol):
    """Where refs may point: the addresses drawn so far, all of them and by kind (``Pool`` in the drawing module)."""

    all: list[Address]
    by_kind: dict[str, list[Address]]


# The strategies given to register_strategy, by annotation.
REGISTRY: dict[Any, SearchStrategy[Any]] = {}

# What draws a value: the ``draw`` of ``st.composite`` or ``st.data().draw``.
Draw = Callable[..., Any]

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
ANY = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5)
# Containers stay small: a counterexample should fit on a screen, and states
# multiply the size of every field by the number of resources.
MAX_ITEMS = 3
EMPTY: dict[Any, Callable[[], Any]] = {
    list: list,
    tuple: tuple,
    set: set,
    frozenset: frozenset,
    collections.abc.Sequence: tuple,
    collections.abc.Set: frozenset,
}


def register_strategy(tp: Any, strategy: SearchStrategy[Any]) -> None:
    """Use ``strategy`` for every field annotated ``tp`` (your own value types, or to narrow ``str``).

    Registered strategies win over the built-in ones; they apply to strategies
    drawn after the call.

    Raises:
        HarnessError: ``strategy`` is not a hypothesis strategy.
    """
    if not isinstance(strategy, SearchStrategy):
        raise HarnessError(f"register_strategy({tp!r}, ...): expected a hypothesis strategy, got {strategy!r}")
    REGISTRY[tp] = strategy


def free_refs(target: Any) -> SearchStrategy[Ref[Any]]:
    """Refs not tied to any state: the right kind, any identity."""
    if is_resource(target):
        rt = resource_type(target)
        hints = type_hints(rt.cls)
        parts = [value_strategy(hints[name], None) for name in rt.identity]
        key = st.tuples(*(p if p is not None else st.text(max_size=8) for p in parts))
        return key.map(lambda k: Ref(Address(rt.kind, k)))
    return st.text(max_size=8).map(lambda k: Ref(Address("resource", k)))


def ref_values(target: Any, pool: RefPool | None) -> SearchStrategy[Ref[Any]] | None:
    """Refs to ``target``'s kind: into ``pool`` (``None`` if it holds none), or anywhere without a pool."""
    if pool is None:
        return free_refs(target)
    choices = pool.by_kind.get(resource_type(target).kind, []) if is_resource(target) else pool.all
    return st.sampled_from(choices).map(Ref) if choices else None


def value_strategy(tp: Any, pool: RefPool | None) -> SearchStrategy[Any] | None:
    """A strategy for values of annotation ``tp``; ``None`` when no value is possible (a ref with no target)."""
    try:
        registered = REGISTRY.get(tp)
    except TypeError:  # an unhashable annotation cannot have been registered
        registered = None
    if registered is not None:
        return registered
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Ref or origin is Ref:
        return ref_values(args[0] if args else Any, pool)
    if origin is Union or origin is types.UnionType:
        subs = [s for s in (value_strategy(a, pool) for a in args) if s is not None]
        return st.one_of(subs) if subs else None
    if origin is typing.Annotated:
        return value_strategy(args[0], pool)
    if tp is None or tp is type(None):
        return st.none()
    if tp is Any or tp is object:
        return ANY
    if tp is bool:
        return st.booleans()
    if tp is int:
        return INT64
    if tp is float:
        # NaN is never equal to itself: a resource holding one would never be unchanged.
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is str:
        return st.text(max_size=8)
    if tp is bytes:
        return st.binary(max_size=8)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        items = [value_strategy(a, pool) for a in args]
        if any(s is None for s in items):
            return None
        return st.tuples(*typing.cast(list[SearchStrategy[Any]], items))
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set):
        item = value_strategy(args[0], pool) if args else ANY
        if item is None:
            return st.builds(EMPTY[origin])
        if origin in (set, frozenset, collections.abc.Set):
            sets = st.frozensets(item, max_size=MAX_ITEMS)
            return sets.map(set) if origin is set else sets
        lists = st.lists(item, max_size=MAX_ITEMS)
        return lists.map(tuple) if origin is tuple else lists
    if origin in (dict, collections.abc.Mapping):
        keys = value_strategy(args[0], pool) if args else st.text(max_size=5)
        values = value_strategy(args[1], pool) if args else ANY
        if keys is None or values is None:
            return st.just({})
        return st.dictionaries(keys, values, max_size=MAX_ITEMS)
    return st.from_type(tp)


def type_hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of ``cls``; ``HarnessError`` naming the class if they cannot be resolved."""
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise HarnessError(f"cannot resolve the field annotations of {cls.__qualname__}: {exc}") from exc


def type_name(tp: Any) -> str:
    """An annotation as a person writes it (``int``, ``list[str]``)."""
    return tp.__name__ if isinstance(tp, type) else repr(tp).replace("typing.", "")
