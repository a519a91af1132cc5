"""The text review of plans and states."""

from __future__ import annotations

from typing import Any

from .._model import ResourceType, type_of
from .._plan import REDACTED, Action, Change, Plan
from .._state import State
from .shown import KNOWN_AFTER_APPLY, Shown


def summary_line(plan: Plan) -> str:
    """``Plan: 1 to create, 2 to update, 0 to replace, 1 to delete, 5 unchanged.`` (and ``, N deferred``)."""
    s = plan.summary()
    deferred = f", {len(plan.deferred)} deferred" if plan.deferred else ""
    return (
        f"Plan: {s[Action.CREATE]} to create, {s[Action.UPDATE]} to update, "
        f"{s[Action.REPLACE]} to replace, {s[Action.DELETE]} to delete, {s[Action.NOOP]} unchanged{deferred}."
    )


def _value(shown: Shown, rt: ResourceType, name: str, value: Any) -> str:
    return REDACTED if name in rt.sensitive else shown.text(value)


def _replace_note(shown: Shown, change: Change) -> str:
    why = []
    if change.triggered_by:
        why.append("triggered by " + ", ".join(shown.address(a) for a in change.triggered_by))
    if change.replace_fields:
        why.append(f"{', '.join(change.replace_fields)} forces replacement")
    elif change.replaced_refs and not change.triggered_by:
        why.append("a replace_on_change ref's target is replaced")
    if change.create_before_delete:
        forced = f", forced by {shown.address(change.forced_by)}" if change.forced_by is not None else ""
        why.append(f"create before delete{forced}")
    return f"  (replace: {'; '.join(why)})" if why else ""


def _change_lines(shown: Shown, change: Change) -> list[str]:
    head = f"{change.marker} {shown.address(change.address)}"
    if change.action is Action.REPLACE:
        head += _replace_note(shown, change)
    lines = [head]
    obj = change.after if change.after is not None else change.before
    rt: ResourceType = type_of(type(obj))
    if change.action is Action.CREATE:
        for name in rt.spec:
            lines.append(f"      {name}: {_value(shown, rt, name, getattr(obj, name))}")
        for name in rt.computed:
            lines.append(f"      {name}: {KNOWN_AFTER_APPLY}")
    elif change.action in (Action.UPDATE, Action.REPLACE):
        replaced_refs = {shown.address(a) for a in change.replaced_refs}
        for name in change.changed_fields:
            old = getattr(change.before, name, None)
            new = getattr(change.after, name)
            note = "  # forces replacement" if name in change.replace_fields else ""
            if old == new and replaced_refs:
                note = f"  # target replaced: {', '.join(sorted(replaced_refs))}" + note
                lines.append(f"      {name}: {_value(shown, rt, name, new)}{note}")
            else:
                lines.append(f"      {name}: {_value(shown, rt, name, old)} -> {_value(shown, rt, name, new)}{note}")
    return lines


def plan_text(plan: Plan) -> str:
    shown = Shown(plan.desired, plan.actual)
    if plan.is_empty and not plan.deferred:
        return summary_line(plan) + "\nNo changes: the actual state matches the desired state.\n"
    lines = [summary_line(plan)]
    if plan.changes:
        lines.append("")
    for change in plan.changes.values():
        lines += _change_lines(shown, change)
    if plan.deferred:
        lines += ["", "Deferred (left out by targets/exclude; plan again without them to apply):"]
        lines += [f"{c.marker} {shown.address(c.address)}" for c in plan.deferred.values()]
    return "\n".join(lines) + "\n"


def state_text(state: State) -> str:
    shown = Shown(state)
    lines = [f"State: {len(state)} resource{'s' if len(state) != 1 else ''}."]
    for obj in state:
        rt: ResourceType = type_of(type(obj))
        lines.append(f"  {rt.display_address(obj)}")
        for name in (*rt.spec, *rt.computed):
            lines.append(f"      {name}: {_value(shown, rt, name, getattr(obj, name))}")
    return "\n".join(lines) + "\n"
