"""Planner invariants on generated states mixing delete-then-create and create-before-delete kinds."""

from __future__ import annotations

from hypothesis import given

import reconcile as rc
from tests.support.planner import KINDS, log_of, reachable, world, worlds

C, U, D = rc.Action.CREATE, rc.Action.UPDATE, rc.Action.DELETE


@given(worlds())
def test_step_graph_never_has_a_cycle_and_steps_are_in_order(states: tuple[rc.State, rc.State]) -> None:
    """Whatever the mix of kinds and lifecycles, plan() succeeds and its steps are a topological order."""
    desired, actual = states
    plan = rc.plan(desired, actual)
    position = {s: i for i, s in enumerate(plan.steps)}
    assert len(position) == len(plan.steps)
    for step, preds in plan.predecessors.items():
        for p in preds:
            assert position[p] < position[step], f"{step} runs after {p} but comes first"


@given(worlds())
def test_create_before_delete_dependents_move_while_both_objects_exist(states: tuple[rc.State, rc.State]) -> None:
    """For a create-before-delete replacement of A, every dependent with a step is written after new A exists and
    before old A is deleted; the old object is deleted after every old dependent's delete."""
    desired, actual = states
    plan = rc.plan(desired, actual)
    before = reachable(plan)
    for address, change in plan.changes.items():
        if not change.create_before_delete:
            continue
        create, delete = rc.Step(address, C), rc.Step(address, D)
        assert create in before[delete]
        for dependent in desired.dependents(address):
            dep = plan.changes.get(dependent)
            if dep is None or dep.action is D:
                continue
            write = rc.Step(dependent, C if dep.action in (C, rc.Action.REPLACE) else U)
            assert create in before[write], f"{write} may run before {address} exists"
            assert write in before[delete], f"old {address} may be deleted before {write}"
        for dependent in actual.dependents(address):
            if rc.Step(dependent, D) in before:
                assert rc.Step(dependent, D) in before[delete]


@given(worlds())
def test_create_before_delete_is_forced_onto_replaced_dependencies(states: tuple[rc.State, rc.State]) -> None:
    """A replaced resource that the old object of a create-before-delete replacement depends on creates first too."""
    desired, actual = states
    plan = rc.plan(desired, actual)
    for address, change in plan.changes.items():
        if not change.create_before_delete:
            continue
        for dependency in actual.dependencies(address):
            dep = plan.changes.get(dependency)
            if dep is not None and dep.action is rc.Action.REPLACE:
                assert dep.create_before_delete, f"{dependency} is deleted before {address}'s new object exists"
        if change.forced_by is None:
            wanted = change.after.lifecycle.create_before_delete
            assert wanted if wanted is not None else rc.resource_type(change.after).create_before_delete


@given(worlds())
def test_applying_converges_and_respects_the_step_order(states: tuple[rc.State, rc.State]) -> None:
    """Applying the plan to a fake world (names not unique) reaches the desired state: the next plan is empty;
    provider calls happen in an order the step graph allows."""
    desired, actual = states
    providers = world(*KINDS, initial=actual)
    observed = rc.observe(providers)
    plan = rc.plan(desired, observed)
    result = rc.apply(plan, providers)
    assert result.ok, result.errors
    assert not result.deposed
    assert all(not p.deposed for p in providers.values())
    assert rc.plan(desired, rc.observe(providers)).is_empty
    assert rc.plan(desired, result.state).is_empty
    done = [str(s) for s in plan.steps]
    assert log_of(providers) == done
    for address, change in plan.changes.items():
        if change.action is rc.Action.REPLACE:
            assert result.replaced[address] == change.before
