"""Controller benchmarks: work-queue throughput against a hand-written floor, a storm of adds, latency, and resync.

1. No-op throughput with one worker: N distinct keys are added, then
   reconciled by a no-op function until the queue is idle; cycles (add, take,
   reconcile, done) per second. The floor is a minimal hand-written
   deduplicating queue in this script (a dirty set, a processing set, a deque
   under one lock and condition, drained by one worker thread; no backoff, no
   conditions, no resync): what any thread-safe queue with these semantics
   costs in CPython. The same queue without lock or thread is shown for
   reference. The goal is at least half the floor. Rows: the
   thread runtime with the defaults (resync 600 s, so every success schedules
   its next look), without resync, with a ``Metrics`` listener, and the asyncio
   runtime with an ``async def`` reconcile.
2. A storm: ``--adds`` adds over ``--keys`` keys from one thread while
   reconciles take 1 ms each (``time.sleep``, 8 workers): how many reconciles
   deduplication leaves, and the wall time until the queue is idle.
3. Add-to-start latency: keys added at ``--rate`` per second (paced, one
   thread) for ``--seconds``; the time from ``enqueue`` to the start of the
   reconcile, p50 / p99 / max.
4. ``StateController`` no-change resync: ``--tenants`` keys of 10 resources
   each (a network and nine servers that ref it), already in the world; one
   full pass (read each address, plan, nothing to apply) per key, one worker.
5. The same with a journal (SQLite) for ``--journal-tenants`` keys: what
   keeping each key's last applied state there costs. Pass 1 reads each
   key's record (none yet) and writes it (one commit per key); pass 2 finds
   it in memory and writes nothing; pass 3 is a new controller (a restart),
   which reads each record once and writes nothing.

CPU figures are ``time.process_time`` of the whole process (every thread);
wall figures are ``time.perf_counter``. The machine is shared, so wall figures
include other people's work.

Run: ``python -m benchmarks controller [--cycles 200000] [--adds 1000000 --keys 10000] [--rate 1000 --seconds 3]
[--tenants 10000] [--journal-tenants 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import reconcile as rc
from reconcile.controller import Controller, Metrics, ReconcileContext, StateController
from reconcile.journal import Journal
from reconcile.testing import InMemoryProvider

from . import _common as c

GOAL = 0.5


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--cycles", type=int, default=200_000, help="keys for the throughput runs (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="throughput runs per row; the best is shown (default: 3)")
    p.add_argument("--adds", type=int, default=1_000_000, help="adds in the storm (default: %(default)s)")
    p.add_argument("--keys", type=int, default=10_000, help="distinct keys in the storm (default: %(default)s)")
    p.add_argument("--rate", type=float, default=1000.0, help="adds per second for the latency run (default: 1000)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of the latency run (default: 3)")
    p.add_argument("--tenants", type=int, default=10_000, help="keys in the resync run (default: %(default)s)")
    p.add_argument(
        "--journal-tenants", type=int, default=2_000, help="keys in the journaled resync run (default: %(default)s)"
    )
    return p


# -- 1. throughput -------------------------------------------------------------------


def floor_queue(n: int) -> tuple[float, float]:
    """The hand-written floor: add ``n`` keys to a dedup queue, then drain it calling a no-op; (CPU, wall)."""
    dirty: set[int] = set()
    processing: set[int] = set()
    ready: deque[int] = deque()

    def add(key: int) -> None:
        if key in dirty:
            return
        dirty.add(key)
        if key not in processing:
            ready.append(key)

    def reconcile(key: int, ctx: object) -> None:
        return None

    gc.collect()
    cpu, wall = c.clock(), time.perf_counter()
    for key in range(n):
        add(key)
    while ready:
        key = ready.popleft()
        dirty.discard(key)
        processing.add(key)
        reconcile(key, None)
        processing.discard(key)
        if key in dirty:
            ready.append(key)
    return c.clock() - cpu, time.perf_counter() - wall


def floor_threaded_queue(n: int) -> tuple[float, float]:
    """The thread-safe floor: the same queue under one lock and condition, drained by one worker thread."""
    lock = threading.Lock()
    cond = threading.Condition(lock)
    dirty: set[int] = set()
    processing: set[int] = set()
    ready: deque[int] = deque()
    closed = [False]

    def add(key: int) -> None:
        with lock:
            if key in dirty:
                return
            dirty.add(key)
            if key not in processing:
                ready.append(key)
                cond.notify()

    def get() -> int | None:
        with lock:
            while not ready:
                if closed[0]:
                    return None
                cond.wait()
            key = ready.popleft()
            processing.add(key)
            dirty.discard(key)
            return key

    def done(key: int) -> None:
        with lock:
            processing.discard(key)
            if key in dirty:
                ready.append(key)
                cond.notify()

    def reconcile(key: int, ctx: object) -> None:
        return None

    def work() -> None:
        while (key := get()) is not None:
            reconcile(key, None)
            done(key)

    gc.collect()
    cpu, wall = c.clock(), time.perf_counter()
    for key in range(n):
        add(key)
    worker = threading.Thread(target=work)
    worker.start()
    with lock:
        closed[0] = True
        cond.notify_all()
    worker.join()
    return c.clock() - cpu, time.perf_counter() - wall


def _noop(key: Any, ctx: ReconcileContext) -> None:
    return None


async def _anoop(key: Any, ctx: ReconcileContext) -> None:
    return None


def thread_controller(n: int, **options: Any) -> tuple[float, float]:
    """Add ``n`` keys to a one-worker Controller and run it until idle; (CPU, wall) of adds plus drain."""
    ctl: Controller[int] = Controller("bench", _noop, workers=1, **options)
    gc.collect()
    cpu, wall = c.clock(), time.perf_counter()
    for key in range(n):
        ctl.enqueue(key)
    ctl.start()
    ctl.wait_idle()
    cpu, wall = c.clock() - cpu, time.perf_counter() - wall
    assert ctl.reconciles == n, (ctl.reconciles, n)
    ctl.stop()
    ctl.join()
    return cpu, wall


def async_controller(n: int) -> tuple[float, float]:
    """``thread_controller`` for an ``async def`` reconcile run by ``run_async``."""
    result: list[tuple[float, float]] = []

    async def main() -> None:
        ctl: Controller[int] = Controller("bench", _anoop, workers=1)
        gc.collect()
        cpu, wall = c.clock(), time.perf_counter()
        for key in range(n):
            ctl.enqueue(key)
        task = asyncio.ensure_future(ctl.run_async())
        while ctl.reconciles < n:
            await asyncio.sleep(0.001)
        result.append((c.clock() - cpu, time.perf_counter() - wall))
        ctl.stop()
        await task

    asyncio.run(main())
    return result[0]


def throughput(args: argparse.Namespace) -> None:
    n = args.cycles

    def best(run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
        runs = [run() for _ in range(args.repeat)]
        return min(r[0] for r in runs), min(r[1] for r in runs)

    bare_cpu, bare_wall = best(lambda: floor_queue(n))
    floor_cpu, floor_wall = best(lambda: floor_threaded_queue(n))
    rows = [
        ["hand-written, one thread, no lock", f"{n / bare_cpu:,.0f}", f"{n / bare_wall:,.0f}", "-", "-"],
        ["hand-written, lock + worker thread (floor)", f"{n / floor_cpu:,.0f}", f"{n / floor_wall:,.0f}", "1.00x", "-"],
    ]
    variants: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("Controller, defaults (resync 600 s)", lambda: thread_controller(n)),
        ("Controller, resync=None", lambda: thread_controller(n, resync=None)),
        ("Controller, Metrics listener", lambda: thread_controller(n, listeners=[Metrics()])),
        ("Controller, async def, run_async", lambda: async_controller(n)),
    ]
    for name, run in variants:
        cpu, wall = best(run)
        ratio = floor_cpu / cpu
        rows.append([name, f"{n / cpu:,.0f}", f"{n / wall:,.0f}", f"{ratio:.2f}x", "yes" if ratio >= GOAL else "NO"])
    c.table(
        f"no-op reconcile throughput, one worker, {n:,} keys (cycles/s; best of {args.repeat})",
        ["queue", "cycles/s (CPU)", "cycles/s (wall)", "vs floor (CPU)", f"goal ≥ {GOAL}x"],
        rows,
    )


# -- 2. storm -------------------------------------------------------------------------


def storm(args: argparse.Namespace) -> None:
    def slow(key: Any, ctx: ReconcileContext) -> None:
        time.sleep(0.001)

    ctl: Controller[int] = Controller("storm", slow, workers=8)
    ctl.start()
    gc.collect()
    wall = time.perf_counter()
    keys = args.keys
    for i in range(args.adds):
        ctl.enqueue(i % keys)
    adds_done = time.perf_counter() - wall
    ctl.wait_idle()
    wall = time.perf_counter() - wall
    ctl.stop()
    ctl.join()
    c.table(
        f"{args.adds:,} adds over {args.keys:,} keys, reconciles take 1 ms, 8 workers",
        ["adds", "keys", "reconciles", "deduplicated", "adds took", "until idle", "adds/s"],
        [
            [
                f"{args.adds:,}",
                f"{keys:,}",
                f"{ctl.reconciles:,}",
                f"{ctl.queue.deduplicated:,}",
                c.seconds(adds_done),
                c.seconds(wall),
                f"{args.adds / adds_done:,.0f}",
            ]
        ],
    )


# -- 3. latency -----------------------------------------------------------------------


def latency(args: argparse.Namespace) -> None:
    rows = []
    for workers in (1, 4):
        added: dict[int, float] = {}
        waits: list[float] = []

        def fn(key: int, ctx: ReconcileContext, added: dict[int, float] = added, waits: list[float] = waits) -> None:
            now = time.perf_counter()
            waits.append(now - added[key])  # list.append is atomic

        ctl: Controller[int] = Controller("latency", fn, workers=workers, resync=None)
        ctl.start()
        total = int(args.rate * args.seconds)
        start = time.perf_counter()
        for i in range(total):
            due = start + i / args.rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(due - now, 0.0005))
            added[i] = time.perf_counter()
            ctl.enqueue(i)
        ctl.wait_idle()
        ctl.stop()
        ctl.join()
        waits.sort()
        q = statistics.quantiles(waits, n=100) if len(waits) > 1 else [waits[0]] * 99
        rows.append([workers, f"{len(waits):,}", c.micros(q[49]), c.micros(q[98]), c.micros(waits[-1])])
    c.table(
        f"add-to-start latency at {args.rate:,.0f} adds/s for {args.seconds:g} s (no-op reconcile)",
        ["workers", "samples", "p50", "p99", "max"],
        rows,
    )


# -- 4. StateController no-change resync -----------------------------------------------


@rc.resource(kind="bench_network")
class BenchNetwork:
    """A tenant's network."""

    name: str = rc.identity()
    cidr: str = rc.spec()
    network_id: str | None = rc.computed()


@rc.resource(kind="bench_server")
class BenchServer:
    """One of a tenant's servers."""

    name: str = rc.identity()
    network: rc.Ref[BenchNetwork] = rc.spec()
    size: str = rc.spec()
    labels: dict[str, str] = rc.spec(factory=dict)
    server_id: str | None = rc.computed()


def tenant(key: str) -> rc.State:
    """The desired state of one tenant: a network and nine servers in it."""
    net = BenchNetwork(name=f"{key}-net", cidr="10.0.0.0/16")
    servers = [
        BenchServer(name=f"{key}-srv{i}", network=rc.ref(net), size="small", labels={"tenant": key}) for i in range(9)
    ]
    return rc.State([net, *servers])


def _tenants(n: int) -> tuple[list[str], dict[str, Any]]:
    """``n`` tenant keys, and providers whose world already holds every tenant's state (a no-change resync)."""
    keys = [f"t{i}" for i in range(n)]
    providers: dict[str, Any] = {
        "bench_network": InMemoryProvider(BenchNetwork),
        "bench_server": InMemoryProvider(BenchServer),
    }
    for key in keys:
        for address, obj in tenant(key).items():
            providers[address.kind].objects[address] = obj
    return keys, providers


def _pass(ctl: StateController[str], keys: list[str]) -> tuple[float, float]:
    """CPU and wall time of one pass: every key enqueued, then the controller idle again."""
    gc.collect()
    cpu, wall = c.clock(), time.perf_counter()
    for key in keys:
        ctl.enqueue(key)
    ctl.wait_idle()
    return c.clock() - cpu, time.perf_counter() - wall


def resync(args: argparse.Namespace) -> None:
    keys, providers = _tenants(args.tenants)
    ctl: StateController[str] = StateController("resync", tenant, providers, resync=None)
    ctl.start()
    rows = []
    for n in (1, 2):
        cpu, wall = _pass(ctl, keys)
        rows.append([f"pass {n}", f"{len(keys):,}", c.seconds(cpu), c.seconds(wall), c.micros(cpu / len(keys))])
    ctl.stop()
    ctl.join()
    assert ctl.applies == 0, "nothing to apply in a no-change resync"
    c.table(
        f"StateController no-change resync: {args.tenants:,} keys x 10 resources, one worker",
        ["pass", "keys", "CPU", "wall", "CPU per key"],
        rows,
    )


def journaled_resync(args: argparse.Namespace) -> None:
    keys, providers = _tenants(args.journal_tenants)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="reconcile-bench-") as folder,
        Journal.open(f"sqlite:///{folder}/journal.db") as journal,
    ):
        for n, label in ((1, "pass 1 (read, write)"), (2, "pass 2 (memory)"), (3, "restart (read)")):
            if n != 2:
                ctl: StateController[str] = StateController("resync", tenant, providers, journal=journal, resync=None)
                ctl.start()
            cpu, wall = _pass(ctl, keys)
            rows.append([label, f"{len(keys):,}", c.seconds(cpu), c.seconds(wall), c.micros(wall / len(keys))])
            if n != 1:
                ctl.stop()
                ctl.join()
            assert ctl.applies == 0, "nothing to apply in a no-change resync"
        recorded = journal.backend.read(lambda tx: tx.one("SELECT COUNT(*) FROM reconcile_last_applied"))[0]
        assert recorded == len(keys), "every key's last applied state is recorded"
    c.table(
        f"StateController no-change resync with a journal (SQLite): {len(keys):,} keys x 10 resources, one worker",
        ["pass", "keys", "CPU", "wall", "wall per key"],
        rows,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the controller benchmarks and print their tables."""
    args = _parser().parse_args(argv)
    print(f"## Controller\n\n{c.environment()}")
    throughput(args)
    storm(args)
    latency(args)
    resync(args)
    journaled_resync(args)


if __name__ == "__main__":
    main()
