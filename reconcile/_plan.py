"""Plans: actions, changes, the step DAG, and the planner that computes them from two states."""

from __future__ import annotations

import enum
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter, countOf
from typing import Any

import attrs

from ._diff import FieldChange, changed_fields, explain
from .errors import LifecycleError, PlanBudgetError, PlanOptionError, ProtectedResourceError
from ._graph import to_networkx, topological_order
from ._paths import MISSING, mask, merge, parse_path, select
from ._resource import DEFAULT_LIFECYCLE, Address, Ref, ResourceType, Trigger, as_address, iter_refs
from ._specialize import compiled
from ._state import State


class Action(enum.Enum):
    """What a plan does to one address."""

    # Members are singletons compared by identity; the identity hash is C-level,
    # where Enum's own hashes the name in Python on every Step-keyed dict lookup.
    __hash__ = object.__hash__

    NOOP = "noop"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"

    @property
    def is_change(self) -> bool:
        """Anything but NOOP."""
        return self is not Action.NOOP

    @property
    def is_destructive(self) -> bool:
        """DELETE or REPLACE: the current object goes away."""
        return self in (Action.DELETE, Action.REPLACE)

    @property
    def marker(self) -> str:
        """The plan-review marker: ``+``, ``~``, ``-/+``, ``-`` or blank."""
        return _MARKERS[self]


_MARKERS = {Action.NOOP: " ", Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-"}


class Step(tuple[Address, Action]):
    """One provider call in a plan: ``(address, op)`` with op CREATE, UPDATE or DELETE.

    A REPLACE change is two steps on the same address (a DELETE and a CREATE).
    ``str(step)`` reads ``"create network/core"``.
    """

    __slots__ = ()

    def __new__(cls, address: Address | str, op: Action) -> Step:
        if op not in (Action.CREATE, Action.UPDATE, Action.DELETE):
            raise ValueError(f"a step's op is CREATE, UPDATE or DELETE, not {op}")
        return tuple.__new__(cls, (as_address(address), op))

    @property
    def address(self) -> Address:
        """The address the step acts on."""
        return self[0]

    @property
    def op(self) -> Action:
        """The provider operation."""
        return self[1]

    def __str__(self) -> str:
        return f"{self[1].value} {self[0]}"

    def __repr__(self) -> str:
        return f"Step({str(self[0])!r}, Action.{self[1].name})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self[0], self[1])


def _step(address: Address, op: Action) -> Step:
    return tuple.__new__(Step, (address, op))


@attrs.frozen(repr=False, eq=False)
class Change:
    """The planned change for one address.

    Attributes:
        address: the address.
        action: NOOP, CREATE, UPDATE, REPLACE or DELETE.
        before: the actual resource (``None`` for CREATE).
        after: the desired resource (``None`` for DELETE). For an UPDATE, ignored
            fields and paths carry the actual values, so an update never writes
            what planning ignores.
        changed_fields: compared fields that differ, or whose ref target is replaced.
        replace_fields: the subset of ``changed_fields`` that forces replacement.
        replaced_refs: replaced dependencies that made this change (rule 3).
        create_before_delete: for a REPLACE, the new object is created before the
            old one is deleted.
        forced_by: the create-before-delete resource that forced this replacement
            to create first (``None`` when chosen by its own kind or lifecycle).
        triggered_by: watched addresses whose change triggered this replacement
            (``Lifecycle.replace_triggered_by``).
    """

    address: Address
    action: Action
    before: Any
    after: Any
    changed_fields: tuple[str, ...] = ()
    replace_fields: tuple[str, ...] = ()
    replaced_refs: tuple[Address, ...] = ()
    create_before_delete: bool = False
    forced_by: Address | None = None
    triggered_by: tuple[Address, ...] = ()
    _explained: list[tuple[FieldChange, ...]] = attrs.field(factory=list, alias="_explained")

    @property
    def marker(self) -> str:
        """The plan-review marker; ``+/-`` for a create-before-delete replacement."""
        return "+/-" if self.create_before_delete else self.action.marker

    @property
    def display_address(self) -> str:
        """The address as shown to people: sensitive identity values read ``(sensitive)``."""
        obj = self.after if self.after is not None else self.before
        if obj is None:
            return str(self.address)
        return type(obj).__reconcile__.display_address(obj)  # type: ignore[no-any-return]

    def explain(self) -> tuple[FieldChange, ...]:
        """Field-level differences (deepdiff), computed on first call and cached.

        For CREATE every spec field is listed as added; for DELETE, as removed.
        Sensitive values are redacted.
        """
        if not self._explained:
            self._explained.append(self._explain())
        return self._explained[0]

    def _explain(self) -> tuple[FieldChange, ...]:
        obj = self.after if self.after is not None else self.before
        if obj is None:
            return ()
        rt: ResourceType = type(obj).__reconcile__
        if self.action in (Action.CREATE, Action.DELETE):
            kind = "added" if self.action is Action.CREATE else "removed"
            out = []
            for name in rt.compared:
                value = "(sensitive)" if name in rt.sensitive else getattr(obj, name)
                out.append(
                    FieldChange(name, None if kind == "added" else value, value if kind == "added" else None, kind)
                )
            return tuple(out)
        return explain(rt, self.before, self.after, self.changed_fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return (
            self.address == other.address
            and self.action is other.action
            and self.before == other.before
            and self.after == other.after
            and self.changed_fields == other.changed_fields
            and self.replace_fields == other.replace_fields
            and self.replaced_refs == other.replaced_refs
            and self.create_before_delete == other.create_before_delete
            and self.forced_by == other.forced_by
            and self.triggered_by == other.triggered_by
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = f" {list(self.changed_fields)}" if self.changed_fields else ""
        return f"<Change {self.marker} {self.display_address}{fields}>"


@attrs.frozen(repr=False, eq=False)
class Plan:
    """The ordered changes that take ``actual`` to ``desired``.

    Two plans are equal when their states, changes (in order), steps, step
    edges, deferred changes and unchanged count are equal.

    Attributes:
        desired: the desired state planned for.
        actual: the actual state planned from.
        changes: every change other than NOOP, keyed by address, in apply order.
        steps: provider calls in a valid order (a topological order of the step DAG).
        after: for each step, the steps it runs after (the step DAG's edges).
        unchanged: how many addresses need nothing.
        deferred: changes left out by ``targets`` / ``exclude``, keyed by address;
            planning again without those options picks them up.
        fingerprint: for a plan read back with :func:`reconcile.loads`, the
            fingerprint of the actual resources it touches as they were when it was
            planned (``None`` for a plan made in this process); ``apply`` refuses a
            saved plan whose fingerprint no longer matches the world.
    """

    desired: State
    actual: State
    changes: Mapping[Address, Change]
    steps: tuple[Step, ...]
    after: Mapping[Step, tuple[Step, ...]]
    unchanged: int
    deferred: Mapping[Address, Change] = attrs.field(factory=dict)
    fingerprint: str | None = None

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes.values())

    def __len__(self) -> int:
        return len(self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return (
            self.steps == other.steps
            and dict(self.after) == dict(other.after)
            and self.unchanged == other.unchanged
            and list(self.changes.items()) == list(other.changes.items())
            and list(self.deferred.items()) == list(other.deferred.items())
            and self.desired == other.desired
            and self.actual == other.actual
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def is_empty(self) -> bool:
        """True when every address is NOOP: the world already matches (deferred changes aside)."""
        return not self.changes

    def change(self, address: Address | str) -> Change:
        """The change for ``address``: a NOOP change for an unchanged (or deferred) address.

        Raises:
            KeyError: the address is in neither state.
        """
        address = as_address(address)
        found = self.changes.get(address)
        if found is not None:
            return found
        before, after = self.actual.get(address), self.desired.get(address)
        if before is None and after is None:
            raise KeyError(f"{address} is in neither the desired nor the actual state")
        return Change(address, Action.NOOP, before, after)

    def summary(self) -> dict[Action, int]:
        """The number of addresses per action, every action present (NOOP included)."""
        counts = Counter(c.action for c in self.changes.values())
        counts[Action.NOOP] = self.unchanged
        return {a: counts.get(a, 0) for a in Action}

    def dependents(self) -> dict[Step, list[Step]]:
        """For each step, the steps that run after it (the DAG's forward edges)."""
        out: dict[Step, list[Step]] = {s: [] for s in self.steps}
        for s, preds in self.after.items():
            for p in preds:
                out[p].append(s)
        return out

    def to_networkx(self) -> Any:
        """The step DAG as a ``networkx.DiGraph`` (edge ``earlier -> later``), nodes carry ``action``."""
        return to_networkx(self.steps, self.after, action={s: self.changes[s.address].action for s in self.steps})

    def render(self, format: str = "text") -> str:
        """The plan as text, JSON, DOT or Mermaid; see :func:`reconcile.render`."""
        # The rendering room sits above the plan room; importing on use keeps the
        # module layering one-way at import time.
        from ._render import render

        return render(self, format=format)

    def __repr__(self) -> str:
        counts = ", ".join(f"{a.value}={n}" for a, n in self.summary().items() if n)
        deferred = f", deferred={len(self.deferred)}" if self.deferred else ""
        return f"<Plan: {counts or 'empty'}{deferred}>"


def display_address(address: Address, *states: State) -> str:
    """``address`` as shown to people, with sensitive identity values redacted when a state knows its kind."""
    for state in states:
        obj = state._by_address.get(address)
        if obj is not None:
            return type(obj).__reconcile__.display_address(obj)  # type: ignore[no-any-return]
    return str(address)


def _addresses(value: Any, option: str, desired: State, actual: State) -> list[Address]:
    if isinstance(value, (str, Address, Ref)):
        value = (value,)
    found = [as_address(v) for v in value]
    unknown = [a for a in found if a not in desired._by_address and a not in actual._by_address]
    if unknown:
        raise PlanOptionError(
            f"plan({option}=...) names address(es) in neither the desired nor the actual state: "
            + ", ".join(str(a) for a in unknown)
        )
    return found


def plan(
    desired: State,
    actual: State,
    *,
    targets: Iterable[Address | str | Ref[Any]] | None = None,
    exclude: Iterable[Address | str | Ref[Any]] | None = None,
    max_deletes: int | None = None,
) -> Plan:
    """Compute the plan that takes ``actual`` to ``desired``.

    Rules (see docs/planning.md): CREATE desired-only addresses, DELETE
    actual-only ones, UPDATE when compared fields differ, REPLACE when a
    ``replace_on_change`` field differs or a ``replace_triggered_by`` target
    changes; a REPLACE makes every ref to it count as changed for its
    dependents. Steps are ordered so dependencies are created or updated before
    their dependents, and dependents are deleted before their dependencies; a
    create-before-delete replacement (docs/replacement.md) creates the new object
    first, then its dependents' changes, then deletes the old object.

    Args:
        desired: the state to reach.
        actual: the state observed now.
        targets: plan only these addresses and what they need first (their
            dependencies and every step theirs run after); the rest is deferred.
        exclude: leave these addresses out, with everything that depends on them
            or runs after them; they are deferred.
        max_deletes: refuse a plan that deletes or replaces more resources than this.

    Raises:
        TypeError: ``desired`` or ``actual`` is not a ``State``.
        PlanOptionError: a target or exclusion names an address in neither state,
            or ``max_deletes`` is not a non-negative int.
        AddressError: a target or exclusion is not an address.
        LifecycleError: a lifecycle option names a field or resource that does not exist.
        ProtectedResourceError: the plan would delete or replace protected
            resources (all of them listed).
        PlanBudgetError: the plan deletes or replaces more than ``max_deletes`` resources.
    """
    if not isinstance(desired, State) or not isinstance(actual, State):
        raise TypeError(
            f"plan(desired, actual) takes two States, got {type(desired).__name__} and {type(actual).__name__}"
        )
    if max_deletes is not None and (type(max_deletes) is not int or max_deletes < 0):
        raise PlanOptionError(f"max_deletes must be a non-negative int or None, got {max_deletes!r}")
    target_list = _addresses(targets, "targets", desired, actual) if targets is not None else None
    exclude_list = _addresses(exclude, "exclude", desired, actual) if exclude is not None else None

    des = desired._by_address
    act = actual._by_address
    changes: dict[Address, Change] = {}
    replaced: list[Address] = []
    act_get = act.get
    # One generated equality function per class (see _specialize): the only
    # Python-level work for an unchanged address is this call.
    same_for: dict[type, Any] = {}
    matched = 0
    for address, new in des.items():
        old = act_get(address)
        if old is None:
            changes[address] = Change(address, Action.CREATE, None, new)
            continue
        matched += 1
        cls = type(new)
        if type(old) is not cls:
            rt: ResourceType = cls.__reconcile__
            changes[address] = Change(address, Action.REPLACE, old, new, rt.compared, rt.compared)
            replaced.append(address)
            continue
        same = same_for.get(cls)
        if same is None:
            same = same_for[cls] = compiled(cls.__reconcile__).same
        if same(old, new):
            continue
        change = _compare(address, cls.__reconcile__, old, new)
        if change is not None:
            changes[address] = change
            if change.action is Action.REPLACE:
                replaced.append(address)
    if matched != len(act):
        for address, old in act.items():
            if address not in des:
                changes[address] = Change(address, Action.DELETE, old, None)
    watchers = _watchers(desired, actual)
    if replaced or watchers:
        _propagate(desired, act, changes, replaced, watchers)
        _mark_create_before_delete(actual, changes)
    steps, hard, soft = _step_graph(desired, actual, changes)
    deferred: dict[Address, Change] = {}
    unchanged = len(des) - sum(1 for c in changes.values() if c.after is not None)
    if target_list is not None or exclude_list is not None:
        keep = _keep(desired, changes, steps, _merged(hard, *soft), target_list, exclude_list)
        deferred = {a: c for a, c in changes.items() if a not in keep}
        if deferred:
            steps = [s for s in steps if s[0] in keep]
            hard = {s: [p for p in ps if p[0] in keep] for s, ps in hard.items() if s[0] in keep}
            soft = [{s: [p for p in ps if p[0] in keep] for s, ps in tier.items() if s[0] in keep} for tier in soft]
    order, after = _order(steps, hard, soft)
    ordered: dict[Address, Change] = {}
    for s in order:
        if s[0] not in ordered:
            ordered[s[0]] = changes[s[0]]
    _check_protection(ordered, desired, actual)
    if max_deletes is not None:
        _check_budget(ordered, max_deletes)
    return Plan(desired, actual, ordered, tuple(order), after, unchanged, deferred)


def _compare(address: Address, rt: ResourceType, old: Any, new: Any) -> Change | None:
    """The change for two resources whose compared fields differ, or ``None`` if only ignored paths differ."""
    fields = changed_fields(rt, old, new)
    ignore = rt.ignore + new.lifecycle.ignore if new.lifecycle.ignore else rt.ignore
    if ignore:
        fields = _unignored(fields, ignore, old, new)
        if not fields:
            return None
    forced = tuple(f for f in fields if f in rt.replace_on_change)
    if forced:
        return Change(address, Action.REPLACE, old, new, fields, forced)
    return Change(address, Action.UPDATE, old, _carry_ignored(rt, ignore, old, new), fields)


def _by_field(paths: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for text in paths:
        path = parse_path(text)
        grouped.setdefault(path.field, []).append(path.segments)
    return grouped


def _unignored(fields: Sequence[str], paths: Sequence[str], old: Any, new: Any) -> tuple[str, ...]:
    """The fields in ``fields`` that still differ once the ignored paths are masked out."""
    grouped = _by_field(paths)
    out = []
    for name in fields:
        segment_lists = grouped.get(name)
        if segment_lists is None:
            out.append(name)
            continue
        if any(not segs for segs in segment_lists):
            continue
        before, after = getattr(old, name), getattr(new, name)
        for segs in segment_lists:
            before, after = mask(before, segs), mask(after, segs)
        if before != after:
            out.append(name)
    return tuple(out)


def _carry_ignored(rt: ResourceType, paths: Sequence[str], old: Any, new: Any) -> Any:
    """``new`` with the actual values at every ignored field and path, so an update leaves them alone."""
    updates: dict[str, Any] = {}
    for name in rt.spec:
        if name not in rt.compared and getattr(old, name) != getattr(new, name):
            updates[name] = getattr(old, name)
    for name, segment_lists in _by_field(paths).items() if paths else ():
        value = getattr(new, name)
        for segs in segment_lists:
            value = merge(value, getattr(old, name), segs)
        if value != getattr(new, name):
            updates[name] = value
    if not updates:
        return new
    fields = attrs.fields_dict(type(new))
    return attrs.evolve(new, **{str(fields[name].alias): value for name, value in updates.items()})


_lifecycle_of = attrgetter("lifecycle")

Watchers = dict[Address, list[tuple[Address, Trigger]]]


def _watchers(desired: State, actual: State) -> Watchers:
    """Check every non-default lifecycle in ``desired``; index its triggers by watched address."""
    des = desired._by_address
    # One C-level pass (countOf compares by identity first): most resources
    # share the default lifecycle object.
    if countOf(map(_lifecycle_of, des.values()), DEFAULT_LIFECYCLE) == len(des):
        return {}
    watchers: Watchers = {}
    for address, obj in des.items():
        lifecycle = obj.lifecycle
        if lifecycle == DEFAULT_LIFECYCLE:
            continue
        rt: ResourceType = type(obj).__reconcile__
        for text in lifecycle.ignore:
            if parse_path(text).field not in rt.spec:
                raise LifecycleError(
                    f"{rt.display_address(obj)}: lifecycle ignore path {text!r} must start with a spec field "
                    f"of kind {rt.kind!r} (one of: {', '.join(rt.spec) or 'none'})"
                )
        for i, trigger in enumerate(lifecycle.replace_triggered_by):
            where = f"{rt.display_address(obj)}: lifecycle replace_triggered_by[{i}]"
            target = des.get(trigger.target, actual._by_address.get(trigger.target))
            if target is None:
                raise LifecycleError(
                    f"{where} watches {trigger.target}, which is in neither the desired nor the actual state"
                )
            if trigger.path is not None:
                trt: ResourceType = type(target).__reconcile__
                known = (*trt.identity, *trt.spec, *trt.computed)
                field = parse_path(trigger.path).field
                if field not in known:
                    raise LifecycleError(
                        f"{where} watches field {trigger.path!r} of {trt.display_address(target)}, "
                        f"but kind {trt.kind!r} has no field {field!r}"
                    )
            watchers.setdefault(trigger.target, []).append((address, trigger))
    return watchers


def _propagate(
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
    des = desired._by_address
    queue = deque(changes if watchers else replaced)
    while queue:
        target = queue.popleft()
        change = changes[target]
        if change.action is Action.REPLACE:
            for dependent in desired.dependents(target):
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
    new = desired._by_address[dependent]
    rt: ResourceType = type(new).__reconcile__
    via = tuple(
        name for name in rt.ref_fields() if any(r.address == target for _p, r in iter_refs(getattr(new, name), name))
    )
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
        changes[dependent] = Change(dependent, Action.UPDATE, old, after, fields, (), refs)
    return True


def _fires(trigger: Trigger, change: Change) -> bool:
    """Whether ``change`` (of the watched resource) fires ``trigger``."""
    if trigger.path is None or change.action in (Action.CREATE, Action.DELETE):
        return True
    path = parse_path(trigger.path)
    rt: ResourceType = type(change.after).__reconcile__
    if path.field in rt.computed:
        # A computed value is only known to change when a new object is made.
        return change.action is Action.REPLACE
    before = select(getattr(change.before, path.field, MISSING), path.segments)
    after = select(getattr(change.after, path.field, MISSING), path.segments)
    if before != after:
        return True
    # Equal values, but a ref there now points at a replaced object.
    return bool(change.replaced_refs) and path.field in change.changed_fields and path.field in rt.ref_fields()


def _wants_create_before_delete(change: Change) -> bool:
    choice = change.after.lifecycle.create_before_delete
    if choice is not None:
        return bool(choice)
    return bool(type(change.after).__reconcile__.create_before_delete)


def _mark_create_before_delete(actual: State, changes: dict[Address, Change]) -> None:
    """Rule 4: mark create-before-delete replacements, and force it onto what their old objects depend on.

    The old object of a create-before-delete replacement outlives its new one's
    creation, so anything it depends on cannot be deleted and re-created first.
    Walking the actual graph through everything that is deleted or replaced, each
    replacement found must create first too; otherwise the step graph would have
    a cycle (delete old dependency -> create new one -> create new resource ->
    delete old resource -> delete old dependency).
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
        for dependency in actual.dependencies(address):
            change = changes.get(dependency)
            if change is None or change.action not in (Action.DELETE, Action.REPLACE) or dependency in seen:
                continue
            seen.add(dependency)
            if change.action is Action.REPLACE:
                changes[dependency] = attrs.evolve(change, create_before_delete=True, forced_by=root)
            stack.append((dependency, root))


Edges = dict[Step, list[Step]]


def _step_graph(
    desired: State, actual: State, changes: Mapping[Address, Change]
) -> tuple[list[Step], Edges, list[Edges]]:
    """Steps and their edges by rule 5 (see docs/planning.md and docs/replacement.md).

    Returns ``(steps, hard, soft)``; ``soft`` holds two tiers of edges that are
    kept unless they close a cycle with hard edges, the first tier given up
    first (see :func:`_order`):

    1. "an update runs after the delete of an old dependent" (the delete may lift
       a constraint on it);
    2. "a delete runs after the update of an old dependent that moves away from
       it" (the world may refuse to delete an object still referred to).
    """
    steps: list[Step] = []
    # The step that creates or updates each address, and the step that deletes it.
    writer: dict[Address, Step] = {}
    deleter: dict[Address, Step] = {}
    for address, change in changes.items():
        action = change.action
        if action is Action.REPLACE:
            d = _step(address, Action.DELETE)
            c = _step(address, Action.CREATE)
            steps += (c, d) if change.create_before_delete else (d, c)
            deleter[address] = d
            writer[address] = c
        elif action is Action.DELETE:
            d = _step(address, Action.DELETE)
            steps.append(d)
            deleter[address] = d
        else:
            s = _step(address, Action.CREATE if action is Action.CREATE else Action.UPDATE)
            steps.append(s)
            writer[address] = s
    hard: Edges = {}
    lifting: Edges = {}
    moving: Edges = {}
    # Most dependents in the actual graph that the edges below look at are
    # deleted ones: found from the deleted side, in the actual state's order,
    # instead of building every reverse edge of the actual state.
    deleted_dependents: dict[Address, list[Address]] = {}
    if deleter:
        for b in [b for b in actual.addresses if b in deleter]:
            for a in actual.dependencies(b):
                deleted_dependents.setdefault(a, []).append(b)
    for address, s in writer.items():
        preds = [writer[t] for t in desired.dependencies(address) if t in writer]
        if address in deleter and not changes[address].create_before_delete:
            preds.append(deleter[address])
        if preds:
            hard[s] = preds
        if s[1] is Action.UPDATE:
            lifted = [
                deleter[b]
                for b in deleted_dependents.get(address, ())
                # The old object of a create-before-delete dependent that still
                # needs this one goes last by design: it cannot lift anything.
                if not (changes[b].create_before_delete and address in desired.dependencies(b))
            ]
            if lifted:
                lifting[s] = lifted
            # Guarded: asking an observed state for dependencies links it, which a
            # plan that deletes nothing never needs.
            for a in actual.dependencies(address) if deleter else ():
                # ``a`` is gone from the desired state, so this update drops its ref to it.
                if a in deleter and changes[a].action is Action.DELETE:
                    moving.setdefault(deleter[a], []).append(s)
    for address, d in deleter.items():
        preds = [deleter[b] for b in deleted_dependents.get(address, ())]
        if changes[address].create_before_delete:
            # The old object goes last: after the new one exists and after every
            # dependent has been moved onto it (or away from it).
            preds.append(writer[address])
            preds += [writer[b] for b in desired.dependents(address) if b in writer]
            preds += [writer[b] for b in actual.dependents(address) if b in writer and writer[b][1] is Action.UPDATE]
            preds = list(dict.fromkeys(preds))
        if preds:
            hard[d] = preds
    return steps, hard, [lifting, moving]


def _merged(hard: Edges, *soft: Edges) -> Edges:
    if not any(soft):
        return hard
    out = dict(hard)
    for tier in soft:
        for s, ps in tier.items():
            if ps:
                out[s] = [*out.get(s, ()), *ps]
    return out


def _order(steps: list[Step], hard: Edges, soft: list[Edges]) -> tuple[list[Step], dict[Step, tuple[Step, ...]]]:
    """A topological order of the steps, and the edges kept.

    Hard edges never form a cycle (rules 4 and 5). Soft edges can close one (an
    update waiting for a delete that waits for another update, or
    create-before-delete keeping an old object to the end); then the edges of
    the weakest soft tier among the steps left unordered are dropped and the
    order is computed again, tier by tier.
    """
    tiers = list(soft)
    order, stuck = topological_order(steps, _merged(hard, *tiers))
    for i in range(len(tiers)):
        if not stuck:
            break
        stuck_set = set(stuck)
        tiers[i] = {s: [p for p in ps if p not in stuck_set] if s in stuck_set else ps for s, ps in tiers[i].items()}
        order, stuck = topological_order(steps, _merged(hard, *tiers))
    assert not stuck, f"step graph has a cycle through {stuck[:5]}"  # hard edges are acyclic by rules 4, 5
    return order, {k: tuple(v) for k, v in _merged(hard, *tiers).items() if v}


def _bound(changes: Mapping[Address, Change]) -> dict[Address, list[Address]]:
    """Changes that only exist together: a replacement and the updates or replacements it causes (rule 3, triggers).

    Applying one without the other would lose a change for good: once the cause is
    applied, the next plan no longer sees the consequence.
    """
    bound: dict[Address, list[Address]] = {}
    for address, change in changes.items():
        for cause in (*change.replaced_refs, *change.triggered_by):
            bound.setdefault(address, []).append(cause)
            bound.setdefault(cause, []).append(address)
    return bound


def _keep(
    desired: State,
    changes: Mapping[Address, Change],
    steps: list[Step],
    edges: Edges,
    targets: list[Address] | None,
    exclude: list[Address] | None,
) -> set[Address]:
    """Rule 7: the addresses kept by ``targets`` (and what they need) minus ``exclude`` (and what follows them).

    A target needs its dependencies, every step its steps run after, and the
    changes bound to its own (see :func:`_bound`); an exclusion takes its
    dependents, every step that runs after its steps, and the changes bound to it.
    """
    bound = _bound(changes)
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


def _protected(change: Change) -> bool:
    for obj in (change.after, change.before):
        if obj is not None and obj.lifecycle.protect is not None:
            return bool(obj.lifecycle.protect)
    obj = change.after if change.after is not None else change.before
    return bool(type(obj).__reconcile__.protect)


def _reason(change: Change, desired: State, actual: State) -> str:
    """Why a change deletes or replaces, in words (field names and addresses, never values)."""
    if change.action is Action.DELETE:
        return "not in the desired state"
    if change.triggered_by:
        return "triggered by " + ", ".join(display_address(a, desired, actual) for a in change.triggered_by)
    if type(change.before) is not type(change.after):
        return f"its class changed from {type(change.before).__name__} to {type(change.after).__name__}"
    moved = [f for f in change.replace_fields if getattr(change.before, f) != getattr(change.after, f)]
    if moved:
        return f"{', '.join(moved)} forces replacement"
    targets = ", ".join(display_address(a, desired, actual) for a in change.replaced_refs)
    return f"{', '.join(change.replace_fields)} refers to replaced {targets}"


def _check_protection(changes: Mapping[Address, Change], desired: State, actual: State) -> None:
    """Rule 6: one error listing every protected resource the plan would delete or replace."""
    violations = [
        (a, c.action, _reason(c, desired, actual))
        for a, c in changes.items()
        if c.action.is_destructive and _protected(c)
    ]
    if violations:
        shown = [changes[a].display_address for a, _action, _why in violations]
        raise ProtectedResourceError(violations, shown)


def _check_budget(changes: Mapping[Address, Change], limit: int) -> None:
    destroyed = [a for a, c in changes.items() if c.action.is_destructive]
    if len(destroyed) > limit:
        shown = [f"{changes[a].display_address} ({changes[a].action.value})" for a in destroyed]
        raise PlanBudgetError(len(destroyed), limit, destroyed, shown)
