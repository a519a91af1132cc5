"""Leader election through a lease (in-process LocalLeases on a fake clock) and SIGTERM draining in run()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from reconcile.controller import (
    Controller,
    ControllerEventKind,
    ControllerOptionError,
    FakeClock,
    LeaseError,
    LocalLeases,
    ReconcileContext,
)
from tests.support.controller import running, until

E = ControllerEventKind


class Log:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, int | None]] = []
        self.lock = threading.Lock()

    def fn(self, name: str) -> Any:
        def reconcile(key: Any, ctx: ReconcileContext) -> None:
            with self.lock:
                self.calls.append((name, key, ctx.epoch))

        return reconcile


def test_only_the_lease_holder_reconciles_and_a_successor_takes_over_with_a_new_epoch():
    clock = FakeClock()
    leases = LocalLeases(clock)
    log = Log()
    a = Controller("a", log.fn("a"), resync=None, clock=clock, lease=leases.lease("ctl", owner="a", ttl=15))
    b = Controller("b", log.fn("b"), resync=None, clock=clock, lease=leases.lease("ctl", owner="b", ttl=15))
    assert (a.renew_every, b.is_leader) == (5.0, False)
    with running(a):
        until(lambda: a.is_leader, what="a leads")
        with running(b):
            for key in ("x", "y"):
                a.enqueue(key)
                b.enqueue(key)
            until(lambda: len(log.calls) == 2)
            clock.advance(5)  # b tries again at its renew interval, and fails
            assert b.wait_idle(1)
            assert not b.is_leader and {c[0] for c in log.calls} == {"a"}
            assert {c[2] for c in log.calls} == {1}, "a's reconciles carry its epoch"
            a.stop()
            assert a.join(5)
            assert leases.holder("ctl") == (None, 1), "a released the lease on the way out"
            clock.advance(5)
            until(lambda: b.is_leader, what="b leads")
            until(lambda: len(log.calls) == 4, what="b looks at every key it knows")
            assert b.epoch == 2
    assert sorted(log.calls[2:]) == [("b", "x", 2), ("b", "y", 2)]


class FlakyLease:
    """A lease handle whose renewals can be made to fail or to raise."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.owner, self.ttl = inner.name, inner.owner, inner.ttl
        self.mode = "ok"

    def acquire(self) -> bool:
        if self.mode == "raise":
            raise LeaseError("the lease store is unreachable")
        held: bool = self.inner.acquire()
        return held

    def renew(self) -> bool:
        if self.mode == "raise":
            raise LeaseError("the lease store is unreachable")
        if self.mode == "lost":
            return False
        held: bool = self.inner.renew()
        return held

    def release(self) -> None:
        self.inner.release()

    @property
    def epoch(self) -> int | None:
        epoch: int | None = self.inner.epoch
        return epoch


@pytest.mark.parametrize("mode", ["lost", "raise"])
def test_losing_the_lease_stops_new_reconciles_within_one_renew_interval(mode):
    clock = FakeClock()
    lease = FlakyLease(LocalLeases(clock).lease("ctl", owner="a", ttl=9))
    log = Log()
    events: list[Any] = []
    ctl = Controller("a", log.fn("a"), resync=None, clock=clock, lease=lease, listeners=[events.append])
    with running(ctl):
        until(lambda: ctl.is_leader)
        ctl.enqueue("x")
        until(lambda: len(log.calls) == 1)
        lease.mode = mode
        clock.advance(3)  # one renew interval (ttl / 3)
        until(lambda: not ctl.is_leader, what="the lease to be lost")
        ctl.enqueue("y")
        assert ctl.wait_idle(0.2) and len(log.calls) == 1, "no new reconcile once the lease is lost"
        assert ctl.epoch is None
        lease.mode = "ok"
        clock.advance(3)
        until(lambda: ctl.is_leader, what="the lease again")
        until(lambda: {c[1] for c in log.calls} == {"x", "y"})
    kinds = [e.kind for e in events]
    assert kinds.count(E.LEADER_ACQUIRED) == 2 and kinds.count(E.LEADER_LOST) == 1
    assert (E.LEASE_ERROR in kinds) is (mode == "raise")


def test_a_running_reconcile_sees_stopping_when_the_lease_is_lost():
    clock = FakeClock()
    lease = FlakyLease(LocalLeases(clock).lease("ctl", owner="a", ttl=9))
    inside, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def fn(key: Any, ctx: ReconcileContext) -> None:
        seen.append(ctx.stopping)
        inside.set()
        release.wait(5)
        seen.append(ctx.stopping)

    ctl = Controller("a", fn, resync=None, clock=clock, lease=lease)
    with running(ctl):
        until(lambda: ctl.is_leader)
        ctl.enqueue("x")
        inside.wait(5)
        lease.mode = "lost"
        clock.advance(3)
        until(lambda: not ctl.is_leader)
        release.set()
    assert seen == [False, True]


def test_an_expired_holder_is_replaced_and_local_leases_fence_by_epoch():
    clock = FakeClock()
    leases = LocalLeases(clock)
    a, b = leases.lease("l", owner="a", ttl=10), leases.lease("l", owner="b", ttl=10)
    assert a.acquire() and a.epoch == 1
    assert not b.acquire() and b.epoch is None
    clock.advance(10)
    assert b.acquire() and b.epoch == 2
    assert not a.renew() and a.epoch is None, "a paused past its expiry cannot renew"
    a.release()
    assert leases.holder("l") == ("b", 2), "a's release does not free b's claim"
    assert b.renew()
    b.release()
    assert leases.holder("l") == (None, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"name": ""}, "name must be a non-empty string"), ({"owner": ""}, "owner must be"), ({"ttl": 0}, "ttl must")],
)
def test_local_lease_options_are_checked(kwargs, message):
    args = {"name": "l", "owner": "a", "ttl": 5, **kwargs}
    with pytest.raises(ControllerOptionError, match=message):
        LocalLeases().lease(args.pop("name"), **args)


def test_renew_every_must_be_shorter_than_the_ttl():
    lease = LocalLeases().lease("l", owner="a", ttl=5)
    with pytest.raises(ControllerOptionError, match=r"renew_every \(5.0\) must be shorter than the lease's ttl"):
        Controller("a", lambda k, c: None, lease=lease, renew_every=5)


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from reconcile.controller import Controller

    def reconcile(key, ctx):
        print("started", key, flush=True)
        time.sleep(0.5)
        print("finished", key, flush=True)

    async def areconcile(key, ctx):
        print("started", key, flush=True)
        await asyncio.sleep(0.5)
        print("finished", key, flush=True)

    ctl = Controller("sig", areconcile if sys.argv[1] == "async" else reconcile, resync=None)
    ctl.enqueue("a")
    ctl.enqueue("b")
    ctl.run()
    print("run returned", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_sigterm_drains_run_the_running_reconcile_finishes_and_run_returns(kind):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, kind], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started a"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert out.split("\n")[:2] == ["finished a", "run returned"], "b never started; a finished before run returned"
