"""Appliers run as processes by the fencing tests (``python -m tests.journal.fencing_child MODE URL ...``)."""

from __future__ import annotations

import sys
import time

import reconcile as rc
from reconcile.journal import FencedError, Journal
from reconcile.testing import InMemoryProvider
from tests.support.models import Network


def hold_then_apply(url: str) -> None:
    """Take the lease, say so, wait for a line on stdin, then try an apply under it and report what happened."""
    providers = {"network": InMemoryProvider(Network)}
    with Journal.open(url) as journal:
        lease = journal.lease("net", owner="paused", ttl=1.0)
        print(f"held {lease.epoch} {lease.lease_id}", flush=True)
        sys.stdin.readline()
        plan = rc.plan(rc.State([Network("core", "10.0.0.0/16")]), rc.observe(providers))
        try:
            result = rc.apply(plan, providers, journal=journal, lease=lease)
            outcome = "applied" if result.ok else "failed:" + ",".join(type(e).__name__ for e in result.errors.values())
        except FencedError:
            outcome = "fenced"
        print(f"{outcome} calls={len(providers['network'].calls) - 1}", flush=True)
        lease.release()


def contend(url: str, rounds: int, hold: float) -> None:
    """Take the lease ``rounds`` times (waiting for it); print each holding's interval and epoch."""
    with Journal.open(url) as journal:
        for _ in range(rounds):
            with journal.lease("net", owner=f"p{time.time_ns()}", ttl=5, wait=30) as lease:
                start = time.time()
                time.sleep(hold)
                end = time.time()
                print(f"{start!r} {end!r} {lease.epoch}", flush=True)


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    if mode == "hold":
        hold_then_apply(url)
    else:
        contend(url, int(rest[0]), float(rest[1]))
