"""The networkx side of the graph room: cycle reports and exports, networkx imported on use only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .dag import N


def to_networkx(nodes: Iterable[N], preds: Mapping[N, Sequence[N]], **node_attrs: Mapping[N, Any]) -> Any:
    """A ``networkx.DiGraph`` with an edge ``p -> n`` for every predecessor ``p`` of ``n``.

    Keyword arguments map an attribute name to per-node values.
    """
    # networkx costs a quarter of a second to import; only this export needs it.
    import networkx as nx

    g: Any = nx.DiGraph()
    for n in nodes:
        g.add_node(n, **{k: v[n] for k, v in node_attrs.items() if n in v})
    for n in list(g.nodes):
        for p in preds.get(n, ()):
            if p in g:
                g.add_edge(p, n)
    return g


def find_cycles(nodes: Iterable[N], preds: Mapping[N, Sequence[N]]) -> list[list[N]]:
    """One cycle per strongly connected component that has one, each in edge order.

    Each returned cycle lists nodes so that every node depends on the next one
    and the last depends on the first.
    """
    import networkx as nx

    g: Any = nx.DiGraph()
    node_list = list(nodes)
    g.add_nodes_from(node_list)
    for n in node_list:
        for p in preds.get(n, ()):
            if p in g:
                g.add_edge(n, p)
    cycles: list[list[N]] = []
    position = {n: i for i, n in enumerate(node_list)}
    for comp in nx.strongly_connected_components(g):
        if len(comp) == 1:
            (only,) = comp
            if not g.has_edge(only, only):
                continue
        start = min(comp, key=position.__getitem__)
        edges = nx.find_cycle(g.subgraph(comp), source=start)
        cycles.append([u for u, _v in edges])
    cycles.sort(key=lambda c: position[c[0]])
    return cycles
