"""Ignored fields and nested ignore paths, and computed fields: what never causes a change."""

from __future__ import annotations

import attrs
import pytest

import reconcile as rc


@attrs.frozen
class Limits:
    cpu: int
    memory: int


@rc.resource(kind="vm", ignore=("tags.owner", "limits.cpu", "rules[*].note"))
class Vm:
    name: str = rc.identity()
    size: str = rc.spec(default="small")
    tags: dict[str, str] = rc.spec(factory=dict)
    limits: Limits = rc.spec(factory=lambda: Limits(1, 1))
    rules: list[dict[str, str]] = rc.spec(factory=list)
    notes: str = rc.spec(default="", ignore=True)
    vm_id: str | None = rc.computed()


def plan_one(desired: Vm, actual: Vm) -> rc.Plan:
    return rc.plan(rc.State([desired]), rc.State([actual]))


@pytest.mark.parametrize(
    ("actual", "desired"),
    [
        (Vm("a", tags={"env": "p", "owner": "bob"}), Vm("a", tags={"env": "p", "owner": "eve"})),
        (Vm("a", tags={"env": "p", "owner": "bob"}), Vm("a", tags={"env": "p"})),
        (Vm("a", tags={"env": "p"}), Vm("a", tags={"env": "p", "owner": "eve"})),
        (Vm("a", limits=Limits(8, 1)), Vm("a", limits=Limits(2, 1))),
        (Vm("a", rules=[{"port": "22", "note": "x"}]), Vm("a", rules=[{"port": "22", "note": "y"}])),
        (Vm("a", notes="old"), Vm("a", notes="new")),
        (Vm("a", vm_id="vm-1"), Vm("a")),
    ],
    ids=["changed key", "removed key", "added key", "attrs attribute", "wildcard", "ignored field", "computed"],
)
def test_differences_only_in_ignored_paths_or_computed_fields_are_no_change(actual: Vm, desired: Vm) -> None:
    plan = plan_one(desired, actual)
    assert plan.is_empty and plan.unchanged == 1


@pytest.mark.parametrize(
    ("actual", "desired", "field"),
    [
        (Vm("a", tags={"env": "p", "owner": "bob"}), Vm("a", tags={"env": "q", "owner": "bob"}), "tags"),
        (Vm("a", limits=Limits(8, 1)), Vm("a", limits=Limits(8, 2)), "limits"),
        (Vm("a", rules=[{"port": "22", "note": "x"}]), Vm("a", rules=[{"port": "23", "note": "x"}]), "rules"),
        (Vm("a", rules=[{"port": "22"}]), Vm("a", rules=[{"port": "22"}, {"port": "80"}]), "rules"),
    ],
)
def test_differences_outside_ignored_paths_still_count(actual: Vm, desired: Vm, field: str) -> None:
    assert plan_one(desired, actual).change("vm/a").changed_fields == (field,)


def test_an_update_carries_the_actual_values_of_ignored_paths() -> None:
    actual = Vm("a", "small", {"env": "p", "owner": "bob"}, Limits(8, 1), [{"port": "1", "note": "n"}], "old")
    desired = Vm("a", "large", {"env": "p", "team": "x"}, Limits(2, 1), [{"port": "1"}], "new")
    change = plan_one(desired, actual).change("vm/a")
    assert change.action is rc.Action.UPDATE and change.changed_fields == ("size", "tags")
    assert change.after == Vm(
        "a", "large", {"env": "p", "team": "x", "owner": "bob"}, Limits(8, 1), [{"port": "1", "note": "n"}], "old"
    )
    # Planning again from what the update wrote finds nothing to do.
    assert rc.plan(rc.State([desired]), rc.State([change.after])).is_empty


def test_lifecycle_ignore_adds_paths_for_one_resource() -> None:
    actual = Vm("a", size="small", tags={"env": "p"})
    quiet = Vm("a", size="large", tags={"env": "q"}, lifecycle=rc.Lifecycle(ignore=("size", "tags.env")))
    assert plan_one(quiet, actual).is_empty
    loud = Vm("a", size="large", tags={"env": "q"}, lifecycle=rc.Lifecycle(ignore=["size"]))
    change = plan_one(loud, actual).change("vm/a")
    assert change.changed_fields == ("tags",) and change.after.size == "small"


def test_a_replacement_creates_the_desired_object_as_written() -> None:
    @rc.resource(kind="disk", ignore=("tags.owner",))
    class Disk:
        name: str = rc.identity()
        gb: int = rc.spec(replace_on_change=True)
        tags: dict[str, str] = rc.spec(factory=dict)

    desired = Disk("d", 20, {"env": "p"})
    change = rc.plan(rc.State([desired]), rc.State([Disk("d", 10, {"env": "p", "owner": "bob"})])).change("disk/d")
    assert change.action is rc.Action.REPLACE and change.after is desired


def test_computed_fields_show_as_known_after_apply_on_create() -> None:
    text = rc.render(rc.plan(rc.State([Vm("a")]), rc.State([])))
    assert "      vm_id: (known after apply)" in text


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (("tags..x",), r"ignore: field path 'tags..x': cannot read '..x'"),
        (("nope.x",), r"ignore path 'nope.x' must start with a spec field \(one of: size\)"),
        (("name",), r"ignore path 'name' must start with a spec field"),
    ],
)
def test_bad_kind_ignore_paths_are_definition_errors(paths: tuple[str, ...], message: str) -> None:
    with pytest.raises(rc.ResourceDefinitionError, match=message):

        @rc.resource(kind="bad", ignore=paths)
        class Bad:
            name: str = rc.identity()
            size: str = rc.spec()


def test_bad_lifecycle_ignore_paths_are_lifecycle_errors() -> None:
    with pytest.raises(rc.LifecycleError, match=r"Lifecycle ignore: field path 'tags\[': cannot read '\['"):
        rc.Lifecycle(ignore=("tags[",))
    bad = Vm("a", size="x", lifecycle=rc.Lifecycle(ignore=("vm_id",)))
    with pytest.raises(rc.LifecycleError, match=r"vm/a: lifecycle ignore path 'vm_id' must start with a spec field"):
        plan_one(bad, Vm("a"))
