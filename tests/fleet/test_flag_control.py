"""``ControlPlane``'s labels and flags in this process: validation naming the field, audit of every change,
each cell's value and reason; and rollouts that skip cells by label, listing why."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from reconcile.fleet import (
    ArtifactStore,
    BackendFleetStore,
    CellStatus,
    ControlPlane,
    InvalidInputError,
    NotFoundError,
    Release,
    ReleaseComponent,
)
from reconcile.fleet.flags import FlagDefinitionError


@pytest.fixture
def control(tmp_path: pathlib.Path) -> ControlPlane:
    return ControlPlane(
        BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}"),
        ArtifactStore(tmp_path / "a"),
        admin_token="x" * 32,
        clock=lambda: 1_000_000.0,
    )


ON_FOR_ACME: dict[str, Any] = {
    "type": "bool",
    "default": False,
    "description": "usage figures in the workspaces API",
    "rules": [{"name": "acme", "match": {"customer": "acme"}, "value": True}],
}


def test_cells_are_created_with_labels_and_relabelled_with_an_audit(control: ControlPlane) -> None:
    created = control.create_cell({"id": "acme", "stage": "dedicated", "customer": "acme", "labels": {"tier": "gold"}})
    assert created["cell"]["labels"] == {"tier": "gold"}
    changed = control.label_cell("acme", {"set": {"ring": "early"}, "remove": ["tier"]})
    assert changed["cell"]["labels"] == {"ring": "early"}
    assert control.show_cell("acme")["cell"]["labels"] == {"ring": "early"}
    entry = control.audit_log()[-1]
    assert (entry["action"], entry["target"], entry["detail"]) == (
        "cell.labels",
        "acme",
        "ring=early tier-; generation 0",
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"id": "a", "stage": "saas", "labels": {"tier": "gold!"}}, "cell.labels['tier']: label value 'gold!'"),
        ({"id": "a", "stage": "saas", "labels": ["tier"]}, "cell.labels: expected an object"),
    ],
)
def test_bad_labels_at_create_are_refused_naming_the_path(control: ControlPlane, body: Any, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        control.create_cell(body)
    assert words in str(caught.value)
    assert control.list_cells() == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "labels: expected an object"),
        ({"add": {}}, "labels: unknown field 'add'"),
        ({"set": {"bad key": "x"}}, "labels.set['bad key']"),
        ({"remove": "tier"}, "labels.remove: expected a list"),
        ({"remove": ["ok", "bad key"]}, "labels.remove[1]"),
        ({"set": {"tier": "a"}, "remove": ["tier"]}, "both set and removed"),
    ],
)
def test_bad_label_edits_are_refused_and_change_nothing(control: ControlPlane, body: Any, words: str) -> None:
    control.create_cell({"id": "acme", "stage": "dedicated", "labels": {"tier": "gold"}})
    with pytest.raises(InvalidInputError) as caught:
        control.label_cell("acme", body)
    assert words in str(caught.value)
    assert control.show_cell("acme")["cell"]["labels"] == {"tier": "gold"}
    with pytest.raises(NotFoundError):
        control.label_cell("nobody", {"set": {"a": "b"}})


def test_a_flag_is_set_audited_and_shown_per_cell_with_desired_and_reported_values(control: ControlPlane) -> None:
    for cell, customer in (("acme", "acme"), ("globex", "globex")):
        control.create_cell({"id": cell, "stage": "dedicated", "customer": customer})
    stored = control.put_flag("workspace-usage", ON_FOR_ACME)
    assert (stored["revision"], stored["changed"]) == (1, ["acme", "globex"])
    assert stored["flag"]["key"] == "workspace-usage"
    entry = control.audit_log()[-1]
    assert (entry["action"], entry["target"]) == ("flag.set", "workspace-usage")
    assert entry["detail"].startswith("revision 1, 2 cells changed: {") and '"customer":"acme"' in entry["detail"]
    # Another change is audited too, even one that changes no cell's value.
    again = control.put_flag("workspace-usage", {**ON_FOR_ACME, "description": "now documented"})
    assert (again["revision"], again["changed"]) == (2, [])
    assert [e["detail"][:28] for e in control.audit_log() if e["action"] == "flag.set"] == [
        "revision 1, 2 cells changed:",
        "revision 2, 0 cells changed:",
    ]
    control.report_status("acme", CellStatus(1, flags=control.desired("acme").flags).to_json())
    shown = control.show_flag("workspace-usage")
    cells = {c["cell"]: c for c in shown["cells"]}
    assert cells["acme"]["desired"] == {"value": True, "variant": "acme", "reason": "TARGETING_MATCH"}
    assert cells["acme"]["reported"] == cells["acme"]["desired"] and cells["acme"]["observed_generation"] == 1
    assert cells["globex"]["desired"] == {"value": False, "variant": "default", "reason": "DEFAULT"}
    assert cells["globex"]["reported"] is None
    assert [f["flag"]["key"] for f in control.list_flags()] == ["workspace-usage"]
    with pytest.raises(NotFoundError):
        control.show_flag("nope")


@pytest.mark.parametrize(
    ("key", "body", "path"),
    [
        ("Bad Key", ON_FOR_ACME, "flag key"),
        ("workspace-usage", {**ON_FOR_ACME, "key": "other"}, "flag.key"),
        ("workspace-usage", {**ON_FOR_ACME, "default": "off"}, "flag.default"),
        ("workspace-usage", {**ON_FOR_ACME, "rules": [{"match": {"release": "newest"}, "value": True}]}, "flag.rules[0].match.release"),
        ("workspace-usage", "on", "flag"),
    ],
)  # fmt: skip
def test_a_bad_flag_is_refused_naming_the_path_and_nothing_changes(
    control: ControlPlane, key: str, body: Any, path: str
) -> None:
    control.create_cell({"id": "acme", "stage": "dedicated", "customer": "acme"})
    with pytest.raises(FlagDefinitionError) as caught:
        control.put_flag(key, body)
    assert caught.value.path == path
    assert control.list_flags() == [] and control.desired("acme").flags == {}
    assert not [e for e in control.audit_log() if e["action"] == "flag.set"]


def test_a_status_report_keeps_the_flags_the_cell_holds(control: ControlPlane) -> None:
    control.create_cell({"id": "acme", "stage": "dedicated"})
    held = {"workspace-usage": {"value": True, "variant": "acme", "reason": "STALE"}}
    accepted = control.report_status("acme", CellStatus(1, flags=held).to_json())
    assert accepted.flags == held and accepted.reported_at == 1_000_000.0
    with pytest.raises(InvalidInputError, match=r"status\.flags\['x'\]\.reason"):
        control.report_status("acme", {"observed_generation": 1, "flags": {"x": {"value": 1, "reason": "MAYBE"}}})


def test_a_rollout_skips_cells_by_label_and_lists_the_reason(control: ControlPlane) -> None:
    control.store.publish_release(Release("r1", (ReleaseComponent("workspaces", "1.0.0", "a" * 64),), 1.0))
    for cell, labels in (("d1", {"ring": "early"}), ("d2", {"ring": "late"}), ("d3", {"ring": "early", "hold": "yes"})):
        control.create_cell({"id": cell, "stage": "dedicated", "labels": labels})
    rollout = control.rollouts.start_json(
        {
            "release": "r1",
            "stages": [{"name": "dedicated"}],
            "match": {"ring": "early"},
            "exclude_labels": {"hold": "yes"},
        }
    )
    skipped = {e["cell"]: e["reason"] for e in rollout.view(0.0)["stages"][0]["skipped"]}
    assert skipped == {
        "d2": "label ring=early does not match (it has ring=late)",
        "d3": "excluded by label hold=yes",
    }
    assert rollout.cells["d1"].state == "pending"
    with pytest.raises(InvalidInputError, match=r"rollout\.match\['ring'\]"):
        control.rollouts.start_json({"release": "r1", "match": {"ring": "not ok"}, "supersede": True})
