"""Checkers built from field annotations: each says whether a value fits its annotation, and if not where."""

from __future__ import annotations

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
        return lambda v: None if type(v) in (float, int) else "\x00float"
    if tp is int:
        return lambda v: None if type(v) is int or (isinstance(v, int) and not isinstance(v, bool)) else "\x00int"
    if isinstance(tp, type):
        return lambda v: None if isinstance(v, tp) else f"\x00{name}"
    return None


def field_checks(rt: ResourceType) -> dict[str, Callable[[Any], str | None]]:
    """Per-field checkers of a resource type, built from its annotations on first use and kept on it.

    Raises:
        ResourceDefinitionError: an annotation cannot be resolved.
    """
    return rt.memo("checks", _build_checks)


def _build_checks(rt: ResourceType) -> dict[str, Callable[[Any], str | None]]:
    hints = rt.type_hints()
    checks: dict[str, Callable[[Any], str | None]] = {}
    for name in rt.fields():
        check = compile_check(hints.get(name, Any))
        if check is not None:
            checks[name] = check
    return checks
