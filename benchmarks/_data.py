"""Generated resource sets for the benchmarks: the resource classes and the flat, layered and fan-out shapes."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs

import reconcile as rc

LAYERS = 10
HUBS = 5


@rc.resource(kind="node")
class Node:
    """A resource with a few typical fields and 0 to 3 refs to other nodes."""

    name: str = rc.identity()
    image: str = rc.spec(replace_on_change=True)
    size: int = rc.spec()
    labels: dict[str, str] = rc.spec(factory=dict)
    needs: tuple[rc.Ref[Node], ...] = rc.spec(default=())
    node_id: str | None = rc.computed()


def _layer_class(layer: int, above: type | None) -> type:
    # The same fields as Node, with refs typed to the kind of the layer above,
    # like a real model (network <- subnet <- server ...): the kind graph is a DAG.
    needs = tuple[rc.Ref[above], ...] if above is not None else tuple[str, ...]  # type: ignore[valid-type]
    namespace = {
        "__annotations__": {
            "name": str,
            "image": str,
            "size": int,
            "labels": dict[str, str],
            "needs": needs,
            "node_id": str | None,
        },
        "__doc__": f"A resource of layer {layer}.",
        "name": rc.identity(),
        "image": rc.spec(replace_on_change=True),
        "size": rc.spec(),
        "labels": rc.spec(factory=dict),
        "needs": rc.spec(default=()),
        "node_id": rc.computed(),
    }
    return rc.resource(kind=f"layer{layer}")(type(f"Layer{layer}", (), namespace))


LAYER_CLASSES: list[type] = []
for _k in range(LAYERS):
    LAYER_CLASSES.append(_layer_class(_k, LAYER_CLASSES[-1] if LAYER_CLASSES else None))


@attrs.frozen
class Mix:
    """Fractions of the addresses that change, by action; the rest is unchanged."""

    create: float = 0.05
    update: float = 0.10
    replace: float = 0.02
    delete: float = 0.05


CHANGE_MIX = Mix()
NO_CHANGE = Mix(0.0, 0.0, 0.0, 0.0)


@attrs.frozen
class Pair:
    """A generated desired state and actual state, as plain lists of resources."""

    desired: list[Any]
    actual: list[Any]

    def states(self) -> tuple[rc.State, rc.State]:
        """Both lists as validated States."""
        return rc.State(self.desired), rc.State(self.actual)


def _labels(i: int) -> dict[str, str]:
    return {"team": f"team-{i % 7}", "tier": ("web", "db", "cache")[i % 3]}


def _parents_layered(n: int, rng: random.Random) -> list[list[int]]:
    per = max(1, n // LAYERS)
    parents: list[list[int]] = []
    for i in range(n):
        layer = min(i // per, LAYERS - 1)
        if layer == 0:
            parents.append([])
            continue
        lo, hi = (layer - 1) * per, layer * per
        parents.append(sorted(set(rng.randrange(lo, hi) for _ in range(rng.randint(1, 3)))))
    return parents


def _parents_flat(n: int, rng: random.Random) -> list[list[int]]:
    return [[] for _ in range(n)]


def _parents_fanout(n: int, rng: random.Random) -> list[list[int]]:
    hubs = min(HUBS, n)
    return [[] if i < hubs else [rng.randrange(hubs)] for i in range(n)]


SHAPES: dict[str, Callable[[int, random.Random], list[list[int]]]] = {
    "flat": _parents_flat,
    "layered": _parents_layered,
    "fanout": _parents_fanout,
}


def generate(shape: str, n: int, mix: Mix = CHANGE_MIX, seed: int = 1, kind_per_layer: bool = False) -> Pair:
    """``n`` addresses of ``shape`` with the change ``mix``.

    Every resource is a ``Node``, unless ``kind_per_layer`` (layered shape only):
    then layer ``k`` holds ``layer<k>`` resources that ref ``layer<k-1>`` ones.

    Created addresses exist only in the desired list, deleted ones only in the
    actual list; a resource refs only addresses present on its own side, so both
    lists make valid States. Updates change ``size``, replacements ``image``.
    Fan-out hubs are never created, deleted or replaced (that would touch every
    dependent and change the mix).
    """
    rng = random.Random(seed)
    parents = SHAPES[shape](n, rng)
    per = max(1, n // LAYERS)

    def cls(i: int) -> Any:
        return LAYER_CLASSES[min(i // per, LAYERS - 1)] if kind_per_layer else Node

    roles = ["same"] * n
    pinned = HUBS if shape == "fanout" else 0
    free = list(range(pinned, n))
    rng.shuffle(free)
    at = 0
    for role, fraction in (
        ("create", mix.create),
        ("delete", mix.delete),
        ("update", mix.update),
        ("replace", mix.replace),
    ):
        count = round(fraction * n)
        for i in free[at : at + count]:
            roles[i] = role
        at += count
    # A created node may only ref nodes that exist in the desired state, a
    # deleted one only nodes that exist in the actual state, any other node
    # only nodes on both sides.
    allowed = {"create": ("create",), "delete": ("delete",)}
    desired: list[Node] = []
    actual: list[Node] = []
    for i in range(n):
        role = roles[i]
        ok = ("same", "update", "replace", *allowed.get(role, ()))
        needs = tuple(rc.ref(cls(p), f"n{p}") for p in parents[i] if roles[p] in ok)
        node = cls(i)(f"n{i}", f"img-{i % 13}", i % 97, _labels(i), needs)
        if role != "delete":
            desired.append(node)
        if role == "create":
            continue
        # The actual side was read back from a provider: new objects all the way
        # down (no value shared with the desired side), computed fields filled.
        image = f"img-{i % 13}" + ("-old" if role == "replace" else "")
        size = i % 97 + (1 if role == "update" else 0)
        refs = tuple(rc.ref(cls(p), f"n{p}") for p in parents[i] if roles[p] in ok)
        actual.append(cls(i)(f"n{i}", image, size, _labels(i), refs, node_id=f"id-{i}"))
    return Pair(desired, actual)
