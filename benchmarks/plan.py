"""Plan benchmark: time and peak memory of ``reconcile.plan`` for generated states.

Three shapes (see ``benchmarks/_data.py``):

- flat: no refs;
- layered: 10 layers, each resource refs 1 to 3 resources of the layer above;
- fanout: 5 hubs, every other resource refs one of them (thousands of dependents each).

The change mix is 5% create, 10% update, 2% replace, 5% delete of the addresses
(replacements also turn the dependents that ref them into updates, by rule 3).
For each shape and size the script prints the time to build both States (best
of ``--repeat`` runs, each from freshly generated resources, so no address kept
on an instance by an earlier run helps), the plan time (best of ``--repeat``
runs, each on freshly built States so no cache built by an earlier run helps),
their sum, the time per resource, the peak memory
allocated by ``plan`` (tracemalloc, in a separate run) and the scaling ratio
t(largest)/t(10,000). For scale, "the floor" times a plain ``a == b`` over the
same layered records paired by address, the least any planner written in
Python does per address, and the time to hash every address of the desired
State, what each dict lookup by address starts with; both give their own
ratio: on a machine whose CPU cache holds the 10,000-resource states but not
the 100,000-resource ones, those ratios are already well above 10. A last table gives the core issue's figure: the
layered shape with 10% of the addresses updated and nothing else; the very last
one the build time of a State where one resource holds 10,000 to 40,000 refs.

Run: ``python -m benchmarks plan [--sizes 1000 10000 100000] [--repeat 3] [--no-memory] [--many-refs 10000 20000]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reconcile as rc

from . import _common as c
from ._data import CHANGE_MIX, SHAPES, Mix, Node, generate

SIZES = (1_000, 10_000, 100_000)
UPDATES_ONLY = Mix(create=0.0, update=0.10, replace=0.0, delete=0.0)


def _run_shape(
    shape: str, sizes: Sequence[int], mix: Mix, repeat: int, memory: bool
) -> tuple[list[list[str]], dict[int, float]]:
    rows = []
    best: dict[int, float] = {}
    for n in sizes:
        pair = generate(shape, n, mix)
        summary = rc.plan(*pair.states()).summary()
        # Each build from resources made afresh (no address kept on them yet),
        # as a program that reads its desired state and observes the world does.
        built, _ = c.measure(lambda n=n: generate(shape, n, mix), lambda p: p.states(), repeat)
        t, times = c.measure(pair.states, lambda s: rc.plan(*s), repeat)
        best[n] = t
        peak = c.megabytes(c.peak_memory(pair.states, lambda s: rc.plan(*s))) if memory else "-"
        shown = (rc.Action.CREATE, rc.Action.UPDATE, rc.Action.REPLACE, rc.Action.DELETE)
        changes = " ".join(f"{a.marker}{summary[a]}" for a in shown)
        rows.append(
            [
                shape,
                f"{n:,}",
                changes,
                c.seconds(built),
                c.seconds(t),
                c.seconds(built + t),
                c.micros(t / n),
                peak,
                c.spread(times),
            ]
        )
    return rows, best


def _floor(n: int, repeat: int) -> tuple[float, float]:
    """Best times of ``a == b`` over the (desired, actual) pairs that share an address, and of hashing every address.

    The first is Python's own cost per address; the second shows what a dict
    lookup by address starts with (an ``Address`` is one string, whose hash is
    computed once and then kept in it).
    """
    pair = generate("layered", n, CHANGE_MIX)
    actual = {(type(o), o.name): o for o in pair.actual}
    pairs = [(o, actual[type(o), o.name]) for o in pair.desired if (type(o), o.name) in actual]

    def scan(ps: list[tuple[Any, Any]]) -> None:
        for a, b in ps:
            a == b  # noqa: B015

    def hash_all(keys: list[rc.Address]) -> None:
        for k in keys:
            hash(k)

    state = rc.State(pair.desired)
    keys = list(state.addresses)
    return c.measure(lambda: pairs, scan, repeat)[0], c.measure(lambda: keys, hash_all, repeat)[0]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the plan benchmark and print its tables."""
    p = c.parser(__doc__ or "", SIZES)
    p.add_argument(
        "--many-refs", type=int, nargs="+", default=list(MANY_REFS), help="refs held by one resource (%(default)s)"
    )
    args = p.parse_args(argv)
    print(f"## Plan benchmark\n\n{c.environment()}")
    header = [
        "shape",
        "N",
        "changes (+ ~ -/+ -)",
        "build both States",
        "plan",
        "build + plan",
        "plan per resource",
        "plan peak memory",
        "spread",
    ]
    rows: list[list[str]] = []
    ratios = []
    for shape in SHAPES:
        shape_rows, best = _run_shape(shape, args.sizes, CHANGE_MIX, args.repeat, not args.no_memory)
        rows += shape_rows
        big = max(best)
        if 10_000 in best and big > 10_000:
            ratios.append([f"plan, {shape}", f"t({big:,}) / t(10,000)", f"{best[big] / best[10_000]:.1f}"])
    c.table("plan: 5% create, 10% update, 2% replace, 5% delete (best of runs)", header, rows)
    floor = {n: _floor(n, args.repeat) for n in args.sizes}
    c.table(
        "the floor: a plain attrs equality scan of the same layered records, paired by address",
        ["N", "scan", "per record", "hash every desired address", "per address"],
        [[f"{n:,}", c.seconds(t), c.micros(t / n), c.seconds(h), c.micros(h / n)] for n, (t, h) in floor.items()],
    )
    big = max(floor)
    if 10_000 in floor and big > 10_000:
        ratios.append(["the floor", f"t({big:,}) / t(10,000)", f"{floor[big][0] / floor[10_000][0]:.1f}"])
        ratios.append(["hashing addresses", f"t({big:,}) / t(10,000)", f"{floor[big][1] / floor[10_000][1]:.1f}"])
    if ratios:
        c.table("scaling", ["what", "ratio", "value"], ratios)
    core_sizes = [n for n in args.sizes if n >= 10_000] or list(args.sizes)
    rows, _ = _run_shape("layered", core_sizes, UPDATES_ONLY, args.repeat, False)
    c.table("issue 2 figure: plan() of layered resources, 10% updated", header, rows)
    c.table(
        "one resource holding many refs: building the State (linear: the ratio is about the size ratio)",
        ["refs", "build State", "t / t(first)"],
        _many_refs(args.many_refs, args.repeat),
    )


MANY_REFS = (10_000, 20_000, 40_000)


def _many_refs(sizes: Sequence[int], repeat: int) -> list[list[str]]:
    """Build times of a State of N nodes plus one node whose ``needs`` refs all of them (issue 9: was quadratic)."""
    rows = []
    first = None
    for n in sizes:

        def prepare(n: int = n) -> list[Any]:
            nodes = [Node(f"n{i}", "img", 1, {}, ()) for i in range(n)]
            return [*nodes, Node("hub", "img", 1, {}, tuple(rc.ref(Node, f"n{i}") for i in range(n)))]

        t, _ = c.measure(prepare, rc.State, repeat)
        first = first or t
        rows.append([f"{n:,}", c.seconds(t), f"{t / first:.1f}"])
    return rows


if __name__ == "__main__":
    main()
