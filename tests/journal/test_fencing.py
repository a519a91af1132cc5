"""Two appliers on one lease, as real processes, on SQLite and PostgreSQL: one holder at a time; a paused one is fenced."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from reconcile.journal import Journal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.journal.fencing_child", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _sqlite_write_lock_free(url: str) -> bool:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.05)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _stop(pid: int, url: str) -> None:
    """SIGSTOP ``pid``, at a moment it holds no SQLite write lock (a stopped SQLite writer blocks every other one)."""
    for _ in range(50):
        os.kill(pid, signal.SIGSTOP)
        if not url.startswith("sqlite") or _sqlite_write_lock_free(url):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("could not stop the holder outside a write")


@pytest.mark.slow
def test_a_holder_paused_past_its_ttl_wakes_up_fenced(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        child = _child("hold", store_url)
        try:
            assert child.stdout is not None and child.stdin is not None
            held, epoch, lease_id = child.stdout.readline().split()
            assert held == "held"
            _stop(child.pid, store_url)
            time.sleep(1.5)  # past the ttl of 1 s: no renewal can happen while stopped
            with journal.lease("net", owner="successor", ttl=30, wait=15) as successor:
                assert successor.epoch == int(epoch) + 1
                os.kill(child.pid, signal.SIGCONT)
                child.stdin.write("go\n")
                child.stdin.flush()
                report = child.stdout.readline().split()
                assert report == ["fenced", "calls=0"]
                assert child.wait(30) == 0
                # Nothing the paused holder did landed: no apply under its epoch, no intent.
                assert all(run.epoch != int(epoch) for run in journal.applies())
                assert journal.pending() == []
                assert lease_id != successor.lease_id
        finally:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGCONT)
                child.kill()
            child.wait()


@pytest.mark.slow
def test_competing_processes_hold_the_lease_one_at_a_time(store_url: str) -> None:
    """Invariant: the intervals in which processes hold the lease never overlap, and epochs never repeat."""
    Journal.open(store_url).close()  # migrate once, before the contenders start
    children = [_child("contend", store_url, "4", "0.05") for _ in range(3)]
    holdings = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        holdings += [tuple(float(x) for x in line.split()) for line in out.splitlines()]
    assert len(holdings) == 12
    holdings.sort()
    for (_, end, _), (start, _, _) in itertools.pairwise(holdings):
        assert start >= end, f"two processes held the lease at once: {holdings}"
    assert sorted(int(e) for *_, e in holdings) == list(range(1, 13))
