"""Rule 4: which replacements create before they delete, forced onto the dependencies of such a resource."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._model import Address, type_of
from .._state import State
from .model import Action, Change


def _wants_create_before_delete(change: Change) -> bool:
    choice = change.after.lifecycle.create_before_delete
    if choice is not None:
        return bool(choice)
    return bool(type_of(type(change.after)).create_before_delete)


def mark_create_before_delete(
    actual: State, changes: dict[Address, Change], recorded: Mapping[Address, list[Address]] | None = None
) -> None:
    """Rule 4: mark create-before-delete replacements, and force it onto what their old objects depend on.

    The old object of a create-before-delete replacement outlives its new one's
    creation, so anything it depends on cannot be deleted and re-created first.
    Walking the actual graph through everything that is deleted or replaced, each
    replacement found must create first too; otherwise the step graph would have
    a cycle (delete old dependency -> create new one -> create new resource ->
    delete old resource -> delete old dependency). The edges ``recorded`` from
    ``last_applied`` (see :mod:`.recorded`) order deletes too, so the walk
    follows them as well.
    """
    roots = [a for a, c in changes.items() if c.action is Action.REPLACE and _wants_create_before_delete(c)]
    if not roots:
        return
    for root in roots:
        changes[root] = attrs.evolve(changes[root], create_before_delete=True)
    seen = set(roots)
    stack = [(root, root) for root in reversed(roots)]
    while stack:
        address, root = stack.pop()
        dependencies = actual.dependencies(address)
        if recorded and address in recorded:
            dependencies = (*dependencies, *recorded[address])
        for dependency in dependencies:
            change = changes.get(dependency)
            if change is None or change.action not in (Action.DELETE, Action.REPLACE) or dependency in seen:
                continue
            seen.add(dependency)
            if change.action is Action.REPLACE:
                changes[dependency] = attrs.evolve(change, create_before_delete=True, forced_by=root)
            stack.append((dependency, root))
