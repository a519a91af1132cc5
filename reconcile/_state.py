"""``State``: an immutable, validated collection of resources and its dependency graph."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, KeysView, Mapping
from typing import Any

from ._graph import find_cycles, to_networkx, topological_order
from ._model import (
    REDACTED,
    Address,
    External,
    Ref,
    ResourceType,
    as_address,
    bound,
    is_resource,
    iter_refs,
    resource_type,
    show_address,
    show_value,
    type_of,
)
from ._typecheck import compiled, field_checks
from .errors import (
    CycleError,
    DanglingRefError,
    DuplicateAddressError,
    FieldTypeError,
    InvalidStateError,
    StateProblem,
)

_EMPTY: tuple[Address, ...] = ()
_PATH_KEY = re.compile(r"\[((?:[^\[\]]|'[^']*')*)\]")


def _field_problem(address: Address, rt: ResourceType, name: str, err: str, value: Any) -> FieldTypeError:
    path, _, expected = err.partition("\x00")
    shown: Any = value
    if name in rt.sensitive:
        # The keys of a sensitive dict are as secret as its values: the path stops at
        # the field, so the message names the field's whole annotation.
        shown = REDACTED
        if path:
            hint = rt.type_hints().get(name, Any)
            expected = hint.__name__ if type(hint) is type else repr(hint).replace("typing.", "")
            path = ""
    elif path:
        # Walk to the nested offender so the message shows the value that is wrong.
        shown = _nested_value(value, path)
    field = name + bound(path.replace(" (key)", ""))
    return FieldTypeError(address, field, expected, shown, shown=(show_address(address), show_value(shown)))


def _dangling(address: Address, rt: ResourceType, path: str, target: Address) -> DanglingRefError:
    field = path.partition("[")[0]
    if field in rt.sensitive:
        # A ref held in a sensitive field is a sensitive value: neither its key nor its target is shown.
        shown = (show_address(address), field, REDACTED)
    else:
        shown = (show_address(address), bound(path), show_address(target))
    return DanglingRefError(address, path, target, shown=shown)


def _duplicate(address: Address, first: Any, second: Any) -> DuplicateAddressError:
    # An External's repr names its address only, never the values it holds.
    a, b = (repr(o) if type(o) is External else show_value(o) for o in (first, second))
    return DuplicateAddressError(address, first, second, shown=(show_address(address), a, b))


def _nested_value(value: Any, path: str) -> Any:
    for key in _PATH_KEY.findall(path):
        try:
            k = ast.literal_eval(key)
            value = value[k] if not isinstance(value, (set, frozenset)) else list(value)[k]
        except Exception:
            return value
    return value


def _slow_scan(address: Address, obj: Any, problems: list[StateProblem]) -> tuple[Address, ...]:
    """The generic checks (which word the errors) and ref walk, for a resource that failed the generated ones."""
    rt: ResourceType = type_of(type(obj))
    for name, check in field_checks(rt).items():
        value = getattr(obj, name)
        err = check(value)
        if err is not None:
            problems.append(_field_problem(address, rt, name, err, value))
    return tuple(dict.fromkeys(target for _path, target in _refs_of(rt, obj)))


def _split_externals(
    objs: list[Any] | tuple[Any, ...], problems: list[StateProblem]
) -> tuple[list[Any], dict[Address, External[Any]]]:
    """The resources and the ``External`` entries of a state's input, externals checked (values' field types)."""
    resources: list[Any] = []
    externals: dict[Address, External[Any]] = {}
    for obj in objs:
        if type(obj) is not External:
            resources.append(obj)
            continue
        if obj.address in externals:
            problems.append(_duplicate(obj.address, externals[obj.address], obj))
            continue
        externals[obj.address] = obj
        value = obj.value
        if value is not None and compiled(type_of(type(value))).check(value)[1] is None:
            _slow_scan(obj.address, value, problems)
    return resources, externals


def _kinds_cyclic(edges: set[tuple[str, str]]) -> bool:
    preds: dict[str, list[str]] = {}
    for src, dst in edges:
        preds.setdefault(src, []).append(dst)
    kinds = list({k for edge in edges for k in edge})
    return bool(topological_order(kinds, preds)[1])


def _replay(
    by_address: dict[Address, Any], raw: dict[Address, tuple[Address, ...]]
) -> tuple[dict[Address, tuple[Address, ...]], dict[Address, None]]:
    """Which resources ref an address not before them, as if the refs had been looked up while reading."""
    seen: set[Address] = set()
    unsettled: dict[Address, None] = {}
    for address in by_address:
        targets = raw.get(address)
        if targets:
            for target in targets:
                if target not in seen or target in unsettled:
                    unsettled[address] = None
                    break
        seen.add(address)
    return {a: targets if a in unsettled else _linked(targets, by_address) for a, targets in raw.items()}, unsettled


def _linked(targets: tuple[Address, ...], by_address: dict[Address, Any]) -> tuple[Address, ...]:
    """The targets that are in the state, as the state's own ``Address`` objects.

    The key objects, not equal copies of them (each ``Ref`` holds its own): a
    dict finds an identical key without comparing it, and far fewer objects
    are touched later, which counts once a state no longer fits in the CPU cache.
    """
    out = []
    for t in targets:
        found = by_address.get(t)
        if found is not None:
            out.append(getattr(found, "_reconcile_address", None) or t)
    return tuple(out)


def _scan_all(by_address: dict[Address, Any]) -> dict[Address, tuple[Address, ...]]:
    """Every resource's targets, present or not (no validation: for trusted states)."""
    raw: dict[Address, tuple[Address, ...]] = {}
    for address, obj in by_address.items():
        targets = _targets(obj)
        if targets:
            raw[address] = targets
    return raw


def _targets(obj: Any) -> tuple[Address, ...]:
    """One resource's targets, present or not (no validation)."""
    rt = type_of(type(obj))
    targets = compiled(rt).scan(obj)[1]
    if targets is None:
        targets = tuple(dict.fromkeys(t for _path, t in _refs_of(rt, obj)))
    return targets


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

    ``resources`` may also hold :class:`External` entries (``external(Vpc,
    "default")``): objects the plan reads but never manages. Refs to them are
    not dangling, and they are kept apart from the resources (``externals``):
    they are not iterated, counted or looked up with the resources, and no
    plan ever creates, changes or deletes them.

    Raises:
        InvalidStateError: one or more problems; ``exceptions`` holds them.
        ResourceDefinitionError: an item is not a resource.
    """

    __slots__ = ("_by_address", "_dependents", "_externals", "_graph")

    _by_address: dict[Address, Any]
    # The dependency edges, only to addresses in the state; ``None`` until first
    # needed when they could be left for later (see ``_deps``).
    _graph: dict[Address, tuple[Address, ...]] | None
    # Built on first use; lists, turned into tuples per call (most are never asked for).
    _dependents: dict[Address, list[Address]] | None
    _externals: dict[Address, External[Any]]

    def __init__(self, resources: Iterable[Any] = (), *, allow_dangling: bool = False) -> None:
        objs = resources if isinstance(resources, (list, tuple)) else list(resources)
        classes = dict.fromkeys(map(type, objs))
        problems: list[StateProblem] = []
        externals: dict[Address, External[Any]] = {}
        if External in classes:
            objs, externals = _split_externals(objs, problems)
            del classes[External]
        scanners: dict[type, Any] = {}
        checkers: dict[type, Any] = {}
        # Which kinds may ref which, from the annotations (``known_kinds`` is
        # False when some class has refs of any kind: linking is eager then).
        kind_edges: set[tuple[str, str]] = set()
        known_kinds = True
        for cls in classes:
            # For a class that is no resource, the first such item gets the error.
            rt = type_of(cls) if is_resource(cls) else resource_type(next(o for o in objs if type(o) is cls))
            fns = compiled(rt)
            scanners[cls] = fns.scan
            checkers[cls] = fns.check
            if fns.ref_kinds is None:
                known_kinds = False
            else:
                kind_edges.update((rt.kind, k) for k in fns.ref_kinds)
        # An observed state whose kinds cannot form a cycle needs no ref lookups
        # now: which refs land inside the state is worked out on first use.
        lazy = allow_dangling and known_kinds and not _kinds_cyclic(kind_edges)
        by_address: dict[Address, Any] = {}
        deps: dict[Address, tuple[Address, ...]] = {}
        # Resources with a ref to an address not seen yet (later in the input, or
        # missing): their refs are settled once every address is known, and only
        # they, and what depends on them, can be on a cycle.
        unsettled: dict[Address, None] = {}
        explicit_kinds: set[tuple[str, str]] = set()
        if lazy:
            for obj in objs:
                address, explicit = checkers[type(obj)](obj)
                size = len(by_address)
                by_address.setdefault(address, obj)
                if len(by_address) == size:
                    problems.append(_duplicate(address, by_address[address], obj))
                    continue
                if explicit is None:
                    _slow_scan(address, obj, problems)
                    explicit = obj.depends_on
                if explicit:
                    explicit_kinds.update((address[0], t[0]) for t in explicit)
        else:
            for obj in objs:
                address, targets, explicit = scanners[type(obj)](obj)
                if address in by_address:
                    problems.append(_duplicate(address, by_address[address], obj))
                    continue
                if targets is None:
                    targets = _slow_scan(address, obj, problems)
                if targets:
                    # Looked up before this resource is added, so a ref to itself
                    # counts as unsettled.
                    linked = []
                    for target in targets:
                        found = by_address.get(target)
                        if found is None or target in unsettled:
                            unsettled[address] = None
                            deps[address] = targets
                            break
                        linked.append(getattr(found, "_reconcile_address", None) or target)
                    else:
                        deps[address] = tuple(linked)
                by_address[address] = obj
        if lazy and explicit_kinds and _kinds_cyclic(kind_edges | explicit_kinds):
            # depends_on edges between kinds may close a loop: link and check now.
            lazy = False
            deps, unsettled = _replay(by_address, _scan_all(by_address))
        if unsettled:
            for address in unsettled:
                targets = deps[address]
                present = _linked(targets, by_address)
                if len(present) != len(targets) and not allow_dangling:
                    obj = by_address[address]
                    rt = type_of(type(obj))
                    problems += [
                        _dangling(address, rt, path, target)
                        for path, target in _refs_of(rt, obj)
                        if target not in by_address and target not in externals
                    ]
                if present:
                    deps[address] = present
                else:
                    del deps[address]
            # A resource whose dependencies all came before it and are settled
            # cannot reach itself, so the cycle search looks at the rest only.
            nodes = [a for a in unsettled if a in deps]
            _, stuck = topological_order(nodes, deps)
            if stuck:
                problems.extend(CycleError(c, shown=[show_address(a) for a in c]) for c in find_cycles(stuck, deps))
        for address, ext in externals.items():
            if address in by_address:
                problems.append(_duplicate(address, by_address[address], ext))
        if problems:
            raise InvalidStateError("invalid state", problems)
        self._by_address = by_address
        self._externals = externals
        # Lazily linked states keep nothing but the resources: a controller
        # observes on every tick, and every object kept would be one more for
        # the garbage collector to walk.
        self._graph = None if lazy else deps
        self._dependents = None

    @property
    def by_address(self) -> Mapping[Address, Any]:
        """The resources keyed by address (a read-only view for the engine's own loops)."""
        return self._by_address

    @property
    def externals(self) -> Mapping[Address, External[Any]]:
        """The :class:`External` entries by address: declared (``value`` ``None``) or as read (a read-only view)."""
        return self._externals

    def lookup(self, address: Address | str | Ref[Any]) -> Any:
        """The object at ``address``: a resource, else the value read for an external, else ``None``."""
        address = as_address(address)
        found = self._by_address.get(address)
        if found is None:
            ext = self._externals.get(address)
            if ext is not None:
                return ext.value
        return found

    @classmethod
    def _trusted(cls, by_address: dict[Address, Any], externals: dict[Address, External[Any]] | None = None) -> State:
        """Build without validation, for resources the engine already holds (refs may dangle).

        Nothing is scanned until the dependency graph is first asked for.
        """
        self = cls.__new__(cls)
        self._by_address = by_address
        self._externals = externals if externals is not None else {}
        self._graph = None
        self._dependents = None
        return self

    @property
    def _deps(self) -> dict[Address, tuple[Address, ...]]:
        """The dependency edges (each resource's targets that are in the state), linked on first use."""
        graph = self._graph
        if graph is None:
            by_address = self._by_address
            graph = {}
            for address, targets in _scan_all(by_address).items():
                present = _linked(targets, by_address)
                if present:
                    graph[address] = present
            self._graph = graph
        return graph

    def __len__(self) -> int:
        return len(self._by_address)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._by_address.values())

    def __contains__(self, item: object) -> bool:
        if isinstance(item, (Address, str, Ref)):
            return as_address(item) in self._by_address
        if not is_resource(item) or isinstance(item, type):
            return False
        return bool(self._by_address.get(resource_type(item).address(item)) == item)

    def __getitem__(self, address: Address | str | Ref[Any]) -> Any:
        return self._by_address[as_address(address)]

    def get(self, address: Address | str | Ref[Any], default: Any = None) -> Any:
        """The resource at ``address``, or ``default``."""
        return self._by_address.get(as_address(address), default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return self._by_address == other._by_address and self._externals == other._externals

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        n = len(self._externals)
        externals = f", {n} external{'s' if n != 1 else ''}" if n else ""
        return f"<State: {len(self)} resource{'s' if len(self) != 1 else ''}{externals}>"

    @property
    def addresses(self) -> KeysView[Address]:
        """The addresses, in insertion order (a read-only view)."""
        return self._by_address.keys()

    def items(self) -> Iterable[tuple[Address, Any]]:
        """``(address, resource)`` pairs, in insertion order."""
        return self._by_address.items()

    def dependencies(self, address: Address | str) -> tuple[Address, ...]:
        """Addresses the resource at ``address`` depends on (refs and ``depends_on``)."""
        address = address if type(address) is Address else as_address(address)
        graph = self._graph
        if graph is not None:
            return graph.get(address, _EMPTY)
        # Not linked yet (an observed state): look at this one resource only.
        obj = self._by_address.get(address)
        if obj is None:
            return _EMPTY
        return _linked(_targets(obj), self._by_address)

    def dependents(self, address: Address | str) -> tuple[Address, ...]:
        """Addresses of the resources that depend on ``address``."""
        rev = self._dependents
        if rev is None:
            rev = {}
            for src, targets in self._deps.items():
                for t in targets:
                    found = rev.get(t)
                    if found is None:
                        rev[t] = [src]
                    else:
                        found.append(src)
            self._dependents = rev
        found = rev.get(address if type(address) is Address else as_address(address))
        return tuple(found) if found is not None else _EMPTY

    def with_resources(self, *resources: Any) -> State:
        """A new, validated state with ``resources`` added or replacing those at their addresses."""
        merged = dict(self._by_address)
        externals = dict(self._externals)
        for obj in resources:
            if type(obj) is External:
                externals[obj.address] = obj
            else:
                merged[resource_type(obj).address(obj)] = obj
        return State([*externals.values(), *merged.values()])

    def without(self, *addresses: Address | str) -> State:
        """A new, validated state without the resources at ``addresses``."""
        drop = {as_address(a) for a in addresses}
        kept = [e for a, e in self._externals.items() if a not in drop]
        return State([*kept, *(obj for a, obj in self._by_address.items() if a not in drop)])

    def to_networkx(self) -> Any:
        """The dependency graph as a ``networkx.DiGraph`` (edge ``dependency -> dependent``)."""
        return to_networkx(list(self._by_address), self._deps, resource=self._by_address)


def trusted_state(by_address: dict[Address, Any], externals: dict[Address, External[Any]] | None = None) -> State:
    """A ``State`` of values the engine already validated (an apply's live world), without checking them again."""
    return State._trusted(by_address, externals)
