"""Leader failover with real processes on one lease in a SQLite file (the journal's lease plugs in the same way).

Two controller processes share a lease; each reconcile "applies" by a write
fenced by its context's epoch. SIGKILL the leader: the other takes over within
ttl + one renew interval. SIGSTOP the leader past its expiry, let the other take
over, SIGCONT it: none of the paused leader's writes gets through afterwards.
The paused leader stops itself (SIGSTOP) between a provider call and its
write, so it holds no database lock while paused.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TTL = 1.0
RENEW = 0.25
# A busy shared machine delays process scheduling; this is the slack on top of ttl + renew.
SLACK = 1.5

WORKER = textwrap.dedent(
    """
    import os, signal, sys, time
    from reconcile.controller import Controller, Result
    from tests.support.sqlite_lease import FencedError, SqliteLease

    path, owner, ttl, renew = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    pause = path + "." + owner + ".pause"
    lease = SqliteLease(path, "ctl", owner=owner, ttl=ttl)

    def reconcile(key, ctx):
        time.sleep(0.02)  # the provider call
        if os.path.exists(pause):
            # Paused between the provider call and its durable write, the worst moment.
            os.remove(pause)
            print("pausing", ctx.epoch, flush=True)
            with lease.mutex:
                os.kill(os.getpid(), signal.SIGSTOP)
        try:
            lease.write(ctx.epoch, key)
        except FencedError:
            print("fenced", ctx.epoch, flush=True)
        return Result(requeue_after=0.02)

    ctl = Controller(owner, reconcile, workers=1, resync=None, lease=lease, renew_every=renew)
    for key in ("a", "b", "c"):
        ctl.enqueue(key)
    print("ready", flush=True)
    ctl.run()
    """
)


def ready(proc: subprocess.Popen[str]) -> None:
    """Wait until the worker process is up (imports done, about to run its controller)."""
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


def start(path: Path, owner: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), owner, str(TTL), str(RENEW)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def holder(path: Path) -> tuple[str | None, int]:
    db = sqlite3.connect(path, timeout=10)
    try:
        row = db.execute("select owner, epoch from leases where name = 'ctl'").fetchone()
        return (row[0], row[1]) if row else (None, 0)
    except sqlite3.OperationalError:
        return None, 0
    finally:
        db.close()


def writes(path: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(path, timeout=10)
    try:
        return db.execute("select epoch, owner from writes order by id").fetchall()
    finally:
        db.close()


def wait_for(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def processes():
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
        p.communicate(timeout=10)


@pytest.mark.slow
def test_a_killed_leader_is_replaced_within_ttl_plus_one_renew(tmp_path, processes):
    path = tmp_path / "lease.db"
    a = start(path, "a")
    processes.append(a)
    wait_for(lambda: holder(path)[0] == "a" and writes(path), 30, "a to lead and write")
    b = start(path, "b")
    processes.append(b)
    ready(b)
    time.sleep(0.5)  # b tries, and fails, to take the lease
    assert holder(path)[0] == "a" and {o for _, o in writes(path)} == {"a"}, "only the leader reconciles"
    a.send_signal(signal.SIGKILL)
    took = wait_for(lambda: holder(path)[0] == "b", TTL + RENEW + SLACK, "b to take over")
    assert took <= TTL + RENEW + SLACK
    wait_for(lambda: any(o == "b" for _, o in writes(path)), 10, "b to reconcile")
    assert holder(path)[1] == 2
    assert {e for e, o in writes(path) if o == "b"} == {2}


@pytest.mark.slow
def test_a_paused_leader_that_wakes_up_gets_no_write_through(tmp_path, processes):
    path = tmp_path / "lease.db"
    a = start(path, "a")
    processes.append(a)
    wait_for(lambda: holder(path)[0] == "a" and writes(path), 30, "a to lead and write")
    b = start(path, "b")
    processes.append(b)
    ready(b)
    time.sleep(0.3)
    Path(f"{path}.a.pause").touch()  # a stops itself mid-reconcile, holding no database lock
    wait_for(lambda: not Path(f"{path}.a.pause").exists(), 10, "a to pause")
    # How soon b takes over is the kill test's assertion; here only that it does, then that a's write is
    # fenced, so a loaded machine (b's renewals late by seconds) gets a generous bound.
    wait_for(lambda: holder(path)[0] == "b", 30, "b to take over from the paused a")
    wait_for(lambda: any(o == "b" for _, o in writes(path)), 10, "b to reconcile")
    a.send_signal(signal.SIGCONT)
    time.sleep(TTL)  # a wakes up mid-reconcile with its old epoch, then notices the lost lease
    history = writes(path)
    first_b = next(i for i, (_, o) in enumerate(history) if o == "b")
    assert all(o == "b" for _, o in history[first_b:]), "a deposed leader's write got through"
    a.send_signal(signal.SIGTERM)
    out, _ = a.communicate(timeout=20)
    assert a.returncode == 0, "the deposed leader drains and exits cleanly on SIGTERM"
    assert out.splitlines()[:2] == ["ready", "pausing 1"]
    assert "fenced 1" in out.splitlines(), "the write a made on waking up was refused"


JOURNALED_WORKER = textwrap.dedent(
    """
    import itertools, os, signal, sys
    import reconcile as rc
    from reconcile.controller import StateController, StoreLease
    from reconcile.journal import Journal
    from tests.support.models import Network
    from tests.support.shared_world import SharedNetworks

    url, world, lease_name, owner, ttl, renew = sys.argv[1:7]
    pause = world + "." + owner + ".pause"
    journal = Journal.open(url)
    lease = StoreLease(journal, lease_name, owner=owner, ttl=float(ttl))
    counter = itertools.count()

    def desired(key):
        if os.path.exists(pause):
            # Paused after deciding to reconcile, before planning and applying.
            os.remove(pause)
            print("pausing", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        # A new tag every time: every reconcile applies an update.
        return rc.State([Network(key, "10.0.0.0/16", tags={"n": str(next(counter))})])

    def report(event):
        # Errors to stderr, so a failing test shows them.
        if event.error is not None:
            print(owner, event.kind.value, event.key, type(event.error).__name__, event.error, file=sys.stderr, flush=True)

    ctl = StateController(
        owner, desired, {"network": SharedNetworks(world, owner)}, journal=journal, lease=lease,
        renew_every=float(renew), resync=0.05, jitter=0.0, listeners=[report],
    )
    for key in ("a", "b", "c"):
        ctl.enqueue(key)
    print("ready", flush=True)
    ctl.run()
    print("applies", ctl.applies, flush=True)
    """
)


def start_journaled(url: str, world: Path, lease: str, owner: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-c", JOURNALED_WORKER, url, str(world), lease, owner, str(TTL), str(RENEW)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def lease_holder(url: str, name: str) -> str | None:
    from reconcile.journal import Journal
    from reconcile.storage import lease_info

    with Journal.open(url) as journal:
        info = lease_info(journal.backend, name)
        return None if info is None or not info.held(time.time()) else info.owner


@pytest.mark.slow
def test_postgresql_lease_a_killed_leader_is_replaced_and_a_paused_one_gets_no_apply_through(
    postgres_url, tmp_path, processes
):
    from tests.support.shared_world import calls

    world = tmp_path / "world.db"
    # SIGKILL: the follower takes over within ttl + one renew interval.
    a = start_journaled(postgres_url, world, "kill", "a")
    processes.append(a)
    wait_for(lambda: lease_holder(postgres_url, "kill") == "a" and calls(str(world)), 60, "a to lead and apply")
    b = start_journaled(postgres_url, world, "kill", "b")
    processes.append(b)
    ready(b)
    time.sleep(1.0)
    assert {owner for owner, *_ in calls(str(world))} == {"a"}, "only the leader applies"
    a.send_signal(signal.SIGKILL)
    wait_for(lambda: lease_holder(postgres_url, "kill") == "b", TTL + RENEW + SLACK, "b to take over")
    wait_for(lambda: any(owner == "b" for owner, *_ in calls(str(world))), 20, "b to apply")
    b.send_signal(signal.SIGTERM)
    b.communicate(timeout=30)

    # SIGSTOP: a paused leader, replaced, then resumed, makes no provider call.
    world2 = tmp_path / "world2.db"
    c = start_journaled(postgres_url, world2, "stop", "c")
    processes.append(c)
    wait_for(lambda: lease_holder(postgres_url, "stop") == "c" and calls(str(world2)), 60, "c to lead and apply")
    d = start_journaled(postgres_url, world2, "stop", "d")
    processes.append(d)
    ready(d)
    time.sleep(0.5)
    Path(f"{world2}.c.pause").touch()
    wait_for(lambda: not Path(f"{world2}.c.pause").exists(), 20, "c to pause")
    time.sleep(0.2)
    made_by_c = sum(1 for owner, *_ in calls(str(world2)) if owner == "c")
    wait_for(lambda: lease_holder(postgres_url, "stop") == "d", TTL + RENEW + SLACK, "d to take over")
    wait_for(lambda: any(owner == "d" for owner, *_ in calls(str(world2))), 20, "d to apply")
    c.send_signal(signal.SIGCONT)
    time.sleep(2 * TTL)
    assert sum(1 for owner, *_ in calls(str(world2)) if owner == "c") == made_by_c, "the deposed leader applied"
    c.send_signal(signal.SIGTERM)
    out, _ = c.communicate(timeout=30)
    assert c.returncode == 0 and out.splitlines()[:2] == ["ready", "pausing"]
