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
    wait_for(lambda: holder(path)[0] == "b", TTL + RENEW + SLACK, "b to take over from the paused a")
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
