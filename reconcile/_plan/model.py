"""What a plan is made of: ``Action``, ``Step``, ``Change`` and ``Plan``."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from .._graph import to_networkx
from .._model import REDACTED, Address, ResourceType, as_address, redacted_address, show_address, type_of
from .._state import State
from .explain import Difference, FieldChange, explain


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
    ADOPT = "adopt"

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
        """The plan-review marker: ``+``, ``~``, ``-/+``, ``-``, ``=>`` (adopt) or blank."""
        return _MARKERS[self]


class Origin(enum.Enum):
    """Why a change is in the plan, when the plan was made with ``last_applied`` (see docs/rendering.md).

    ``INTENT``: the desired state changed since the last apply. ``DRIFT``: the
    desired state did not, but the world moved away from what was last
    applied (edited, deleted or made outside reconcile). ``BOTH``: the desired
    state changed and the world moved too.
    """

    INTENT = "intent"
    DRIFT = "drift"
    BOTH = "both"

    @property
    def is_drift(self) -> bool:
        """DRIFT or BOTH: the world moved away from the last applied state."""
        return self is not Origin.INTENT

    @property
    def is_intent(self) -> bool:
        """INTENT or BOTH: the desired state changed since the last apply."""
        return self is not Origin.DRIFT


_MARKERS = {
    Action.NOOP: " ",
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.ADOPT: "=>",
}
_OPS = (Action.CREATE, Action.UPDATE, Action.DELETE, Action.ADOPT)


class Step(tuple[Address, Action]):
    """One provider call in a plan: ``(address, op)`` with op CREATE, UPDATE, DELETE or ADOPT.

    A REPLACE change is two steps on the same address (a DELETE and a CREATE);
    an ADOPT change whose found object differs from the desired one is an ADOPT
    step, then an UPDATE. ``str(step)`` reads ``"create network/core"``; like
    ``repr(step)`` it shows the address as ``show_address`` does (sensitive
    identity values redacted, escaped, bounded), so steps are safe to log.
    """

    __slots__ = ()

    def __new__(cls, address: Address | str, op: Action) -> Step:
        if op not in _OPS:
            raise ValueError(f"a step's op is CREATE, UPDATE, DELETE or ADOPT, not {op}")
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
        return f"{self[1].value} {show_address(self[0])}"

    def __repr__(self) -> str:
        return f"Step({redacted_address(self[0])!r}, Action.{self[1].name})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self[0], self[1])


def make_step(address: Address, op: Action) -> Step:
    return tuple.__new__(Step, (address, op))


@attrs.frozen(repr=False, eq=False)
class Change:
    """The planned change for one address.

    Attributes:
        address: the address.
        action: NOOP, CREATE, UPDATE, REPLACE, DELETE or ADOPT.
        before: the actual resource (``None`` for CREATE); for ADOPT, the object
            found at the address, not yet managed.
        after: the desired resource (``None`` for DELETE). For an UPDATE, ignored
            fields and paths carry the actual values, so an update never writes
            what planning ignores.
        changed_fields: compared fields that differ, or whose ref target is replaced
            (for ADOPT: what the update after the adoption changes; empty when
            the found object already matches).
        replace_fields: the subset of ``changed_fields`` that forces replacement.
        replaced_refs: replaced dependencies that made this change (rule 3).
        create_before_delete: for a REPLACE, the new object is created before the
            old one is deleted.
        forced_by: the create-before-delete resource that forced this replacement
            to create first (``None`` when chosen by its own kind or lifecycle).
        triggered_by: watched addresses whose change triggered this replacement
            (``Lifecycle.replace_triggered_by``).
        origin: drift or intent, for a plan made with ``last_applied``; else ``None``.
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
    origin: Origin | None = None
    _explained: list[tuple[FieldChange, ...]] = attrs.field(factory=list, alias="_explained")

    @property
    def marker(self) -> str:
        """The plan-review marker; ``+/-`` for a create-before-delete replacement."""
        return "+/-" if self.create_before_delete else self.action.marker

    @property
    def display_address(self) -> str:
        """The address as shown to people (see ``show_address``): sensitive identity values read ``(sensitive)``."""
        return show_address(self.address)

    @property
    def sensitive(self) -> frozenset[str]:
        """The fields shown as ``(sensitive)``: sensitive in the class of ``before`` or of ``after``.

        Both count: a replacement across a class change must not show the old
        class's secrets because the new class no longer marks them.
        """
        types = {type(o) for o in (self.before, self.after) if o is not None}
        return frozenset().union(*(type_of(t).sensitive for t in types))

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
        rt: ResourceType = type_of(type(obj))
        if self.action in (Action.CREATE, Action.DELETE):
            added = self.action is Action.CREATE
            how = Difference.ADDED if added else Difference.REMOVED
            out = []
            for name in rt.compared:
                value = REDACTED if name in rt.sensitive else getattr(obj, name)
                out.append(FieldChange(name, None if added else value, value if added else None, how))
            return tuple(out)
        return explain(rt, self.before, self.after, self.changed_fields, self.sensitive)

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
            and self.origin is other.origin
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
        predecessors: for each step, the steps it runs after (the step DAG's edges).
        unchanged: how many addresses need nothing.
        deferred: changes left out by ``targets`` / ``exclude``, keyed by address;
            planning again without those options picks them up.
        fingerprint: for a plan read back with :func:`reconcile.loads`, the
            fingerprint of the actual resources it touches as they were when it was
            planned (``None`` for a plan made in this process); ``apply`` refuses a
            saved plan whose fingerprint no longer matches the world.
        last_applied_edges: for a plan made with ``last_applied``, the
            ``(dependent, dependency)`` edges of the last applied state that
            order deletes here: both ends deleted or replaced, and not an edge
            of the actual state (a ``depends_on`` the world does not report).
            The delete of each dependent comes before its dependency's.
        overruled_edges: edges of the last applied state between addresses
            deleted or replaced that were not followed: with the actual state's
            edges they would close a cycle, so the actual state's order wins
            (see docs/planning.md, "Deletes and the last applied state").
            Neither is compared by ``==``: ``steps`` and ``predecessors`` hold
            the order they give.
    """

    desired: State
    actual: State
    changes: Mapping[Address, Change]
    steps: tuple[Step, ...]
    predecessors: Mapping[Step, tuple[Step, ...]]
    unchanged: int
    deferred: Mapping[Address, Change] = attrs.field(factory=dict)
    fingerprint: str | None = None
    last_applied_edges: tuple[tuple[Address, Address], ...] = ()
    overruled_edges: tuple[tuple[Address, Address], ...] = ()

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
            and dict(self.predecessors) == dict(other.predecessors)
            and self.unchanged == other.unchanged
            and list(self.changes.items()) == list(other.changes.items())
            and list(self.deferred.items()) == list(other.deferred.items())
            and self.desired == other.desired
            and self.actual == other.actual
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def reads(self) -> dict[Address, Any]:
        """The external objects the desired state declares, as read (from the actual state), by address.

        The plan never creates, changes or deletes them; dependents' providers
        see them through ``ctx.resolve``.
        """
        actual = self.actual
        return {a: actual.lookup(a) for a in self.desired.externals}

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
            raise KeyError(f"{show_address(address)} is in neither the desired nor the actual state")
        return Change(address, Action.NOOP, before, after)

    def summary(self) -> dict[Action, int]:
        """The number of addresses per action, every action present (NOOP included)."""
        counts = Counter(c.action for c in self.changes.values())
        counts[Action.NOOP] = self.unchanged
        return {a: counts.get(a, 0) for a in Action}

    def successors(self) -> dict[Step, list[Step]]:
        """For each step, the steps that run after it (the DAG's forward edges)."""
        out: dict[Step, list[Step]] = {s: [] for s in self.steps}
        for s, preds in self.predecessors.items():
            for p in preds:
                out[p].append(s)
        return out

    def to_networkx(self) -> Any:
        """The step DAG as a ``networkx.DiGraph`` (edge ``earlier -> later``), nodes carry ``action``."""
        return to_networkx(
            self.steps, self.predecessors, action={s: self.changes[s.address].action for s in self.steps}
        )

    def __repr__(self) -> str:
        counts = ", ".join(f"{a.value}={n}" for a, n in self.summary().items() if n)
        deferred = f", deferred={len(self.deferred)}" if self.deferred else ""
        return f"<Plan: {counts or 'empty'}{deferred}>"
