"""Delete order from ``last_applied``: edges the world does not report (``depends_on``) still order deletes."""

from __future__ import annotations

import json
from typing import Any

import attrs
import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import in_memory_world
from tests.planfile.test_format import reseal
from tests.support.delete_order import App, GuardedApps
from tests.support.planner import KINDS as PLANNER_KINDS
from tests.support.planner import Plain, Twin, reachable

A = rc.ref(App, "a")
B_ADDRESS = rc.Address.parse("app/b")
A_ADDRESS = rc.Address.parse("app/a")
DELETE_A = rc.Step(A_ADDRESS, rc.Action.DELETE)
DELETE_B = rc.Step(B_ADDRESS, rc.Action.DELETE)


def applied_world(*, overlap: bool = False) -> tuple[rc.State, dict[str, Any]]:
    """B depends_on A (no ref), both created through ``apply``: the world keeps no ``depends_on``."""
    desired = rc.State([App("a"), App("b", depends_on=[A])])
    world = {"app": GuardedApps({B_ADDRESS: A_ADDRESS}, overlap=overlap)}
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert result.ok
    assert all(not o.depends_on for o in world["app"].objects.values())
    return desired, world


def test_the_world_reports_no_depends_on_edge():
    _, world = applied_world()
    assert rc.observe(world).dependencies(B_ADDRESS) == ()


def test_without_last_applied_the_deletes_of_two_resources_related_by_depends_on_only_are_unordered():
    _, world = applied_world()
    plan = rc.plan(rc.State(), rc.observe(world))
    assert set(plan.steps) == {DELETE_A, DELETE_B}
    assert plan.predecessors.get(DELETE_A, ()) == ()
    assert plan.predecessors.get(DELETE_B, ()) == ()


def test_last_applied_orders_the_delete_of_the_dependent_before_its_dependency():
    last, world = applied_world()
    plan = rc.plan(rc.State(), rc.observe(world), last_applied=last)
    assert plan.steps == (DELETE_B, DELETE_A)
    assert plan.predecessors[DELETE_A] == (DELETE_B,)
    assert list(plan.changes) == [B_ADDRESS, A_ADDRESS]


@pytest.mark.parametrize("executor", [rc.SerialExecutor(), rc.ThreadExecutor(max_workers=4)], ids=repr)
def test_applying_that_plan_deletes_the_dependent_first(executor: rc.Executor):
    last, world = applied_world()
    result = rc.apply(rc.plan(rc.State(), rc.observe(world), last_applied=last), world, executor=executor)
    assert result.ok, result.errors
    assert world["app"].refused == []
    assert world["app"].methods_called("delete") == [B_ADDRESS, A_ADDRESS]
    assert world["app"].objects == {}


def test_a_parallel_executor_without_last_applied_runs_both_deletes_at_once():
    # What the fix is for: the guarded world refuses the delete of A while B exists.
    _, world = applied_world(overlap=True)  # both deletes start before either goes on
    result = rc.apply(rc.plan(rc.State(), rc.observe(world)), world, executor=rc.ThreadExecutor(max_workers=4))
    assert not result.ok
    assert world["app"].refused == [A_ADDRESS]


def test_in_memory_world_gets_the_same_order():
    last = rc.State([App("a"), App("b", depends_on=[A])])
    world = in_memory_world(App)
    assert rc.apply(rc.plan(last, rc.observe(world)), world).ok
    plan = rc.plan(rc.State(), rc.observe(world), last_applied=last)
    assert plan.steps == (DELETE_B, DELETE_A)


def test_a_saved_plan_keeps_the_delete_order_of_the_last_applied_state():
    last, world = applied_world()
    plan = rc.plan(rc.State(), rc.observe(world), last_applied=last)
    assert plan.last_applied_edges == ((B_ADDRESS, A_ADDRESS),)
    text = rc.dumps(plan)
    again = rc.loads(text, [App])
    assert again == plan
    assert again.steps == (DELETE_B, DELETE_A)
    assert again.last_applied_edges == plan.last_applied_edges
    assert rc.dumps(again) == text


def step(address: str, op: rc.Action = rc.Action.DELETE) -> rc.Step:
    return rc.Step(rc.Address.parse(address), op)


def test_an_edge_the_actual_state_has_too_is_not_taken_again():
    # The world reports B's ref to A; last_applied has it as well.
    actual = rc.State([Plain("a", uid="u-1"), Plain("b", refs=(rc.ref(Plain, "a"),), uid="u-2")], allow_dangling=True)
    last = rc.State([Plain("a"), Plain("b", refs=(rc.ref(Plain, "a"),))])
    plan = rc.plan(rc.State(), actual, last_applied=last)
    assert plan.steps == (step("plain/b"), step("plain/a"))
    assert plan.last_applied_edges == ()
    assert plan.overruled_edges == ()


def test_only_edges_between_two_deleted_addresses_order_anything():
    # B depends_on A and C; only B and C go: A stays, so nothing waits for it.
    last = rc.State([Plain("a"), Plain("c"), Plain("b", depends_on=[rc.ref(Plain, "a"), rc.ref(Plain, "c")])])
    actual = rc.State([Plain("a", uid="1"), Plain("c", uid="2"), Plain("b", uid="3")], allow_dangling=True)
    plan = rc.plan(rc.State([Plain("a")]), actual, last_applied=last)
    assert plan.last_applied_edges == ((rc.Address.parse("plain/b"), rc.Address.parse("plain/c")),)
    assert plan.predecessors[step("plain/c")] == (step("plain/b"),)
    assert step("plain/a") not in plan.steps


def test_a_replaced_dependency_is_deleted_after_its_deleted_dependent():
    last = rc.State([Plain("a"), Plain("b", depends_on=[rc.ref(Plain, "a")])])
    actual = rc.State([Plain("a", uid="1"), Plain("b", uid="2")], allow_dangling=True)
    plan = rc.plan(rc.State([Plain("a", ver=1)]), actual, last_applied=last)
    assert plan.changes[rc.Address.parse("plain/a")].action is rc.Action.REPLACE
    assert plan.steps == (step("plain/b"), step("plain/a"), step("plain/a", rc.Action.CREATE))


def test_create_before_delete_is_forced_along_last_applied_edges_too():
    # Old B (create-before-delete) depended on A only by depends_on: its delete
    # comes after new B, which needs new A; so A must create first as well.
    last = rc.State([Plain("a"), Twin("b", depends_on=[rc.ref(Plain, "a")])])
    actual = rc.State([Plain("a", uid="1"), Twin("b", uid="2")], allow_dangling=True)
    desired = rc.State([Plain("a", ver=1), Twin("b", ver=1, depends_on=[rc.ref(Plain, "a")])])
    plan = rc.plan(desired, actual, last_applied=last)
    a = plan.changes[rc.Address.parse("plain/a")]
    assert a.create_before_delete
    assert a.forced_by == rc.Address.parse("twin/b")
    position = {s: i for i, s in enumerate(plan.steps)}
    assert position[step("twin/b")] < position[step("plain/a")]
    assert position[step("plain/a", rc.Action.CREATE)] < position[step("twin/b", rc.Action.CREATE)]


def test_a_last_applied_edge_against_the_worlds_own_is_overruled_and_the_world_orders():
    # The world says A refs B (so A goes first); the last applied state had B depends_on A.
    actual = rc.State([Plain("a", refs=(rc.ref(Plain, "b"),), uid="1"), Plain("b", uid="2")], allow_dangling=True)
    last = rc.State([Plain("a"), Plain("b", depends_on=[rc.ref(Plain, "a")])])
    plan = rc.plan(rc.State(), actual, last_applied=last)
    assert plan.steps == (step("plain/a"), step("plain/b"))
    assert plan.last_applied_edges == ()
    assert plan.overruled_edges == ((rc.Address.parse("plain/b"), rc.Address.parse("plain/a")),)


def test_edges_that_close_a_cycle_only_together_are_all_overruled_and_the_others_kept():
    # Last applied: X depends_on Y, Y depends_on Z, W depends_on X. The world: Z refs X.
    # X -> Y -> Z -> X is a cycle only with both last-applied edges: both give way; W -> X stays.
    z = rc.ref(Plain, "z")
    last = rc.State(
        [
            Plain("z"),
            Plain("y", depends_on=[z]),
            Plain("x", depends_on=[rc.ref(Plain, "y")]),
            Plain("w", depends_on=[rc.ref(Plain, "x")]),
        ]
    )
    actual = rc.State(
        [Plain("x", uid="1"), Plain("y", uid="2"), Plain("z", refs=(rc.ref(Plain, "x"),), uid="3"), Plain("w")],
        allow_dangling=True,
    )
    plan = rc.plan(rc.State(), actual, last_applied=last)
    address = rc.Address.parse
    assert set(plan.overruled_edges) == {
        (address("plain/y"), address("plain/z")),
        (address("plain/x"), address("plain/y")),
    }
    assert plan.last_applied_edges == ((address("plain/w"), address("plain/x")),)
    position = {s: i for i, s in enumerate(plan.steps)}
    assert position[step("plain/z")] < position[step("plain/x")]  # the world's edge
    assert position[step("plain/w")] < position[step("plain/x")]  # the last applied edge kept


def test_a_plan_file_whose_last_applied_edges_were_edited_is_refused():
    last, world = applied_world()
    doc = json.loads(rc.dumps(rc.plan(rc.State(), rc.observe(world), last_applied=last)))
    doc["last_applied_edges"] = [["app/a", "app/b"]]
    with pytest.raises(rc.PlanFileError, match="plan file"):
        rc.loads(reseal(doc), [App])
    doc["last_applied_edges"] = [["app/b", "app/b"]]
    with pytest.raises(rc.PlanFileError, match="last_applied_edges"):
        rc.loads(reseal(doc), [App])


@st.composite
def removals(draw: st.DrawFn, world_agrees: bool = True) -> tuple[rc.State, rc.State, rc.State]:
    """``(last_applied, actual, desired)`` over the planner's test kinds (both replacement orders).

    The last applied state has random refs and ``depends_on`` edges (each to an
    earlier resource); the world holds its objects without ``depends_on``, with
    the same refs or (``world_agrees=False``) refs of a DAG of its own, in
    another order; the desired state removes some, replaces some, keeps the rest.
    """
    n = draw(st.integers(2, 8))
    kinds = [draw(st.sampled_from(PLANNER_KINDS)) for _ in range(n)]
    names = [f"r{i}" for i in range(n)]

    def earlier(i: int, most: int) -> st.SearchStrategy[set[int]]:
        return st.sets(st.integers(0, i - 1), max_size=most) if i else st.just(set())

    refs = [draw(earlier(i, 2)) for i in range(n)]
    deps = [draw(earlier(i, 3)) for i in range(n)]
    fate = [draw(st.sampled_from(("keep", "delete", "delete", "replace"))) for _ in range(n)]

    def ref(j: int) -> rc.Ref[Any]:
        return rc.ref(kinds[j], names[j])

    last = rc.State(
        [
            k(names[i], 0, 0, tuple(map(ref, sorted(refs[i]))), depends_on=[ref(j) for j in deps[i]])
            for i, k in enumerate(kinds)
        ]
    )
    if world_agrees:
        world_refs = refs
    else:
        order = draw(st.permutations(range(n)))
        rank = {v: r for r, v in enumerate(order)}
        world_refs = [
            {j for j in draw(st.sets(st.integers(0, n - 1), max_size=2)) if rank[j] < rank[i]} for i in range(n)
        ]
    found = []
    for i, k in enumerate(kinds):
        extra = {"uid": f"old-{names[i]}"} if "uid" in attrs.fields_dict(k) else {}
        found.append(k(names[i], 0, 0, tuple(map(ref, sorted(world_refs[i]))), **extra))
    actual = rc.State(found, allow_dangling=True)
    stays = {i for i in range(n) if fate[i] != "delete"}
    desired = rc.State(
        [
            k(
                names[i],
                1 if fate[i] == "replace" else 0,
                0,
                tuple(ref(j) for j in sorted(refs[i]) if j in stays),
                depends_on=[ref(j) for j in deps[i] if j in stays],
            )
            for i, k in enumerate(kinds)
            if i in stays
        ]
    )
    return last, actual, desired


def deleted_pairs(plan: rc.Plan, last: rc.State) -> list[tuple[rc.Step, rc.Step]]:
    """``(delete of dependent, delete of dependency)`` for each edge of ``last`` whose both ends the plan deletes."""
    steps = set(plan.steps)
    out = []
    for b in last.addresses:
        for a in last.dependencies(b):
            pair = (rc.Step(b, rc.Action.DELETE), rc.Step(a, rc.Action.DELETE))
            if pair[0] in steps and pair[1] in steps:
                out.append(pair)
    return out


@given(removals())
def test_with_last_applied_every_dependent_is_deleted_before_its_dependency(states: tuple[rc.State, ...]) -> None:
    """For random refs and depends_on edges and random removals and replacements, with last_applied given, the
    delete of a dependent (by the last applied state's edges) comes before the delete of its dependency, in the
    plan's step order and in its step DAG (so a parallel executor keeps it too)."""
    last, actual, desired = states
    plan = rc.plan(desired, actual, last_applied=last)
    before = reachable(plan)
    position = {s: i for i, s in enumerate(plan.steps)}
    for dependent, dependency in deleted_pairs(plan, last):
        assert dependent in before[dependency], f"{dependency} may run before {dependent}"
        assert position[dependent] < position[dependency]
    assert plan.overruled_edges == ()


@given(removals(world_agrees=False))
def test_last_applied_edges_are_overruled_exactly_when_they_close_a_cycle_with_the_worlds(
    states: tuple[rc.State, ...],
) -> None:
    """Whatever the world's own refs, plan() with last_applied succeeds with an acyclic step DAG; an edge of the
    last applied state between two deleted addresses orders their deletes unless the actual state's edges, with
    the other such edges, lead back from its dependency to its dependent: then it is listed in overruled_edges."""
    last, actual, desired = states
    plan = rc.plan(desired, actual, last_applied=last)
    before = reachable(plan)
    taken = [
        (d.address, p.address) for d, p in deleted_pairs(plan, last) if p.address not in actual.dependencies(d.address)
    ]
    graph = actual.to_networkx().reverse(copy=True)  # edge dependent -> dependency
    graph.add_nodes_from(a for pair in taken for a in pair)
    graph.add_edges_from(taken)
    for dependent, dependency in taken:
        pair = (dependent, dependency)
        if nx.has_path(graph, dependency, dependent):
            assert pair in plan.overruled_edges
        else:
            assert pair in plan.last_applied_edges
            assert rc.Step(dependent, rc.Action.DELETE) in before[rc.Step(dependency, rc.Action.DELETE)]
    assert len(plan.overruled_edges) + len(plan.last_applied_edges) == len(taken)
