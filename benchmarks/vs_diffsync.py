"""Against diffsync: the same flat records diffed and synced by diffsync and by ``reconcile``, in one process.

The data: N records with two identity fields (``site``, ``name``) and five
attributes; 90% of the addresses are on both sides (a tenth of those, 10% of
N, with one attribute changed), 5% only on the desired side, 5% only on the
actual side. The rows are plain tuples built once; each library then builds
its own objects from them:

- diffsync 2.x: a ``DiffSyncModel`` per record in an ``Adapter`` per side
  ("load"), ``dst.diff_from(src)`` ("diff"), ``dst.sync_from(src)`` ("sync":
  diff again, then the models' default create/update/delete, which only touch
  the adapter's store: the no-op hooks). structlog is set to drop messages below
  WARNING, the cheapest logging diffsync allows.
- reconcile: a resource per record in a ``State`` per side ("load", with full
  validation), ``plan(desired, actual)`` ("diff"), ``plan`` then ``apply`` with
  providers whose create/update return the desired resource and whose delete
  does nothing ("sync"; the serial executor, and the resulting actual State).

Times are the best of ``--repeat`` runs, each on freshly loaded objects, as
CPU time of this process (``time.process_time``), so other processes on a
shared machine do not count. Peak memory is tracemalloc's peak for load + diff
+ sync of one library from the same rows (allocations made outside Python's
allocator, such as pydantic-core's own buffers, are not traced). The apply
overhead line is reconcile's sync time minus its diff time, per step.

Run: ``python -m benchmarks vs_diffsync [--sizes 1000 10000 50000] [--repeat 3]``.
Needs the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import reconcile as rc

from . import _common as c

SIZES = (1_000, 10_000, 50_000)

Row = tuple[str, str, str, int, str, int, bool]


@rc.resource(kind="record")
class Record:
    """The reconcile side of one record."""

    site: str = rc.identity()
    name: str = rc.identity()
    a: str = rc.spec()
    b: int = rc.spec()
    c: str = rc.spec()
    d: int = rc.spec()
    e: bool = rc.spec()


class NoopProvider:
    """A provider that accepts every call and does nothing."""

    def list(self) -> list[Record]:
        return []

    def read(self, address: rc.Address) -> Record | None:
        return None

    def create(self, desired: Record, ctx: rc.Context) -> Record:
        return desired

    def update(self, actual: Record, desired: Record, ctx: rc.Context) -> Record:
        return desired

    def delete(self, actual: Record, ctx: rc.Context) -> None:
        return None


def _row(i: int, shift: int) -> Row:
    return (f"site-{i % 50}", f"device-{i}", f"model-{i % 17}", i % 1000 + shift, f"role-{i % 5}", i % 4094, i % 2 == 0)


def rows(n: int, seed: int = 7) -> tuple[list[Row], list[Row]]:
    """Desired and actual rows for ``n`` addresses with the documented mix."""
    rng = random.Random(seed)
    roles = ["both"] * n
    order = list(range(n))
    rng.shuffle(order)
    for i in order[: n // 20]:
        roles[i] = "desired"
    for i in order[n // 20 : n // 10]:
        roles[i] = "actual"
    for i in order[n // 10 : n // 5]:
        roles[i] = "differ"
    desired: list[Row] = []
    actual: list[Row] = []
    for i in range(n):
        if roles[i] != "actual":
            desired.append(_row(i, 0))
        if roles[i] != "desired":
            # Built separately: the actual side shares no value object with the desired one.
            actual.append(_row(i, 1 if roles[i] == "differ" else 0))
    return desired, actual


def reconcile_side() -> dict[str, Callable[..., Any]]:
    """Load, diff and sync functions for reconcile."""
    providers = {"record": NoopProvider()}

    def load(data: tuple[list[Row], list[Row]]) -> tuple[rc.State, rc.State]:
        desired, actual = data
        return rc.State([Record(*r) for r in desired]), rc.State([Record(*r) for r in actual])

    def diff(states: tuple[rc.State, rc.State]) -> rc.Plan:
        return rc.plan(*states)

    def sync(states: tuple[rc.State, rc.State]) -> rc.ApplyResult:
        result = rc.apply(rc.plan(*states), providers)
        assert result.ok
        return result

    return {"load": load, "diff": diff, "sync": sync}


def diffsync_side() -> dict[str, Callable[..., Any]] | None:
    """Load, diff and sync functions for diffsync, or ``None`` if it is not installed."""
    try:
        import structlog
        from diffsync import Adapter, DiffSyncModel
    except ImportError:
        return None
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    class RecordModel(DiffSyncModel):
        _modelname = "record"
        _identifiers = ("site", "name")
        _attributes = ("a", "b", "c", "d", "e")

        site: str
        name: str
        a: str
        b: int
        c: str
        d: int
        e: bool

    class Side(Adapter):
        record = RecordModel
        top_level: ClassVar[list[str]] = ["record"]

    fields = ("site", "name", "a", "b", "c", "d", "e")

    def fill(data: list[Row]) -> Any:
        side = Side()
        for r in data:
            side.add(RecordModel(**dict(zip(fields, r, strict=True))))
        return side

    def load(data: tuple[list[Row], list[Row]]) -> tuple[Any, Any]:
        desired, actual = data
        return fill(desired), fill(actual)

    def diff(sides: tuple[Any, Any]) -> Any:
        src, dst = sides
        return dst.diff_from(src)

    def sync(sides: tuple[Any, Any]) -> Any:
        src, dst = sides
        return dst.sync_from(src)

    return {"load": load, "diff": diff, "sync": sync}


def _times(side: dict[str, Callable[..., Any]], data: tuple[list[Row], list[Row]], repeat: int) -> dict[str, float]:
    load = side["load"]
    out = {"load": c.measure(lambda: data, load, repeat)[0]}
    for step in ("diff", "sync"):
        out[step] = c.measure(lambda: load(data), side[step], repeat)[0]
    return out


def _peak(side: dict[str, Callable[..., Any]], data: tuple[list[Row], list[Row]]) -> float:
    def everything(d: tuple[list[Row], list[Row]]) -> Any:
        loaded = side["load"](d)
        return loaded, side["diff"](loaded), side["sync"](side["load"](d))

    return c.peak_memory(lambda: data, everything)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the comparison and print its tables."""
    args = c.parser(__doc__ or "", SIZES).parse_args(argv)
    print(f"## Against diffsync\n\n{c.environment()}")
    theirs = diffsync_side()
    if theirs is None:
        print("\ndiffsync is not installed: pip install -e '.[bench]'")
        return
    import diffsync

    print(f"diffsync {getattr(diffsync, '__version__', None) or _dist_version('diffsync')}, reconcile {rc.__version__}")
    ours = reconcile_side()
    rows_out = []
    ratio_rows = []
    for n in args.sizes:
        data = rows(n)
        steps = sum(1 for _ in rc.plan(*ours["load"](data)).steps)
        t_ours = _times(ours, data, args.repeat)
        t_theirs = _times(theirs, data, args.repeat)
        if args.no_memory:
            m_ours = m_theirs = float("nan")
        else:
            m_ours, m_theirs = _peak(ours, data), _peak(theirs, data)
        for name, t, m in (("diffsync", t_theirs, m_theirs), ("reconcile", t_ours, m_ours)):
            rows_out.append(
                [
                    name,
                    f"{n:,}",
                    c.seconds(t["load"]),
                    c.seconds(t["diff"]),
                    c.micros(t["diff"] / n),
                    c.seconds(t["sync"]),
                    c.megabytes(m) if m == m else "-",
                ]
            )
        ratio_rows.append(
            [
                f"{n:,}",
                f"{t_theirs['diff'] / t_ours['diff']:.1f}x",
                f"{t_theirs['sync'] / t_ours['sync']:.1f}x",
                f"{t_theirs['load'] / t_ours['load']:.1f}x",
                f"{m_ours / m_theirs:.2f}" if m_ours == m_ours else "-",
                c.micros((t_ours["sync"] - t_ours["diff"]) / steps),
            ]
        )
    c.table(
        "diff and sync of flat records (CPU time, best of runs)",
        ["library", "N", "load", "diff", "diff per record", "sync (diff + apply)", "peak memory"],
        rows_out,
    )
    c.table(
        "reconcile against diffsync",
        ["N", "diff: faster by", "sync: faster by", "load: faster by", "memory: ours / theirs", "apply per step"],
        ratio_rows,
    )


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
