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
    flags: dict[Address, tuple[bool, bool]] = {}

    def of(address: Address, seen: frozenset[Address]) -> tuple[bool, bool]:
        found = flags.get(address)
        if found is not None:
            return found
        before = last.get(address)
        intent = not _same(address, before, des.get(address))
        drift = not _same(address, before, act.get(address))
        change = changes.get(address)
        if not (intent or drift) and change is not None:
            causes = (*change.replaced_refs, *change.triggered_by)
            for cause in causes:
                if cause not in seen:
                    i, d = of(cause, seen | {address})
                    intent, drift = intent or i, drift or d
            if not causes:
                intent = True
        flags[address] = (intent, drift)
        return intent, drift

    out: dict[Address, Change] = {}
    for address, change in changes.items():
        intent, drift = of(address, frozenset())
        origin = Origin.BOTH if intent and drift else Origin.DRIFT if drift else Origin.INTENT
        out[address] = attrs.evolve(change, origin=origin)
    return out
