"""Rule 3 and ``replace_triggered_by``: a replacement makes its dependents' refs count as changed."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from operator import attrgetter, countOf
from typing import Any

import attrs

from .._model import DEFAULT_LIFECYCLE, MISSING, Address, ResourceType, Trigger, parse_path, refers_to, select, type_of
from .._state import State, dependents_of
from ..errors import LifecycleError
from .model import Action, Change

_lifecycle_of = attrgetter("lifecycle")


Watchers = dict[Address, list[tuple[Address, Trigger]]]


def find_watchers(desired: State, actual: State) -> Watchers:
    """Check every non-default lifecycle in ``desired``; index its triggers by watched address."""
    des = desired.by_address
    # One C-level pass (countOf compares by identity first): most resources
    # share the default lifecycle object.
    if countOf(map(_lifecycle_of, des.values()), DEFAULT_LIFECYCLE) == len(des):
        return {}
    watchers: Watchers = {}
    for address, obj in des.items():
        lifecycle = obj.lifecycle
        if lifecycle == DEFAULT_LIFECYCLE:
            continue
        rt: ResourceType = type_of(type(obj))
        for text in lifecycle.ignore:
            if parse_path(text).field not in rt.spec:
                raise LifecycleError(
                    f"{rt.display_address(obj)}: lifecycle ignore path {text!r} must start with a spec field "
                    f"of kind {rt.kind!r} (one of: {', '.join(rt.spec) or 'none'})"
                )
        for i, trigger in enumerate(lifecycle.replace_triggered_by):
            where = f"{rt.display_address(obj)}: lifecycle replace_triggered_by[{i}]"
            target = des.get(trigger.target, actual.by_address.get(trigger.target))
            if target is None:
                raise LifecycleError(
                    f"{where} watches {trigger.target}, which is in neither the desired nor the actual state"
                )
            if trigger.path is not None:
                trt: ResourceType = type_of(type(target))
                known = (*trt.identity, *trt.spec, *trt.computed)
                field = parse_path(trigger.path).field
                if field not in known:
                    raise LifecycleError(
                        f"{where} watches field {trigger.path!r} of {trt.display_address(target)}, "
                        f"but kind {trt.kind!r} has no field {field!r}"
                    )
            watchers.setdefault(trigger.target, []).append((address, trigger))
    return watchers


def propagate_replacements(
    desired: State,
    act: Mapping[Address, Any],
    changes: dict[Address, Change],
    replaced: list[Address],
    watchers: Watchers,
) -> None:
    """Rule 3 and replace triggers, to a fixed point.

    A replaced resource's dependents see their ref as changed (UPDATE, or REPLACE
    if forced); a watched resource's change replaces its watchers. Each change
    only grows (NOOP < UPDATE < REPLACE, more refs and triggers), so this ends.
    """
    des = desired.by_address
    queue = deque(changes if watchers else replaced)
    # The dependents of the replacements known now, in one pass; a replacement
    # this makes asks the state itself.
    known = dependents_of(desired, replaced)
    while queue:
        target = queue.popleft()
        change = changes[target]
        if change.action is Action.REPLACE:
            dependents = known.get(target)
            for dependent in dependents if dependents is not None else desired.dependents(target):
                if _ref_replaced(desired, act, changes, dependent, target):
                    queue.append(dependent)
        for watcher, trigger in watchers.get(target, ()):
            if not _fires(trigger, change):
                continue
            current = changes.get(watcher)
            if current is None:
                changes[watcher] = Change(watcher, Action.REPLACE, act[watcher], des[watcher], triggered_by=(target,))
            elif current.action is Action.CREATE or target in current.triggered_by:
                continue
            elif current.action is Action.REPLACE:
                changes[watcher] = attrs.evolve(current, triggered_by=(*current.triggered_by, target))
            else:
                changes[watcher] = Change(
                    watcher,
                    Action.REPLACE,
                    current.before,
                    des[watcher],
                    current.changed_fields,
                    current.replace_fields,
                    current.replaced_refs,
                    triggered_by=(target,),
                )
            queue.append(watcher)


def _ref_replaced(
    desired: State, act: Mapping[Address, Any], changes: dict[Address, Change], dependent: Address, target: Address
) -> bool:
    """Record on ``dependent`` that its dependency ``target`` is replaced; whether its change grew."""
    current = changes.get(dependent)
    if current is not None and (current.action is Action.CREATE or target in current.replaced_refs):
        return False
    if current is not None and current.action is Action.REPLACE:
        changes[dependent] = attrs.evolve(current, replaced_refs=(*current.replaced_refs, target))
        return True
    new = desired.by_address[dependent]
    rt: ResourceType = type_of(type(new))
    via = tuple(name for name in rt.ref_fields() if refers_to(getattr(new, name), target))
    if not via:
        return False  # a depends_on edge: ordering only, no input changes
    prior_fields = current.changed_fields if current is not None else ()
    fields = prior_fields + tuple(f for f in via if f not in prior_fields)
    forced = tuple(f for f in fields if f in rt.replace_on_change)
    refs = (*(current.replaced_refs if current is not None else ()), target)
    old = act[dependent]
    if forced:
        changes[dependent] = Change(dependent, Action.REPLACE, old, new, fields, forced, refs)
    else:
        after = current.after if current is not None else new
        # An adoption stays one: its update now also moves the ref onto the replaced target.
        action = Action.ADOPT if current is not None and current.action is Action.ADOPT else Action.UPDATE
        changes[dependent] = Change(dependent, action, old, after, fields, (), refs)
    return True


def _fires(trigger: Trigger, change: Change) -> bool:
    """Whether ``change`` (of the watched resource) fires ``trigger``."""
    if change.action is Action.ADOPT and not change.changed_fields:
        return False  # taking an object over changes nothing in it
    if trigger.path is None or change.action in (Action.CREATE, Action.DELETE):
        return True
    path = parse_path(trigger.path)
    rt: ResourceType = type_of(type(change.after))
    if path.field in rt.computed:
        # A computed value is only known to change when a new object is made.
        return change.action is Action.REPLACE
    before = select(getattr(change.before, path.field, MISSING), path.segments)
    after = select(getattr(change.after, path.field, MISSING), path.segments)
    if before != after:
        return True
    # Equal values, but a ref there now points at a replaced object.
    return bool(change.replaced_refs) and path.field in change.changed_fields and path.field in rt.ref_fields()
