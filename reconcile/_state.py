"""``State``: an immutable, validated collection of resources and its dependency graph."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, KeysView
from typing import Any

from ._errors import (
    CycleError,
    DanglingRefError,
    DuplicateAddressError,
    FieldTypeError,
    InvalidStateError,
    StateProblem,
)
from ._graph import find_cycles, to_networkx, topological_order
from ._resource import Address, Ref, ResourceType, as_address, iter_refs, resource_type

_EMPTY: tuple[Address, ...] = ()
_PATH_KEY = re.compile(r"\[((?:[^\[\]]|'[^']*')*)\]")


def _field_problem(address: Address, rt: ResourceType, name: str, err: str, value: Any) -> FieldTypeError:
    path, _, expected = err.partition("\x00")
    shown: Any = value
    if name in rt.sensitive:
        shown = "(sensitive)"
    elif path:
        # Walk to the nested offender so the message shows the value that is wrong.
        shown = _nested_value(value, path)
    return FieldTypeError(address, name + path.replace(" (key)", ""), expected, shown)


def _nested_value(value: Any, path: str) -> Any:
    for key in _PATH_KEY.findall(path):
        try:
            k = ast.literal_eval(key)
            value = value[k] if not isinstance(value, (set, frozenset)) else list(value)[k]
        except Exception:
            return value
    return value


def _refs_of(rt: ResourceType, obj: Any) -> Iterator[tuple[str, Address]]:
    for name in rt.ref_fields():
        for path, r in iter_refs(getattr(obj, name), name):
            yield path, r.address
    for target in obj.depends_on:
        yield "depends_on", target


class State:
    """An immutable collection of resources, keyed by address, with its dependency graph.

    Construction validates everything at once and raises one
    :class:`InvalidStateError` listing every problem: duplicate addresses, values
    of the wrong type for their annotation, refs to addresses not in the state,
    and dependency cycles.

    Args:
        resources: resource instances (declared with ``@resource``).
        allow_dangling: accept refs to addresses outside the state (no edge is
            made for them). ``observe`` uses this: the actual world is what it is.

    Raises:
        InvalidStateError: one or more problems; ``exceptions`` holds them.
        ResourceDefinitionError: an item is not a resource.
    """

    __slots__ = ("_by_address", "_dependents", "_deps")

    _by_address: dict[Address, Any]
    _deps: dict[Address, tuple[Address, ...]]
    _dependents: dict[Address, tuple[Address, ...]] | None

    def __init__(self, resources: Iterable[Any] = (), *, allow_dangling: bool = False) -> None:
        problems: list[StateProblem] = []
        by_address: dict[Address, Any] = {}
        deps: dict[Address, tuple[Address, ...]] = {}
        for obj in resources:
            rt = resource_type(obj)
            address = rt.address(obj)
            if address in by_address:
                problems.append(DuplicateAddressError(address, by_address[address], obj))
                continue
            by_address[address] = obj
            for name, check in rt.checks().items():
                value = getattr(obj, name)
                err = check(value)
                if err is not None:
                    problems.append(_field_problem(address, rt, name, err, value))
        for address, obj in by_address.items():
            rt = type(obj).__reconcile__
            targets: list[Address] = []
            for path, target in _refs_of(rt, obj):
                if target in by_address:
                    if target not in targets:
                        targets.append(target)
                elif not allow_dangling:
                    problems.append(DanglingRefError(address, path, target))
            if targets:
                deps[address] = tuple(targets)
        nodes = list(deps)
        _order, stuck = topological_order(nodes, deps)
        if stuck:
            problems.extend(CycleError(c) for c in find_cycles(stuck, deps))
        if problems:
            raise InvalidStateError("invalid state", problems)
        self._by_address = by_address
        self._deps = deps
        self._dependents = None

    @classmethod
    def _trusted(cls, by_address: dict[Address, Any]) -> State:
        """Build without validation, for resources the engine already holds (refs may dangle)."""
        self = cls.__new__(cls)
        deps: dict[Address, tuple[Address, ...]] = {}
        for address, obj in by_address.items():
            targets: list[Address] = []
            for _path, target in _refs_of(type(obj).__reconcile__, obj):
                if target in by_address and target not in targets:
                    targets.append(target)
            if targets:
                deps[address] = tuple(targets)
        self._by_address = by_address
        self._deps = deps
        self._dependents = None
        return self

    def __len__(self) -> int:
        return len(self._by_address)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._by_address.values())

    def __contains__(self, item: object) -> bool:
        if isinstance(item, (Address, str, Ref)):
            return as_address(item) in self._by_address
        rt = getattr(item, "__reconcile__", None)
        return isinstance(rt, ResourceType) and self._by_address.get(rt.address(item)) == item

    def __getitem__(self, address: Address | str | Ref[Any]) -> Any:
        return self._by_address[as_address(address)]

    def get(self, address: Address | str | Ref[Any], default: Any = None) -> Any:
        """The resource at ``address``, or ``default``."""
        return self._by_address.get(as_address(address), default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return self._by_address == other._by_address

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<State: {len(self)} resource{'s' if len(self) != 1 else ''}>"

    @property
    def addresses(self) -> KeysView[Address]:
        """The addresses, in insertion order (a read-only view)."""
        return self._by_address.keys()

    def items(self) -> Iterable[tuple[Address, Any]]:
        """``(address, resource)`` pairs, in insertion order."""
        return self._by_address.items()

    def dependencies(self, address: Address | str) -> tuple[Address, ...]:
        """Addresses the resource at ``address`` depends on (refs and ``depends_on``)."""
        return self._deps.get(as_address(address), _EMPTY)

    def dependents(self, address: Address | str) -> tuple[Address, ...]:
        """Addresses of the resources that depend on ``address``."""
        if self._dependents is None:
            rev: dict[Address, list[Address]] = {}
            for src, targets in self._deps.items():
                for t in targets:
                    rev.setdefault(t, []).append(src)
            self._dependents = {k: tuple(v) for k, v in rev.items()}
        return self._dependents.get(as_address(address), _EMPTY)

    def with_resources(self, *resources: Any) -> State:
        """A new, validated state with ``resources`` added or replacing those at their addresses."""
        merged = dict(self._by_address)
        for obj in resources:
            merged[resource_type(obj).address(obj)] = obj
        return State(merged.values())

    def without(self, *addresses: Address | str) -> State:
        """A new, validated state without the resources at ``addresses``."""
        drop = {as_address(a) for a in addresses}
        return State(obj for a, obj in self._by_address.items() if a not in drop)

    def to_networkx(self) -> Any:
        """The dependency graph as a ``networkx.DiGraph`` (edge ``dependency -> dependent``)."""
        return to_networkx(list(self._by_address), self._deps, resource=self._by_address)
