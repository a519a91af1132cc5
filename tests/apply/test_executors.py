"""The behaviour every executor shares: order, failures, retries, limits, fail_fast, cancellation, events."""

from __future__ import annotations

import threading

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile import Action, EventKind, Step, StepStatus
from tests.support.executors import EXECUTORS, Kit, objects, wait
from tests.support.models import Leaf, Node

FAST_RETRY = rc.RetryPolicy(max_attempts=3, backoff=0.001, seed=7)


@pytest.fixture(params=EXECUTORS)
def kit(request: pytest.FixtureRequest):
    k = Kit(request.param)
    yield k
    k.close()


def node(name: str, *parents: str, value: int = 0) -> Node:
    return Node(name, value, parents=tuple(rc.ref(Node, p) for p in parents))


def create(address: str) -> Step:
    return Step(address, Action.CREATE)


def descendants(plan: rc.Plan, step: Step) -> set[Step]:
    return set(nx.descendants(plan.to_networkx(), step))


def assert_order_respected(plan: rc.Plan, kit: Kit) -> None:
    """Every step entered its provider only after every step it runs after had returned."""
    probe = kit.probe
    for step, preds in plan.predecessors.items():
        for entered in probe.entered.get(step, ()):
            for p in preds:
                assert p in probe.returned, f"{step} ran although {p} never returned"
                assert probe.returned[p] < entered, f"{step} started before {p} returned"


def diamond_plan(kit: Kit):
    world = kit.world(Node, Leaf)
    desired = rc.State(
        [
            node("a"),
            node("b", "a"),
            node("c", "a"),
            node("d", "b", "c"),
            node("e"),
            node("f", "e"),
            Leaf("l1", rc.ref(Node, "d")),
            Leaf("l2", rc.ref(Node, "f")),
            Leaf("l3", rc.ref(Node, "a")),
        ]
    )
    return world, desired, rc.plan(desired, rc.State())


def test_steps_run_after_their_dependencies_and_reach_the_desired_state(kit: Kit):
    world, desired, plan = diamond_plan(kit)
    result = rc.apply(plan, world, executor=kit.executor())
    assert result.ok, result.errors
    assert_order_respected(plan, kit)
    assert set(objects(world)) == set(desired.addresses)
    assert result.state.addresses == objects(world).keys()
    assert rc.plan(desired, result.state).is_empty
    assert not kit.probe.same_address_overlap


def test_update_and_delete_steps_run_in_dependency_order(kit: Kit):
    actual = [node("a", value=1), node("b", "a"), node("c", "b"), node("gone", "a")]
    world = kit.world(Node, initial=actual)
    desired = rc.State([node("a", value=2), node("b", "a", value=5), node("c", "b")])
    plan = rc.plan(desired, rc.State(actual))
    result = rc.apply(plan, world, executor=kit.executor())
    assert result.ok, result.errors
    assert_order_respected(plan, kit)
    assert {str(a) for a in objects(world)} == {"node/a", "node/b", "node/c"}
    assert objects(world)[rc.Address("node", "b")].value == 5


def test_replacements_both_ways_end_with_the_desired_world(kit: Kit):
    first = rc.Lifecycle(create_before_delete=True)
    actual = [node("a"), node("b", "a"), Node("c", lifecycle=first), node("d", "c")]
    world = kit.world(Node, initial=actual)
    desired = rc.State([Node("a", shape="b"), node("b", "a"), Node("c", shape="b", lifecycle=first), node("d", "c")])
    plan = rc.plan(desired, rc.State(actual))
    assert plan.change("node/a").action is plan.change("node/c").action is Action.REPLACE
    assert plan.change("node/c").create_before_delete and not plan.change("node/a").create_before_delete
    result = rc.apply(plan, world, executor=kit.executor())
    assert result.ok, result.errors
    assert_order_respected(plan, kit)
    assert not kit.probe.same_address_overlap
    assert set(result.replaced) == {rc.Address("node", "a"), rc.Address("node", "c")} and result.deposed == {}
    assert {a: o.shape for a, o in objects(world).items()} == {a: o.shape for a, o in desired.items()}
    assert rc.plan(desired, result.state).is_empty


def test_a_failure_skips_exactly_its_descendants_and_independent_steps_go_on(kit: Kit):
    world, _desired, plan = diamond_plan(kit)
    kit.probe.script("node/b", RuntimeError("b is broken"))
    result = rc.apply(plan, world, executor=kit.executor(), listeners=[kit.probe.listener])
    failed = create("node/b")
    assert result.failed == (failed,)
    assert str(result.errors[failed]) == "b is broken"
    assert set(result.skipped) == descendants(plan, failed) == {create("node/d"), create("leaf/l1")}
    assert all(result.outcomes[s].cause == failed for s in result.skipped)
    assert set(result.succeeded) == set(plan.steps) - {failed} - descendants(plan, failed)
    assert rc.Address("node", "d") not in objects(world)
    assert kit.probe.kinds_of(create("node/d")) == [EventKind.SKIPPED]
    assert_order_respected(plan, kit)


def test_transient_errors_are_retried_until_the_step_succeeds(kit: Kit):
    world, _desired, plan = diamond_plan(kit)
    kit.probe.script("node/c", rc.TransientError("busy"), rc.TransientError("still busy"))
    result = rc.apply(plan, world, executor=kit.executor(), listeners=[kit.probe.listener], retry=FAST_RETRY)
    assert result.ok, result.errors
    step = create("node/c")
    assert result.outcomes[step].attempts == 3
    assert kit.probe.attempts_seen[step] == [1, 2, 3]
    retrying = [e for _t, e in kit.probe.events if e.kind is EventKind.RETRYING]
    assert [(e.step, e.attempt, str(e.error)) for e in retrying] == [(step, 1, "busy"), (step, 2, "still busy")]
    assert all(0 <= e.delay <= 0.002 for e in retrying)
    assert kit.probe.kinds_of(step) == [
        EventKind.QUEUED,
        EventKind.STARTED,
        EventKind.RETRYING,
        EventKind.STARTED,
        EventKind.RETRYING,
        EventKind.STARTED,
        EventKind.SUCCEEDED,
    ]
    assert_order_respected(plan, kit)


def test_exhausted_retries_fail_the_step_with_the_last_transient_error(kit: Kit):
    world, _desired, plan = diamond_plan(kit)
    kit.probe.script("node/e", *(rc.TransientError(f"busy {i}") for i in range(5)))
    result = rc.apply(plan, world, executor=kit.executor(), retry=FAST_RETRY)
    step = create("node/e")
    assert result.failed == (step,)
    error = result.errors[step]
    assert isinstance(error, rc.TransientError) and str(error) == "busy 2"
    assert result.outcomes[step].attempts == 3 == len(kit.probe.entered[step])
    assert set(result.skipped) == descendants(plan, step)


def test_retry_after_from_the_provider_sets_the_delay(kit: Kit):
    world, _desired, plan = diamond_plan(kit)
    kit.probe.script("leaf/l3", rc.TransientError("slow down", retry_after=0.003))
    result = rc.apply(plan, world, executor=kit.executor(), listeners=[kit.probe.listener])
    assert result.ok
    (retry,) = [e for _t, e in kit.probe.events if e.kind is EventKind.RETRYING]
    assert retry.delay == 0.003 and retry.step == create("leaf/l3")


def test_the_per_kind_limit_is_never_exceeded_and_is_reached(kit: Kit):
    """With one worker more than the leaf limit, the spare worker must pass over the parked leaves.

    Leaf calls hold until the lower-priority `witness` step has started (and as
    many leaves as the limit are in flight): an executor that let one leaf too
    many start would fill every worker with held leaves, never start `witness`,
    and fail here. Later leaves pair up the same way, so the limit is reached.
    """
    limit, leaves = 2, 12
    world = kit.world(Node, Leaf, initial=[node("root")])
    actual = rc.State([node("root")])
    # Every step has a chain of one; plan order puts the leaves first, so they have priority.
    desired = actual.with_resources(*(Leaf(f"l{i}", rc.ref(Node, "root")) for i in range(leaves)), node("witness"))
    plan = rc.plan(desired, actual)
    assert plan.steps[-1] == create("node/witness")
    gate = threading.Condition()
    entered = [0]
    witness_started = [not kit.concurrent]
    expected = limit if kit.concurrent else 1

    def hold(ctx: rc.Context) -> None:
        with gate:
            entered[0] += 1
            gate.notify_all()
            ok = gate.wait_for(
                lambda: entered[0] == leaves or (witness_started[0] and kit.probe.running["leaf"] >= expected),
                timeout=10,
            )
            assert ok, "the witness never started: too many leaves were let in, or the limit was never reached"

    def witness(ctx: rc.Context) -> None:
        with gate:
            witness_started[0] = True
            gate.notify_all()

    for i in range(leaves):
        kit.probe.hook(f"leaf/l{i}", hold)
    kit.probe.hook("node/witness", witness)
    result = rc.apply(plan, world, executor=kit.executor(max_workers=limit + 1, limits={"leaf": limit}))
    assert result.ok, result.errors
    assert kit.probe.max_running["leaf"] == expected
    assert kit.probe.max_total <= limit + 1


def test_fail_fast_starts_nothing_after_the_first_failure(kit: Kit):
    """The failing step has the longest chain, so it starts first; others hold until it has failed."""
    world = kit.world(Node)
    others = [node(f"o{i}") for i in range(12)]
    desired = rc.State([node("bad"), node("child", "bad"), *others])
    plan = rc.plan(desired, rc.State())
    failed = threading.Event()
    kit.probe.script("node/bad", RuntimeError("boom"))
    for o in others:
        kit.probe.hook(str(rc.address_of(o)), lambda ctx: wait(failed, "the failure"))

    def listener(event: rc.StepEvent) -> None:
        kit.probe.listener(event)
        if event.kind is EventKind.FAILED:
            failed.set()

    result = rc.apply(plan, world, executor=kit.executor(), listeners=[listener], fail_fast=True)
    bad = create("node/bad")
    assert result.failed == (bad,)
    assert result.skipped == (create("node/child"),)
    failed_at = kit.probe.event_ticks(EventKind.FAILED)[bad][0]
    started = kit.probe.event_ticks(EventKind.STARTED)
    assert all(t < failed_at for ticks in started.values() for t in ticks), "a step started after the failure"
    assert set(result.succeeded) == set(kit.probe.returned) == set(started) - {bad}
    assert set(result.cancelled) == set(plan.steps) - set(started) - {create("node/child")}
    assert len(result.cancelled) >= 12 - 3
    assert not result.interrupted and not result.ok


def test_keyboard_interrupt_in_a_step_cancels_what_did_not_end(kit: Kit):
    """Ctrl-C lands in one provider call: nothing new starts, running steps end, the rest is CANCELLED."""
    world = kit.world(Node)
    others = [node(f"o{i}") for i in range(12)]
    desired = rc.State([node("hit"), node("child", "hit"), *others])
    plan = rc.plan(desired, rc.State())
    stopped = threading.Event()
    kit.probe.script("node/hit", KeyboardInterrupt())
    for o in others:
        kit.probe.hook(str(rc.address_of(o)), lambda ctx: wait(stopped, "the stop"))

    def listener(event: rc.StepEvent) -> None:
        kit.probe.listener(event)
        if event.kind is EventKind.CANCELLED:
            stopped.set()

    result = rc.apply(plan, world, executor=kit.executor(), listeners=[listener])
    hit = create("node/hit")
    assert result.interrupted and not result.ok
    assert result.outcomes[hit].status is StepStatus.CANCELLED
    assert result.outcomes[create("node/child")].status is StepStatus.CANCELLED
    assert set(result.outcomes) == set(plan.steps)
    # No step is reported succeeded unless its provider call returned.
    assert set(result.succeeded) <= set(kit.probe.returned)
    assert set(result.succeeded) | set(result.cancelled) == set(plan.steps)
    first_cancel = min(t for ticks in kit.probe.event_ticks(EventKind.CANCELLED).values() for t in ticks)
    started = kit.probe.event_ticks(EventKind.STARTED)
    assert all(t < first_cancel for ticks in started.values() for t in ticks), "a step started after the stop"
    assert len(result.cancelled) >= 12 - 3
    assert "interrupted" in repr(result)


def test_events_are_well_ordered_around_each_provider_call(kit: Kit):
    world, _desired, plan = diamond_plan(kit)
    kit.probe.script("node/a", rc.TransientError("once"))
    result = rc.apply(plan, world, executor=kit.executor(), listeners=[kit.probe.listener], retry=FAST_RETRY)
    assert result.ok
    probe = kit.probe
    started, succeeded = probe.event_ticks(EventKind.STARTED), probe.event_ticks(EventKind.SUCCEEDED)
    queued = probe.event_ticks(EventKind.QUEUED)
    for step in plan.steps:
        # STARTED strictly before each provider call, SUCCEEDED strictly after the last one returned.
        assert [s < e for s, e in zip(started[step], probe.entered[step], strict=True)] == [True] * len(started[step])
        assert probe.returned[step] < succeeded[step][0]
        assert queued[step][0] < started[step][0]
        finals = [k for k in probe.kinds_of(step) if k.is_final]
        assert finals == [EventKind.SUCCEEDED]
        # A step starts only after the SUCCEEDED event of everything it runs after.
        for p in plan.predecessors.get(step, ()):
            assert succeeded[p][0] < queued[step][0]
    by_step = {e.step: e for _t, e in probe.events if e.kind is EventKind.SUCCEEDED}
    assert by_step[create("node/a")].value == result.state["node/a"]
    assert by_step[create("node/a")].attempt == 2


def test_a_crash_propagates_after_running_steps_end(kit: Kit):
    """A BaseException that is not KeyboardInterrupt escapes apply like a process crash."""

    class Crash(BaseException):
        pass

    world = kit.world(Node)
    desired = rc.State([node("boom"), node("after", "boom"), node("slow")])
    plan = rc.plan(desired, rc.State())
    crashed, slow_started = threading.Event(), threading.Event()

    def crash(ctx: rc.Context) -> None:
        if kit.concurrent:
            wait(slow_started, "the slow step to start")
        crashed.set()
        raise Crash("power cut")

    def slow(ctx: rc.Context) -> None:
        slow_started.set()
        wait(crashed, "the crash")

    kit.probe.hook("node/boom", crash)
    if kit.concurrent:
        kit.probe.hook("node/slow", slow)
    with pytest.raises(Crash, match="power cut"):
        rc.apply(plan, world, executor=kit.executor())
    assert create("node/after") not in kit.probe.entered
    if kit.concurrent:
        # The step that was running when the crash happened ended before apply raised.
        assert create("node/slow") in kit.probe.returned
        assert kit.probe.running_total == 0


def test_a_listener_error_stops_the_apply_and_propagates(kit: Kit):
    world, _desired, plan = diamond_plan(kit)

    def fussy(event: rc.StepEvent) -> None:
        if event.kind is EventKind.STARTED and event.address == rc.Address("node", "b"):
            raise OSError("journal disk full")

    with pytest.raises(OSError, match="journal disk full"):
        rc.apply(plan, world, executor=kit.executor(), listeners=[fussy])
    assert create("node/b") not in kit.probe.entered, "the provider ran although STARTED could not be recorded"
    assert create("node/d") not in kit.probe.entered
    assert kit.probe.running_total == 0


@given(st.data())
def test_random_dags_run_in_dependency_order_and_failures_skip_exactly_their_descendants(data: st.DataObject):
    """Invariant: on any DAG, with any executor, no step starts before a step it runs after has returned;
    the steps that fail are the failing ones with no failing ancestor, exactly their descendants are
    skipped, and every other step succeeds."""
    name = data.draw(st.sampled_from(EXECUTORS))
    n = data.draw(st.integers(1, 14))
    nodes = [
        node(f"n{i}", *sorted({f"n{j}" for j in data.draw(st.lists(st.integers(0, i - 1), max_size=3))} if i else ()))
        for i in range(n)
    ]
    failing = {create(f"node/n{i}") for i in data.draw(st.sets(st.integers(0, n - 1), max_size=3))}
    kit = Kit(name)
    try:
        world = kit.world(Node)
        desired = rc.State(nodes)
        plan = rc.plan(desired, rc.State())
        for step in failing:
            kit.probe.script(str(step.address), RuntimeError(f"{step} broke"))
        result = rc.apply(plan, world, executor=kit.executor(max_workers=3))
        graph = plan.to_networkx()
        failed = {f for f in failing if not nx.ancestors(graph, f) & failing}
        skipped = set().union(*(descendants(plan, f) for f in failed))
        assert set(result.failed) == failed
        assert set(result.skipped) == skipped
        assert set(result.succeeded) == set(plan.steps) - failed - skipped
        assert_order_respected(plan, kit)
        assert set(objects(world)) == {s.address for s in result.succeeded}
    finally:
        kit.close()


def test_an_empty_plan_applies_to_an_empty_result(kit: Kit):
    result = rc.apply(rc.plan(rc.State(), rc.State()), kit.world(Node), executor=kit.executor())
    assert result.ok and result.outcomes == {} and len(result.state) == 0


@pytest.mark.parametrize("name", ["serial", "threads", "async", "futures"])
def test_injected_transient_faults_are_retried_to_the_desired_world(name: str):
    from reconcile.testing import FaultInjector, in_memory_world

    kit = Kit(name)
    # The injector's own transient errors are TransientErrors: retried with no adapter.
    injector = FaultInjector(seed=3, transient_rate=0.3)
    world = injector.wrap_all(in_memory_world(Node))
    desired = rc.State([node(f"n{i}", *([f"n{i - 1}"] if i % 3 else [])) for i in range(20)])
    retry = rc.RetryPolicy(max_attempts=20, backoff=0.0001, seed=1)
    result = rc.apply(rc.plan(desired, rc.State()), world, executor=kit.executor(), retry=retry)
    kit.close()
    assert result.ok, result.errors
    assert injector.faults("transient"), "the injector injected nothing, so nothing was retried"
    assert sum(o.attempts for o in result.outcomes.values()) == 20 + len(injector.faults("transient"))
    assert rc.plan(desired, rc.observe(world)).is_empty


@pytest.mark.parametrize("name", ["serial", "threads", "async", "futures"])
def test_an_injected_crash_escapes_apply(name: str):
    from reconcile.testing import FaultInjector, SimulatedCrash, in_memory_world

    kit = Kit(name)
    injector = FaultInjector(crash_after=4)
    world = injector.wrap_all(in_memory_world(Node))
    desired = rc.State([node(f"n{i}") for i in range(12)])
    with pytest.raises(SimulatedCrash):
        rc.apply(rc.plan(desired, rc.State()), world, executor=kit.executor())
    kit.close()
    assert injector.crashed
