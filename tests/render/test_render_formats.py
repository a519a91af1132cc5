"""Rendering plans and states: text review, JSON for tools, DOT and Mermaid graphs."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given

import reconcile as rc
from tests.support.models import Network, Server
from tests.support.planner import Plain, Twin, worlds


def first_plan() -> rc.Plan:
    desired = rc.State(
        [Network("core", "10.0.0.0/16", {"env": "prod"}), Server("web", rc.ref(Network, "core"), "small", "hunter2")]
    )
    return rc.plan(desired, rc.State([]))


def mixed_plan() -> rc.Plan:
    actual = rc.State([Plain("gone"), Twin("t", size=1), Plain("p", refs=(rc.ref(Twin, "t"),)), Plain("same")])
    desired = rc.State([Twin("t", ver=1), Plain("p", size=2, refs=(rc.ref(Twin, "t"),)), Plain("same"), Plain("new")])
    return rc.plan(desired, actual)


def test_text_lists_changes_in_apply_order_with_markers() -> None:
    assert rc.render(mixed_plan()) == (
        "Plan: 1 to create, 1 to update, 1 to replace, 1 to delete, 1 unchanged.\n"
        "\n"
        "+/- twin/t  (replace: ver forces replacement; create before delete)\n"
        "      ver: 0 -> 1  # forces replacement\n"
        "      size: 1 -> 0\n"
        "+ plain/new\n"
        "      ver: 0\n"
        "      size: 0\n"
        "      refs: ()\n"
        "      uid: (known after apply)\n"
        "- plain/gone\n"
        "~ plain/p\n"
        "      size: 0 -> 2\n"
        "      refs: (ref('twin/t'),)  # target replaced: twin/t\n"
    )


def test_text_of_an_empty_plan_says_nothing_changes() -> None:
    plan = rc.plan(rc.State([Plain("a")]), rc.State([Plain("a")]))
    assert rc.render(plan) == (
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 1 unchanged.\n"
        "No changes: the actual state matches the desired state.\n"
    )


def test_json_is_a_documented_stable_document() -> None:
    plan = first_plan()
    text = rc.render(plan, format="json")
    assert text == rc.render(plan, "json")
    doc = json.loads(text)
    assert list(doc) == ["format_version", "summary", "reads", "changes", "deferred", "steps"]
    assert doc["format_version"] == 1
    assert list(doc["summary"].items()) == [
        ("create", 2),
        ("update", 0),
        ("replace", 0),
        ("delete", 0),
        ("noop", 0),
        ("deferred", 0),
        ("adopt", 0),
        ("read", 0),
    ]
    server = doc["changes"][1]
    assert server["address"] == "server/web" and server["kind"] == "server" and server["action"] == "create"
    fields = {f["name"]: f for f in server["fields"]}
    assert fields["network"]["after"] == {"ref": "network/core"}
    assert fields["password"] == {
        "name": "password",
        "before": None,
        "after": "(sensitive)",
        "sensitive": True,
        "forces_replacement": False,
        "known_after_apply": False,
    }
    assert fields["server_id"]["known_after_apply"] and fields["server_id"]["after"] is None
    assert doc["steps"] == [
        {"id": 0, "op": "create", "address": "network/core", "action": "create", "after": []},
        {"id": 1, "op": "create", "address": "server/web", "action": "create", "after": [0]},
    ]


def test_json_describes_replacements_updates_and_deletes() -> None:
    doc = json.loads(rc.render(mixed_plan(), format="json"))
    by_address = {c["address"]: c for c in doc["changes"]}
    twin = by_address["twin/t"]
    assert twin["action"] == "replace" and twin["create_before_delete"] and twin["forced_by"] is None
    assert twin["replace_fields"] == ["ver"]
    assert [(f["name"], f["before"], f["after"], f["forces_replacement"]) for f in twin["fields"]] == [
        ("ver", 0, 1, True),
        ("size", 1, 0, False),
    ]
    assert by_address["plain/p"]["replaced_refs"] == ["twin/t"]
    gone = {f["name"]: (f["before"], f["after"]) for f in by_address["plain/gone"]["fields"]}
    assert gone == {"ver": (0, None), "size": (0, None), "refs": ([], None), "uid": (None, None)}
    ops = [(s["op"], s["address"]) for s in doc["steps"]]
    assert ops.index(("create", "twin/t")) < ops.index(("update", "plain/p")) < ops.index(("delete", "twin/t"))


def node_labels(dot: str) -> dict[str, str]:
    return dict(re.findall(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M))


def test_dot_has_a_node_per_step_and_an_edge_per_ordering() -> None:
    plan = mixed_plan()
    dot = rc.render(plan, format="dot")
    assert dot.startswith("digraph plan {\n") and dot.endswith("}\n")
    labels = node_labels(dot)
    assert sorted(labels.values()) == sorted(
        [
            "delete plain/gone",
            "replace twin/t: create new (create before delete)",
            "replace twin/t: delete old (create before delete)",
            "update plain/p",
            "create plain/new",
        ]
    )
    ids = {label: node for node, label in labels.items()}
    edges = set(re.findall(r"^  (\w+) -> (\w+);", dot, re.M))
    assert len(edges) == sum(len(p) for p in plan.predecessors.values())
    assert (ids["replace twin/t: create new (create before delete)"], ids["update plain/p"]) in edges
    assert (ids["update plain/p"], ids["replace twin/t: delete old (create before delete)"]) in edges
    assert re.search(r'label="delete plain/gone", fillcolor="#ffe3e3"', dot)


def test_mermaid_has_the_same_graph_with_a_class_per_action() -> None:
    plan = mixed_plan()
    text = rc.render(plan, format="mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = re.findall(r'^  (s\d+)\["([^"]*)"\]:::(\w+)$', text, re.M)
    assert len(nodes) == len(plan.steps)
    assert ("create plain/new", "create") in [(label, cls) for _n, label, cls in nodes]
    assert len(re.findall(r"^  s\d+ --> s\d+$", text, re.M)) == sum(len(p) for p in plan.predecessors.values())
    classes = {line.split()[1] for line in lines if line.startswith("  classDef")}
    assert classes == {"create", "update", "delete", "replace"}


def test_graph_labels_are_escaped() -> None:
    # The label is the display's form (the backslash escaped as in a repr), then quoted for DOT / Mermaid.
    odd = Plain('we"ird#<name>\\')
    plan = rc.plan(rc.State([odd]), rc.State([]))
    assert 'label="create plain/we\\"ird#<name>\\\\\\\\"' in rc.render(plan, format="dot")
    assert '["create plain/we#quot;ird#35;#lt;name#gt;\\\\"]' in rc.render(plan, format="mermaid")


def test_states_render_as_lists_and_dependency_graphs() -> None:
    state = first_plan().desired
    text = rc.render(state)
    assert text.startswith("State: 2 resources.\n  network/core\n      cidr: '10.0.0.0/16'\n")
    assert "      password: (sensitive)\n" in text
    doc = json.loads(rc.render(state, format="json"))
    assert doc["resources"][1] == {
        "address": "server/web",
        "kind": "server",
        "fields": {
            "network": {"ref": "network/core"},
            "size": "small",
            "password": "(sensitive)",
            "server_id": None,
        },
        "depends_on": ["network/core"],
    }
    dot = rc.render(state, format="dot")
    assert node_labels(dot) == {"r0": "network/core", "r1": "server/web"}
    assert "  r0 -> r1;" in dot  # dependency first, as in State.to_networkx
    assert '  r0["network/core"]:::resource\n  r1["server/web"]:::resource\n  r0 --> r1\n' in rc.render(
        state, format="mermaid"
    )


def test_unknown_formats_and_objects_are_refused() -> None:
    with pytest.raises(rc.RenderError, match="unknown render format 'yaml'; use one of: text, json, dot, mermaid"):
        rc.render(first_plan(), format="yaml")
    with pytest.raises(rc.RenderError, match="render\\(\\) takes a Plan or a State, got list"):
        rc.render([], format="text")  # type: ignore[arg-type]


@given(worlds())
def test_every_format_describes_every_step(states: tuple[rc.State, rc.State]) -> None:
    """JSON, DOT and Mermaid each show one node per step and one edge per ordering, in a topological order."""
    plan = rc.plan(*states)
    doc = json.loads(rc.render(plan, format="json"))
    assert [(s["op"], s["address"]) for s in doc["steps"]] == [(s.op.value, str(s.address)) for s in plan.steps]
    assert all(p < s["id"] for s in doc["steps"] for p in s["after"])
    assert len(doc["changes"]) == len(plan.changes)
    edges = sum(len(p) for p in plan.predecessors.values())
    dot = rc.render(plan, format="dot")
    assert len(node_labels(dot)) == len(plan.steps) and dot.count(" -> ") == edges
    assert rc.render(plan, format="mermaid").count(" --> ") == edges
    assert rc.render(plan).count("\n") >= len(plan.changes)
