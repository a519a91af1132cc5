"""Protection (rule 6) and change budgets: plans that destroy too much are refused, with every offender named."""

from __future__ import annotations

import pytest

import reconcile as rc
from tests.support.planner import Plain


@rc.resource(kind="db", protect=True)
class Database:
    name: str = rc.identity()
    engine: str = rc.spec(replace_on_change=True)
    size: int = rc.spec(default=1)


@rc.resource(kind="app")
class App:
    name: str = rc.identity()
    db: rc.Ref[Database] = rc.spec(replace_on_change=True)


def test_deleting_and_replacing_protected_resources_fails_with_every_violation() -> None:
    actual = rc.State([Database("main", "pg"), Database("old", "pg"), Database("logs", "pg")])
    desired = rc.State([Database("main", "mysql"), Database("logs", "pg", size=2)])
    with pytest.raises(rc.ProtectedResourceError) as info:
        rc.plan(desired, actual)
    err = info.value
    assert err.addresses == (rc.Address("db", "main"), rc.Address("db", "old"))
    assert [(str(a), action) for a, action, _why in err.violations] == [
        ("db/main", rc.Action.REPLACE),
        ("db/old", rc.Action.DELETE),
    ]
    message = str(err)
    assert "2 protected resources" in message
    assert "db/main: replace (engine forces replacement)" in message
    assert "db/old: delete (not in the desired state)" in message
    assert "db/logs" not in message  # an update of a protected resource is fine


def test_a_replacement_forced_by_a_replaced_ref_names_the_ref_target() -> None:
    actual = rc.State([App("a", rc.ref(Database, "d")), Database("d", "pg")])
    desired = rc.State([App("a", rc.ref(Database, "d"), lifecycle=rc.Lifecycle(protect=True)), Database("d", "pg2")])
    with pytest.raises(rc.ProtectedResourceError) as info:
        rc.plan(desired, actual)
    # In plan order: app/a is deleted before db/d. db/d is protected by its kind, app/a by its lifecycle.
    assert info.value.addresses == (rc.Address("app", "a"), rc.Address("db", "d"))
    assert "app/a: replace (db refers to replaced db/d)" in str(info.value)


def test_lifecycle_protect_false_overrides_the_kind() -> None:
    actual = rc.State([Database("scratch", "pg")])
    desired = rc.State([Database("scratch", "mysql", lifecycle=rc.Lifecycle(protect=False))])
    assert rc.plan(desired, actual).change("db/scratch").action is rc.Action.REPLACE


def test_an_observed_object_carrying_protect_is_protected_from_deletion() -> None:
    actual = rc.State([Plain("keep", lifecycle=rc.Lifecycle(protect=True))])
    with pytest.raises(rc.ProtectedResourceError, match="plain/keep: delete"):
        rc.plan(rc.State([]), actual)


def test_excluding_a_protected_resource_lets_the_rest_of_the_plan_through() -> None:
    actual = rc.State([Database("old", "pg"), Plain("gone")])
    plan = rc.plan(rc.State([]), actual, exclude=["db/old"])
    assert list(plan.changes) == [rc.Address("plain", "gone")]
    assert list(plan.deferred) == [rc.Address("db", "old")]


def test_max_deletes_counts_deletes_and_replacements() -> None:
    actual = rc.State([Plain("a"), Plain("b"), Plain("c", size=1)])
    desired = rc.State([Plain("b", ver=1), Plain("c", size=2)])
    assert len(rc.plan(desired, actual, max_deletes=2)) == 3
    with pytest.raises(rc.PlanBudgetError) as info:
        rc.plan(desired, actual, max_deletes=1)
    err = info.value
    assert (err.count, err.limit) == (2, 1)
    assert set(err.addresses) == {rc.Address("plain", "a"), rc.Address("plain", "b")}
    assert "plan deletes or replaces 2 resources, more than max_deletes=1" in str(err)
    assert "plain/a (delete)" in str(err) and "plain/b (replace)" in str(err)


def test_max_deletes_lists_the_first_ten_and_counts_the_rest() -> None:
    actual = rc.State([Plain(f"n{i:02}") for i in range(13)])
    with pytest.raises(rc.PlanBudgetError) as info:
        rc.plan(rc.State([]), actual, max_deletes=0)
    message = str(info.value)
    assert info.value.count == 13 and len(info.value.addresses) == 13
    assert message.count("(delete)") == 10
    assert message.endswith("and 3 more")


def test_max_deletes_zero_allows_a_plan_without_deletes() -> None:
    assert len(rc.plan(rc.State([Plain("a")]), rc.State([]), max_deletes=0)) == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_max_deletes_must_be_a_non_negative_int(bad: object) -> None:
    with pytest.raises(rc.PlanOptionError, match="max_deletes must be a non-negative int"):
        rc.plan(rc.State([]), rc.State([]), max_deletes=bad)  # type: ignore[arg-type]


def test_protection_is_checked_before_the_budget() -> None:
    actual = rc.State([Database("main", "pg"), Plain("a"), Plain("b")])
    with pytest.raises(rc.ProtectedResourceError):
        rc.plan(rc.State([]), actual, max_deletes=0)
