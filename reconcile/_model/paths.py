"""Field paths (``tags.owner``, ``rules[*].note``): parsing them, and selecting, masking and merging what they name."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Sequence
from typing import Any

import attrs

from .display import show_value


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


MISSING: Any = _Marker("MISSING")
"""What a path selects where nothing is (a dict without the key, an index past the end)."""

WILDCARD: Any = _Marker("*")
"""The segment ``*`` / ``[*]``: every key of a dict, every item of a list or tuple."""

_MASKED = _Marker("(ignored)")

_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*|\*)")
_BRACKET = re.compile(r"\[(\*|-?\d+|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")


@attrs.frozen
class FieldPath:
    """A parsed field path: the top-level field and the segments below it.

    Segments are ``str`` (``.name`` or ``['key']``: a dict key or an attribute),
    ``int`` (``[0]``: a list index or an int dict key) or :data:`WILDCARD`.
    """

    text: str
    field: str
    segments: tuple[Any, ...]


@functools.lru_cache(maxsize=4096)
def parse_path(text: str) -> FieldPath:
    """Parse ``field``, ``field.key``, ``field['a.b']``, ``field[0]``, ``field[*].x`` and combinations.

    Raises:
        ValueError: the text is not a path; the message says where it goes wrong.
    """
    if not isinstance(text, str):
        raise ValueError(f"a field path is a string, got {type(text).__name__} {show_value(text)}")
    head = _HEAD.match(text)
    if head is None:
        raise ValueError(f"field path {show_value(text)} must start with a field name")
    pos = head.end()
    segments: list[Any] = []
    while pos < len(text):
        if m := _DOT.match(text, pos):
            segments.append(WILDCARD if m.group(1) == "*" else m.group(1))
        elif m := _BRACKET.match(text, pos):
            inner = m.group(1)
            segments.append(WILDCARD if inner == "*" else ast.literal_eval(inner))
        else:
            raise ValueError(
                f"field path {show_value(text)}: cannot read {show_value(text[pos:])} (use .name, ['key'], [0] or [*])"
            )
        pos = m.end()
    return FieldPath(text, head.group(), tuple(segments))


class _Obj(dict[str, Any]):
    """An attrs instance seen as a dict of its fields (so masks can address fields by name), plus its class."""

    __slots__ = ("cls",)

    def __init__(self, value: Any) -> None:
        super().__init__((f.name, getattr(value, f.name)) for f in attrs.fields(type(value)))
        self.cls = type(value)

    def copy(self) -> _Obj:
        out = _Obj.__new__(_Obj)
        dict.update(out, self)
        out.cls = self.cls
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Obj) and self.cls is other.cls and dict.__eq__(self, other)

    __hash__ = None


def _child(value: Any, seg: Any) -> Any:
    if isinstance(value, dict):
        return value.get(seg, MISSING)
    if isinstance(value, (list, tuple)) and type(seg) is int:
        return value[seg] if -len(value) <= seg < len(value) else MISSING
    if isinstance(seg, str) and attrs.has(type(value)) and seg in attrs.fields_dict(type(value)):
        return getattr(value, seg)
    return MISSING


def select(value: Any, segments: Sequence[Any]) -> Any:
    """What ``segments`` name inside ``value``: one value, ``MISSING``, or for a wildcard a list or dict of them."""
    if not segments:
        return value
    seg, rest = segments[0], segments[1:]
    if seg is WILDCARD:
        if isinstance(value, dict):
            return {k: select(v, rest) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [select(v, rest) for v in value]
        if attrs.has(type(value)):
            return {f.name: select(getattr(value, f.name), rest) for f in attrs.fields(type(value))}
        return MISSING
    child = _child(value, seg)
    return MISSING if child is MISSING else select(child, rest)


def mask(value: Any, segments: Sequence[Any]) -> Any:
    """A comparable copy of ``value`` with what ``segments`` name left out.

    Two values whose masks are equal differ at most inside the path: a key added
    or removed at the path counts as ignored too.
    """
    seg, rest = (segments[0], segments[1:]) if segments else (None, ())
    if not segments or (seg is WILDCARD and not rest):
        # Everything below this point is ignored, additions and removals included.
        return _MASKED
    if isinstance(value, (list, tuple)):
        if seg is WILDCARD:
            return [mask(v, rest) for v in value]
        if type(seg) is int and -len(value) <= seg < len(value):
            out = list(value)
            out[seg] = mask(out[seg], rest)
            return out
        return value
    if attrs.has(type(value)) and not isinstance(value, _Obj):
        value = _Obj(value)
    if isinstance(value, dict):
        if seg is WILDCARD:
            out_d = value.copy()
            for k in out_d:
                out_d[k] = mask(out_d[k], rest)
            return out_d
        if seg not in value:
            return value
        out_d = value.copy()
        if rest:
            out_d[seg] = mask(out_d[seg], rest)
        else:
            del out_d[seg]
        return out_d
    return value


def merge(new: Any, old: Any, segments: Sequence[Any]) -> Any:
    """``new`` with what ``segments`` name taken from ``old`` (removed where ``old`` has nothing).

    Used so an update never writes an ignored path: it carries the actual value.
    Where the shapes differ (a dict became a list) ``new`` is kept as it is.
    """
    if not segments:
        return old
    seg, rest = segments[0], segments[1:]
    if isinstance(new, dict) and isinstance(old, dict):
        out = dict(new)
        keys = list(out.keys() | old.keys()) if seg is WILDCARD else [seg]
        for k in keys:
            o, n = old.get(k, MISSING), out.get(k, MISSING)
            if not rest:
                if o is MISSING:
                    out.pop(k, None)
                else:
                    out[k] = o
            elif o is not MISSING and n is not MISSING:
                out[k] = merge(n, o, rest)
        return type(new)(out) if type(new) is not dict else out
    if isinstance(new, (list, tuple)) and isinstance(old, (list, tuple)):
        if seg is WILDCARD:
            if not rest:
                return type(new)(old)
            items = [merge(n, o, rest) for n, o in zip(new, old, strict=False)] + list(new[len(old) :])
            return type(new)(items)
        if type(seg) is int and -len(new) <= seg < len(new) and -len(old) <= seg < len(old):
            items = list(new)
            items[seg] = merge(items[seg], old[seg], rest)
            return type(new)(items)
        return new
    if attrs.has(type(new)) and type(new) is type(old):
        names = [f.name for f in attrs.fields(type(new))] if seg is WILDCARD else [seg]
        changes = {}
        for name in names:
            if not isinstance(name, str) or name not in attrs.fields_dict(type(new)):
                continue
            changes[name] = merge(getattr(new, name), getattr(old, name), rest)
        return _evolve(new, changes) if changes else new
    return new


def _evolve(obj: Any, changes: dict[str, Any]) -> Any:
    # attrs.evolve takes init argument names, which drop a private field's leading underscore.
    by_alias = {str(attrs.fields_dict(type(obj))[name].alias): value for name, value in changes.items()}
    return attrs.evolve(obj, **by_alias)
