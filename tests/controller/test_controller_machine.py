"""A hypothesis state machine drives a real Controller (run_async, fake clock) through storms of adds and outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Hashable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reconcile.controller import (
    Controller,
    ExponentialBackoff,
    FakeClock,
    MaxOf,
    ReconcileContext,
    Result,
    TerminalError,
    TokenBucket,
)

KEYS = st.sampled_from("abcdef")
OUTCOMES = st.sampled_from(["ok", "ok", "fail", "fail", "terminal", "requeue", "after1", "after4"])
BASE, CAP = 1.0, 8.0
WORKERS = 3
SHUTDOWN_TIMEOUT = 5.0


class Spy:
    """Wraps a rate limiter and records every delay it hands out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.delays: list[tuple[Hashable, float]] = []

    def when(self, key: Hashable) -> float:
        delay: float = self.inner.when(key)
        self.delays.append((key, delay))
        return delay

    def forget(self, key: Hashable) -> None:
        self.inner.forget(key)

    def retries(self, key: Hashable) -> int:
        n: int = self.inner.retries(key)
        return n


class ControllerMachine(RuleBasedStateMachine):
    """Invariants: no key is reconciled twice at once and never more than ``workers`` at once; every
    reconcile was preceded by an add (reconciles <= adds); a key that failed does not start before the
    limiter's delay unless added meanwhile, and that delay is the exponential backoff the limiter promises
    (or the token bucket's, when longer); nothing starts after stop(); and once the storm ends and every
    reconcile succeeds, every key added after the start of its last successful reconcile was reconciled again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.loop = asyncio.new_event_loop()
        self.backoff = Spy(ExponentialBackoff(BASE, CAP))
        self.bucket = Spy(TokenBucket(rate=2.0, burst=3, clock=self.clock))
        self.limiter = Spy(MaxOf(self.backoff, self.bucket))
        self.ctl: Controller[str] = Controller(
            "machine",
            self._reconcile,
            workers=WORKERS,
            resync=None,
            clock=self.clock,
            rate_limiter=self.limiter,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        self.task = self.loop.create_task(self.ctl.run_async())
        self.seq = itertools.count()
        self.pending: dict[str, asyncio.Future[str]] = {}
        self.running: set[str] = set()
        self.violations: list[str] = []
        self.adds = 0
        self.reconciles = 0
        self.last_add: dict[str, int] = {}  # key -> seq of its latest add (explicit or scheduled)
        self.last_start: dict[str, int] = {}
        self.last_explicit: dict[str, int] = {}  # key -> seq of its latest enqueue() by the test
        self.failures: dict[str, int] = {}  # model of the exponential backoff's count per key
        self.not_before: dict[str, float] = {}  # a failed key must not start before this time
        self.waiting: dict[str, float] = {}  # model of the delayed adds: earliest due per key
        self.stopped = False
        self.delays_checked = 0
        self._settle()

    # -- the reconcile function the controller calls --------------------------------

    async def _reconcile(self, key: str, ctx: ReconcileContext) -> Result | None:
        now = self.clock.now()
        if self.stopped:
            self.violations.append(f"{key} started after stop()")
        if key in self.running:
            self.violations.append(f"{key} started while already running")
        if len(self.running) >= WORKERS:
            self.violations.append(f"more than {WORKERS} reconciles at once")
        bound = self.not_before.pop(key, None)
        if bound is not None and now < bound - 1e-9:
            self.violations.append(f"{key} started at {now}, before its backoff ended at {bound}")
        due = self.waiting.get(key)
        if due is not None and due <= now:
            del self.waiting[key]
        self.last_start[key] = next(self.seq)
        self.reconciles += 1
        self.running.add(key)
        fut: asyncio.Future[str] = self.loop.create_future()
        self.pending[key] = fut
        try:
            outcome = await fut
        finally:
            self.running.discard(key)
            self.pending.pop(key, None)
        if outcome == "ok":
            return None
        if outcome == "fail":
            raise RuntimeError("injected failure")
        if outcome == "terminal":
            raise TerminalError("injected terminal failure", reason="Injected")
        if outcome == "requeue":
            return Result(requeue=True)
        return Result(requeue_after=float(outcome.removeprefix("after")))

    def _settle(self) -> None:
        async def settle() -> None:
            for _ in range(40):
                await asyncio.sleep(0)

        self.loop.run_until_complete(settle())

    def _scheduled(self, key: str, due: float, seq: int) -> None:
        """The model of a delayed add: the earliest due time per key wins."""
        self.adds += 1
        current = self.waiting.get(key)
        if current is None or due < current:
            self.waiting[key] = due
        self.last_add[key] = seq

    # -- rules --------------------------------------------------------------------------

    @rule(key=KEYS)
    def add(self, key: str) -> None:
        self.ctl.enqueue(key)
        if not self.stopped:
            self.adds += 1
            self.last_add[key] = self.last_explicit[key] = next(self.seq)
            self.not_before.pop(key, None)  # an explicit add skips the backoff, as in controller-runtime
        self._settle()

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), outcome=OUTCOMES)
    def finish(self, data: st.DataObject, outcome: str) -> None:
        key = data.draw(st.sampled_from(sorted(self.pending)))
        now = self.clock.now()
        before = len(self.limiter.delays)
        # The delayed add this outcome makes happens before the reconcile returns.
        seq = next(self.seq)
        self.pending[key].set_result(outcome)
        self._settle()
        if outcome in ("fail", "requeue"):
            assert len(self.limiter.delays) == before + 1, "a failure or requeue asks the limiter once"
            (_, delay), (_, exp) = self.limiter.delays[-1], self.backoff.delays[-1]
            n = self.failures.get(key, 0)
            assert exp == min(CAP, BASE * 2**n), f"backoff for failure {n + 1} of {key} was {exp}"
            assert delay == max(exp, self.bucket.delays[-1][1])
            self.failures[key] = n + 1
            self.delays_checked += 1
            if not self.stopped:
                self._scheduled(key, now + delay, seq)
                # Added while it ran: it runs again right away, backoff or not.
                if self.last_explicit.get(key, -1) < self.last_start[key]:
                    self.not_before[key] = self.waiting[key]
        else:
            assert len(self.limiter.delays) == before, f"{outcome} does not ask the limiter"
            self.failures.pop(key, None)
            if outcome.startswith("after") and not self.stopped:
                self._scheduled(key, now + float(outcome.removeprefix("after")), seq)

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 2.0, 5.0, 10.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self._settle()

    @precondition(lambda self: not self.stopped)
    @rule()
    def shutdown(self) -> None:
        self.stopped = True
        self.ctl.stop()
        self._settle()

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def no_violations(self) -> None:
        assert not self.violations, self.violations

    @invariant()
    def reconciles_never_exceed_adds(self) -> None:
        assert self.reconciles <= self.adds, (self.reconciles, self.adds)

    @invariant()
    def stopped_controller_ends_once_reconciles_end(self) -> None:
        if self.stopped and not self.pending:
            self._settle()
            assert self.task.done(), "run_async() still running with no reconcile in progress"
            assert self.task.exception() is None

    def teardown(self) -> None:
        try:
            if not self.stopped:
                self._drain_and_check_liveness()
                self.ctl.stop()
            # Whatever still runs is past its shutdown budget after this.
            self.clock.advance(SHUTDOWN_TIMEOUT + 1)
            self.loop.run_until_complete(asyncio.wait_for(self.task, 5))
            assert not self.ctl.in_progress(), "run_async() returned with a reconcile in progress"
            assert not self.violations, self.violations
        finally:
            if not self.task.done():
                self.task.cancel()
                with contextlib.suppress(BaseException):
                    self.loop.run_until_complete(self.task)
            self.loop.close()

    def _drain_and_check_liveness(self) -> None:
        """Let every reconcile succeed and time pass until the controller is idle, then check liveness."""
        for _ in range(500):
            for fut in list(self.pending.values()):
                if not fut.done():
                    fut.set_result("ok")
            self._settle()
            if not self.pending and not len(self.ctl.queue) and not self.ctl.queue.waiting():
                break
            self.clock.advance(CAP)
            self._settle()
        else:
            raise AssertionError(f"the controller never became idle: {self.ctl.queue!r}")
        for key, added in self.last_add.items():
            started = self.last_start.get(key, -1)
            assert started > added, f"{key} was added (seq {added}) after its last reconcile started (seq {started})"


ControllerMachine.TestCase.settings = settings(stateful_step_count=40)
TestControllerMachine = ControllerMachine.TestCase
