"""``State``: an immutable, validated collection of resources and its dependency graph."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, KeysView, Mapping
from itertools import chain, compress, repeat
from typing import Any, NamedTuple

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
from ._typecheck import CONTAINS_ITSELF, MAX_DEPTH, NESTING, Compiled, compiled, field_checks, nesting
from .errors import (
    CycleError,
    DanglingRefError,
    DuplicateAddressError,
    FieldTypeError,
    InvalidStateError,
    NestingError,
    ResourceDefinitionError,
    StateInputError,
    StateProblem,
)

_EMPTY: tuple[Address, ...] = ()
_PATH_KEY = re.compile(r"\[((?:[^\[\]]|'[^']*')*)\]")


def _resource_list(resources: Any) -> list[Any] | tuple[Any, ...]:
    """The items given to ``State()``, as a list; anything but an iterable of them is refused."""
    if isinstance(resources, (list, tuple)):
        return resources
    if isinstance(resources, (str, bytes, Mapping)) or is_resource(resources):
        what = "a resource" if is_resource(resources) else type(resources).__name__
        raise StateInputError(f"State() takes an iterable of resources (a list, a tuple ...), got {what}")
    try:
        items = iter(resources)
    except TypeError:
        raise StateInputError(
            f"State() takes an iterable of resources (a list, a tuple ...), got {type(resources).__name__}"
        ) from None
    return list(items)


def _refuse(item: Any) -> None:
    """Raise the error for an item of a ``State`` that is not a resource instance."""
    if isinstance(item, type) and is_resource(item):
        raise ResourceDefinitionError(
            f"State() takes resource instances, got the class {item.__qualname__} "
            f"(kind {resource_type(item).kind!r}) itself"
        )
    resource_type(item)
    raise ResourceDefinitionError(f"{type(item).__name__} is not a resource instance")  # pragma: no cover


def _field_problem(address: Address, rt: ResourceType, name: str, err: str, value: Any) -> FieldTypeError:
    sensitive = name in rt.sensitive
    if err in (NESTING, CONTAINS_ITSELF):
        return NestingError(
            address,
            name,
            MAX_DEPTH,
            REDACTED if sensitive else value,
            contains_itself=err == CONTAINS_ITSELF,
            shown=(show_address(address),),
        )
    path, _, expected = err.partition("\x00")
    if sensitive:
        # The keys of a sensitive dict are as secret as its values: the path stops at
        # the field, so the message names the field's whole annotation.
        if path:
            hint = rt.type_hints().get(name, Any)
            expected = hint.__name__ if type(hint) is type else repr(hint).replace("typing.", "")
        return FieldTypeError(address, name, expected, REDACTED, shown=(show_address(address), REDACTED))
    inside, is_key, in_key = path.partition(" (key)")
    shown: Any
    if is_key:
        # A dict key of the wrong type: the key is blamed (the path names the
        # dict) and shown, not the value stored under it.
        segments = list(_PATH_KEY.finditer(inside))
        holder = inside[: segments[-1].start()] if segments else inside
        mapping = _nested_value(value, holder)
        text = segments[-1].group(1) if segments else ""
        key = next((k for k in mapping if repr(k) == text), text) if isinstance(mapping, Mapping) else text
        field, shown = name + bound(holder + " (key)" + in_key), _nested_value(key, in_key)
    else:
        # Walk to the nested offender so the message shows the value that is wrong.
        field, shown = name + bound(path), _nested_value(value, path) if path else value
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


def _unsettled(by_address: dict[Address, Any]) -> dict[Address, tuple[Address, ...]]:
    """Which resources ref an address not before them, as if the refs had been looked up while reading."""
    seen: set[Address] = set()
    unsettled: dict[Address, tuple[Address, ...]] = {}
    for address, obj in by_address.items():
        targets = _targets(obj)
        for target in targets:
            if target not in seen or target in unsettled:
                unsettled[address] = targets
                break
        seen.add(address)
    return unsettled


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
        value = getattr(obj, name)
        # A value nested too deep (refused by its check) is not walked: it may contain itself.
        if nesting(value) is None:
            for path, r in iter_refs(value, name):
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

    __slots__ = ("_addresses", "_allow_dangling", "_by_address", "_externals", "_links", "_position", "_reverse")

    _by_address: dict[Address, Any]
    # Kept so the states derived from this one (``with_resources``, ``without``) accept what it accepted.
    _allow_dangling: bool
    # The dependency edges, between positions in ``_by_address`` (its insertion
    # order): a tuple of ints holds no object the garbage collector tracks, so it
    # stops looking at it, where a tuple of addresses would be walked by every
    # full collection. ``None`` until first needed when they could be left for
    # later (see ``_edges``). Keys are in ascending order.
    _links: dict[int, tuple[int, ...]] | None
    # Position of each address, and address at each position; built on first use
    # (``_position`` while linking).
    _position: dict[Address, int] | None
    _addresses: list[Address] | None
    # The reverse edges, on first use: the dependents of position ``i`` are
    # ``sources[starts[i]:starts[i + 1]]``.
    _reverse: tuple[list[int], list[int]] | None
    _externals: dict[Address, External[Any]]

    def __init__(self, resources: Iterable[Any] = (), *, allow_dangling: bool = False) -> None:
        objs = _resource_list(resources)
        classes = dict.fromkeys(map(type, objs))
        problems: list[StateProblem] = []
        externals: dict[Address, External[Any]] = {}
        if External in classes:
            objs, externals = _split_externals(objs, problems)
            del classes[External]
        fns_of: dict[type, Compiled] = {}
        # Which kinds may ref which, from the annotations (``known_kinds`` is
        # False when some class has refs of any kind: linking is eager then).
        kind_edges: set[tuple[str, str]] = set()
        known_kinds = True
        for cls in classes:
            if not is_resource(cls):
                # The first such item gets the error.
                _refuse(next(o for o in objs if type(o) is cls))
            rt = type_of(cls)
            fns = fns_of[cls] = compiled(rt)
            if fns.ref_kinds is None:
                known_kinds = False
            else:
                kind_edges.update((rt.kind, k) for k in fns.ref_kinds)
        # An observed state whose kinds cannot form a cycle needs no ref lookups
        # now: which refs land inside the state is worked out on first use.
        lazy = allow_dangling and known_kinds and not _kinds_cyclic(kind_edges)
        # Another observed state looks its refs up (to find what could be on a
        # cycle) but keeps no edges: a controller observes on every tick, and
        # every object kept is one more for the garbage collector to walk.
        mode = "check" if lazy else "settle" if allow_dangling else "link"
        keep = mode == "link"
        runs = {cls: fns.run[mode] for cls, fns in fns_of.items()}
        by_address: dict[Address, Any] = {}
        position: dict[Address, int] = {}
        links: dict[int, tuple[int, ...]] = {}
        # Resources with a ref to an address not seen yet (later in the input, or
        # missing), with their targets: their refs are settled once every address
        # is known, and only they, and what depends on them, can be on a cycle.
        unsettled: dict[Address, tuple[Address, ...]] = {}
        explicit_kinds: set[tuple[str, str]] = set()
        i, n = 0, len(objs)
        while i < n:
            # The generated loop takes every resource it can; the one it stops
            # at (another class aside) goes the generic way below.
            obj = objs[i]
            j = runs[type(obj)](objs, i, n, by_address, links, unsettled, position)
            if j != i:
                i = j
                continue
            i += 1
            fns = fns_of[type(obj)]
            if lazy:
                address, explicit = fns.check(obj)
                if address in by_address:
                    problems.append(_duplicate(address, by_address[address], obj))
                    continue
                if explicit is None:
                    _slow_scan(address, obj, problems)
                    explicit = obj.depends_on
                if explicit:
                    explicit_kinds.update((address.kind, t.kind) for t in explicit)
                by_address[address] = obj
                continue
            address, targets, explicit = fns.scan(obj)
            if address in by_address:
                problems.append(_duplicate(address, by_address[address], obj))
                continue
            if targets is None:
                targets = _slow_scan(address, obj, problems)
            if targets:
                # Looked up before this resource is added, so a ref to itself
                # counts as unsettled.
                for target in targets:
                    if target not in by_address or target in unsettled:
                        unsettled[address] = targets
                        break
                if keep:
                    # An unsettled resource's place is kept (edges in ascending order).
                    k = len(position)
                    links[k] = () if address in unsettled else tuple(position[t] for t in targets)
            if keep:
                position[address] = len(position)
            by_address[address] = obj
        if lazy and explicit_kinds and _kinds_cyclic(kind_edges | explicit_kinds):
            # depends_on edges between kinds may close a loop: find what could be on one now.
            unsettled = _unsettled(by_address)
        if unsettled:
            preds: dict[Address, list[Address]] = {}
            for address, targets in unsettled.items():
                present = [t for t in targets if t in by_address]
                if len(present) != len(targets) and not allow_dangling:
                    obj = by_address[address]
                    rt = type_of(type(obj))
                    problems += [
                        _dangling(address, rt, path, target)
                        for path, target in _refs_of(rt, obj)
                        if target not in by_address and target not in externals
                    ]
                preds[address] = present
                if keep:
                    k = position[address]
                    if present:
                        links[k] = tuple(position[t] for t in present)
                    else:
                        del links[k]
            # A resource whose dependencies all came before it and are settled
            # cannot reach itself, so the cycle search looks at the rest only.
            nodes = [a for a in unsettled if preds[a]]
            _, stuck = topological_order(nodes, preds)
            if stuck:
                problems.extend(CycleError(c, shown=[show_address(a) for a in c]) for c in find_cycles(stuck, preds))
        for address, ext in externals.items():
            if address in by_address:
                problems.append(_duplicate(address, by_address[address], ext))
        if problems:
            raise InvalidStateError("invalid state", problems)
        self._by_address = by_address
        self._externals = externals
        self._allow_dangling = allow_dangling
        # A state linked later keeps nothing but the resources until its graph
        # is first asked for (a no-change tick never asks).
        self._links = links if keep else None
        self._position = position if keep else None
        self._addresses = None
        self._reverse = None

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
        self._allow_dangling = True
        self._links = None
        self._position = None
        self._addresses = None
        self._reverse = None
        return self

    def _positions(self) -> dict[Address, int]:
        position = self._position
        if position is None:
            position = self._position = {a: i for i, a in enumerate(self._by_address)}
        return position

    def _address_list(self) -> list[Address]:
        addresses = self._addresses
        if addresses is None:
            addresses = self._addresses = list(self._by_address)
        return addresses

    def _edges(self) -> dict[int, tuple[int, ...]]:
        """The edges between positions (each resource's targets that are in the state), linked on first use."""
        links = self._links
        if links is None:
            position = self._positions()
            links = {}
            for address, targets in _scan_all(self._by_address).items():
                present = tuple(j for t in targets if (j := position.get(t)) is not None)
                if present:
                    links[position[address]] = present
            self._links = links
        return links

    @property
    def _deps(self) -> dict[Address, tuple[Address, ...]]:
        """The dependency edges as addresses (the state's own ``Address`` objects)."""
        at = self._address_list()
        return {at[i]: tuple(at[j] for j in targets) for i, targets in self._edges().items()}

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
        links = self._links
        if links is None:
            # Not linked yet (an observed state): look at this one resource only.
            obj = self._by_address.get(address)
            if obj is None:
                return _EMPTY
            return _linked(_targets(obj), self._by_address)
        position = self._position
        assert position is not None  # numbered whenever linked
        i = position.get(address)
        targets = links.get(i) if i is not None else None
        if not targets:
            return _EMPTY
        at = self._addresses
        if at is None:
            at = self._address_list()
        return tuple(map(at.__getitem__, targets))

    def dependents(self, address: Address | str) -> tuple[Address, ...]:
        """Addresses of the resources that depend on ``address``, in state order."""
        reverse = self._reverse
        if reverse is None:
            # Counted, then filled by ascending source: two lists of ints for
            # the whole state rather than one list per dependency.
            links = self._edges()
            counts = [0] * (len(self._by_address) + 1)
            for targets in links.values():
                for t in targets:
                    counts[t + 1] += 1
            for k in range(1, len(counts)):
                counts[k] += counts[k - 1]
            starts = counts[:]
            sources = [0] * counts[-1]
            for src, targets in links.items():
                for t in targets:
                    sources[counts[t]] = src
                    counts[t] += 1
            reverse = self._reverse = (starts, sources)
        i = self._positions().get(address if type(address) is Address else as_address(address))
        if i is None:
            return _EMPTY
        starts, sources = reverse
        lo, hi = starts[i], starts[i + 1]
        if lo == hi:
            return _EMPTY
        return tuple(map(self._address_list().__getitem__, sources[lo:hi]))

    def with_resources(self, *resources: Any) -> State:
        """A new, validated state with ``resources`` added or replacing those at their addresses.

        The new state allows dangling refs if this one did.

        Raises:
            InvalidStateError: the new state is invalid.
            ResourceDefinitionError: an item is not a resource instance.
        """
        merged = dict(self._by_address)
        externals = dict(self._externals)
        for obj in resources:
            if type(obj) is External:
                externals[obj.address] = obj
                continue
            if isinstance(obj, type) or not is_resource(obj):
                _refuse(obj)
            merged[resource_type(obj).address(obj)] = obj
        return State([*externals.values(), *merged.values()], allow_dangling=self._allow_dangling)

    def without(self, *addresses: Address | str) -> State:
        """A new, validated state without the resources at ``addresses``.

        The new state allows dangling refs if this one did.

        Raises:
            InvalidStateError: the new state is invalid (a resource left refs one taken out).
            AddressError: an address is malformed.
        """
        drop = {as_address(a) for a in addresses}
        kept = [e for a, e in self._externals.items() if a not in drop]
        return State(
            [*kept, *(obj for a, obj in self._by_address.items() if a not in drop)], allow_dangling=self._allow_dangling
        )

    def to_networkx(self) -> Any:
        """The dependency graph as a ``networkx.DiGraph`` (edge ``dependency -> dependent``)."""
        return to_networkx(self._address_list(), self._deps, resource=self._by_address)


def trusted_state(by_address: dict[Address, Any], externals: dict[Address, External[Any]] | None = None) -> State:
    """A ``State`` of values the engine already validated (an apply's live world), without checking them again."""
    return State._trusted(by_address, externals)


class Graph(NamedTuple):
    """A state's dependency graph by position in the state's order, for the engine's own loops.

    Attributes:
        position: the position of each address.
        addresses: the address at each position (the state's own ``Address`` objects).
        edges: each position's dependencies (the positions of ``dependencies(address)``,
            in the same order); a position with none is left out.
    """

    position: Mapping[Address, int]
    addresses: list[Address]
    edges: Mapping[int, tuple[int, ...]]


def graph_of(state: State) -> Graph:
    """The dependency graph of ``state`` by position (linked now if it was left for later)."""
    edges = state._edges()
    return Graph(state._positions(), state._address_list(), edges)


def is_linked(state: State) -> bool:
    """Whether ``state`` holds its edges already (an observed state links on first use)."""
    return state._links is not None


def dependents_of(state: State, addresses: Iterable[Address]) -> dict[Address, tuple[Address, ...]]:
    """``state.dependents(a)`` for each of ``addresses`` in the state, found together.

    One pass over the edges, in C (``itertools``), keeps those that end at one
    of ``addresses``: far cheaper than the reverse edges of the whole state
    that ``dependents`` builds, when only a few thousand are asked for.
    """
    if state._reverse is not None:
        return {a: state.dependents(a) for a in addresses if a in state._by_address}
    position = state._positions()
    at = state._address_list()
    links = state._edges()
    wanted = bytearray(len(at))
    asked: dict[Address, int] = {}
    for a in addresses:
        i = position.get(a)
        if i is not None:
            wanted[i] = 1
            asked[a] = i
    keep = list(map(wanted.__getitem__, chain.from_iterable(links.values())))
    sources = compress(chain.from_iterable(map(repeat, links.keys(), map(len, links.values()))), keep)
    found: dict[int, list[int]] = {}
    for src, t in zip(sources, compress(chain.from_iterable(links.values()), keep), strict=True):
        found.setdefault(t, []).append(src)
    return {a: tuple(map(at.__getitem__, found[i])) if i in found else _EMPTY for a, i in asked.items()}
