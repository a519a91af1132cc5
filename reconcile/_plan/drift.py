"""Drift or intent: each change of a plan made with ``last_applied``, told by comparing both states with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._model import Address, type_of
from .._state import State
from .._typecheck import compiled
from .diff import compare
from .model import Change, Origin


def _same(address: Address, old: Any, new: Any) -> bool:
    """Whether two resources (or absences) at one address are equal as planning compares them."""
    if old is None or new is None:
        return old is new
    cls = type(new)
    if type(old) is not cls:
        return False
    rt = type_of(cls)
    return compiled(rt).same(old, new) or compare(address, rt, old, new) is None


def with_origins(
    changes: Mapping[Address, Change], desired: State, actual: State, last_applied: State
) -> dict[Address, Change]:
    """``changes`` with ``origin`` set on each.

    A change is intent when the desired resource differs from the last applied
    one (or one of them is absent), drift when the actual one does; a change
    neither explains (a dependent replaced because its ref target is, a
    triggered replacement) takes the origins of the changes that caused it.
    """
    des, act, last = desired.by_address, actual.by_address, last_applied.by_address
    own: dict[Address, tuple[bool, bool]] = {}
    flags: dict[Address, tuple[bool, bool]] = {}

    def direct(address: Address) -> tuple[bool, bool]:
        found = own.get(address)
        if found is None:
            before = last.get(address)
            found = own[address] = (
                not _same(address, before, des.get(address)),
                not _same(address, before, act.get(address)),
            )
        return found

    def causes(address: Address) -> tuple[Address, ...]:
        change = changes.get(address)
        return () if change is None else (*change.replaced_refs, *change.triggered_by)

    # A depth-first walk without recursion (replacements propagate along chains
    # of refs as long as the state's): a change is settled after its causes.
    for start in changes:
        if start in flags:
            continue
        stack = [(start, iter(causes(start)))]
        on_path = {start}
        while stack:
            address, pending = stack[-1]
            mine = direct(address)
            if not any(mine):
                cause = next((c for c in pending if c not in flags and c not in on_path), None)
                if cause is not None:
                    stack.append((cause, iter(causes(cause))))
                    on_path.add(cause)
                    continue
            stack.pop()
            on_path.discard(address)
            if any(mine):
                flags[address] = mine
                continue
            inherited = [flags.get(c, (False, False)) for c in causes(address)]
            # A change with neither a difference nor a cause is counted as asked for.
            flags[address] = (not inherited or any(i for i, _ in inherited), any(d for _, d in inherited))

    out: dict[Address, Change] = {}
    for address, change in changes.items():
        intent, drift = flags[address]
        origin = Origin.BOTH if intent and drift else Origin.DRIFT if drift else Origin.INTENT
        out[address] = attrs.evolve(change, origin=origin)
    return out
