"""Controller-tick benchmark: ``observe`` + ``plan`` when nothing changed.

A controller re-plans on every tick; most ticks find nothing to do. This times
one such tick for N resources of the layered shape (10 layers, each resource
refs 1 to 3 of the layer above, see ``benchmarks/_data.py``): ``observe`` lists
every in-memory provider and builds the actual State (validated: types,
duplicates, cycles), then ``plan`` compares it with the desired State, which a
controller builds once and keeps (so it is not part of the tick).

Two models of the same shape:

- "a kind per layer": layer k is kind ``layer<k>`` with refs typed
  ``Ref[Layer<k-1>]``, like a real model (network, subnet, server ...). No
  cycle can exist between those kinds, so ``observe`` does not look refs up
  until something asks for the dependency graph.
- "one kind": every resource is a ``node`` that refs other ``node``s, so the
  observed state's refs are resolved and checked for cycles on the spot.

``--repeat`` ticks run back to back with no forced garbage collection in
between, as in a controller, so the collector's share shows up. Printed: the
best tick split into observe and plan, its time per resource, and the median
and worst tick.

Run: ``python -m benchmarks tick [--sizes 10000 100000] [--repeat 10]``.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import reconcile as rc
from reconcile.testing import InMemoryProvider

from . import _common as c
from ._data import LAYER_CLASSES, NO_CHANGE, Node, generate

SIZES = (10_000, 100_000)
MODELS = {"a kind per layer": True, "one kind": False}


def _world(actual: list[Any], classes: Sequence[type]) -> dict[str, InMemoryProvider[Any]]:
    providers = {rc.resource_type(cls).kind: InMemoryProvider(cls) for cls in classes}
    for obj in actual:
        providers[rc.resource_type(obj).kind].objects[rc.address_of(obj)] = obj
    return providers


def main(argv: Sequence[str] | None = None) -> None:
    """Run the controller-tick benchmark and print its table."""
    p = c.parser(__doc__ or "", SIZES)
    p.set_defaults(repeat=10)
    args = p.parse_args(argv)
    print(f"## Controller tick\n\n{c.environment()}")
    rows = []
    for model, per_layer in MODELS.items():
        for n in args.sizes:
            pair = generate("layered", n, NO_CHANGE, kind_per_layer=per_layer)
            desired = rc.State(pair.desired)
            providers = _world(pair.actual, LAYER_CLASSES if per_layer else [Node])
            del pair
            # Ticks run back to back, as in a controller: no forced collection in
            # between, so the garbage collector's share is in the figures.
            gc.collect()
            ticks = []
            for _ in range(args.repeat):
                t0 = c.clock()
                actual = rc.observe(providers)
                t1 = c.clock()
                plan = rc.plan(desired, actual)
                t2 = c.clock()
                assert plan.is_empty, plan
                ticks.append((t2 - t0, t1 - t0, t2 - t1))
                del actual, plan
            tick, observed, planned = min(ticks)
            median = c.median([t[0] for t in ticks])
            worst = max(t[0] for t in ticks)
            rows.append(
                [
                    model,
                    f"{n:,}",
                    c.seconds(observed),
                    c.seconds(planned),
                    c.seconds(tick),
                    c.micros(tick / n),
                    c.seconds(median),
                    c.seconds(worst),
                ]
            )
    c.table(
        f"no-change tick: observe + plan ({args.repeat} ticks back to back; best tick split in observe and plan)",
        ["model", "N", "observe", "plan", "best tick", "per resource", "median tick", "worst tick"],
        rows,
    )


if __name__ == "__main__":
    main()
