"""Plans: actions, changes, the step DAG, and the planner that computes them from two states."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from ._diff import FieldChange, changed_fields, explain
from ._graph import to_networkx, topological_order
from ._resource import Address, ResourceType, as_address, iter_refs
from ._state import State


class Action(enum.Enum):
    """What a plan does to one address."""

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
        after: the desired resource (``None`` for DELETE).
        changed_fields: compared fields that differ, or whose ref target is replaced.
        replace_fields: the subset of ``changed_fields`` that forces replacement.
        replaced_refs: replaced dependencies that made this change (rule 3).
    """

    address: Address
    action: Action
    before: Any
    after: Any
    changed_fields: tuple[str, ...] = ()
    replace_fields: tuple[str, ...] = ()
    replaced_refs: tuple[Address, ...] = ()
    _explained: list[tuple[FieldChange, ...]] = attrs.field(factory=list, alias="_explained")

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
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = f" {list(self.changed_fields)}" if self.changed_fields else ""
        return f"<Change {self.action.marker} {self.address}{fields}>"


@attrs.frozen(repr=False, eq=False)
class Plan:
    """The ordered changes that take ``actual`` to ``desired``.

    Attributes:
        desired: the desired state planned for.
        actual: the actual state planned from.
        changes: every change other than NOOP, keyed by address, in apply order.
        steps: provider calls in a valid order (a topological order of the step DAG).
        after: for each step, the steps it runs after (the step DAG's edges).
        unchanged: how many addresses need nothing.
    """

    desired: State
    actual: State
    changes: Mapping[Address, Change]
    steps: tuple[Step, ...]
    after: Mapping[Step, tuple[Step, ...]]
    unchanged: int

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes.values())

    def __len__(self) -> int:
        return len(self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def is_empty(self) -> bool:
        """True when every address is NOOP: the world already matches."""
        return not self.changes

    def change(self, address: Address | str) -> Change:
        """The change for ``address``: a NOOP change for an unchanged address.

        Raises:
            KeyError: the address is in neither state.
        """
        address = as_address(address)
        found = self.changes.get(address)
        if found is not None:
            return found
        obj = self.desired.get(address)
        if obj is None:
            raise KeyError(f"{address} is in neither the desired nor the actual state")
        return Change(address, Action.NOOP, self.actual.get(address), obj)

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

    def render(self) -> str:
        """A human review of the plan; see :func:`reconcile.render`."""
        # The rendering room sits above the plan room; importing on use keeps the
        # module layering one-way at import time.
        from ._render import render

        return render(self)

    def __repr__(self) -> str:
        counts = ", ".join(f"{a.value}={n}" for a, n in self.summary().items() if n)
        return f"<Plan: {counts or 'empty'}>"


def plan(desired: State, actual: State) -> Plan:
    """Compute the plan that takes ``actual`` to ``desired``.

    Rules (see docs/planning.md): CREATE desired-only addresses, DELETE
    actual-only ones, UPDATE when compared fields differ, REPLACE when a
    ``replace_on_change`` field differs; a REPLACE makes every ref to it count as
    changed for its dependents. Steps are ordered so dependencies are created or
    updated before their dependents, and dependents are deleted before their
    dependencies.

    Raises:
        TypeError: ``desired`` or ``actual`` is not a ``State``.
    """
    if not isinstance(desired, State) or not isinstance(actual, State):
        raise TypeError(
            f"plan(desired, actual) takes two States, got {type(desired).__name__} and {type(actual).__name__}"
        )
    des = desired._by_address
    act = actual._by_address
    changes: dict[Address, Change] = {}
    replaced: list[Address] = []
    act_get = act.get
    for address, new in des.items():
        old = act_get(address)
        if old is None:
            changes[address] = Change(address, Action.CREATE, None, new)
            continue
        rt: ResourceType = type(new).__reconcile__
        if type(old) is not type(new):
            changes[address] = Change(address, Action.REPLACE, old, new, rt.compared, rt.compared)
            replaced.append(address)
            continue
        if rt._compare_getter(old) == rt._compare_getter(new):
            continue
        fields = changed_fields(rt, old, new)
        forced = tuple(f for f in fields if f in rt.replace_on_change)
        if forced:
            changes[address] = Change(address, Action.REPLACE, old, new, fields, forced)
            replaced.append(address)
        else:
            changes[address] = Change(address, Action.UPDATE, old, new, fields)
    for address, old in act.items():
        if address not in des:
            changes[address] = Change(address, Action.DELETE, old, None)
    if replaced:
        _propagate_replacements(desired, act, changes, replaced)
    steps, after = _step_graph(desired, actual, changes)
    order, stuck = topological_order(steps, after)
    assert not stuck, f"step graph has a cycle through {stuck[:5]}"  # rules 5 make this impossible
    ordered: dict[Address, Change] = {}
    for s in order:
        if s[0] not in ordered:
            ordered[s[0]] = changes[s[0]]
    unchanged = sum(1 for a in des if a not in changes)
    return Plan(desired, actual, ordered, tuple(order), after, unchanged)


def _propagate_replacements(
    desired: State, act: Mapping[Address, Any], changes: dict[Address, Change], replaced: list[Address]
) -> None:
    """Rule 3: a replaced resource's dependents see their ref as changed (UPDATE, or REPLACE if forced)."""
    queue = list(replaced)
    while queue:
        target = queue.pop()
        for dependent in desired.dependents(target):
            current = changes.get(dependent)
            if current is not None and current.action in (Action.CREATE, Action.REPLACE):
                if current.action is Action.REPLACE and target not in current.replaced_refs:
                    changes[dependent] = attrs.evolve(current, replaced_refs=(*current.replaced_refs, target))
                continue
            new = desired._by_address[dependent]
            rt: ResourceType = type(new).__reconcile__
            via = tuple(
                name
                for name in rt.ref_fields()
                if any(r.address == target for _p, r in iter_refs(getattr(new, name), name))
            )
            if not via:
                continue  # a depends_on edge: ordering only, no input changes
            prior_fields = current.changed_fields if current is not None else ()
            fields = prior_fields + tuple(f for f in via if f not in prior_fields)
            forced = tuple(f for f in fields if f in rt.replace_on_change)
            refs = (*(current.replaced_refs if current is not None else ()), target)
            old = act[dependent]
            if forced:
                changes[dependent] = Change(dependent, Action.REPLACE, old, new, fields, forced, refs)
                queue.append(dependent)
            else:
                changes[dependent] = Change(dependent, Action.UPDATE, old, new, fields, (), refs)


def _step_graph(
    desired: State, actual: State, changes: Mapping[Address, Change]
) -> tuple[list[Step], dict[Step, tuple[Step, ...]]]:
    """Build steps and their edges by rule 5 (see docs/planning.md)."""
    steps: list[Step] = []
    # The step that creates or updates each address, and the step that deletes it.
    writer: dict[Address, Step] = {}
    deleter: dict[Address, Step] = {}
    for address, change in changes.items():
        action = change.action
        if action is Action.REPLACE:
            d = _step(address, Action.DELETE)
            c = _step(address, Action.CREATE)
            steps += (d, c)
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
    after: dict[Step, list[Step]] = {}
    for address, s in writer.items():
        preds = [writer[t] for t in desired.dependencies(address) if t in writer]
        if address in deleter:
            preds.append(deleter[address])
        if s[1] is Action.UPDATE:
            # An update may need a dependent's delete to go first (it may lift a constraint).
            preds += [deleter[b] for b in actual.dependents(address) if b in deleter]
        if preds:
            after[s] = preds
    for address, s in deleter.items():
        preds = [deleter[b] for b in actual.dependents(address) if b in deleter]
        if preds:
            after[s] = preds
    return steps, {k: tuple(v) for k, v in after.items()}

