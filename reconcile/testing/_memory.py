"""``InMemoryProvider``: a fake world for one kind, keyed by address, that records every call."""

from __future__ import annotations

import builtins
import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._apply import Context
from .._model import Address, resource_type, show_address
from .._typecheck import field_checks

R = TypeVar("R")


@attrs.frozen
class Call:
    """One recorded provider call: the method name and the address it was about."""

    method: str
    address: Address


class InMemoryProvider(Generic[R]):
    """A provider whose world is a dict, for tests and examples.

    ``create`` fills every computed field left ``None`` with a generated id
    (``"<kind>-<n>"`` for ``str`` fields, ``n`` for ``int`` ones); ``update`` keeps
    the computed fields of the actual object. Every call is appended to
    ``calls``.

    ``create`` and ``update`` store (and return) what a real API keeps: the
    object without the ``depends_on`` it was given. ``depends_on`` is planning
    metadata of the desired state; an unchanged object is never written again,
    so a stored copy would go stale when the desired edges change (a reversed
    edge then made a cycle in the world). ``lifecycle`` is kept, so an object
    created protected stays protected once it leaves the desired state.

    ``create`` of an existing address, and ``update``/``delete`` of a missing
    one, raise ``LookupError`` as a real API would.

    By default names are unique, like most real APIs: a create-before-delete
    replacement fails at its create step. With ``unique_names=False`` a create at
    an occupied address moves the old object to ``deposed`` (it still exists
    beside the new one, as objects with generated names do) until it is deleted.

    Args:
        cls: the resource class this provider serves.
        initial: resources that exist before the test starts (stored as given,
            ``depends_on`` included: a world seeded with edges reports them).
        unique_names: refuse a create at an address that holds an object.
    """

    def __init__(self, cls: type[R], initial: Iterable[R] = (), *, unique_names: bool = True) -> None:
        self.cls = cls
        self.kind = resource_type(cls).kind
        self.unique_names = unique_names
        self.objects: dict[Address, R] = {}
        self.deposed: dict[Address, list[R]] = {}
        self.calls: list[Call] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        for obj in initial:
            self.objects[resource_type(obj).address(obj)] = obj

    def _address(self, obj: Any) -> Address:
        return resource_type(obj).address(obj)

    def _fill(self, obj: R, source: R | None) -> R:
        rt = resource_type(obj)
        checks = field_checks(rt)
        filled: dict[str, Any] = {"depends_on": ()} if getattr(obj, "depends_on", ()) else {}
        for name in rt.computed:
            if getattr(obj, name) is not None:
                continue
            if source is not None and getattr(source, name) is not None:
                filled[name] = getattr(source, name)
                continue
            n = next(self._ids)
            check = checks.get(name)
            if check is None or check(f"{self.kind}-{n}") is None:
                filled[name] = f"{self.kind}-{n}"
            elif check(n) is None:
                filled[name] = n
        return attrs.evolve(obj, **filled) if filled else obj  # type: ignore[misc]

    def list(self) -> Iterator[R]:
        """Every stored object."""
        with self._lock:
            self.calls.append(Call("list", Address(self.kind, "*")))
            return iter(list(self.objects.values()))

    def read(self, address: Address) -> R | None:
        """The stored object at ``address``, or ``None``."""
        with self._lock:
            self.calls.append(Call("read", address))
            return self.objects.get(address)

    def create(self, desired: R, ctx: Context) -> R:
        """Store ``desired`` (computed fields filled, no ``depends_on``); ``LookupError`` if the address exists."""
        address = self._address(desired)
        with self._lock:
            self.calls.append(Call("create", address))
            if address in self.objects:
                if self.unique_names:
                    raise LookupError(
                        f"{show_address(address)} already exists (names are unique here, so it cannot be created "
                        "before the old object is deleted)"
                    )
                self.deposed.setdefault(address, []).append(self.objects[address])
            obj = self._fill(desired, None)
            self.objects[address] = obj
            return obj

    def update(self, actual: R, desired: R, ctx: Context) -> R:
        """Store ``desired`` (``actual``'s computed fields kept, no ``depends_on``); ``LookupError`` if missing."""
        address = self._address(desired)
        with self._lock:
            self.calls.append(Call("update", address))
            current = self.objects.get(address)
            if current is None:
                raise LookupError(f"{show_address(address)} does not exist")
            obj = self._fill(desired, current)
            self.objects[address] = obj
            return obj

    def delete(self, actual: R, ctx: Context) -> None:
        """Remove ``actual`` (a deposed object equal to it first); ``LookupError`` if missing."""
        address = self._address(actual)
        with self._lock:
            self.calls.append(Call("delete", address))
            old = self.deposed.get(address, [])
            if actual in old:
                old.remove(actual)
                if not old:
                    del self.deposed[address]
            elif self.objects.pop(address, None) is None:
                raise LookupError(f"{show_address(address)} does not exist")

    def methods_called(self, method: str) -> builtins.list[Address]:
        """Addresses of the recorded calls to ``method``, in order."""
        return [c.address for c in self.calls if c.method == method]

    def __repr__(self) -> str:
        return f"<InMemoryProvider {self.kind}: {len(self.objects)} objects>"


def in_memory_world(*classes: type, initial: Iterable[Any] = ()) -> dict[str, InMemoryProvider[Any]]:
    """One ``InMemoryProvider`` per class, keyed by kind, seeded with ``initial`` resources by kind.

    Raises:
        ValueError: a resource in ``initial`` has a kind none of ``classes`` serves.
    """
    world: dict[str, InMemoryProvider[Any]] = {resource_type(c).kind: InMemoryProvider(c) for c in classes}
    for obj in initial:
        kind = resource_type(obj).kind
        if kind not in world:
            raise ValueError(f"initial resource {obj!r} has kind {kind!r}, which no class given serves")
        world[kind].objects[resource_type(obj).address(obj)] = obj
    return world


def world_state(world: Mapping[str, InMemoryProvider[Any]]) -> dict[Address, Any]:
    """Every object in the world, keyed by address (without recording calls)."""
    out: dict[Address, Any] = {}
    for p in world.values():
        out.update(p.objects)
    return out
