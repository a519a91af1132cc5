"""Journal benchmark: what durable applies cost (SQLite journal against no journal), group commit, recovery.

Five figures, each on a journal in a fresh SQLite file on the temp folder's disk
(WAL, ``synchronous=FULL``: every commit is an fsync):

- An apply of N creates through ``ThreadExecutor(32)`` against a provider that
  sleeps 5 ms per call (a fast API): wall time with the journal and without,
  and their ratio (goal: at most 1.10).
- The same with a provider that returns at once: the journal's cost per step
  in µs of wall time (goal: at most 50 µs).
- The group writer during those applies: commits per second and steps per
  commit (intents are written ahead in groups; outcomes ride along with later
  commits).
- The journal's CPU time per step (every thread of the process, the writer's
  included) in a serial apply with a 0 ms provider: the part of its cost that
  does not depend on the disk or on other processes.
- ``Journal.recover`` of N pending creates (an apply killed after writing every
  intent), with an in-memory ``read``.

Wall time is the figure here (the journal waits for the disk, which CPU time
would not show), so run it on a quiet machine; the best of ``--repeat`` runs
is printed.

Run: ``python -m benchmarks journal [--sizes 10000] [--repeat 3] [--latency 0.005] [--url URL]``.
``--url`` measures another store (``postgresql://...``) instead of a fresh SQLite file.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence

import reconcile as rc
from reconcile.journal import Journal
from reconcile.testing import InMemoryProvider

from . import _common as c

SIZES = (10_000,)


@rc.resource(kind="bench_item")
class Item:
    name: str = rc.identity()
    size: int = rc.spec(default=0)
    tags: dict[str, str] = rc.spec(factory=dict)
    item_id: str | None = rc.computed()


class SlowProvider(InMemoryProvider[Item]):
    """An in-memory provider whose create takes ``latency`` seconds, like a call to an API."""

    def __init__(self, latency: float) -> None:
        super().__init__(Item)
        self.latency = latency

    def create(self, desired: Item, ctx: rc.Context) -> Item:
        if self.latency:
            time.sleep(self.latency)
        return super().create(desired, ctx)


def _desired(n: int) -> rc.State:
    return rc.State([Item(f"item{i:06d}", size=i, tags={"team": "infra", "tier": str(i % 3)}) for i in range(n)])


class _Store:
    """A fresh journal per run: a new SQLite file, or a new schema-less reuse of ``--url``."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.folder = tempfile.mkdtemp(prefix="reconcile-bench-")
        self.count = 0

    def open(self) -> Journal:
        self.count += 1
        if self.url:
            journal = Journal.open(self.url)
            journal.backend.write(
                lambda tx: [
                    tx.execute(f"DELETE FROM {t}")
                    for t in ("reconcile_ops", "reconcile_applies", "reconcile_known", "reconcile_open_keys")
                ]
            )
            return journal
        return Journal.open(f"sqlite:///{self.folder}/journal{self.count}.db")

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _apply(n: int, latency: float, store: _Store | None) -> tuple[float, int, int]:
    """Wall seconds of one apply of ``n`` creates, and the journal's commits and ops (0 without a journal)."""
    providers = {"bench_item": SlowProvider(latency)}
    plan = rc.plan(_desired(n), rc.observe(providers))
    journal = store.open() if store else None
    commits = ops = 0
    try:
        if journal is not None:
            before_commits, before_ops = journal.backend.commits, journal.backend.ops
        start = time.perf_counter()
        result = rc.apply(plan, providers, executor=rc.ThreadExecutor(32), journal=journal)
        wall = time.perf_counter() - start
        assert result.ok, result
        if journal is not None:
            commits = journal.backend.commits - before_commits
            ops = journal.backend.ops - before_ops
    finally:
        if journal is not None:
            journal.close()
    return wall, commits, ops


def _cpu_per_step(n: int, store: _Store | None) -> float:
    """CPU seconds per step (every thread of this process) of a serial apply of ``n`` creates, 0 ms provider."""
    providers = {"bench_item": SlowProvider(0.0)}
    plan = rc.plan(_desired(n), rc.observe(providers))
    journal = store.open() if store else None
    try:
        start = c.clock()
        assert rc.apply(plan, providers, executor=rc.SerialExecutor(), journal=journal).ok
        if journal is not None:
            journal.backend.flush()
        return (c.clock() - start) / n
    finally:
        if journal is not None:
            journal.close()


def _best(runs: list[tuple[float, int, int]]) -> tuple[float, int, int]:
    return min(runs, key=lambda r: r[0])


def _recovery(n: int, store: _Store) -> float:
    providers = {"bench_item": InMemoryProvider(Item)}
    plan = rc.plan(_desired(n), rc.observe(providers))
    with store.open() as journal:
        log = journal.begin(plan, providers)
        for step in plan.steps:
            log.intent(step, 1)
        # The dead apply made every other object before it died.
        for i, step in enumerate(plan.steps):
            if i % 2 == 0:
                providers["bench_item"].create(plan.changes[step.address].after, rc.Context(step, lambda a: None))
        start = time.perf_counter()
        report = journal.recover(providers)
        wall = time.perf_counter() - start
        assert len(report) == n and len(report.adopted) == (n + 1) // 2
    return wall


def main(argv: Sequence[str] | None = None) -> None:
    """Run the journal benchmark and print its tables."""
    p = c.parser(__doc__ or "", SIZES)
    p.add_argument("--latency", type=float, default=0.005, help="provider latency in seconds (default: %(default)s)")
    p.add_argument("--url", default=None, help="a store URL to measure instead of a fresh SQLite file")
    args = p.parse_args(argv)
    store = _Store(args.url)
    print(f"## Journal\n\n{c.environment()}\nStore: {args.url or 'SQLite file in ' + store.folder}")
    try:
        rows = []
        writer = []
        for n in args.sizes:
            for label, latency in ((f"{args.latency * 1000:g} ms provider", args.latency), ("0 ms provider", 0.0)):
                bare = _best([_apply(n, latency, None) for _ in range(args.repeat)])
                journaled = _best([_apply(n, latency, store) for _ in range(args.repeat)])
                per_step = (journaled[0] - bare[0]) / n
                rows.append(
                    [
                        label,
                        n,
                        c.seconds(bare[0]),
                        c.seconds(journaled[0]),
                        f"{journaled[0] / bare[0]:.2f}",
                        c.micros(per_step),
                    ]
                )
                wall, commits, _ops = journaled
                writer.append([label, n, commits, f"{commits / wall:.0f}", f"{n / max(commits, 1):.1f}"])
        c.table(
            "Apply with ThreadExecutor(32): journal against none (wall time, best run)",
            ["provider", "steps", "no journal", "journal", "ratio (goal <= 1.10)", "journal cost per step"],
            rows,
        )
        c.table(
            "Group writer during the journaled applies",
            ["provider", "steps", "commits", "commits per second", "steps per commit"],
            writer,
        )
        cpu = []
        for n in args.sizes:
            bare_cpu = min(_cpu_per_step(n, None) for _ in range(args.repeat))
            journal_cpu = min(_cpu_per_step(n, store) for _ in range(args.repeat))
            cpu.append([n, c.micros(bare_cpu), c.micros(journal_cpu), c.micros(journal_cpu - bare_cpu)])
        c.table(
            "CPU time per step, SerialExecutor, 0 ms provider (all threads, the writer's included)",
            ["steps", "no journal", "journal", "journal CPU per step"],
            cpu,
        )
        recovery = [[n, c.seconds(min(_recovery(n, store) for _ in range(args.repeat)))] for n in args.sizes]
        c.table(
            "Recovery of pending creates (half of them found and adopted)", ["pending intents", "recover()"], recovery
        )
    finally:
        store.close()


if __name__ == "__main__":
    main()
