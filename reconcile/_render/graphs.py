"""DOT and Mermaid renderings of a plan's step DAG and a state's dependency graph."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .._plan import Action, Plan, Step
from .._state import State
from .shown import address_text

# Fill colours per step kind, shared by DOT and Mermaid.
_COLOURS = {
    "create": ("#d3f9d8", "#2b8a3e"),
    "update": ("#fff3bf", "#e67700"),
    "delete": ("#ffe3e3", "#c92a2a"),
    "replace": ("#e5dbff", "#5f3dc4"),
    "adopt": ("#d0ebff", "#1971c2"),
    "deferred": ("#f1f3f5", "#868e96"),
    "resource": ("#e7f5ff", "#1864ab"),
}


def _step_label(plan: Plan, step: Step) -> tuple[str, str]:
    """The label and colour class of a step node."""
    change = plan.changes[step.address]
    address = address_text(step.address)
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


def dot_graph(name: str, nodes: Sequence[tuple[str, str, str, bool]], edges: Iterable[tuple[str, str]]) -> str:
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


def mermaid_graph(nodes: Sequence[tuple[str, str, str, bool]], edges: Iterable[tuple[str, str]]) -> str:
    lines = ["flowchart LR"]
    lines += [f"  {node_id}[{_mermaid_quote(label)}]:::{cls}" for node_id, label, cls, _dashed in nodes]
    lines += [f"  {a} --> {b}" for a, b in edges]
    for cls in sorted({n[2] for n in nodes}):
        fill, stroke = _COLOURS[cls]
        dash = ",stroke-dasharray: 4 4" if cls == "deferred" else ""
        lines.append(f"  classDef {cls} fill:{fill},stroke:{stroke}{dash}")
    return "\n".join(lines) + "\n"


def _plan_graph(plan: Plan) -> tuple[list[tuple[str, str, str, bool]], list[tuple[str, str]]]:
    ids = {s: f"s{i}" for i, s in enumerate(plan.steps)}
    nodes = [(ids[s], *_step_label(plan, s), False) for s in plan.steps]
    nodes += [
        (f"d{i}", f"deferred: {c.action.value} {address_text(c.address)}", "deferred", True)
        for i, c in enumerate(plan.deferred.values())
    ]
    edges = [(ids[p], ids[s]) for s in plan.steps for p in plan.predecessors.get(s, ())]
    return nodes, edges


def state_graph(state: State) -> tuple[list[tuple[str, str, str, bool]], list[tuple[str, str]]]:
    ids = {a: f"r{i}" for i, a in enumerate(state.addresses)}
    nodes = [(ids[a], address_text(a), "resource", False) for a in state.addresses]
    edges = [(ids[d], ids[a]) for a in state.addresses for d in state.dependencies(a)]
    return nodes, edges


def plan_dot(plan: Plan) -> str:
    return dot_graph("plan", *_plan_graph(plan))


def plan_mermaid(plan: Plan) -> str:
    return mermaid_graph(*_plan_graph(plan))
