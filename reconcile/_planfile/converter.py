"""The cattrs converter for resource values: tagged JSON for tuples, sets, non-string dict keys, refs, floats."""

from __future__ import annotations

import collections.abc
import functools
import json
import math
import typing
from collections.abc import Callable
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter as _json_converter

from .._model import Address, Ref
from ..errors import ReconcileError

_TAGS = ("$tuple", "$set", "$frozenset", "$dict", "$ref", "$address", "$float")


class Unsaveable(ReconcileError):
    """A value has no JSON form; turned into ``PlanFileError`` naming the resource and field."""


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _tag(value: Any) -> Any:
    """JSON for a value in an ``Any``-annotated position, tagging what plain JSON would lose."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if type(value) is list:
        return [_tag(v) for v in value]
    if type(value) is tuple:
        return {"$tuple": [_tag(v) for v in value]}
    if type(value) in (set, frozenset):
        return {"$" + type(value).__name__: sorted((_tag(v) for v in value), key=_sort_key)}
    if type(value) is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: _tag(v) for k, v in value.items()}
        return {"$dict": [[_tag(k), _tag(v)] for k, v in value.items()]}
    if isinstance(value, Ref):
        return {"$ref": str(value.address)}
    if isinstance(value, Address):
        return {"$address": str(value)}
    raise Unsaveable(
        f"a {type(value).__name__} in an Any-annotated position has no JSON form; annotate the field with its type"
    )


def _untag(data: Any) -> Any:
    if isinstance(data, list):
        return [_untag(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, inner),) = data.items()
        if tag in _TAGS:
            return _UNTAG[tag](inner)
    return {k: _untag(v) for k, v in data.items()}


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "$tuple": lambda v: tuple(_untag(x) for x in v),
    "$set": lambda v: {_untag(x) for x in v},
    "$frozenset": lambda v: frozenset(_untag(x) for x in v),
    "$dict": lambda v: {_untag(k): _untag(x) for k, x in v},
    "$ref": lambda v: Ref(Address.parse(v)),
    "$address": Address.parse,
    "$float": float,
}


def _is_any(t: Any) -> bool:
    return t is Any or t is object


def _is_ref(t: Any) -> bool:
    return t is Ref or typing.get_origin(t) is Ref


def _is_abstract_sequence(t: Any) -> bool:
    return t in (collections.abc.Sequence, collections.abc.MutableSequence) or typing.get_origin(t) in (
        collections.abc.Sequence,
        collections.abc.MutableSequence,
    )


def _is_set(t: Any) -> bool:
    origin = typing.get_origin(t) or t
    return origin in (set, frozenset, collections.abc.Set, collections.abc.MutableSet)


def configure_converter(converter: cattrs.Converter) -> None:
    """Teach a cattrs converter the types resources hold: ``Address``, ``Ref``, ``Any`` and abstract containers.

    ``Address`` and ``Ref[T]`` become their address string; values in
    ``Any``-annotated positions keep their exact Python type through tags
    (``{"$tuple": [...]}``); a ``Sequence[T]`` remembers whether it was a list or
    a tuple; sets are written sorted, so equal resources always give equal JSON.
    Register hooks for your own field types on top of this.
    """
    converter.register_unstructure_hook(Address, str)
    converter.register_structure_hook(Address, lambda v, _t: Address.parse(v))
    converter.register_unstructure_hook_func(_is_ref, lambda r: str(r.address))
    converter.register_structure_hook_func(_is_ref, lambda v, _t: Ref(Address.parse(v)))
    converter.register_unstructure_hook_func(_is_any, _tag)
    converter.register_structure_hook_func(_is_any, lambda v, _t: _untag(v))

    def item_type(t: Any) -> Any:
        args = typing.get_args(t)
        return args[0] if args else Any

    def unstructure_sequence_factory(t: Any) -> Callable[[Any], Any]:
        item = item_type(t)

        def unstructure(value: Any) -> Any:
            tag = "$tuple" if isinstance(value, tuple) else "$list"
            return {tag: [converter.unstructure(v, item) for v in value]}

        return unstructure

    def structure_sequence(data: Any, t: Any) -> Any:
        if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in ("$tuple", "$list"):
            raise ValueError(f"expected {{'$list': [...]}} or {{'$tuple': [...]}} for {t}")
        ((tag, items),) = data.items()
        values = [converter.structure(v, item_type(t)) for v in items]
        return tuple(values) if tag == "$tuple" else values

    converter.register_unstructure_hook_factory(_is_abstract_sequence, unstructure_sequence_factory)
    converter.register_structure_hook_func(_is_abstract_sequence, structure_sequence)

    def unstructure_set_factory(t: Any) -> Callable[[Any], Any]:
        item = item_type(t)
        return lambda value: sorted((converter.unstructure(v, item) for v in value), key=_sort_key)

    converter.register_unstructure_hook_factory(_is_set, unstructure_set_factory)


def make_converter() -> cattrs.Converter:
    """A new cattrs converter for plan files (cattrs' JSON preset plus :func:`configure_converter`)."""
    converter = _json_converter()
    configure_converter(converter)
    return converter


@functools.cache
def default_converter() -> cattrs.Converter:
    return make_converter()
