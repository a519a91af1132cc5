"""Rule 7: targets keep what they need, exclusions drop what needs them; the rest is deferred."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .._model import Address
from .._state import State
from .model import Change, Step
from .steps import Edges, bound_changes


def kept_addresses(
    desired: State,
    changes: Mapping[Address, Change],
    steps: list[Step],
    edges: Edges,
    targets: list[Address] | None,
    exclude: list[Address] | None,
) -> set[Address]:
    """Rule 7: the addresses kept by ``targets`` (and what they need) minus ``exclude`` (and what follows them).

    A target needs its dependencies, every step its steps run after, and the
    changes bound to its own (see :func:`bound_changes`); an exclusion takes its
    dependents, every step that runs after its steps, and the changes bound to it.
    """
    bound = bound_changes(changes)
    by_address: dict[Address, list[Step]] = {}
    for s in steps:
        by_address.setdefault(s[0], []).append(s)

    def closure(start: list[Address], graph: Callable[[Address], Iterable[Address]], steps_: Edges) -> set[Address]:
        found: set[Address] = set()
        work = list(start)
        while work:
            address = work.pop()
            if address in found:
                continue
            found.add(address)
            work += graph(address)
            work += bound.get(address, ())
            for s in by_address.get(address, ()):
                work += (n[0] for n in steps_.get(s, ()))
        return found

    keep = {s[0] for s in steps} if targets is None else closure(targets, desired.dependencies, edges)
    if exclude:
        later: Edges = {}
        for s, ps in edges.items():
            for p in ps:
                later.setdefault(p, []).append(s)
        keep -= closure(exclude, desired.dependents, later)
    return keep
