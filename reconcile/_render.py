"""Rendering plans for people: the text review (``+``, ``~``, ``-/+``, ``-``)."""

from __future__ import annotations

from typing import Any

from ._diff import REDACTED
from ._plan import Action, Change, Plan
from ._resource import ResourceType

_KNOWN_AFTER_APPLY = "(known after apply)"


def _value(rt: ResourceType, name: str, value: Any) -> str:
    return REDACTED if name in rt.sensitive else repr(value)


def _change_lines(change: Change) -> list[str]:
    head = f"{change.action.marker} {change.address}"
    if change.action is Action.REPLACE and change.replace_fields:
        head += f"  (replace: {', '.join(change.replace_fields)} forces replacement)"
    elif change.action is Action.REPLACE and change.replaced_refs:
        head += "  (replace: a replace_on_change ref's target is replaced)"
    lines = [head]
    obj = change.after if change.after is not None else change.before
    rt: ResourceType = type(obj).__reconcile__
    if change.action is Action.CREATE:
        for name in rt.spec:
            lines.append(f"      {name}: {_value(rt, name, getattr(obj, name))}")
        for name in rt.computed:
            lines.append(f"      {name}: {_KNOWN_AFTER_APPLY}")
    elif change.action in (Action.UPDATE, Action.REPLACE):
        replaced_refs = {str(a) for a in change.replaced_refs}
        for name in change.changed_fields:
            old = getattr(change.before, name)
            new = getattr(change.after, name)
            note = ""
            if name in change.replace_fields:
                note = "  # forces replacement"
            if old == new and replaced_refs:
                note = f"  # target replaced: {', '.join(sorted(replaced_refs))}" + note
                lines.append(f"      {name}: {_value(rt, name, new)}{note}")
            else:
                lines.append(f"      {name}: {_value(rt, name, old)} -> {_value(rt, name, new)}{note}")
    return lines


def summary_line(plan: Plan) -> str:
    """``Plan: 1 to create, 2 to update, 0 to replace, 1 to delete, 5 unchanged.``"""
    s = plan.summary()
    return (
        f"Plan: {s[Action.CREATE]} to create, {s[Action.UPDATE]} to update, "
        f"{s[Action.REPLACE]} to replace, {s[Action.DELETE]} to delete, {s[Action.NOOP]} unchanged."
    )


def render(plan: Plan) -> str:
    """Render ``plan`` as a text review, changes in apply order.

    Markers: ``+`` create, ``~`` update, ``-/+`` replace, ``-`` delete. Changed
    fields show ``before -> after``; sensitive values show as ``(sensitive)``;
    unchanged resources are counted in the summary line, not listed.
    """
    if plan.is_empty:
        return summary_line(plan) + "\nNo changes: the actual state matches the desired state.\n"
    lines = [summary_line(plan), ""]
    for change in plan.changes.values():
        lines += _change_lines(change)
    return "\n".join(lines) + "\n"
