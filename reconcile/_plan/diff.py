"""Rules 1 and 2: the change for one address, found by equality, with ignored paths left out and carried over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .._model import Address, ResourceType, mask, merge, parse_path
from .._typecheck import compiled
from .model import Action, Change


def compare(address: Address, rt: ResourceType, old: Any, new: Any) -> Change | None:
    """The change for two resources whose compared fields differ, or ``None`` if only ignored paths differ."""
    fields = changed_fields(rt, old, new)
    ignore = rt.ignore + new.lifecycle.ignore if new.lifecycle.ignore else rt.ignore
    if ignore:
        fields = _unignored(fields, ignore, old, new)
        if not fields:
            return None
    forced = tuple(f for f in fields if f in rt.replace_on_change)
    if forced:
        return Change(address, Action.REPLACE, old, new, fields, forced)
    return Change(address, Action.UPDATE, old, _carry_ignored(rt, ignore, old, new), fields)


def _by_field(paths: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for text in paths:
        path = parse_path(text)
        grouped.setdefault(path.field, []).append(path.segments)
    return grouped


def _unignored(fields: Sequence[str], paths: Sequence[str], old: Any, new: Any) -> tuple[str, ...]:
    """The fields in ``fields`` that still differ once the ignored paths are masked out."""
    grouped = _by_field(paths)
    out = []
    for name in fields:
        segment_lists = grouped.get(name)
        if segment_lists is None:
            out.append(name)
            continue
        if any(not segs for segs in segment_lists):
            continue
        before, after = getattr(old, name), getattr(new, name)
        for segs in segment_lists:
            before, after = mask(before, segs), mask(after, segs)
        if before != after:
            out.append(name)
    return tuple(out)


def _carry_ignored(rt: ResourceType, paths: Sequence[str], old: Any, new: Any) -> Any:
    """``new`` with the actual values at every ignored field and path, so an update leaves them alone."""
    if not paths and len(rt.compared) == len(rt.spec):
        return new  # nothing ignored: the usual case
    updates: dict[str, Any] = {}
    for name in rt.spec:
        if name not in rt.compared and getattr(old, name) != getattr(new, name):
            updates[name] = getattr(old, name)
    for name, segment_lists in _by_field(paths).items() if paths else ():
        value = getattr(new, name)
        for segs in segment_lists:
            value = merge(value, getattr(old, name), segs)
        if value != getattr(new, name):
            updates[name] = value
    if not updates:
        return new
    fields = attrs.fields_dict(type(new))
    return attrs.evolve(new, **{str(fields[name].alias): value for name, value in updates.items()})


def changed_fields(rt: ResourceType, before: Any, after: Any) -> tuple[str, ...]:
    """Names of the compared fields whose values differ (called only once the fast path saw a difference)."""
    changed: tuple[str, ...] = compiled(rt).changed(before, after)
    return changed
