"""The stable JSON rendering of plans and states, for CI bots and other programs."""

from __future__ import annotations

import json
from typing import Any

from .._model import Address, ResourceType, type_of
from .._plan import Action, Change, Origin, Plan
from .._state import State
from .shown import address_json, value_json

JSON_FORMAT_VERSION = 1
"""The version of the ``render(..., format="json")`` document layout (see docs/rendering.md)."""


def _json_fields(change: Change) -> list[dict[str, Any]]:
    obj = change.after if change.after is not None else change.before
    rt: ResourceType = type_of(type(obj))
    hidden = change.sensitive

    def entry(name: str, before: Any, after: Any, *, known_after_apply: bool = False) -> dict[str, Any]:
        sensitive = name in hidden
        return {
            "name": name,
            "before": value_json(before, sensitive and before is not None),
            "after": value_json(after, sensitive and after is not None),
            "sensitive": sensitive,
            "forces_replacement": name in change.replace_fields,
            "known_after_apply": known_after_apply,
        }

    if change.action is Action.CREATE:
        out = [entry(name, None, getattr(obj, name)) for name in rt.spec]
        return out + [entry(name, None, None, known_after_apply=True) for name in rt.computed]
    # A delete or a replace lists the old object's computed values (its id,
    # its ARN): what the provider knows the object that goes away by.
    if change.action is Action.DELETE:
        out = [entry(name, getattr(obj, name), None) for name in rt.spec]
        return out + [entry(name, getattr(obj, name), None) for name in rt.computed]
    out = [entry(n, getattr(change.before, n, None), getattr(change.after, n)) for n in change.changed_fields]
    if change.action is Action.REPLACE:
        for name in type_of(type(change.before)).computed:
            old = getattr(change.before, name)
            if old is not None:
                out.append(entry(name, old, None, known_after_apply=True))
    return out


def _json_change(change: Change) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": address_json(change.address),
        "kind": change.address.kind,
        "action": change.action.value,
        "create_before_delete": change.create_before_delete,
        "forced_by": None if change.forced_by is None else address_json(change.forced_by),
        "triggered_by": [address_json(a) for a in change.triggered_by],
        "replaced_refs": [address_json(a) for a in change.replaced_refs],
        "replace_fields": list(change.replace_fields),
        "fields": _json_fields(change),
    }
    if change.origin is not None:
        out["origin"] = change.origin.value
    return out


def _json_read(address: Address, obj: Any) -> dict[str, Any]:
    rt: ResourceType = type_of(type(obj))
    fields = {name: value_json(getattr(obj, name), name in rt.sensitive) for name in (*rt.spec, *rt.computed)}
    return {"address": address_json(address), "kind": address.kind, "action": "read", "fields": fields}


def plan_json(plan: Plan) -> str:
    ids = {s: i for i, s in enumerate(plan.steps)}
    counts = plan.summary()
    actions = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.NOOP)
    summary: dict[str, Any] = {a.value: counts[a] for a in actions}
    summary["deferred"] = len(plan.deferred)
    summary["adopt"] = counts[Action.ADOPT]
    summary["read"] = len(plan.desired.externals)
    origins = [c.origin for c in plan.changes.values() if c.origin is not None]
    if origins:
        # Only for a plan made with last_applied, as each change's "origin".
        summary["origins"] = {o.value: origins.count(o) for o in Origin}
    doc = {
        "format_version": JSON_FORMAT_VERSION,
        "summary": summary,
        "reads": [_json_read(address, obj) for address, obj in plan.reads.items()],
        "changes": [_json_change(c) for c in plan.changes.values()],
        "deferred": [
            {"address": address_json(c.address), "kind": c.address.kind, "action": c.action.value}
            for c in plan.deferred.values()
        ],
        "steps": [
            {
                "id": i,
                "op": s.op.value,
                "address": address_json(s.address),
                "action": plan.changes[s.address].action.value,
                "after": sorted(ids[p] for p in plan.predecessors.get(s, ())),
            }
            for i, s in enumerate(plan.steps)
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def state_json(state: State) -> str:
    resources = []
    for address, obj in state.items():
        rt: ResourceType = type_of(type(obj))
        resources.append(
            {
                "address": address_json(address),
                "kind": rt.kind,
                "fields": {
                    name: value_json(getattr(obj, name), name in rt.sensitive) for name in (*rt.spec, *rt.computed)
                },
                "depends_on": [address_json(d) for d in state.dependencies(address)],
            }
        )
    externals = [
        {"address": address_json(a), "kind": a.kind, "read": e.value is not None} for a, e in state.externals.items()
    ]
    doc = {"format_version": JSON_FORMAT_VERSION, "resources": resources, "externals": externals}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
