"""Checkers built from field annotations: each says whether a value fits its annotation, and if not where."""

from __future__ import annotations

import itertools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar, Union

from .._model import Ref, ResourceType, is_resource, resource_type


def type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def compile_check(tp: Any) -> Callable[[Any], str | None] | None:
    """Build a checker returning ``None`` when a value fits ``tp``, else a path suffix and message."""
    # The checker returns "" + message on a direct mismatch, or "[key]..." for a
    # nested one; the caller prefixes the field name, giving "tags['env']".
    if tp is Any or tp is object or isinstance(tp, TypeVar):
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    name = type_name(tp)

    if origin is Union or origin is types.UnionType:
        subs = [compile_check(a) for a in args]
        if any(s is None for s in subs):
            return None
        checks = [s for s in subs if s is not None]

        def check_union(v: Any) -> str | None:
            for c in checks:
                if c(v) is None:
                    return None
            return f"\x00{name}"

        return check_union
    if origin is typing.Literal:
        allowed = args

        def check_literal(v: Any) -> str | None:
            return None if any(v == a and type(v) is type(a) for a in allowed) else f"\x00{name}"

        return check_literal
    if origin is typing.Annotated:
        return compile_check(args[0])
    if tp is type(None) or tp is None:
        return lambda v: None if v is None else "\x00None"
    if origin is Ref or tp is Ref:
        target_kind = None
        if args and isinstance(args[0], type) and is_resource(args[0]):
            target_kind = resource_type(args[0]).kind

        def check_ref(v: Any) -> str | None:
            if not isinstance(v, Ref):
                return f"\x00{name}"
            if target_kind is not None and v.address.kind != target_kind:
                return f"\x00{name} (a ref to kind {target_kind!r}, not {v.address.kind!r})"
            return None

        return check_ref
    if origin in (list, tuple, set, frozenset, Sequence, AbstractSet):
        container = {list: list, tuple: tuple, set: set, frozenset: frozenset}.get(origin)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            item_checks = [compile_check(a) for a in args]

            def check_fixed_tuple(v: Any) -> str | None:
                if not isinstance(v, tuple) or len(v) != len(item_checks):
                    return f"\x00{name}"
                for i, (c, item) in enumerate(zip(item_checks, v, strict=True)):
                    if c is not None and (err := c(item)) is not None:
                        return f"[{i}]{err}"
                return None

            return check_fixed_tuple
        item = compile_check(args[0]) if args else None
        kind: Any = container if container is not None else (Sequence if origin is Sequence else AbstractSet)

        def check_seq(v: Any) -> str | None:
            if not isinstance(v, kind) or isinstance(v, str):
                return f"\x00{name}"
            if item is not None:
                for i, x in enumerate(v):
                    if (err := item(x)) is not None:
                        return f"[{i}]{err}"
            return None

        return check_seq
    if origin in (dict, Mapping):
        kc = compile_check(args[0]) if args else None
        vc = compile_check(args[1]) if args else None
        base: Any = dict if origin is dict else Mapping

        def check_map(v: Any) -> str | None:
            if not isinstance(v, base):
                return f"\x00{name}"
            for k, x in v.items():
                if kc is not None and (err := kc(k)) is not None:
                    return f"[{k!r}] (key){err}"
                if vc is not None and (err := vc(x)) is not None:
                    return f"[{k!r}]{err}"
            return None

        return check_map
    if origin is not None:
        return compile_check(origin)
    if tp is float:
        # As Python's typing reads ``float``: ints too (the numeric tower), and
        # subclasses (an ``IntEnum``, numpy's ``float64``); a bool is refused,
        # as for ``int``.
        return lambda v: None if isinstance(v, (float, int)) and not isinstance(v, bool) else "\x00float"
    if tp is int:
        return lambda v: None if type(v) is int or (isinstance(v, int) and not isinstance(v, bool)) else "\x00int"
    if isinstance(tp, type):
        return lambda v: None if isinstance(v, tp) else f"\x00{name}"
    return None


# How deep a value may nest lists, tuples, sets and dicts where its annotation
# does not bound it (``Any``, a bare ``list``): deeper values, and values that
# contain themselves, are refused, as comparing, showing or saving them would
# exhaust the stack.
MAX_DEPTH = 100
# What a checker returns for such a value (no path: the field is named alone):
# the first for a value nested too deep, the second for one that contains itself.
NESTING = "\x01"
CONTAINS_ITSELF = "\x01self"
_CONTAINERS = (list, tuple, set, frozenset, dict)


def nesting(value: Any) -> str | None:
    """``None`` unless ``value`` nests containers deeper than ``MAX_DEPTH`` (``NESTING``) or contains itself.

    Lists, tuples, sets, frozensets and dicts (keys and values) are walked, as
    ``iter_refs`` walks them; anything else is a leaf.
    """
    if not isinstance(value, _CONTAINERS):
        return None
    return _nested(value, 1, set())


def _nested(value: Any, depth: int, inside: set[int]) -> str | None:
    if id(value) in inside:
        return CONTAINS_ITSELF
    if depth > MAX_DEPTH:
        return NESTING
    inside.add(id(value))
    items: Any = itertools.chain(value.keys(), value.values()) if isinstance(value, dict) else value
    for item in items:
        if isinstance(item, _CONTAINERS) and (found := _nested(item, depth + 1, inside)) is not None:
            return found
    inside.discard(id(value))
    return None


def bounded(tp: Any) -> bool:
    """Whether every value that passes the check of ``tp`` nests no deeper than ``tp`` itself does."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return bounded(args[0])
    if origin is typing.Literal or origin is Ref or tp is Ref or tp is None or tp is type(None):
        return True
    if origin is Union or origin is types.UnionType:
        return all(bounded(a) for a in args)
    if origin in (list, tuple, set, frozenset, dict, Sequence, AbstractSet, Mapping):
        return bool(args) and all(bounded(a) for a in args if a is not Ellipsis)
    if origin is None and isinstance(tp, type) and tp is not object and tp is not Any:
        # A class is a leaf, unless its instances are containers the walks go into.
        return not issubclass(tp, _CONTAINERS)
    return False


def field_checks(rt: ResourceType) -> dict[str, Callable[[Any], str | None]]:
    """Per-field checkers of a resource type, built from its annotations on first use and kept on it.

    A field whose annotation does not bound how deep its value nests is also
    checked with :func:`nesting` (first, so no other walk meets a value that
    contains itself).

    Raises:
        ResourceDefinitionError: an annotation cannot be resolved.
    """
    return rt.memo("checks", _build_checks)


def _build_checks(rt: ResourceType) -> dict[str, Callable[[Any], str | None]]:
    hints = rt.type_hints()
    checks: dict[str, Callable[[Any], str | None]] = {}
    for name in rt.fields():
        tp = hints.get(name, Any)
        check = compile_check(tp)
        if not bounded(tp):
            check = nesting if check is None else _nesting_first(check)
        if check is not None:
            checks[name] = check
    return checks


def _nesting_first(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def checked(v: Any) -> str | None:
        return nesting(v) or check(v)

    return checked
