"""Export to networkx, the one module that imports it, on use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from .dag import N


def to_networkx(nodes: Iterable[N], preds: Mapping[N, Sequence[N]], **node_attrs: Mapping[N, Any]) -> Any:
    """A ``networkx.DiGraph`` with an edge ``p -> n`` for every predecessor ``p`` of ``n``.

    Keyword arguments map an attribute name to per-node values.
    """
    g: Any = nx.DiGraph()
    for n in nodes:
        g.add_node(n, **{k: v[n] for k, v in node_attrs.items() if n in v})
    for n in list(g.nodes):
        for p in preds.get(n, ()):
            if p in g:
                g.add_edge(p, n)
    return g
