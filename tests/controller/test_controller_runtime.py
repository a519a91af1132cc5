"""Controller: every documented behaviour and error, by example (threads and asyncio, fake clock where time matters)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

from reconcile.controller import (
    DEGRADED,
    PROGRESSING,
    READY,
    Controller,
    ControllerEventKind,
    ControllerOptionError,
    ControllerStateError,
    ExponentialBackoff,
    FakeClock,
    Metrics,
    ReconcileContext,
    Result,
    TerminalError,
)
from tests.support.controller import running, until

E = ControllerEventKind


class Recorder:
    """A sync reconcile function that records (key, clock time, attempt) and runs a per-key behaviour."""

    def __init__(self, clock: FakeClock | None = None, behave: Any = None) -> None:
        self.clock = clock
        self.calls: list[tuple[Any, float, int]] = []
        self.behave = behave
        self.lock = threading.Lock()

    def __call__(self, key: Any, ctx: ReconcileContext) -> Result | None:
        with self.lock:
            self.calls.append((key, self.clock.now() if self.clock else 0.0, ctx.attempt))
        return self.behave(key, ctx) if self.behave else None

    def keys(self) -> list[Any]:
        return [c[0] for c in self.calls]


def fake(**options: Any) -> tuple[FakeClock, dict[str, Any]]:
    clock = FakeClock()
    options.setdefault("rate_limiter", ExponentialBackoff(1.0, 8.0))
    options.setdefault("resync", None)
    return clock, {"clock": clock, **options}


# -- the work queue's semantics, through the controller ----------------------------------


def test_a_key_added_many_times_while_pending_is_reconciled_once():
    rec = Recorder()
    ctl = Controller("t", rec, resync=None)
    for _ in range(100):
        ctl.enqueue("a")
    ctl.enqueue("b")
    with running(ctl):
        assert ctl.wait_idle(5)
    assert sorted(rec.keys()) == ["a", "b"]


def test_a_key_is_never_reconciled_twice_at_once_and_re_adds_while_running_run_once_after():
    inside: Counter[str] = Counter()
    most: Counter[str] = Counter()
    gate = threading.Event()
    calls: list[str] = []
    lock = threading.Lock()

    def fn(key: str, ctx: ReconcileContext) -> None:
        with lock:
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            calls.append(key)
        if len(calls) == 1:
            gate.wait(5)
        with lock:
            inside[key] -= 1

    ctl = Controller("t", fn, workers=4, resync=None)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: calls == ["a"], what="first reconcile")
        for _ in range(10):
            ctl.enqueue("a")  # while it runs: queued once, for after
        assert ctl.in_progress() == ["a"]
        gate.set()
        assert ctl.wait_idle(5)
    assert calls == ["a", "a"]
    assert most["a"] == 1


def test_failures_back_off_per_key_exponentially_and_success_forgets():
    clock, options = fake()

    def behave(key: str, ctx: ReconcileContext) -> None:
        if ctx.attempt <= 3:
            raise RuntimeError("boom")

    rec = Recorder(clock, behave)
    ctl = Controller("t", rec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 1)
        for delay in (1, 2, 4):  # after failures 1, 2 and 3
            n = len(rec.calls)
            assert ctl.wait_idle(5)
            clock.advance(delay - 0.01)
            assert ctl.wait_idle(0.1) and len(rec.calls) == n, "not before the backoff"
            clock.advance(0.01)
            until(lambda n=n: len(rec.calls) == n + 1, what=f"the retry after {delay}s")
        assert ctl.wait_idle(5)
        assert [(t, attempt) for _, t, attempt in rec.calls] == [(0, 1), (1, 2), (3, 3), (7, 4)]
        assert ctl.queue.retries("a") == 0, "success forgot the backoff"
        assert ctl.conditions("a")[READY].status is True


def test_retry_does_not_come_before_its_backoff():
    clock, options = fake()

    def behave(key: str, ctx: ReconcileContext) -> None:
        raise RuntimeError("always")

    rec = Recorder(clock, behave)
    ctl = Controller("t", rec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 1)
        ctl.wait_idle(5)
        clock.advance(0.99)
        assert ctl.wait_idle(0.2)
        assert len(rec.calls) == 1
        clock.advance(0.01)
        until(lambda: len(rec.calls) == 2)


def test_terminal_error_is_not_retried_and_sets_degraded_with_its_reason():
    clock, options = fake()

    def behave(key: str, ctx: ReconcileContext) -> None:
        raise TerminalError("the tenant's plan does not exist", reason="UnknownPlan")

    rec = Recorder(clock, behave)
    ctl = Controller("t", rec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: ctl.conditions("a"))
        clock.advance(10_000)
        assert ctl.wait_idle(0.2)
    assert len(rec.calls) == 1
    conds = ctl.conditions("a")
    assert conds[DEGRADED].status is True and conds[DEGRADED].reason == "UnknownPlan"
    assert conds[DEGRADED].message == "the tenant's plan does not exist"
    assert conds[READY].status is False and conds[PROGRESSING].status is False
    assert ctl.queue.retries("a") == 0


def test_a_terminal_key_comes_back_at_resync():
    clock, options = fake(resync=100.0, jitter=0.0)
    rec = Recorder(clock, lambda k, c: (_ for _ in ()).throw(TerminalError("no")))
    ctl = Controller("t", rec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 1)
        clock.advance(100)
        until(lambda: len(rec.calls) == 2)


def test_requeue_after_looks_again_after_that_delay_and_forgets_the_backoff():
    clock, options = fake()

    def behave(key: str, ctx: ReconcileContext) -> Result:
        if len(rec.calls) == 1:
            raise RuntimeError("first try fails")
        return Result(requeue_after=30)

    rec = Recorder(clock, behave)
    ctl = Controller("t", rec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 1)
        assert ctl.wait_idle(5) and ctl.queue.retries("a") == 1
        clock.advance(1)
        until(lambda: len(rec.calls) == 2)
        assert ctl.wait_idle(5)
        clock.advance(29.9)
        assert ctl.wait_idle(0.2) and len(rec.calls) == 2
        clock.advance(0.1)
        until(lambda: len(rec.calls) == 3)
    assert [(t, attempt) for _, t, attempt in rec.calls] == [(0, 1), (1, 2), (31, 1)]
    assert ctl.queue.retries("a") == 0
    assert ctl.conditions("a")[READY].status is True


def test_requeue_true_goes_through_the_rate_limiter_and_reports_progressing():
    clock, options = fake()
    rec = Recorder(clock, lambda k, c: Result(requeue=True) if c.attempt < 3 else None)
    ctl = Controller("t", rec, **options)
    seen: list[Any] = []
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 1)
        ctl.wait_idle(5)
        seen.append(ctl.conditions("a")[PROGRESSING])
        clock.advance(1)
        until(lambda: len(rec.calls) == 2)
        clock.advance(2)
        until(lambda: len(rec.calls) == 3)
        ctl.wait_idle(5)
    assert [a for *_, a in rec.calls] == [1, 2, 3]
    assert seen[0].status is True and seen[0].reason == "Requeued"
    assert ctl.conditions("a")[PROGRESSING].status is False


def test_resync_re_adds_every_known_key_spread_by_jitter():
    clock, options = fake(resync=100.0, jitter=0.5, seed=7, workers=4)
    rec = Recorder(clock)
    ctl = Controller("t", rec, **options)
    keys = [f"k{i}" for i in range(200)]
    with running(ctl):
        for k in keys:
            ctl.enqueue(k)
        until(lambda: len(rec.calls) == 200)
        ctl.wait_idle(5)
        clock.advance(99.9)
        assert ctl.wait_idle(1) and len(rec.calls) == 200, "never sooner than resync"
        clock.advance(25.1)  # t = 125: the middle of the jitter window
        ctl.wait_idle(5)
        early = len(rec.calls) - 200
        clock.advance(25)  # t = 150: past the window
        until(lambda: len(rec.calls) == 400, what="every key resynced")
    assert 40 < early < 160, f"{early} of 200 keys resynced in the first half of the window"
    assert sorted(rec.keys()[200:]) == sorted(keys)


def test_without_resync_a_reconciled_key_is_not_looked_at_again():
    clock, options = fake(resync=None)
    rec = Recorder(clock)
    ctl = Controller("t", rec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: rec.calls)
        clock.advance(10**6)
        assert ctl.wait_idle(0.2)
    assert len(rec.calls) == 1


# -- conditions ------------------------------------------------------------------------------


def test_conditions_record_generation_and_keep_transition_time_while_status_holds():
    clock, options = fake()
    outcomes = iter(["ok", "ok", "fail", "ok"])

    def behave(key: str, ctx: ReconcileContext) -> None:
        ctx.observed_generation = 41 + ctx.attempt
        if next(outcomes) == "fail":
            raise ValueError("the API said no")

    ctl = Controller("t", Recorder(clock, behave), **options)
    assert ctl.conditions("a") == {}
    with running(ctl):
        ctl.enqueue("a")
        ctl.wait_idle(5)
        until(lambda: ctl.conditions("a"))
        first = ctl.conditions("a")[READY]
        clock.advance(10)
        ctl.enqueue("a")
        until(lambda: ctl.conditions("a")[READY].observed_generation == 42 and ctl.wait_idle(0))
        assert ctl.conditions("a")[READY].last_transition == first.last_transition, "still ready: same transition"
        clock.advance(10)
        ctl.enqueue("a")
        until(lambda: ctl.conditions("a")[READY].status is False)
        failed = ctl.conditions("a")
        assert failed[READY].reason == "ReconcileFailed" and failed[READY].message == "ValueError: the API said no"
        assert failed[READY].last_transition == first.last_transition + 20
        assert failed[PROGRESSING].status is True and failed[PROGRESSING].reason == "Retrying"
        assert failed[READY].observed_generation == 42
        clock.advance(1)
        until(lambda: ctl.conditions("a")[READY].status is True)
    assert ctl.conditions("a")[READY].observed_generation == 43


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_plain_successes_keep_transition_times_across_a_failure_and_back(flavour):
    """The common outcome (``None``, no generation, no override) takes the hot path: same conditions as the rest."""
    clock, options = fake()
    outcomes = iter(["ok", "ok", "fail", "ok", "ok"])

    def behave(key: str, ctx: ReconcileContext) -> None:
        if next(outcomes) == "fail":
            raise ValueError("the API said no")

    rec = Recorder(clock, behave)

    async def arec(key: str, ctx: ReconcileContext) -> None:
        rec(key, ctx)

    ctl = Controller("t", rec if flavour == "sync" else arec, **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 1 and ctl.conditions("a"))
        first = ctl.conditions("a")
        assert [(c.status, c.reason) for c in first.values()] == [
            (True, "Reconciled"),
            (False, "Reconciled"),
            (False, "Reconciled"),
        ]
        assert all(c.last_transition == clock.wall() and c.observed_generation is None for c in first.values())
        clock.advance(10)
        ctl.enqueue("a")
        until(lambda: len(rec.calls) == 2 and ctl.wait_idle(0))
        assert ctl.conditions("a") == first, "an unchanged outcome changes nothing, transition times included"
        clock.advance(10)
        ctl.enqueue("a")
        until(lambda: ctl.conditions("a")[READY].status is False)
        failed = ctl.conditions("a")
        assert failed[READY].last_transition == failed[PROGRESSING].last_transition == first[READY].last_transition + 20
        assert failed[DEGRADED].last_transition == first[DEGRADED].last_transition, "Degraded stayed false"
        clock.advance(1)  # the retry's backoff
        until(lambda: len(rec.calls) == 4 and ctl.conditions("a")[READY].status is True)
        back = ctl.conditions("a")
        assert back[READY].last_transition == back[PROGRESSING].last_transition == first[READY].last_transition + 21
        assert back[DEGRADED].last_transition == first[DEGRADED].last_transition
        assert ctl.reconciles == 4


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_reconciles_counts_every_ended_reconcile_of_many_workers(flavour):
    calls = Counter[int]()
    lock = threading.Lock()

    def fn(key: int, ctx: ReconcileContext) -> None:
        with lock:
            calls[key] += 1
        if key % 7 == 0 and ctx.attempt == 1:
            raise ValueError("once")  # the other path, through the backoff

    async def afn(key: int, ctx: ReconcileContext) -> None:
        fn(key, ctx)

    ctl = Controller(
        "t", fn if flavour == "sync" else afn, workers=4, resync=None, rate_limiter=ExponentialBackoff(0.001, 0.002)
    )
    with running(ctl):
        for round_ in range(3):
            for key in range(500):
                ctl.enqueue(key)
            until(lambda: ctl.wait_idle(0) and ctl.queue.waiting() == 0, timeout=20, what=f"round {round_} done")
        assert ctl.reconciles == sum(calls.values()) >= 1500
    assert all(ctl.conditions(k)[READY].status for k in range(500))


def test_a_key_forgotten_while_its_reconcile_runs_keeps_no_conditions_and_no_resync():
    started = threading.Event()
    release = threading.Event()

    def fn(key: str, ctx: ReconcileContext) -> None:
        started.set()
        release.wait(5)

    ctl = Controller("t", fn, resync=10.0)
    with running(ctl):
        ctl.enqueue("a")
        assert started.wait(5)
        ctl.forget("a")
        release.set()
        until(lambda: ctl.reconciles == 1)
        assert ctl.wait_idle(1)
        assert ctl.conditions("a") == {} and ctl.keys() == []
        assert ctl.queue.waiting() == 0, "and no resync"
        started.clear()
        ctl.enqueue("a")
        until(lambda: ctl.conditions("a"), what="conditions of the key added again")
    assert ctl.conditions("a")[READY].status is True


def test_degraded_turns_true_after_degraded_after_failures_in_a_row():
    clock, options = fake(degraded_after=2)
    ctl = Controller("t", Recorder(clock, lambda k, c: (_ for _ in ()).throw(OSError("down"))), **options)
    with running(ctl):
        ctl.enqueue("a")
        until(lambda: ctl.conditions("a"))
        assert ctl.conditions("a")[DEGRADED].status is False
        clock.advance(1)
        until(lambda: ctl.conditions("a")[DEGRADED].status is True)
    degraded = ctl.conditions("a")[DEGRADED]
    assert degraded.reason == "RepeatedFailures" and "OSError: down" in degraded.message


def test_set_condition_overrides_the_default_and_adds_custom_types():
    def fn(key: str, ctx: ReconcileContext) -> None:
        ctx.set_condition(READY, False, "WaitingForDNS", "the record is not visible yet")
        ctx.set_condition("Billed", True, "InvoiceSent")

    ctl = Controller("t", fn, resync=None)
    ctl.enqueue("a")
    with running(ctl):
        until(lambda: ctl.conditions("a"))
    conds = ctl.conditions("a")
    assert (conds[READY].status, conds[READY].reason) == (False, "WaitingForDNS")
    assert conds["Billed"].status is True
    assert conds[DEGRADED].status is False


@pytest.mark.parametrize(
    ("args", "message"),
    [(("", True, "R"), "type must be"), (("X", 1, "R"), "status must be a bool"), (("X", True, ""), "reason must")],
)
def test_set_condition_refuses_bad_arguments(args, message):
    ctx = ReconcileContext(Controller("t", lambda k, c: None), "k", 1, None)
    with pytest.raises(ControllerOptionError, match=message):
        ctx.set_condition(*args)


def test_a_reconcile_returning_something_else_is_a_terminal_invalid_result():
    ctl = Controller("t", lambda k, c: 42, resync=None)
    ctl.enqueue("a")
    with running(ctl):
        until(lambda: ctl.conditions("a"))
    degraded = ctl.conditions("a")[DEGRADED]
    assert degraded.status and degraded.reason == "InvalidResult" and "returned int" in degraded.message


def test_forget_drops_conditions_the_key_and_its_resync():
    clock, options = fake(resync=100.0)
    rec = Recorder(clock)
    ctl = Controller("t", rec, **options)
    ctl.enqueue("a")
    with running(ctl):
        until(lambda: ctl.conditions("a"))
        ctl.forget("a")
        clock.advance(1000)
        assert ctl.wait_idle(0.2)
    assert ctl.conditions("a") == {} and ctl.keys() == [] and len(rec.calls) == 1


# -- events and metrics ------------------------------------------------------------------------


def test_listeners_get_queue_and_reconcile_events_and_metrics_count_them():
    clock, options = fake()
    events: list[Any] = []
    metrics = Metrics()
    ctl = Controller(
        "t",
        Recorder(clock, lambda k, c: (_ for _ in ()).throw(RuntimeError("x")) if c.attempt == 1 else None),
        listeners=[events.append, metrics],
        **options,
    )
    ctl.enqueue("a")
    ctl.enqueue("a")
    with running(ctl):
        until(lambda: metrics.retries == 1)
        clock.advance(1)
        until(lambda: metrics.counts[E.SUCCEEDED] == 1)
    kinds = [e.kind for e in events if e.key == "a"]
    assert kinds == [E.ADDED, E.DEDUPLICATED, E.STARTED, E.RETRYING, E.ADDED, E.STARTED, E.SUCCEEDED]
    retry = next(e for e in events if e.kind is E.RETRYING)
    assert retry.delay == 1.0 and isinstance(retry.error, RuntimeError) and retry.controller == "t"
    assert (metrics.adds, metrics.dedups, metrics.errors, metrics.reconcile.count) == (2, 1, 1, 2)
    assert E.STOPPING in [e.kind for e in events] and events[-1].kind is E.STOPPED
    snap = metrics.snapshot()
    assert snap["retrying"] == 1 and snap["reconcile_count"] == 2
    assert "retrying=1" in repr(metrics)


def test_a_failing_listener_is_reported_to_the_others_and_does_not_stop_the_controller():
    got: list[Any] = []

    def broken(event: Any) -> None:
        raise RuntimeError("dashboard down")

    ctl = Controller("t", lambda k, c: None, resync=None, listeners=[broken, got.append])
    ctl.enqueue("a")
    with running(ctl):
        until(lambda: ctl.conditions("a"))
    assert any(e.kind is E.LISTENER_ERROR and "dashboard down" in str(e.error) for e in got)
    assert ctl.conditions("a")[READY].status is True


# -- sources ---------------------------------------------------------------------------------------


def test_poll_emits_new_changed_and_removed_keys_and_survives_errors():
    from reconcile.controller import poll

    clock, options = fake()
    rows: dict[str, int] = {"acme": 1, "globex": 1}
    fail = {"now": False}

    def list_tenants() -> dict[str, int]:
        if fail["now"]:
            raise ConnectionError("db down")
        return dict(rows)

    events: list[Any] = []
    rec = Recorder(clock)
    ctl = Controller("t", rec, listeners=[events.append], **options)
    ctl.watch(poll(list_tenants, every=5))
    with running(ctl):
        until(lambda: sorted(rec.keys()) == ["acme", "globex"])
        rows["acme"] = 2  # changed
        rows["initech"] = 1  # new
        del rows["globex"]  # removed: reconciled so it can clean up
        clock.advance(5)
        until(lambda: len(rec.calls) == 5, what="the second poll's keys")
        fail["now"] = True
        clock.advance(5)
        until(lambda: any(e.kind is E.SOURCE_ERROR for e in events))
        fail["now"] = False
        rows["hooli"] = 1
        clock.advance(5)
        until(lambda: "hooli" in rec.keys())  # noqa: SIM118 (a list of keys, not a dict)
    assert sorted(rec.keys()[2:5]) == ["acme", "globex", "initech"]
    assert ctl.wait_idle(1)


def test_poll_refuses_bad_options():
    from reconcile.controller import poll

    with pytest.raises(ControllerOptionError, match="every must be a finite number > 0"):
        poll(lambda: [], every=0)
    with pytest.raises(ControllerOptionError, match="fn must be a callable"):
        poll([], every=1)  # type: ignore[arg-type]


def test_an_iterable_source_feeds_every_key():
    rec = Recorder()
    ctl = Controller("t", rec, resync=None)
    ctl.watch(iter(["a", "b", "a", "c"]))
    with running(ctl):
        until(lambda: sorted(set(rec.keys())) == ["a", "b", "c"])


async def _keys(*keys: str) -> Any:
    for key in keys:
        await asyncio.sleep(0)
        yield key


def test_an_async_iterable_source_feeds_keys_in_run_and_in_run_async():
    rec = Recorder()
    ctl = Controller("t", rec, resync=None)
    ctl.watch(_keys("a", "b"))
    with running(ctl):
        until(lambda: sorted(rec.keys()) == ["a", "b"])

    async def main() -> list[str]:
        seen: list[str] = []

        async def fn(key: str, ctx: ReconcileContext) -> None:
            seen.append(key)

        actl = Controller("t", fn, resync=None)
        actl.watch(_keys("x", "y"))
        task = asyncio.ensure_future(actl.run_async())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(seen) == 2:
                break
        actl.stop()
        await task
        return seen

    assert sorted(asyncio.run(main())) == ["x", "y"]


def test_a_failing_iterable_source_is_reported():
    def keys() -> Any:
        yield "a"
        raise LookupError("feed broke")

    events: list[Any] = []
    ctl = Controller("t", lambda k, c: None, resync=None, listeners=[events.append])
    ctl.watch(keys())
    with running(ctl):
        until(lambda: any(e.kind is E.SOURCE_ERROR for e in events))
        until(lambda: ctl.conditions("a"), what="the key it gave before failing")
    assert ctl.conditions("a")[READY].status


def test_watch_refuses_a_bare_function_and_non_sources_and_a_running_controller():
    ctl = Controller("t", lambda k, c: None)
    with pytest.raises(ControllerOptionError, match=r"wrap it in poll\(fn, every=seconds\)"):
        ctl.watch(lambda: ["a"])
    with pytest.raises(ControllerOptionError, match="expected a source"):
        ctl.watch(42)
    with pytest.raises(ControllerOptionError, match="expected a source"):
        ctl.watch("abc")
    with running(ctl), pytest.raises(ControllerStateError, match="before run"):
        ctl.watch(["a"])


# -- shutdown ------------------------------------------------------------------------------------------


def test_stop_lets_running_reconciles_finish_and_starts_no_queued_key():
    gate = threading.Event()
    started: list[str] = []
    finished: list[str] = []

    def fn(key: str, ctx: ReconcileContext) -> None:
        started.append(key)
        gate.wait(5)
        finished.append(key)

    ctl = Controller("t", fn, resync=None)
    ctl.start()
    ctl.enqueue("a")
    until(lambda: started == ["a"])
    ctl.enqueue("b")
    ctl.stop()
    threading.Timer(0.1, gate.set).start()
    assert ctl.join(5)
    assert started == ["a"] and finished == ["a"], "the running one finished; the queued one never started"
    assert not ctl.in_progress() and not ctl.running
    ctl.enqueue("c")  # dropped after stop, no error


def test_a_sync_reconcile_past_the_shutdown_timeout_sees_cancelled_and_run_waits_for_it():
    seen: list[bool] = []
    inside = threading.Event()

    def fn(key: str, ctx: ReconcileContext) -> None:
        inside.set()
        until(lambda: ctx.cancelled, what="cancelled")
        seen.append(ctx.stopping)

    ctl = Controller("t", fn, resync=None, shutdown_timeout=0.05)
    ctl.start()
    ctl.enqueue("a")
    inside.wait(5)
    ctl.stop()
    assert ctl.join(5)
    assert seen == [True]


def test_an_async_reconcile_past_the_shutdown_timeout_is_cancelled():
    clock = FakeClock()
    outcome: list[str] = []

    async def fn(key: str, ctx: ReconcileContext) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def main() -> None:
        ctl = Controller("t", fn, resync=None, clock=clock, shutdown_timeout=30)
        task = asyncio.ensure_future(ctl.run_async())
        ctl.enqueue("a")
        await asyncio.sleep(0.01)
        ctl.stop()
        await asyncio.sleep(0.01)
        assert not task.done(), "within its shutdown budget"
        clock.advance(30)
        await asyncio.wait_for(task, 5)
        assert not ctl.in_progress()

    asyncio.run(main())
    assert outcome == ["cancelled"]


def test_cancelling_run_async_drains_and_re_raises_cancelled():
    async def main() -> list[str]:
        done: list[str] = []

        async def fn(key: str, ctx: ReconcileContext) -> None:
            await asyncio.sleep(0.05)
            done.append(key)

        ctl = Controller("t", fn, resync=None)
        task = asyncio.ensure_future(ctl.run_async())
        ctl.enqueue("a")
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return done

    assert asyncio.run(main()) == ["a"]


def test_a_base_exception_in_a_reconcile_stops_the_controller_and_is_re_raised():
    class Crash(BaseException):
        pass

    def fn(key: str, ctx: ReconcileContext) -> None:
        raise Crash

    ctl = Controller("t", fn, resync=None)
    ctl.enqueue("a")
    with pytest.raises(Crash):
        ctl.run(handle_signals=False)
    assert ctl.stopping and not ctl.running


def test_run_calls_an_async_reconcile_in_its_own_loop_and_run_async_a_sync_one_in_threads():
    seen: list[Any] = []

    async def afn(key: str, ctx: ReconcileContext) -> None:
        seen.append(("async", key))
        ctl.stop()

    ctl = Controller("t", afn, resync=None)
    ctl.enqueue("a")
    ctl.run(handle_signals=False)

    def sfn(key: str, ctx: ReconcileContext) -> None:
        seen.append(("sync", key, threading.current_thread().name))

    async def main() -> None:
        c2 = Controller("s", sfn, resync=None, workers=2)
        task = asyncio.ensure_future(c2.run_async())
        c2.enqueue("b")
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(seen) == 2:
                break
        c2.stop()
        await task

    asyncio.run(main())
    assert seen[0] == ("async", "a")
    assert seen[1][:2] == ("sync", "b") and seen[1][2].startswith("s-worker")


# -- lifecycle and option errors --------------------------------------------------------------------------


def test_a_controller_runs_once():
    ctl = Controller("t", lambda k, c: None)
    ctl.stop()
    ctl.run(handle_signals=False)
    with pytest.raises(ControllerStateError, match="runs once"):
        ctl.run(handle_signals=False)
    with pytest.raises(ControllerStateError, match="runs once"):
        ctl.start()
    with pytest.raises(ControllerStateError, match=r"join\(\) needs start\(\)"):
        ctl.join()


def test_unhashable_keys_are_refused():
    ctl = Controller("t", lambda k, c: None)
    with pytest.raises(ControllerOptionError, match="keys must be hashable, got list"):
        ctl.enqueue(["a"])
    with pytest.raises(ControllerOptionError, match="keys must be hashable, got dict"):
        ctl.enqueue_after({}, 1)


def test_enqueue_after_delays_a_key():
    clock, options = fake()
    rec = Recorder(clock)
    ctl = Controller("t", rec, **options)
    ctl.enqueue_after("a", 5)
    with running(ctl):
        assert ctl.wait_idle(0.1) and not rec.calls
        clock.advance(5)
        until(lambda: rec.calls)
    assert ctl.keys() == ["a"]


def ok(key: Any, ctx: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "name must be a non-empty string"),
        ({"reconcile": 3}, "reconcile must be a callable"),
        ({"workers": 0}, "workers must be an int >= 1"),
        ({"workers": True}, "workers must be an int >= 1"),
        ({"resync": 0}, "resync must be a finite number > 0"),
        ({"jitter": -0.1}, "jitter must be a finite number >= 0"),
        ({"jitter": 1.5}, "jitter must be between 0 and 1"),
        ({"rate_limiter": object()}, "rate_limiter must be a RateLimiter"),
        ({"clock": object()}, "clock must be a Clock"),
        ({"lease": object()}, "lease must be a Lease"),
        ({"renew_every": 1}, "renew_every needs a lease"),
        ({"listeners": [3]}, "listeners must be callables"),
        ({"shutdown_timeout": -1}, "shutdown_timeout must be a finite number >= 0"),
        ({"degraded_after": 0}, "degraded_after must be an int >= 1"),
    ],
)
def test_bad_controller_options_are_refused_naming_the_option(kwargs, message):
    args = {"name": "t", "reconcile": ok, **kwargs}
    with pytest.raises(ControllerOptionError, match=message):
        Controller(args.pop("name"), args.pop("reconcile"), **args)


def test_result_and_terminal_error_validate_their_arguments():
    with pytest.raises(ControllerOptionError, match="requeue_after must be a finite number of seconds >= 0"):
        Result(requeue_after=-1)
    with pytest.raises(ControllerOptionError, match="requeue_after"):
        Result(requeue_after=float("nan"))
    with pytest.raises(TypeError):
        Result(requeue="yes")  # type: ignore[arg-type]
    with pytest.raises(ControllerOptionError, match="reason must be a non-empty string"):
        TerminalError("x", reason="")
    assert TerminalError("x").reason == "TerminalError"
