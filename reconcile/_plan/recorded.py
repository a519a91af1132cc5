"""Delete order from ``last_applied``: its edges between deleted addresses, unless they contradict the world's."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs

from .._model import Address
from .._state import State
from .model import Action, Change

Dependencies = dict[Address, list[Address]]


@attrs.frozen
class RecordedEdges:
    """The last applied state's edges the plan orders deletes by, and those it gives up.

    Attributes:
        dependencies: for each address deleted or replaced, the addresses also
            deleted or replaced that it depended on in the last applied state
            and not in the actual one (those the actual state has are there already).
        overruled: ``(dependent, dependency)`` pairs of the last applied state
            left out because, with the actual state's edges, they would close a
            cycle: the actual state orders those resources the other way round.
    """

    dependencies: Dependencies = attrs.field(factory=dict)
    overruled: tuple[tuple[Address, Address], ...] = ()


NO_EDGES = RecordedEdges()


def recorded_edges(
    actual: State, dependencies: Callable[[Address], Iterable[Address]], changes: Mapping[Address, Change]
) -> RecordedEdges:
    """The edges of the last applied state between addresses ``changes`` deletes or replaces, kept as rule 5 needs.

    ``dependencies`` gives the last applied state's graph (its
    ``dependencies``, or the edges a plan file recorded). A world reports the
    refs it holds, never ``depends_on``; the last applied state has both. Each
    of its edges between two addresses that both lose their object orders
    those deletes as an edge of the actual state would. An edge that closes a
    cycle with the actual state's edges (and the other edges taken from the
    last applied state) is on a strongly connected component of their union:
    every such edge is left out and listed in ``overruled``, so the actual
    state (what the world holds now) decides, whatever the order of the
    edges. Cost: O(changes + the deleted addresses' edges in the last applied
    state), plus, only when some edge is taken, a walk of what the actual
    state reaches from those edges' ends.
    """
    gone = [a for a, c in changes.items() if c.action is Action.DELETE or c.action is Action.REPLACE]
    if not gone:
        return NO_EDGES
    losing = set(gone)
    found: Dependencies = {}
    for b in gone:
        targets = [a for a in dependencies(b) if a in losing and a != b]
        if targets:
            known = actual.dependencies(b)
            targets = [a for a in dict.fromkeys(targets) if a not in known]
            if targets:
                found[b] = targets
    if not found:
        return NO_EDGES
    on_cycle = _on_cycles(actual, found)
    if not on_cycle:
        return RecordedEdges(found)
    kept: Dependencies = {}
    overruled: list[tuple[Address, Address]] = []
    for b, targets in found.items():
        component = on_cycle.get(b)
        keep = []
        for a in targets:
            if component is not None and on_cycle.get(a) == component:
                overruled.append((b, a))
            else:
                keep.append(a)
        if keep:
            kept[b] = keep
    return RecordedEdges(kept, tuple(overruled))


def _on_cycles(actual: State, extra: Dependencies) -> dict[Address, int]:
    """The addresses on a cycle of ``actual``'s edges plus ``extra``, each with the number of its component.

    Tarjan's strongly connected components, without recursion (chains of
    dependencies are as long as the state's), over what the sources of
    ``extra`` reach; components of one address (no cycle) are left out.
    """

    def successors(address: Address) -> list[Address]:
        return [*actual.dependencies(address), *extra.get(address, ())]

    index: dict[Address, int] = {}
    low: dict[Address, int] = {}
    stack: list[Address] = []
    on_stack: set[Address] = set()
    out: dict[Address, int] = {}
    components = 0
    for root in extra:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors(root)))]
        while work:
            node, pending = work[-1]
            descended = False
            for nxt in pending:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(successors(nxt))))
                    descended = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    components += 1
                    for member in members:
                        out[member] = components
    return out
