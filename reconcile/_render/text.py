"""The text review of plans and states."""

from __future__ import annotations

from .._model import Address, ResourceType, type_of
from .._plan import Action, Change, Origin, Plan
from .._state import State
from .shown import KNOWN_AFTER_APPLY, address_text, value_text


def summary_line(plan: Plan) -> str:
    """``Plan: 1 to create, 2 to update, 0 to replace, 1 to delete, 5 unchanged.``

    Then ``, N deferred``; adoptions (``, N to adopt``, after the deletes) and
    external reads (``, N read``) are shown when there are any.
    """
    s = plan.summary()
    adopt = f", {s[Action.ADOPT]} to adopt" if s[Action.ADOPT] else ""
    deferred = f", {len(plan.deferred)} deferred" if plan.deferred else ""
    reads = f", {len(plan.desired.externals)} read" if plan.desired.externals else ""
    return (
        f"Plan: {s[Action.CREATE]} to create, {s[Action.UPDATE]} to update, "
        f"{s[Action.REPLACE]} to replace, {s[Action.DELETE]} to delete{adopt}, "
        f"{s[Action.NOOP]} unchanged{deferred}{reads}."
    )


_ORIGIN_TAGS = {Origin.INTENT: "[intent]", Origin.DRIFT: "[drift]", Origin.BOTH: "[intent, drift]"}


def origin_line(plan: Plan) -> str | None:
    """How many changes are drift and how many intent, for a plan made with ``last_applied``; else ``None``."""
    origins = [c.origin for c in plan.changes.values() if c.origin is not None]
    if not origins:
        return None
    drift = sum(1 for o in origins if o is Origin.DRIFT)
    intent = sum(1 for o in origins if o is Origin.INTENT)
    both = len(origins) - drift - intent
    return (
        f"Since the last apply: {drift} to repair drift (changed outside reconcile), "
        f"{intent} for a change of the desired state, {both} both."
    )


def review_order(plan: Plan) -> list[Change]:
    """The changes in apply order, except that a change comes after the replacements that caused it.

    A dependent replaced because its ref target is (or triggered by a watched
    change) is often deleted first, so apply order lists it before its cause;
    a reader wants the cause first.
    """
    out: dict[Address, Change] = {}
    changes = plan.changes

    def causes(change: Change) -> list[Change]:
        found = (changes.get(a) for a in (*change.replaced_refs, *change.triggered_by))
        return [c for c in found if c is not None]

    # A depth-first walk without recursion: replacements propagate along
    # chains of refs as long as the state's.
    for change in changes.values():
        if change.address in out:
            continue
        stack = [(change, iter(causes(change)))]
        path = {change.address}
        while stack:
            current, pending = stack[-1]
            for cause in pending:
                if cause.address not in out and cause.address not in path:
                    stack.append((cause, iter(causes(cause))))
                    path.add(cause.address)
                    break
            else:
                stack.pop()
                path.discard(current.address)
                out[current.address] = current
    return list(out.values())


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
    if change.origin is not None:
        head += " " + _ORIGIN_TAGS[change.origin]
    if change.action is Action.REPLACE:
        head += _replace_note(change)
    elif change.action is Action.ADOPT:
        then = f"; then update {', '.join(change.changed_fields)}" if change.changed_fields else ""
        head += f"  (adopt: exists, not managed yet{then})"
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
    elif change.action in (Action.UPDATE, Action.REPLACE, Action.ADOPT):
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
    if change.action in (Action.REPLACE, Action.DELETE):
        # What the provider knows the doomed object by (its id, its ARN), so a
        # reviewer can tell which real object goes away.
        for name in type_of(type(change.before)).computed:
            old = getattr(change.before, name)
            if old is not None:
                then = f" -> {KNOWN_AFTER_APPLY}" if change.action is Action.REPLACE else ""
                lines.append(f"      {name}: {value_text(old, name in hidden)}{then}")
    return lines


def _read_lines(plan: Plan) -> list[str]:
    """``<=`` lines for the external objects a plan reads (never written), with their values as read."""
    lines = []
    for address, obj in plan.reads.items():
        lines.append(f"<= {address_text(address)}  (external: read, never changed)")
        rt: ResourceType = type_of(type(obj))
        for name in (*rt.spec, *rt.computed):
            lines.append(f"      {name}: {value_text(getattr(obj, name), name in rt.sensitive)}")
    return lines


def _recorded_lines(plan: Plan) -> list[str]:
    """The delete order a plan took from its ``last_applied`` state, and the edges of it the world overruled."""
    lines = []
    if plan.last_applied_edges:
        # The world does not report these edges (a depends_on): without this line a reviewer
        # could not tell why the deletes run in this order.
        lines += ["", "Delete order from the last applied state (edges the world does not report):"]
        lines += [f"  {address_text(b)} before {address_text(a)}" for b, a in plan.last_applied_edges]
    if plan.overruled_edges:
        lines += ["", "Not followed (with the world's own edges they would close a cycle; the world's order wins):"]
        lines += [f"  {address_text(b)} before {address_text(a)}" for b, a in plan.overruled_edges]
    return lines


def plan_text(plan: Plan) -> str:
    reads = _read_lines(plan) if plan.desired.externals else []
    if plan.is_empty and not plan.deferred:
        tail = "\n" + "\n".join(reads) + "\n" if reads else ""
        return summary_line(plan) + "\nNo changes: the actual state matches the desired state.\n" + tail
    lines = [summary_line(plan)]
    origins = origin_line(plan)
    if origins is not None:
        lines.append(origins)
    if reads:
        lines += ["", *reads]
    if plan.changes:
        lines.append("")
    for change in review_order(plan):
        lines += _change_lines(change)
    lines += _recorded_lines(plan)
    if plan.deferred:
        lines += ["", "Deferred (left out by targets/exclude; plan again without them to apply):"]
        for c in plan.deferred.values():
            tag = "" if c.origin is None else " " + _ORIGIN_TAGS[c.origin]
            lines.append(f"{c.marker} {address_text(c.address)}{tag}")
    return "\n".join(lines) + "\n"


def state_text(state: State) -> str:
    lines = [f"State: {len(state)} resource{'s' if len(state) != 1 else ''}."]
    for address, obj in state.items():
        rt: ResourceType = type_of(type(obj))
        lines.append(f"  {address_text(address)}")
        for name in (*rt.spec, *rt.computed):
            lines.append(f"      {name}: {value_text(getattr(obj, name), name in rt.sensitive)}")
    for address, ext in state.externals.items():
        lines.append(f"  <= {address_text(address)}  (external{'' if ext.value is not None else ', not read'})")
    return "\n".join(lines) + "\n"
