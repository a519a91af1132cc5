"""Rendering plans and states for people and tools: text review, JSON, Graphviz DOT and Mermaid."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from ._diff import REDACTED
from .errors import RenderError
from ._plan import Action, Change, Plan, Step
from ._resource import Address, Ref, ResourceType
from ._state import State

JSON_FORMAT_VERSION = 1
"""The version of the ``render(..., format="json")`` document layout (see docs/rendering.md)."""

FORMATS = ("text", "json", "dot", "mermaid")

_KNOWN_AFTER_APPLY = "(known after apply)"

# Fill colours per step kind, shared by DOT and Mermaid.
_COLOURS = {
    "create": ("#d3f9d8", "#2b8a3e"),
    "update": ("#fff3bf", "#e67700"),
    "delete": ("#ffe3e3", "#c92a2a"),
    "replace": ("#e5dbff", "#5f3dc4"),
    "deferred": ("#f1f3f5", "#868e96"),
    "resource": ("#e7f5ff", "#1864ab"),
}


class _Shown:
    """Formats addresses and values for people, redacting sensitive values and sensitive identities."""

    def __init__(self, *states: State) -> None:
        self._states = states

    def address(self, address: Address) -> str:
        for state in self._states:
            obj = state._by_address.get(address)
            if obj is not None:
                return type(obj).__reconcile__.display_address(obj)  # type: ignore[no-any-return]
        return str(address)

    def text(self, value: Any) -> str:
        """``repr``-like text of a field value; refs read ``ref('kind/key')`` with redacted identities."""
        if isinstance(value, Ref):
            return f"ref({self.address(value.address)!r})"
        if isinstance(value, Address):
            return repr(self.address(value))
        if isinstance(value, list):
            return "[" + ", ".join(self.text(v) for v in value) + "]"
        if isinstance(value, tuple) and type(value) is tuple:
            inner = ", ".join(self.text(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, (set, frozenset)):
            if not value:
                return repr(value)
            items = "{" + ", ".join(sorted(self.text(v) for v in value)) + "}"
            return items if type(value) is set else f"frozenset({items})"
        if isinstance(value, dict) and type(value) is dict:
            return "{" + ", ".join(f"{self.text(k)}: {self.text(v)}" for k, v in value.items()) + "}"
        return repr(value)

    def json(self, value: Any) -> Any:
        """A JSON value for a field value (see docs/rendering.md for the mapping)."""
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else repr(value)
        if isinstance(value, Ref):
            return {"ref": self.address(value.address)}
        if isinstance(value, Address):
            return self.address(value)
        if isinstance(value, enum.Enum):
            return self.json(value.value)
        if isinstance(value, (list, tuple)):
            return [self.json(v) for v in value]
        if isinstance(value, (set, frozenset)):
            return sorted((self.json(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        if isinstance(value, dict):
            return {str(k): self.json(v) for k, v in value.items()}
        if attrs.has(type(value)):
            return {f.name: self.json(getattr(value, f.name)) for f in attrs.fields(type(value))}
        return repr(value)


def render(obj: Plan | State, format: str = "text") -> str:
    """Render a plan (or a state) for people and tools.

    Formats:

    * ``"text"``: a review of the plan, changes in apply order. Markers: ``+``
      create, ``~`` update, ``-/+`` replace (delete, then create), ``+/-``
      create-before-delete replace, ``-`` delete. Changed fields show
      ``before -> after``; unchanged resources are counted, not listed;
      deferred changes (``targets`` / ``exclude``) are listed at the end.
    * ``"json"``: a stable document for CI bots and review tools (layout in
      docs/rendering.md, versioned by ``format_version``).
    * ``"dot"``: the step DAG as Graphviz, one node per step, coloured by action.
    * ``"mermaid"``: the same graph as a Mermaid flowchart.

    A ``State`` renders as a list of resources (text, JSON) or its dependency
    graph (DOT, Mermaid). Every format shows sensitive values, and addresses
    whose identity is sensitive, as ``(sensitive)``.

    Raises:
        RenderError: ``format`` is not one of the above, or ``obj`` is neither a Plan nor a State.
    """
    if format not in FORMATS:
        raise RenderError(f"unknown render format {format!r}; use one of: {', '.join(FORMATS)}")
    if isinstance(obj, Plan):
        return _PLAN_RENDERERS[format](obj)
    if isinstance(obj, State):
        return _STATE_RENDERERS[format](obj)
    raise RenderError(f"render() takes a Plan or a State, got {type(obj).__name__}")


# ---------------------------------------------------------------- plan: text


def summary_line(plan: Plan) -> str:
    """``Plan: 1 to create, 2 to update, 0 to replace, 1 to delete, 5 unchanged.`` (and ``, N deferred``)."""
    s = plan.summary()
    deferred = f", {len(plan.deferred)} deferred" if plan.deferred else ""
    return (
        f"Plan: {s[Action.CREATE]} to create, {s[Action.UPDATE]} to update, "
        f"{s[Action.REPLACE]} to replace, {s[Action.DELETE]} to delete, {s[Action.NOOP]} unchanged{deferred}."
    )


def _value(shown: _Shown, rt: ResourceType, name: str, value: Any) -> str:
    return REDACTED if name in rt.sensitive else shown.text(value)


def _replace_note(shown: _Shown, change: Change) -> str:
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


def _change_lines(shown: _Shown, change: Change) -> list[str]:
    head = f"{change.marker} {shown.address(change.address)}"
    if change.action is Action.REPLACE:
        head += _replace_note(shown, change)
    lines = [head]
    obj = change.after if change.after is not None else change.before
    rt: ResourceType = type(obj).__reconcile__
    if change.action is Action.CREATE:
        for name in rt.spec:
            lines.append(f"      {name}: {_value(shown, rt, name, getattr(obj, name))}")
        for name in rt.computed:
            lines.append(f"      {name}: {_KNOWN_AFTER_APPLY}")
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


def _plan_text(plan: Plan) -> str:
    shown = _Shown(plan.desired, plan.actual)
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


# ---------------------------------------------------------------- plan: json


def _json_fields(shown: _Shown, change: Change) -> list[dict[str, Any]]:
    obj = change.after if change.after is not None else change.before
    rt: ResourceType = type(obj).__reconcile__

    def entry(name: str, before: Any, after: Any, *, known_after_apply: bool = False) -> dict[str, Any]:
        sensitive = name in rt.sensitive
        return {
            "name": name,
            "before": REDACTED if sensitive and before is not None else shown.json(before),
            "after": REDACTED if sensitive and after is not None else shown.json(after),
            "sensitive": sensitive,
            "forces_replacement": name in change.replace_fields,
            "known_after_apply": known_after_apply,
        }

    if change.action is Action.CREATE:
        out = [entry(name, None, getattr(obj, name)) for name in rt.spec]
        return out + [entry(name, None, None, known_after_apply=True) for name in rt.computed]
    if change.action is Action.DELETE:
        return [entry(name, getattr(obj, name), None) for name in rt.spec]
    return [entry(n, getattr(change.before, n, None), getattr(change.after, n)) for n in change.changed_fields]


def _json_change(shown: _Shown, change: Change) -> dict[str, Any]:
    return {
        "address": shown.address(change.address),
        "kind": change.address.kind,
        "action": change.action.value,
        "create_before_delete": change.create_before_delete,
        "forced_by": None if change.forced_by is None else shown.address(change.forced_by),
        "triggered_by": [shown.address(a) for a in change.triggered_by],
        "replaced_refs": [shown.address(a) for a in change.replaced_refs],
        "replace_fields": list(change.replace_fields),
        "fields": _json_fields(shown, change),
    }


def _plan_json(plan: Plan) -> str:
    shown = _Shown(plan.desired, plan.actual)
    ids = {s: i for i, s in enumerate(plan.steps)}
    counts = plan.summary()
    summary = {a.value: counts[a] for a in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.NOOP)}
    summary["deferred"] = len(plan.deferred)
    doc = {
        "format_version": JSON_FORMAT_VERSION,
        "summary": summary,
        "changes": [_json_change(shown, c) for c in plan.changes.values()],
        "deferred": [
            {"address": shown.address(c.address), "kind": c.address.kind, "action": c.action.value}
            for c in plan.deferred.values()
        ],
        "steps": [
            {
                "id": i,
                "op": s.op.value,
                "address": shown.address(s.address),
                "action": plan.changes[s.address].action.value,
                "after": sorted(ids[p] for p in plan.after.get(s, ())),
            }
            for i, s in enumerate(plan.steps)
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- graphs


def _step_label(shown: _Shown, plan: Plan, step: Step) -> tuple[str, str]:
    """The label and colour class of a step node."""
    change = plan.changes[step.address]
    address = shown.address(step.address)
    if change.action is Action.REPLACE:
        which = "create new" if step.op is Action.CREATE else "delete old"
        order = " (create before delete)" if change.create_before_delete else ""
        return f"replace {address}: {which}{order}", "replace"
    return f"{step.op.value} {address}", step.op.value


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _mermaid_quote(text: str) -> str:
    for char, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, entity)
    return '"' + text.replace("\n", " ") + '"'


def _dot(name: str, nodes: Sequence[tuple[str, str, str, bool]], edges: Iterable[tuple[str, str]]) -> str:
    lines = [
        f"digraph {name} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for node_id, label, cls, dashed in nodes:
        fill, stroke = _COLOURS[cls]
        style = ', style="rounded,filled,dashed"' if dashed else ""
        lines.append(f'  {node_id} [label={_dot_quote(label)}, fillcolor="{fill}", color="{stroke}"{style}];')
    lines += [f"  {a} -> {b};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid(nodes: Sequence[tuple[str, str, str, bool]], edges: Iterable[tuple[str, str]]) -> str:
    lines = ["flowchart LR"]
    lines += [f"  {node_id}[{_mermaid_quote(label)}]:::{cls}" for node_id, label, cls, _dashed in nodes]
    lines += [f"  {a} --> {b}" for a, b in edges]
    for cls in sorted({n[2] for n in nodes}):
        fill, stroke = _COLOURS[cls]
        dash = ",stroke-dasharray: 4 4" if cls == "deferred" else ""
        lines.append(f"  classDef {cls} fill:{fill},stroke:{stroke}{dash}")
    return "\n".join(lines) + "\n"


def _plan_graph(plan: Plan) -> tuple[list[tuple[str, str, str, bool]], list[tuple[str, str]]]:
    shown = _Shown(plan.desired, plan.actual)
    ids = {s: f"s{i}" for i, s in enumerate(plan.steps)}
    nodes = [(ids[s], *_step_label(shown, plan, s), False) for s in plan.steps]
    nodes += [
        (f"d{i}", f"deferred: {c.action.value} {shown.address(c.address)}", "deferred", True)
        for i, c in enumerate(plan.deferred.values())
    ]
    edges = [(ids[p], ids[s]) for s in plan.steps for p in plan.after.get(s, ())]
    return nodes, edges


def _state_graph(state: State) -> tuple[list[tuple[str, str, str, bool]], list[tuple[str, str]]]:
    shown = _Shown(state)
    ids = {a: f"r{i}" for i, a in enumerate(state.addresses)}
    nodes = [(ids[a], shown.address(a), "resource", False) for a in state.addresses]
    edges = [(ids[d], ids[a]) for a in state.addresses for d in state.dependencies(a)]
    return nodes, edges


def _plan_dot(plan: Plan) -> str:
    return _dot("plan", *_plan_graph(plan))


def _plan_mermaid(plan: Plan) -> str:
    return _mermaid(*_plan_graph(plan))


# ---------------------------------------------------------------- states


def _state_text(state: State) -> str:
    shown = _Shown(state)
    lines = [f"State: {len(state)} resource{'s' if len(state) != 1 else ''}."]
    for obj in state:
        rt: ResourceType = type(obj).__reconcile__
        lines.append(f"  {rt.display_address(obj)}")
        for name in (*rt.spec, *rt.computed):
            lines.append(f"      {name}: {_value(shown, rt, name, getattr(obj, name))}")
    return "\n".join(lines) + "\n"


def _state_json(state: State) -> str:
    shown = _Shown(state)
    resources = []
    for address, obj in state.items():
        rt: ResourceType = type(obj).__reconcile__
        resources.append(
            {
                "address": rt.display_address(obj),
                "kind": rt.kind,
                "fields": {
                    name: REDACTED if name in rt.sensitive else shown.json(getattr(obj, name))
                    for name in (*rt.spec, *rt.computed)
                },
                "depends_on": [shown.address(d) for d in state.dependencies(address)],
            }
        )
    doc = {"format_version": JSON_FORMAT_VERSION, "resources": resources}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


_PLAN_RENDERERS: dict[str, Callable[[Plan], str]] = {
    "text": _plan_text,
    "json": _plan_json,
    "dot": _plan_dot,
    "mermaid": _plan_mermaid,
}
_STATE_RENDERERS: dict[str, Callable[[State], str]] = {
    "text": _state_text,
    "json": _state_json,
    "dot": lambda s: _dot("state", *_state_graph(s)),
    "mermaid": lambda s: _mermaid(*_state_graph(s)),
}
