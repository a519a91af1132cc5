"""Scheduling: no level barriers, critical path first, timeouts, options, and real Ctrl-C."""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import reconcile as rc
from reconcile import Action, EventKind, Step, StepStatus
from reconcile.testing import InMemoryProvider
from tests.support.executors import LATCH_TIMEOUT, Kit, wait
from tests.support.models import Leaf, Node


def node(name: str, *parents: str) -> Node:
    return Node(name, parents=tuple(rc.ref(Node, p) for p in parents))


def create(address: str) -> Step:
    return Step(address, Action.CREATE)


@pytest.fixture
def sigint_raises():
    """Ctrl-C as an interactive process has it: a run started in the background may inherit SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(params=["threads", "async", "async-native", "futures"])
def parallel(request: pytest.FixtureRequest):
    k = Kit(request.param)
    yield k
    k.close()


def test_no_level_barrier_a_ready_step_starts_while_an_unrelated_long_step_runs(parallel: Kit):
    """x2 (level 2) must start while `long` (level 1) is still running: `long` only returns once x2 has run.

    A level-by-level schedule would wait for `long` before starting x2, and `long` would wait forever.
    """
    world = parallel.world(Node)
    plan = rc.plan(rc.State([node("x1"), node("x2", "x1"), node("long")]), rc.State())
    x2_ran = threading.Event()
    parallel.probe.hook("node/x2", lambda ctx: x2_ran.set())
    parallel.probe.hook("node/long", lambda ctx: wait(x2_ran, "x2 to run while long is running"))
    result = rc.apply(plan, world, executor=parallel.executor(max_workers=2))
    assert result.ok, result.errors
    probe = parallel.probe
    assert (
        probe.entered[create("node/long")][0]
        < probe.entered[create("node/x2")][0]
        < probe.returned[create("node/long")]
    )


def test_the_longest_remaining_chain_starts_first():
    world = {"node": InMemoryProvider(Node)}
    # Plan order puts the single steps first; the chain c0 -> c1 -> c2 -> c3 is longer.
    chain = [node("c0"), node("c1", "c0"), node("c2", "c1"), node("c3", "c2")]
    desired = rc.State([node(f"single{i}") for i in range(4)] + chain)
    plan = rc.plan(desired, rc.State())
    assert plan.steps[0] == create("node/single0")
    started: list[Step] = []
    rc.apply(plan, world, executor=rc.ThreadExecutor(max_workers=1), listeners=[_on(EventKind.STARTED, started)])
    assert started[:3] == [create("node/c0"), create("node/c1"), create("node/c2")]
    serial: list[Step] = []
    world = {"node": InMemoryProvider(Node)}
    rc.apply(plan, world, listeners=[_on(EventKind.STARTED, serial)])
    assert serial == list(plan.steps), "the serial executor keeps plan order"


def _on(kind: EventKind, into: list[Step]) -> rc.Listener:
    def listener(event: rc.StepEvent) -> None:
        if event.kind is kind:
            into.append(event.step)

    return listener


def test_a_waiting_retry_holds_no_slot_so_other_steps_run_meanwhile():
    world = Kit("threads").world(Node)
    kit_probe = world["node"].probe
    kit_probe.script("node/a", rc.TransientError("later", retry_after=0.05))
    b_done = threading.Event()
    kit_probe.hook("node/b", lambda ctx: b_done.set())
    result = rc.apply(
        rc.plan(rc.State([node("a"), node("b")]), rc.State()), world, executor=rc.ThreadExecutor(max_workers=1)
    )
    assert result.ok
    # With one worker, b ran between a's two attempts.
    assert kit_probe.entered[create("node/a")][0] < kit_probe.entered[create("node/b")][0]
    assert kit_probe.entered[create("node/b")][0] < kit_probe.entered[create("node/a")][1]


@pytest.mark.parametrize("name", ["serial", "threads", "futures"])
def test_a_step_out_of_time_budget_fails_with_step_timeout_error(name: str):
    kit = Kit(name)
    world = kit.world(Node)
    kit.probe.script("node/a", rc.TransientError("busy", retry_after=0.5))
    deadlines: list[float | None] = []
    kit.probe.hook("node/a", lambda ctx: deadlines.append(ctx.time_left()))
    retry = rc.RetryPolicy(timeout=0.2)
    result = rc.apply(
        rc.plan(rc.State([node("a"), node("b", "a")]), rc.State()), world, executor=kit.executor(), retry=retry
    )
    kit.close()
    error = result.errors[create("node/a")]
    assert isinstance(error, rc.StepTimeoutError)
    assert str(error) == "create node/a: timed out after 0.2s (1 attempt)"
    assert isinstance(error.__cause__, rc.TransientError)
    assert result.outcomes[create("node/a")].attempts == 1
    assert result.skipped == (create("node/b"),)
    assert deadlines[0] is not None and 0 < deadlines[0] <= 0.2


def test_an_async_call_still_running_at_the_deadline_is_cancelled():
    cancelled = []

    class Hanging:
        async def create(self, desired, ctx):
            try:
                await asyncio.sleep(LATCH_TIMEOUT)
            except asyncio.CancelledError:
                cancelled.append(ctx.step)
                raise

    plan = rc.plan(rc.State([node("a"), node("b", "a")]), rc.State())
    result = rc.apply(plan, {"node": Hanging()}, executor=rc.AsyncExecutor(), retry=rc.RetryPolicy(timeout=0.01))
    assert cancelled == [create("node/a")]
    error = result.errors[create("node/a")]
    assert isinstance(error, rc.StepTimeoutError) and error.attempts == 1 and error.step == create("node/a")
    assert result.skipped == (create("node/b"),)


def test_a_plan_may_mix_async_and_sync_providers():
    class AsyncNodes:
        def __init__(self):
            self.objects = {}

        async def create(self, desired, ctx):
            await asyncio.sleep(0)
            obj = InMemoryProvider(Node).create(desired, ctx)
            self.objects[ctx.address] = obj
            return obj

    class Leaves(InMemoryProvider):
        def create(self, desired, ctx):
            self.owner_id = ctx.resolve(desired.owner).node_id
            return super().create(desired, ctx)

    world = {"node": AsyncNodes(), "leaf": Leaves(Leaf)}
    plan = rc.plan(rc.State([node("n"), Leaf("l", rc.ref(Node, "n"))]), rc.State())
    for executor in (None, rc.AsyncExecutor(max_workers=2)):
        world = {"node": AsyncNodes(), "leaf": Leaves(Leaf)}
        result = rc.apply(plan, world, executor=executor)
        assert result.ok, result.errors
        assert world["leaf"].owner_id == result.state["node/n"].node_id is not None


def test_apply_async_runs_in_the_callers_loop_and_propagates_cancellation():
    started, events = asyncio.Event(), []

    class Slow:
        async def create(self, desired, ctx):
            started.set()
            await asyncio.sleep(LATCH_TIMEOUT)

    def listener(event):
        events.append(event)

    async def main():
        plan = rc.plan(rc.State([node("a"), node("b", "a"), node("c")]), rc.State())
        quick = await rc.apply_async(rc.plan(rc.State([node("q")]), rc.State()), {"node": InMemoryProvider(Node)})
        assert quick.ok
        task = asyncio.create_task(rc.apply_async(plan, {"node": Slow()}, listeners=[listener]))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    finals = {e.step: e.kind for e in events if e.kind.is_final}
    assert finals == {
        create("node/a"): EventKind.CANCELLED,
        create("node/b"): EventKind.CANCELLED,
        create("node/c"): EventKind.CANCELLED,
    }


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_while_the_thread_executor_waits_lets_running_steps_finish():
    kit = Kit("threads")
    world = kit.world(Node)
    plan = rc.plan(rc.State([node("a"), node("b", "a"), node("c", "b")]), rc.State())
    pending_cancelled = threading.Event()

    def press_ctrl_c(ctx: rc.Context) -> None:
        _thread.interrupt_main()
        wait(pending_cancelled, "the pending steps to be cancelled")

    kit.probe.hook("node/a", press_ctrl_c)

    def listener(event: rc.StepEvent) -> None:
        if event.kind is EventKind.CANCELLED and event.step == create("node/b"):
            pending_cancelled.set()

    result = rc.apply(plan, world, executor=kit.executor(), listeners=[listener])
    assert result.interrupted
    assert result.outcomes[create("node/a")].status is StepStatus.SUCCEEDED, "the running step finished"
    assert result.cancelled == (create("node/b"), create("node/c"))


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_during_a_serial_provider_call_cancels_that_step():
    kit = Kit("serial")
    world = kit.world(Node)
    plan = rc.plan(rc.State([node("a"), node("b", "a"), node("c")]), rc.State())
    kit.probe.hook("node/a", lambda ctx: _thread.interrupt_main() or time.sleep(LATCH_TIMEOUT))
    result = rc.apply(plan, world)
    assert result.interrupted
    assert set(result.cancelled) == set(plan.steps)
    assert kit.probe.returned == {}


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_while_the_futures_executor_waits_lets_submitted_calls_finish():
    kit = Kit("futures")
    world = kit.world(Node)
    plan = rc.plan(rc.State([node("a"), node("b", "a")]), rc.State())
    pending_cancelled = threading.Event()

    def press_ctrl_c(ctx: rc.Context) -> None:
        _thread.interrupt_main()
        wait(pending_cancelled, "the pending step to be cancelled")

    kit.probe.hook("node/a", press_ctrl_c)

    def listener(event: rc.StepEvent) -> None:
        if event.kind is EventKind.CANCELLED:
            pending_cancelled.set()

    result = rc.apply(plan, world, executor=kit.executor(), listeners=[listener])
    kit.close()
    assert result.interrupted
    assert result.outcomes[create("node/a")].status is StepStatus.SUCCEEDED
    assert result.cancelled == (create("node/b"),)


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_under_the_async_executor_cancels_running_async_calls():
    seen = []

    class Interrupting:
        async def create(self, desired, ctx):
            signal.raise_signal(signal.SIGINT)
            try:
                await asyncio.sleep(LATCH_TIMEOUT)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

    plan = rc.plan(rc.State([node("a"), node("b", "a")]), rc.State())
    result = rc.apply(plan, {"node": Interrupting()}, executor=rc.AsyncExecutor())
    assert seen == ["cancelled"]
    assert result.interrupted and set(result.cancelled) == {create("node/a"), create("node/b")}


class _Async:
    async def create(self, desired, ctx):
        return desired


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: rc.ThreadExecutor(max_workers=0), "ThreadExecutor: max_workers must be an int >= 1, got 0"),
        (lambda: rc.AsyncExecutor(max_workers=True), "AsyncExecutor: max_workers must be an int >= 1, got True"),
        (lambda: rc.ThreadExecutor(limits={"node": 0}), "ThreadExecutor: limits['node'] must be an int >= 1, got 0"),
        (lambda: rc.ThreadExecutor(limits={1: 2}), "ThreadExecutor: limits keys must be kinds (str), got 1"),
        (lambda: rc.ThreadExecutor(limits=[("node", 1)]), "ThreadExecutor: limits must be a mapping"),
        (lambda: rc.FuturesExecutor(object()), "FuturesExecutor: pool must be a concurrent.futures.Executor"),
        (lambda: rc.RetryPolicy(max_attempts=0), "RetryPolicy: max_attempts must be an int >= 1, got 0"),
        (lambda: rc.RetryPolicy(backoff=-1), "RetryPolicy: backoff must be a number >= 0, got -1"),
        (lambda: rc.RetryPolicy(multiplier=0.5), "RetryPolicy: multiplier must be a number >= 1, got 0.5"),
        (lambda: rc.RetryPolicy(timeout=0), "RetryPolicy: timeout must be a finite number > 0, got 0"),
        (lambda: rc.RetryPolicy(max_backoff=float("nan")), "RetryPolicy: max_backoff must be a number >= 0, got nan"),
        (
            lambda: rc.RetryPolicy(max_delay=float("inf")),
            "RetryPolicy: max_delay must be a finite number >= 0, got inf",
        ),
        (lambda: rc.RetryPolicy(max_delay=-1), "RetryPolicy: max_delay must be a finite number >= 0, got -1"),
        (lambda: rc.RetryPolicy(timeout=10**400), "RetryPolicy: timeout must be a finite number > 0, got 1000"),
        (lambda: rc.RetryPolicy(max_backoff=None), "RetryPolicy: max_backoff must be a number >= 0, got None"),
        (lambda: rc.RetryPolicy(timeout=float("inf")), "RetryPolicy: timeout must be a finite number > 0, got inf"),
        (
            lambda: rc.TransientError("x", retry_after="5"),
            "TransientError: retry_after must be a number of seconds or None, got '5'",
        ),
        (
            lambda: rc.TransientError("x", retry_after=True),
            "TransientError: retry_after must be a number of seconds or None, got True",
        ),
    ],
)
def test_bad_options_raise_apply_option_error_naming_the_option(make, message):
    with pytest.raises(rc.ApplyOptionError) as e:
        make()
    assert str(e.value).startswith(message)


def test_apply_rejects_bad_arguments_before_any_step_runs():
    world = {"node": InMemoryProvider(Node)}
    plan = rc.plan(rc.State([node("a")]), rc.State())
    with pytest.raises(rc.ApplyOptionError, match="apply: executor must be an Executor, got str"):
        rc.apply(plan, world, executor="threads")
    with pytest.raises(rc.ApplyOptionError, match="apply: listeners must be callables taking a StepEvent, got 3"):
        rc.apply(plan, world, listeners=[3])
    with pytest.raises(rc.ApplyOptionError, match="apply: retry must be a RetryPolicy, got int"):
        rc.apply(plan, world, retry=3)
    with pytest.raises(rc.ApplyOptionError, match="apply_async: executor must be an AsyncExecutor, got SerialExecutor"):
        asyncio.run(rc.apply_async(plan, world, executor=rc.SerialExecutor()))
    assert world["node"].calls == []


@pytest.mark.parametrize("executor", [rc.SerialExecutor(), rc.ThreadExecutor(), "futures"])
def test_sync_executors_refuse_async_providers_naming_the_kind(executor):
    if executor == "futures":
        executor = rc.FuturesExecutor(ThreadPoolExecutor(1))
    plan = rc.plan(rc.State([node("a"), Leaf("l", rc.ref(Node, "a"))]), rc.State())
    world = {"node": InMemoryProvider(Node), "leaf": _Async()}
    with pytest.raises(
        rc.ApplyOptionError, match=r"cannot call async providers \(kind\(s\): leaf\); use AsyncExecutor"
    ):
        rc.apply(plan, world, executor=executor)
    assert world["node"].calls == []


def test_the_async_executor_refuses_to_nest_in_a_running_loop():
    async def main():
        plan = rc.plan(rc.State([node("a")]), rc.State())
        rc.apply(plan, {"node": _Async()}, executor=rc.AsyncExecutor())

    with pytest.raises(rc.ApplyOptionError, match=r"inside a running event loop; use 'await reconcile.apply_async"):
        asyncio.run(main())


def test_retry_policy_delays_grow_exponentially_under_the_cap():
    policy = rc.RetryPolicy(backoff=1.0, multiplier=2.0, max_backoff=5.0, jitter=False)
    assert [policy.delay(n, rc.TransientError()) for n in (1, 2, 3, 4, 10_000)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(3, rc.TransientError(retry_after=0.25)) == 0.25
    jittered = rc.RetryPolicy(backoff=1.0, seed=3)
    delays = [jittered.delay(3, rc.TransientError()) for _ in range(50)]
    assert all(0.0 <= d <= 4.0 for d in delays) and len(set(delays)) == 50
    again = rc.RetryPolicy(backoff=1.0, seed=3)
    assert [again.delay(3, rc.TransientError()) for _ in range(50)] == delays


def test_observe_refuses_async_list_and_observe_async_mixes_both():
    class AsyncList:
        async def list(self):
            return [node("a")]

    world = {"node": AsyncList(), "leaf": InMemoryProvider(Leaf, [Leaf("l", rc.ref(Node, "a"))])}
    with pytest.raises(rc.ProviderContractError, match="provider for kind 'node' has an async list\\(\\)"):
        rc.observe(world)
    actual = asyncio.run(rc.observe_async(world))
    assert set(map(str, actual.addresses)) == {"node/a", "leaf/l"}
    assert actual.dependencies("leaf/l") == (rc.Address("node", "a"),)


class PlanOrderExecutor(rc.Executor):
    """A user-written executor, built only on the public ApplyRun API."""

    def execute(self, run: rc.ApplyRun) -> None:
        for step in run.plan.steps:
            blockers = [
                p for p in run.plan.predecessors.get(step, ()) if run.outcomes[p].status is not StepStatus.SUCCEEDED
            ]
            if blockers:
                cause = run.outcomes[blockers[0]].cause or blockers[0]
                run.record(rc.StepOutcome(step, StepStatus.SKIPPED, cause=cause))
                run.emit(EventKind.SKIPPED, step, cause=cause)
                continue
            run.emit(EventKind.STARTED, step, 1)
            try:
                value = run.call(step)
            except Exception as exc:
                run.record(rc.StepOutcome(step, StepStatus.FAILED, error=exc, attempts=1))
                run.emit(EventKind.FAILED, step, 1, error=exc)
            else:
                run.emit(EventKind.SUCCEEDED, step, 1, value=value)
                run.record(rc.StepOutcome(step, StepStatus.SUCCEEDED, value=value, attempts=1))


def test_a_custom_executor_can_be_written_on_the_public_apply_run():
    kit = Kit("serial")
    world = kit.world(Node)
    kit.probe.script("node/b", RuntimeError("no"))
    plan = rc.plan(rc.State([node("a"), node("b", "a"), node("c", "b"), node("d", "a")]), rc.State())
    events: list[rc.StepEvent] = []
    result = rc.apply(plan, world, executor=PlanOrderExecutor(), listeners=[events.append])
    assert set(result.succeeded) == {create("node/a"), create("node/d")}
    assert result.failed == (create("node/b"),) and result.skipped == (create("node/c"),)
    assert result.state["node/a"].node_id is not None
    assert "skipped create node/c: create node/b failed" in [str(e) for e in events]


def test_the_executor_base_class_has_one_method_to_implement():
    with pytest.raises(NotImplementedError):
        rc.Executor().execute(rc.ApplyRun(rc.plan(rc.State(), rc.State()), {}))
