"""The cattrs converter for resource values: tagged JSON for tuples, sets, non-string dict keys, refs, floats."""

from __future__ import annotations

import collections.abc
import functools
import json
import math
import types
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
    if isinstance(value, Address):
        # Before str: an Address is a str, and its tag says it comes back as one.
        return {"$address": str(value)}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else float_tag(value)
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
    raise Unsaveable(
        f"a {type(value).__name__} in an Any-annotated position has no JSON form; annotate the field with its type"
    )


# Standard JSON has no token for them (``allow_nan=False``): written as ``{"$float": "inf"}`` wherever they are.
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def float_tag(value: float) -> dict[str, str]:
    """The JSON of a non-finite float: ``{"$float": "inf"}``, ``"-inf"`` or ``"nan"``."""
    return {"$float": float.__repr__(value)}


def is_float_tag(data: Any) -> bool:
    return type(data) is dict and len(data) == 1 and "$float" in data


def untag_float(data: Any) -> float:
    text = data["$float"]
    if type(text) is not str or text not in _NON_FINITE:
        raise WrongType("'inf', '-inf' or 'nan' in a $float tag", describe(text))
    return _NON_FINITE[text]


def describe(value: Any) -> str:
    """What kind of JSON value ``value`` is, for messages that must not show the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class WrongType(ValueError):
    """A JSON value of the wrong kind for its annotation; the message names both kinds, never the value."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}, got {got}")


def _strict(cls: type, expected: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _t: Any) -> Any:
        if type(value) is not cls:
            raise WrongType(expected, describe(value))
        return value

    return structure


def _structure_float(value: Any, _t: Any) -> Any:
    # An int stays an int: Python's typing accepts one in a float field, and dumps wrote it as one.
    if type(value) is float or type(value) is int:
        return value
    if is_float_tag(value):
        return untag_float(value)
    raise WrongType("a number", describe(value))


def _unstructure_float(value: float) -> Any:
    return value if math.isfinite(value) else float_tag(value)


def _is_float_union(t: Any) -> bool:
    return typing.get_origin(t) in (typing.Union, types.UnionType) and float in typing.get_args(t)


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
    "$float": lambda v: untag_float({"$float": v}),
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


def _is_mapping(t: Any) -> bool:
    """``dict[K, V]``, ``Mapping[K, V]`` or ``MutableMapping[K, V]``: a JSON object."""
    origin = typing.get_origin(t)
    return origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping) and len(typing.get_args(t)) == 2


def configure_converter(converter: cattrs.Converter) -> None:
    """Teach a cattrs converter the types resources hold: ``Address``, ``Ref``, ``Any`` and abstract containers.

    ``Address`` and ``Ref[T]`` become their address string; values in
    ``Any``-annotated positions keep their exact Python type through tags
    (``{"$tuple": [...]}``); a ``Sequence[T]`` remembers whether it was a list or
    a tuple; sets are written sorted, so equal resources always give equal JSON;
    non-finite floats are written ``{"$float": "inf"}`` (standard JSON has no
    token for them). ``int``, ``float``, ``str`` and ``bool`` are read strictly:
    ``"15"`` is not an int, ``[5]`` not a str, ``"no"`` not a bool (an int is
    accepted where a float is expected, as Python's typing does).
    Register hooks for your own field types on top of this.
    """
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(float, _structure_float)
    converter.register_unstructure_hook(float, _unstructure_float)

    @functools.cache
    def without_float(t: Any) -> Any:
        rest = tuple(a for a in typing.get_args(t) if a is not float)
        return rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007 (a runtime union of a tuple)

    def structure_float_union(value: Any, t: Any) -> Any:
        # cattrs' union passthrough knows no tag: a non-finite float is read here, the rest by the other members.
        if type(value) is float or type(value) is int or is_float_tag(value):
            return _structure_float(value, float)
        rest = without_float(t)
        if rest is type(None):
            if value is None:
                return None
            raise WrongType("a number or null", describe(value))
        return converter.structure(value, rest)

    converter.register_structure_hook_func(_is_float_union, structure_float_union)

    def structure_key(key: str, t: Any) -> Any:
        if t is str or _is_any(t):
            return key
        try:
            return converter.structure(key, t)
        except Exception:
            # JSON wrote an int, float or bool key as its text: ``{"1": ...}``.
            if key[:1] not in "-0123456789tfn" or not key:
                raise WrongType(f"a key of type {getattr(t, '__name__', t)}", "a string") from None
            try:
                value = json.loads(key)
            except ValueError:
                raise WrongType(f"a key of type {getattr(t, '__name__', t)}", "a string") from None
            return converter.structure(value, t)

    def structure_mapping(data: Any, t: Any) -> Any:
        if type(data) is not dict:
            raise WrongType("an object", describe(data))
        key_type, value_type = typing.get_args(t)
        return {structure_key(k, key_type): converter.structure(v, value_type) for k, v in data.items()}

    converter.register_structure_hook_func(_is_mapping, structure_mapping)
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
        if type(items) is not list:
            raise WrongType(f"a list in a {tag} tag", describe(items))
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
