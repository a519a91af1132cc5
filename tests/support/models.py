"""Resource kinds shared by the core tests; ``Network`` and ``Server`` are the quickstart's own, imported from it."""

from __future__ import annotations

import reconcile as rc
from examples.quickstart import Network, Server

__all__ = ["Disk", "Leaf", "LoadBalancer", "Network", "Node", "Record", "Server"]


@rc.resource(kind="disk")
class Disk:
    name: str = rc.identity()
    server: rc.Ref[Server] = rc.spec(replace_on_change=True)
    gb: int = rc.spec(default=10)
    note: str = rc.spec(default="", ignore=True)


@rc.resource(kind="lb")
class LoadBalancer:
    name: str = rc.identity()
    backends: list[rc.Ref[Server]] = rc.spec(factory=list)
    routes: dict[str, rc.Ref[Server]] = rc.spec(factory=dict)


@rc.resource(kind="record")
class Record:
    zone: str = rc.identity()
    name: str = rc.identity()
    value: str = rc.spec()


@rc.resource(kind="node")
class Node:
    """A kind for generated graphs: plain refs, a replace_on_change ref, a replace_on_change field."""

    name: str = rc.identity()
    value: int = rc.spec(default=0)
    shape: str = rc.spec(default="a", replace_on_change=True)
    parents: tuple[rc.Ref[Node], ...] = rc.spec(default=())
    anchor: rc.Ref[Node] | None = rc.spec(default=None, replace_on_change=True)
    node_id: str | None = rc.computed()


@rc.resource(kind="leaf")
class Leaf:
    """A second kind that refers to nodes, so plans span providers."""

    name: str = rc.identity()
    owner: rc.Ref[Node] = rc.spec()
    size: int = rc.spec(default=1)
