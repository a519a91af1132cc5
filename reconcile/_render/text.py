"""The text review of plans and states."""

from __future__ import annotations

from .._model import ResourceType, type_of
from .._plan import Action, Change, Plan
from .._state import State
from .shown import KNOWN_AFTER_APPLY, address_text, value_text


def summary_line(plan: Plan) -> str:
    """``Plan: 1 to create, 2 to update, 0 to replace, 1 to delete, 5 unchanged.`` (and ``, N deferred``)."""
    s = plan.summary()
    deferred = f", {len(plan.deferred)} deferred" if plan.deferred else ""
    return (
        f"Plan: {s[Action.CREATE]} to create, {s[Action.UPDATE]} to update, "
        f"{s[Action.REPLACE]} to replace, {s[Action.DELETE]} to delete, {s[Action.NOOP]} unchanged{deferred}."
    )


def _replace_note(change: Change) -> str:
    why = []
    if change.triggered_by:
        why.append("triggered by " + ", ".join(address_text(a) for a in change.triggered_by))
    if change.replace_fields:
        why.append(f"{', '.join(change.replace_fields)} forces replacement")
    elif change.replaced_refs and not change.triggered_by:
        why.append("a replace_on_change ref's target is replaced")
    if change.create_before_delete:
        forced = f", forced by {address_text(change.forced_by)}" if change.forced_by is not None else ""
        why.append(f"create before delete{forced}")
    return f"  (replace: {'; '.join(why)})" if why else ""


def _change_lines(change: Change) -> list[str]:
    head = f"{change.marker} {address_text(change.address)}"
    if change.action is Action.REPLACE:
        head += _replace_note(change)
    lines = [head]
    obj = change.after if change.after is not None else change.before
    rt: ResourceType = type_of(type(obj))
    # Sensitive in either class: a replacement across a class change hides what the old class hid.
    hidden = change.sensitive
    if change.action is Action.CREATE:
        for name in rt.spec:
            lines.append(f"      {name}: {value_text(getattr(obj, name), name in hidden)}")
        for name in rt.computed:
            lines.append(f"      {name}: {KNOWN_AFTER_APPLY}")
    elif change.action in (Action.UPDATE, Action.REPLACE):
        replaced_refs = {address_text(a) for a in change.replaced_refs}
        for name in change.changed_fields:
            old = getattr(change.before, name, None)
            new = getattr(change.after, name)
            secret = name in hidden
            note = "  # forces replacement" if name in change.replace_fields else ""
            if old == new and replaced_refs:
                note = f"  # target replaced: {', '.join(sorted(replaced_refs))}" + note
                lines.append(f"      {name}: {value_text(new, secret)}{note}")
            else:
                lines.append(f"      {name}: {value_text(old, secret)} -> {value_text(new, secret)}{note}")
    return lines


def plan_text(plan: Plan) -> str:
    if plan.is_empty and not plan.deferred:
        return summary_line(plan) + "\nNo changes: the actual state matches the desired state.\n"
    lines = [summary_line(plan)]
    if plan.changes:
        lines.append("")
    for change in plan.changes.values():
        lines += _change_lines(change)
    if plan.deferred:
        lines += ["", "Deferred (left out by targets/exclude; plan again without them to apply):"]
        lines += [f"{c.marker} {address_text(c.address)}" for c in plan.deferred.values()]
    return "\n".join(lines) + "\n"


def state_text(state: State) -> str:
    lines = [f"State: {len(state)} resource{'s' if len(state) != 1 else ''}."]
    for address, obj in state.items():
        rt: ResourceType = type_of(type(obj))
        lines.append(f"  {address_text(address)}")
        for name in (*rt.spec, *rt.computed):
            lines.append(f"      {name}: {value_text(getattr(obj, name), name in rt.sensitive)}")
    return "\n".join(lines) + "\n"
