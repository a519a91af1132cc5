"""Explanations of changes: field-level differences described by deepdiff, loaded on the first explanation."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import attrs

from .._model import REDACTED, Ref, ResourceType, canonical_key, redacted_address, show_value


class Difference(enum.Enum):
    """How one field-level difference came about: a value changed, appeared or disappeared."""

    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@attrs.frozen
class FieldChange:
    """One field-level difference inside a change.

    Attributes:
        path: where, e.g. ``size`` or ``tags['env']``.
        before: the old value (``(sensitive)`` for sensitive fields; ``None`` when added).
        after: the new value (``(sensitive)`` for sensitive fields; ``None`` when removed).
        difference: ``Difference.CHANGED``, ``ADDED`` or ``REMOVED`` (was the string ``kind``).
    """

    path: str
    before: Any
    after: Any
    difference: Difference = Difference.CHANGED

    def __str__(self) -> str:
        after, before = show_value(self.after, limit=None), show_value(self.before, limit=None)
        if self.difference is Difference.ADDED:
            return f"{self.path}: added {after}"
        if self.difference is Difference.REMOVED:
            return f"{self.path}: removed {before}"
        return f"{self.path}: {before} -> {after}"


def _plain(value: Any) -> Any:
    # Refs are compared by address; showing them as their address string keeps
    # deepdiff from descending into the Address tuple. Sensitive identities are redacted.
    if isinstance(value, Ref):
        return f"ref({redacted_address(value.address, limit=None)!r})"
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return {_plain(v) for v in value}
    return value


def _format_path(parts: Sequence[Any]) -> str:
    head, *rest = parts
    return str(head) + "".join(f"[{p!r}]" for p in rest)


def _multiset_changes(name: str, old: Sequence[Any], new: Sequence[Any]) -> list[FieldChange]:
    """An unordered field's items removed and added (repeats counted), each at its index in its own list.

    Items are matched by value, so an added item reads "added" rather than as
    a shift of every index after it.
    """
    left: dict[Any, list[int]] = {}
    for i, item in enumerate(old):
        left.setdefault(canonical_key(item), []).append(i)
    added = []
    for i, item in enumerate(new):
        found = left.get(canonical_key(item))
        if found:
            found.pop(0)
        else:
            added.append(FieldChange(f"{name}[{i}]", None, item, Difference.ADDED))
    removed = [FieldChange(f"{name}[{i}]", old[i], None, Difference.REMOVED) for at in left.values() for i in at]
    return removed + added


def explain(
    rt: ResourceType, before: Any, after: Any, fields: Sequence[str], sensitive: frozenset[str] | None = None
) -> tuple[FieldChange, ...]:
    """Field-level explanation of the differences in ``fields`` between two resources.

    Sensitive fields (``sensitive``, by default ``rt.sensitive``) are reported as
    changed with both sides redacted.
    """
    hidden = rt.sensitive if sensitive is None else sensitive
    # deepdiff is slow to import and only describes changes (rule 1), so it loads on the first explanation.
    from deepdiff import DeepDiff

    out: list[FieldChange] = []
    for name in fields:
        old = getattr(before, name)
        new = getattr(after, name)
        if name in hidden:
            out.append(FieldChange(name, REDACTED, REDACTED))
            continue
        if old == new:
            # Equal values listed as changed: a ref whose target is replaced.
            out.append(FieldChange(name, old, new))
            continue
        if name in rt.unordered and isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
            out += _multiset_changes(name, old, new)
            continue
        tree = DeepDiff({name: _plain(old)}, {name: _plain(new)}, view="tree", verbose_level=2)
        found = False
        for report, levels in tree.items():
            for level in levels:
                found = True
                path = _format_path(level.path(output_format="list"))
                if report.endswith("_added"):
                    out.append(FieldChange(path, None, level.t2, Difference.ADDED))
                elif report.endswith("_removed"):
                    out.append(FieldChange(path, level.t1, None, Difference.REMOVED))
                else:
                    out.append(FieldChange(path, level.t1, level.t2))
        if not found:
            out.append(FieldChange(name, old, new))
    out.sort(key=lambda c: c.path)
    return tuple(out)
