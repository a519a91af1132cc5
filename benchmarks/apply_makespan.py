"""Apply makespan on random step DAGs: ThreadExecutor against the lower bound, a level-by-level schedule and serial.

Usage: python benchmarks/apply_makespan.py [--sizes 1000,10000] [--workers 8,32,128] [--seed 1]

For each DAG size, two graphs ("wide", and "balanced": critical path about equal
to work / 32) and each worker count P, the plan of create steps is applied with
``ThreadExecutor(max_workers=P)`` through a provider that sleeps each step's
latency (drawn uniformly from 2-20 ms, stored in the resource), and the wall
time is measured. The lower bound is max(critical path, total work / P). The
level-by-level (barrier) schedule and the serial schedule are computed from the
same latencies, not slept through: a barrier schedule runs each dependency
level to completion (greedy on P workers, in plan order) before the next
starts; serial is the sum of latencies; "policy" is the executor's own
schedule simulated with zero overhead, so the gap between it and the measured
makespan is what threads and the interpreter cost. A second table gives the
per-step overhead of each executor with a provider that returns at once.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reconcile as rc


@rc.resource(kind="task")
class Task:
    name: str = rc.identity()
    ms: float = rc.spec(default=0.0)
    after: tuple[rc.Ref[Task], ...] = rc.spec(default=())


class SleepingProvider:
    """Creates tasks, each taking its ``ms`` of wall time (a stand-in for a slow API)."""

    def create(self, desired: Task, ctx: rc.Context) -> Task:
        if desired.ms:
            time.sleep(desired.ms / 1000)
        return desired


class InstantAsyncProvider:
    """An async provider that returns at once, for the overhead of awaiting instead of a thread hop."""

    async def create(self, desired: Task, ctx: rc.Context) -> Task:
        return desired


def random_dag(n: int, seed: int, window: int, *, zero: bool = False) -> rc.State:
    """``n`` tasks; each refers to 0-3 earlier tasks drawn from the ``window`` tasks before it.

    A narrow window makes a deep graph (a long critical path), a wide one a
    shallow graph with much parallel work. Latencies come from their own
    random stream, so graphs of one size and seed differ only in their edges.
    """
    edges, costs = random.Random(seed), random.Random(seed + 1)
    tasks = []
    for i in range(n):
        k = min(i, window, edges.randint(0, 3))
        parents = sorted(set(edges.sample(range(max(0, i - window), i), k))) if k else []
        ms = 0.0 if zero else costs.uniform(2.0, 20.0)
        tasks.append(Task(f"t{i:05d}", round(ms, 3), tuple(rc.ref(Task, f"t{j:05d}") for j in parents)))
    return rc.State(tasks)


def shapes(n: int, seed: int, p: int = 32) -> list[tuple[str, rc.Plan]]:
    """Two graphs of ``n`` steps: "wide" (window n/20) and "balanced", whose critical path is closest
    to its work / ``p`` (the case where neither bound is loose, hardest to schedule near the bound)."""
    wide = rc.plan(random_dag(n, seed, max(2, n // 20)), rc.State())
    best: tuple[float, rc.Plan] | None = None
    window = n // 4
    while window >= 2:
        plan = rc.plan(random_dag(n, seed, window), rc.State())
        cp, total, _barrier, _serial = bounds(plan, p)
        gap = abs(cp - total / p)
        if best is None or gap < best[0]:
            best = (gap, plan)
        window = int(window / 1.25)
    assert best is not None
    return [("wide", wide), ("balanced", best[1])]


def bounds(plan: rc.Plan, p: int) -> tuple[float, float, float, float]:
    """(critical path, total work, barrier makespan, serial makespan) in seconds for ``p`` workers."""
    cost = {s: plan.changes[s.address].after.ms / 1000 for s in plan.steps}
    finish: dict[rc.Step, float] = {}
    level: dict[rc.Step, int] = {}
    for s in plan.steps:
        preds = plan.predecessors.get(s, ())
        finish[s] = cost[s] + max((finish[q] for q in preds), default=0.0)
        level[s] = 1 + max((level[q] for q in preds), default=-1)
    total = sum(cost.values())
    by_level: dict[int, list[rc.Step]] = {}
    for s in plan.steps:
        by_level.setdefault(level[s], []).append(s)
    barrier = 0.0
    for steps in by_level.values():
        free = [0.0] * min(p, len(steps))
        for s in steps:
            heapq.heapreplace(free, free[0] + cost[s])
        barrier += max(free)
    return max(finish.values()), total, barrier, total


def simulated(plan: rc.Plan, p: int) -> float:
    """The makespan ThreadExecutor's policy would reach with no overhead at all (same latencies).

    Longest remaining chain of steps first, ties in plan order, ``p`` workers,
    a step ready when its last dependency ends. Comparing it with the measured
    makespan separates what the policy costs from what threads and the
    interpreter cost.
    """
    cost = {s: plan.changes[s.address].after.ms / 1000 for s in plan.steps}
    dependents: dict[rc.Step, list[rc.Step]] = {s: [] for s in plan.steps}
    for s, preds in plan.predecessors.items():
        for q in preds:
            dependents[q].append(s)
    chain: dict[rc.Step, int] = {}
    for s in reversed(plan.steps):
        chain[s] = 1 + max((chain[d] for d in dependents[s]), default=0)
    index = {s: i for i, s in enumerate(plan.steps)}
    waiting = {s: len(plan.predecessors.get(s, ())) for s in plan.steps}
    ready = [(-chain[s], index[s], s) for s in plan.steps if not waiting[s]]
    heapq.heapify(ready)
    running: list[tuple[float, int, rc.Step]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < p:
            _c, i, s = heapq.heappop(ready)
            heapq.heappush(running, (now + cost[s], i, s))
        now, _i, s = heapq.heappop(running)
        for d in dependents[s]:
            waiting[d] -= 1
            if not waiting[d]:
                heapq.heappush(ready, (-chain[d], index[d], d))
    return now


def makespan_rows(sizes: Sequence[int], workers: Sequence[int], seed: int) -> list[str]:
    rows = [
        "| steps | shape | P | critical path s | work/P s | bound s | executor s | ratio | policy s | ratio "
        "| barrier s | ratio | serial s | ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    for n in sizes:
        for shape, plan in shapes(n, seed + n):
            for p in workers:
                cp, total, barrier, serial = bounds(plan, p)
                bound = max(cp, total / p)
                start = time.perf_counter()
                result = rc.apply(plan, {"task": SleepingProvider()}, executor=rc.ThreadExecutor(max_workers=p))
                measured = time.perf_counter() - start
                assert result.ok, result.errors
                policy = simulated(plan, p)
                rows.append(
                    f"| {n:,} | {shape} | {p} | {cp:.2f} | {total / p:.2f} | {bound:.2f} | {measured:.2f} | "
                    f"{measured / bound:.3f} | {policy:.2f} | {policy / bound:.3f} | {barrier:.2f} | "
                    f"{barrier / bound:.2f} | {serial:.1f} | {serial / bound:.1f} |"
                )
                print(rows[-1], flush=True)
    return rows


def overhead_rows(n: int, seed: int) -> list[str]:
    plan = rc.plan(random_dag(n, seed, max(2, n // 20), zero=True), rc.State())
    pool = ThreadPoolExecutor(8)
    sync, coro = SleepingProvider(), InstantAsyncProvider()
    executors: list[tuple[str, rc.Executor, Any]] = [
        ("SerialExecutor()", rc.SerialExecutor(), sync),
        ("ThreadExecutor(8)", rc.ThreadExecutor(8), sync),
        ("ThreadExecutor(32)", rc.ThreadExecutor(32), sync),
        ("ThreadExecutor(128)", rc.ThreadExecutor(128), sync),
        ("AsyncExecutor(32), sync provider", rc.AsyncExecutor(32), sync),
        ("AsyncExecutor(32), async provider", rc.AsyncExecutor(32), coro),
        ("FuturesExecutor(ThreadPoolExecutor(8))", rc.FuturesExecutor(pool), sync),
    ]
    rows = ["| executor | steps | apply s | per step µs |", "|---|---:|---:|---:|"]
    print("\n".join(rows), flush=True)
    for name, executor, provider in executors:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            result = rc.apply(plan, {"task": provider}, executor=executor)
            best = min(best, time.perf_counter() - start)
            assert result.ok, result.errors
        rows.append(f"| {name} | {n:,} | {best:.3f} | {best / n * 1e6:.1f} |")
        print(rows[-1], flush=True)
    pool.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="DAG sizes, comma-separated")
    parser.add_argument("--workers", default="8,32,128", help="worker counts P, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    workers = [int(x) for x in args.workers.split(",")]
    print("Makespan: ThreadExecutor measured. Computed from the same latencies, not slept: policy (the executor's")
    print("schedule with zero overhead), barrier (level by level) and serial. Latencies uniform in 2-20 ms;")
    print("ratio = makespan / bound, bound = max(critical path, work / P).\n")
    makespan_rows(sizes, workers, args.seed)
    print("\nPer-step overhead: apply() wall time / steps with a provider that returns at once (best of 3),")
    print("including plan bookkeeping (ApplyRun, scheduler set-up, the result State).\n")
    overhead_rows(max(sizes), args.seed)


if __name__ == "__main__":
    main()
