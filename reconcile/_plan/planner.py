"""The planner: ``plan()`` runs the numbered rules in order, from two states to a ``Plan``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._model import Address, Ref, ResourceType, as_address, show_address, show_value, type_of
from .._state import State
from .._typecheck import compiled
from ..errors import MissingExternalError, NothingToAdoptError, PlanOptionError, StateInputError
from .diff import compare
from .drift import with_origins
from .guards import check_budget, check_protection
from .model import Action, Change, Plan
from .propagation import find_watchers, propagate_replacements
from .recorded import NO_EDGES, RecordedEdges, recorded_edges
from .replacement import mark_create_before_delete
from .steps import as_edges, kept_links, merged_edges, order_steps, step_graph
from .targeting import kept_addresses


def _listed(value: Any, option: str) -> list[Address]:
    """The addresses an option names: one address or Ref, or an iterable of them."""
    if isinstance(value, (str, Address, Ref)):
        value = (value,)
    elif isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise PlanOptionError(
            f"plan({option}=...) takes an address, a Ref or an iterable of them, got {type(value).__name__}"
        )
    return [as_address(v) for v in value]


def _addresses(value: Any, option: str, desired: State, actual: State) -> list[Address]:
    found = _listed(value, option)
    unknown = [a for a in found if a not in desired.by_address and a not in actual.by_address]
    if unknown:
        raise PlanOptionError(
            f"plan({option}=...) names address(es) in neither the desired nor the actual state: "
            + ", ".join(show_address(a) for a in unknown)
        )
    return found


def _check_externals(desired: State, actual: State) -> None:
    """Every external the desired state declares must be in the actual state (listed, or read by ``observe``)."""
    missing = [a for a in desired.externals if actual.lookup(a) is None]
    if missing:
        raise MissingExternalError(missing, [show_address(a) for a in missing])


def _adopting(adopt: Any, desired: State, actual: State) -> set[Address]:
    """The addresses ``adopt=`` names whose object was found but is not managed yet (the rest are managed already)."""
    found = _listed(adopt, "adopt")
    unmanaged = [a for a in found if a not in desired.by_address]
    if unmanaged:
        raise PlanOptionError(
            "plan(adopt=...) names address(es) the desired state does not manage (adopted objects are managed "
            "from then on; declare read-only ones with external()): " + ", ".join(str(a) for a in unmanaged)
        )
    missing = [a for a in found if actual.lookup(a) is None]
    if missing:
        raise NothingToAdoptError(missing, [show_address(a) for a in missing])
    # Already listed by its provider means already managed: adopting again is a no-op, so plans converge.
    return {a for a in found if a not in actual.by_address}


def _adoption(address: Address, found: Any, new: Any) -> Change:
    """The change that takes ownership of ``found`` and then makes it match ``new`` (a REPLACE if it must be)."""
    cls = type(new)
    rt: ResourceType = type_of(cls)
    if type(found) is not cls:
        return Change(address, Action.REPLACE, found, new, rt.compared, rt.compared)
    change = compare(address, rt, found, new) if not compiled(rt).same(found, new) else None
    if change is None:
        return Change(address, Action.ADOPT, found, new)
    if change.action is Action.REPLACE:
        return change
    return Change(address, Action.ADOPT, found, change.after, change.changed_fields)


def plan(
    desired: State,
    actual: State,
    *,
    targets: Iterable[Address | str | Ref[Any]] | None = None,
    exclude: Iterable[Address | str | Ref[Any]] | None = None,
    max_deletes: int | None = None,
    last_applied: State | None = None,
    adopt: Iterable[Address | str | Ref[Any]] | None = None,
) -> Plan:
    """Compute the plan that takes ``actual`` to ``desired``.

    Rules (see docs/planning.md): CREATE desired-only addresses, DELETE
    actual-only ones, UPDATE when compared fields differ, REPLACE when a
    ``replace_on_change`` field differs or a ``replace_triggered_by`` target
    changes; a REPLACE makes every ref to it count as changed for its
    dependents. Steps are ordered so dependencies are created or updated before
    their dependents, and dependents are deleted before their dependencies (by
    the actual state's edges, and ``last_applied``'s when given); a
    create-before-delete replacement (docs/replacement.md) creates the new object
    first, then its dependents' changes, then deletes the old object.

    External objects (``external(...)`` entries of ``desired``) are read, never
    written: each must be in ``actual`` (``observe(providers, desired)`` reads
    them), and the plan lists them in ``Plan.reads``. Adopted objects
    (``adopt=``) are taken over: an ADOPT change per address found in
    ``actual`` but not managed yet, with an update after it when the found
    object differs from the desired one (docs/externals-and-adoption.md).

    Args:
        desired: the state to reach.
        actual: the state observed now.
        targets: plan only these addresses and what they need first (their
            dependencies and every step theirs run after); the rest is deferred.
        exclude: leave these addresses out, with everything that depends on them
            or runs after them; they are deferred.
        max_deletes: refuse a plan that deletes or replaces more resources than this.
        last_applied: the desired state of the last apply (saved with
            ``dumps(state)``, read with ``loads_state``): each change is then
            marked ``Origin.DRIFT`` (the world moved away from it),
            ``Origin.INTENT`` (the desired state changed) or ``Origin.BOTH``
            (see docs/rendering.md). Its edges (refs and ``depends_on``)
            between two addresses that are both deleted or replaced also order
            those deletes, as edges of ``actual`` would: a world reports no
            ``depends_on``, so without it resources related only by
            ``depends_on`` are deleted in no order. An edge that would close a
            cycle with the edges of ``actual`` is left out: the actual state
            orders those deletes, and ``Plan.overruled_edges`` lists it
            (``Plan.last_applied_edges``, those followed). It changes no action.
        adopt: take these addresses of the desired state over: the objects found
            there (``observe(providers, desired, adopt=...)`` reads them) are
            adopted instead of created. An address whose object its provider
            already lists is managed already and needs no adoption.

    Raises:
        StateInputError: ``desired`` or ``actual`` is not a ``State`` (also a
            ``TypeError``, what was raised before).
        PlanOptionError: ``targets``, ``exclude`` or ``adopt`` is neither an
            address nor an iterable of them, a target or exclusion names an
            address in neither state, an address to adopt is not a resource of
            the desired state, an object found but not managed is desired
            without being adopted, ``max_deletes`` is not a non-negative int, or
            ``last_applied`` is not a State.
        AddressError: a target or exclusion is not an address.
        LifecycleError: a lifecycle option names a field or resource that does not exist.
        MissingExternalError: an external object the desired state declares is
            not in the actual state (all of them listed).
        NothingToAdoptError: nothing was found at an address to adopt (all listed).
        ProtectedResourceError: the plan would delete or replace protected
            resources (all of them listed).
        PlanBudgetError: the plan deletes or replaces more than ``max_deletes`` resources.
    """
    return plan_with_edges(desired, actual, targets, exclude, max_deletes, last_applied, adopt, None)


def plan_with_edges(
    desired: State,
    actual: State,
    targets: Iterable[Address | str | Ref[Any]] | None,
    exclude: Iterable[Address | str | Ref[Any]] | None,
    max_deletes: int | None,
    last_applied: State | None,
    adopt: Iterable[Address | str | Ref[Any]] | None,
    last_applied_edges: Iterable[tuple[Address, Address]] | None,
) -> Plan:
    """``plan()``; without ``last_applied``, ``last_applied_edges`` stand for its edges (a plan file's, read back)."""
    if not isinstance(desired, State) or not isinstance(actual, State):
        raise StateInputError(
            f"plan(desired, actual) takes two States, got {type(desired).__name__} and {type(actual).__name__}"
        )
    if max_deletes is not None and (type(max_deletes) is not int or max_deletes < 0):
        raise PlanOptionError(f"max_deletes must be a non-negative int or None, got {show_value(max_deletes)}")
    if last_applied is not None and not isinstance(last_applied, State):
        raise PlanOptionError(
            f"last_applied takes the State of the last apply (see loads_state), got {type(last_applied).__name__}"
        )
    target_list = _addresses(targets, "targets", desired, actual) if targets is not None else None
    exclude_list = _addresses(exclude, "exclude", desired, actual) if exclude is not None else None
    if desired.externals:
        _check_externals(desired, actual)
    adopting = _adopting(adopt, desired, actual) if adopt is not None else set()
    # Objects the actual state holds without managing them: read externals, and objects found to adopt.
    unmanaged = actual.externals

    des = desired.by_address
    act = actual.by_address
    changes: dict[Address, Change] = {}
    replaced: list[Address] = []
    act_get = act.get
    # One generated equality function per class (see _typecheck): the only
    # Python-level work for an unchanged address is this call. Resources of a
    # class tend to come together, so the last class's function is at hand.
    same_for: dict[type, Any] = {}
    last: type | None = None
    same: Any = None
    matched = 0
    for address, new in des.items():
        old = act_get(address)
        if old is None:
            found = unmanaged[address].value if unmanaged and address in unmanaged else None
            if found is None:
                changes[address] = Change(address, Action.CREATE, None, new)
                continue
            if address not in adopting:
                raise PlanOptionError(
                    f"{show_address(address)} exists but is not managed (it was read, not listed by "
                    "its provider): pass it in plan(adopt=[...]) to take it over instead of creating it"
                )
            changes[address] = adoption = _adoption(address, found, new)
            if adoption.action is Action.REPLACE:
                replaced.append(address)
            continue
        matched += 1
        cls = type(new)
        if type(old) is not cls:
            rt: ResourceType = type_of(cls)
            changes[address] = Change(address, Action.REPLACE, old, new, rt.compared, rt.compared)
            replaced.append(address)
            continue
        if cls is not last:
            last = cls
            same = same_for.get(cls)
            if same is None:
                same = same_for[cls] = compiled(type_of(cls)).same
        if same(old, new):
            continue
        change = compare(address, type_of(cls), old, new)
        if change is not None:
            changes[address] = change
            if change.action is Action.REPLACE:
                replaced.append(address)
    if matched != len(act):
        externals = desired.externals
        for address, old in act.items():
            # A listed object the desired state declares external is read, never deleted.
            if address not in des and address not in externals:
                changes[address] = Change(address, Action.DELETE, old, None)
    watchers = find_watchers(desired, actual)
    if replaced or watchers:
        if adopting:
            # The found objects are the "before" of their changes, as listed ones are.
            act = {**{a: unmanaged[a].value for a in adopting}, **act}
        propagate_replacements(desired, act, changes, replaced, watchers)
    # After propagation, which turns dependents into replacements (deleted too).
    recorded = NO_EDGES
    if last_applied is not None:
        recorded = recorded_edges(actual, last_applied.dependencies, changes)
    elif last_applied_edges is not None:
        recorded = _recorded_from(actual, last_applied_edges, changes)
    if replaced or watchers:
        mark_create_before_delete(actual, changes, recorded.dependencies)
    steps, hard, soft, owner = step_graph(desired, actual, changes, recorded.dependencies)
    deferred: dict[Address, Change] = {}
    unchanged = len(des) - sum(1 for c in changes.values() if c.after is not None)
    if target_list is not None or exclude_list is not None:
        edges = as_edges(steps, merged_edges(hard, *soft))
        keep = kept_addresses(desired, changes, steps, edges, target_list, exclude_list)
        deferred = {a: c for a, c in changes.items() if a not in keep}
        if deferred:
            kept = [i for i, s in enumerate(steps) if s[0] in keep]
            steps = [steps[i] for i in kept]
            owner = [owner[i] for i in kept]
            hard = kept_links(kept, hard)
            soft = [kept_links(kept, tier) for tier in soft]
    order, after, order_at = order_steps(steps, hard, soft)
    # The changes in the order of their first step, found by position (no address hashed for it).
    keys, values = list(changes), list(changes.values())
    ordered = {keys[c]: values[c] for c in dict.fromkeys(map(owner.__getitem__, order_at))}
    check_protection(ordered, desired, actual)
    if max_deletes is not None:
        check_budget(ordered, max_deletes)
    if last_applied is not None:
        ordered = with_origins(ordered, desired, actual, last_applied)
        if deferred:
            deferred = with_origins(deferred, desired, actual, last_applied)
    if recorded is NO_EDGES:
        return Plan(desired, actual, ordered, tuple(order), after, unchanged, deferred)
    followed = tuple((b, a) for b, needed in recorded.dependencies.items() for a in needed)
    return Plan(
        desired,
        actual,
        ordered,
        tuple(order),
        after,
        unchanged,
        deferred,
        last_applied_edges=followed,
        overruled_edges=recorded.overruled,
    )


def _recorded_from(
    actual: State, edges: Iterable[tuple[Address, Address]], changes: Mapping[Address, Change]
) -> RecordedEdges:
    """The edges ``Plan.last_applied_edges`` recorded, taken again as ``last_applied``'s would be."""
    given: dict[Address, list[Address]] = {}
    for dependent, dependency in edges:
        given.setdefault(dependent, []).append(dependency)
    return recorded_edges(actual, lambda b: given.get(b, ()), changes)
