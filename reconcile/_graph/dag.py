"""Pure DAG algorithms over ``nodes`` and a predecessor map: topological order, cycles, longest paths."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def topological_order(nodes: Sequence[N], preds: Mapping[N, Sequence[N]]) -> tuple[list[N], list[N]]:
    """Order ``nodes`` so every node comes after its predecessors.

    Kahn's algorithm over plain lists: this runs on every plan, so it avoids
    building a networkx graph, and it hashes each node and each edge end once
    (to number them) and works on the numbers from then on: hashing an
    ``Address`` or a ``Step`` is not free, and at 100,000 nodes most of them are
    no longer in the CPU cache. Ties keep the order of ``nodes``, so the result
    is deterministic. Predecessors not in ``nodes`` are ignored.

    Returns:
        ``(order, stuck)``: the ordered nodes, and the nodes left on or behind a
        cycle (empty when the graph is acyclic).
    """
    index = {n: i for i, n in enumerate(nodes)}
    if len(index) != len(nodes):
        nodes = list(index)
        index = {n: i for i, n in enumerate(nodes)}
    indeg = [0] * len(nodes)
    succs: list[list[int] | None] = [None] * len(nodes)
    get = preds.get
    for i, n in enumerate(nodes):
        ps = get(n)
        if not ps:
            continue
        for p in ps:
            j = index.get(p)
            if j is not None:
                indeg[i] += 1
                out = succs[j]
                if out is None:
                    succs[j] = [i]
                else:
                    out.append(i)
    queue = deque(i for i, d in enumerate(indeg) if d == 0)
    order: list[int] = []
    pop, push, emit = queue.popleft, queue.append, order.append
    while queue:
        i = pop()
        emit(i)
        out = succs[i]
        if out is not None:
            for s in out:
                indeg[s] -= 1
                if indeg[s] == 0:
                    push(s)
    ordered = [nodes[i] for i in order]
    if len(order) == len(nodes):
        return ordered, []
    done = set(order)
    return ordered, [n for i, n in enumerate(nodes) if i not in done]


def longest_path_lengths(
    order: Sequence[N], preds: Mapping[N, Sequence[N]], weight: Callable[[N], float] = lambda _: 1.0
) -> dict[N, float]:
    """For each node, the weight of the heaviest chain starting at it (itself included).

    ``order`` must be a topological order. Executors use this to start the steps
    on the critical path first.
    """
    remaining: dict[N, float] = {}
    succs: dict[N, list[N]] = {}
    for n in order:
        for p in preds.get(n, ()):
            succs.setdefault(p, []).append(n)
    for n in reversed(order):
        tail = max((remaining[s] for s in succs.get(n, ())), default=0.0)
        remaining[n] = weight(n) + tail
    return remaining
