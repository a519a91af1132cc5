"""Rule 6 and budgets: protected resources are never deleted or replaced, and ``max_deletes`` is enforced."""

from __future__ import annotations

from collections.abc import Mapping

from .._model import Address, show_address, type_of
from .._state import State
from ..errors import PlanBudgetError, ProtectedResourceError
from .model import Action, Change


def _protected(change: Change) -> bool:
    for obj in (change.after, change.before):
        if obj is not None and obj.lifecycle.protect is not None:
            return bool(obj.lifecycle.protect)
    obj = change.after if change.after is not None else change.before
    return bool(type_of(type(obj)).protect)


def _reason(change: Change, desired: State, actual: State) -> str:
    """Why a change deletes or replaces, in words (field names and addresses, never values)."""
    if change.action is Action.DELETE:
        return "not in the desired state"
    if change.triggered_by:
        return "triggered by " + ", ".join(show_address(a) for a in change.triggered_by)
    if type(change.before) is not type(change.after):
        return f"its class changed from {type(change.before).__name__} to {type(change.after).__name__}"
    moved = [f for f in change.replace_fields if getattr(change.before, f) != getattr(change.after, f)]
    if moved:
        return f"{', '.join(moved)} forces replacement"
    targets = ", ".join(show_address(a) for a in change.replaced_refs)
    return f"{', '.join(change.replace_fields)} refers to replaced {targets}"


def check_protection(changes: Mapping[Address, Change], desired: State, actual: State) -> None:
    """Rule 6: one error listing every protected resource the plan would delete or replace."""
    violations = [
        (a, c.action, _reason(c, desired, actual))
        for a, c in changes.items()
        if c.action.is_destructive and _protected(c)
    ]
    if violations:
        shown = [changes[a].display_address for a, _action, _why in violations]
        raise ProtectedResourceError(violations, shown)


def check_budget(changes: Mapping[Address, Change], limit: int) -> None:
    destroyed = [a for a, c in changes.items() if c.action.is_destructive]
    if len(destroyed) > limit:
        shown = [f"{changes[a].display_address} ({changes[a].action.value})" for a in destroyed]
        raise PlanBudgetError(len(destroyed), limit, destroyed, shown)
