"""Feature-flag benchmark: what a flag change costs the control plane, which re-evaluates every flag for every cell.

``put_flag`` writes the flag and, in the same transaction, evaluates all
flags for all N cells (labels, release, the rules in order, the stable hash
for percentages) and rewrites the specs whose values changed. Each run flips
one flag's percentage so that about half the cells change. The baseline is a
single-row write through the same store (an audit entry): one commit of the
backend's writer with no evaluation. Also printed: one ``Flag.evaluate`` on
its own, per cell.

CPU time of this process (the store's writer thread included), best of
``--repeat``; SQLite store in a temporary directory.

Run: ``python -m benchmarks fleet_flags [--sizes 100 1000] [--flags 10] [--repeat 3]``.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Sequence
from typing import Any

from reconcile.fleet import Cell, Release, ReleaseComponent
from reconcile.fleet.flags import Flag, FlagContext
from reconcile.fleet.store import BackendFleetStore

from . import _common as c

SIZES = (100, 1000)


def definition(key: str, percentage: float) -> dict[str, Any]:
    """A flag shaped like a real one: a customer rule, a label rule with a release range, a percentage for the rest."""
    return {
        "key": key,
        "type": "bool",
        "default": False,
        "rules": [
            {"match": {"customer": ["customer-3", "customer-7"]}, "value": True},
            {"match": {"labels": {"tier": "gold"}, "release": ">=2026.12.1 <2027.1.0"}, "value": True},
            {"match": {"stage": ["saas", "dedicated"]}, "value": True, "percentage": percentage},
        ],
    }


def fleet(root: pathlib.Path, cells: int, flags: int) -> BackendFleetStore:
    store = BackendFleetStore.open(f"sqlite:///{root / 'fleet.db'}")
    store.publish_release(Release("2026.12.1", (ReleaseComponent("workspaces", "1.0.0", "a" * 64),), 1.0))
    for i in range(cells):
        labels = {"tier": "gold" if i % 4 == 0 else "silver", "ring": str(i % 3)}
        stage = ("staging", "saas", "dedicated")[i % 3]
        store.create_cell(Cell(f"cell-{i}", stage, f"customer-{i % 50}", "eu", labels=labels), "h", 1e12)
    for j in range(flags):
        store.put_flag(Flag.from_json(definition(f"flag-{j}", 10)), 1.0)
    return store


def figures(n: int, flags: int, repeat: int) -> list[Any]:
    """One row: the flag change, the baseline write, and one evaluation, for ``n`` cells."""
    with tempfile.TemporaryDirectory() as tmp:
        store = fleet(pathlib.Path(tmp), n, flags)
        # Alternating 10% and 60%: every change moves about half the cells' values.
        flips = iter([10.0, 60.0] * repeat)

        def change(_: None) -> None:
            store.put_flag(Flag.from_json(definition("flag-0", next(flips))), 2.0)

        best, _ = c.measure(lambda: None, change, repeat)
        base, _ = c.measure(lambda: None, lambda _: store.audit(2.0, "admin", "bench", "x"), repeat)
        store.close()
    flag = Flag.from_json(definition("flag-0", 50))
    ctxs = [
        FlagContext(f"cell-{i}", "saas", f"customer-{i % 50}", "eu", {"tier": "gold"}, "2026.12.1") for i in range(n)
    ]
    each, _ = c.measure(lambda: None, lambda _: [flag.evaluate(x) for x in ctxs], repeat)
    ratio = f"{best / base:.0f}x" if base else "-"
    return [n, flags, c.seconds(best), c.micros(best / n), c.seconds(base), ratio, c.micros(each / n)]


def main(argv: Sequence[str] | None = None) -> None:
    p = c.parser(__doc__ or "", SIZES)
    p.add_argument("--flags", type=int, default=10, help="flags stored (default: %(default)s)")
    args = p.parse_args(argv)
    print(c.environment())
    c.table(
        "a flag change, re-evaluating every flag for every cell (SQLite)",
        ["cells", "flags", "put_flag", "per cell", "1-row write", "vs 1-row write", "one evaluate"],
        [figures(n, args.flags, args.repeat) for n in args.sizes],
    )


if __name__ == "__main__":
    main()
