"""Kinds, world helpers and hypothesis strategies shared by the planner, rendering and saved-plan tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import InMemoryProvider


@rc.resource(kind="plain")
class Plain:
    """Replaced delete-then-create."""

    name: str = rc.identity()
    ver: int = rc.spec(replace_on_change=True, default=0)
    size: int = rc.spec(default=0)
    refs: tuple[rc.Ref[Any], ...] = rc.spec(default=())
    uid: str | None = rc.computed()


@rc.resource(kind="plain2")
class Plain2:
    """A second delete-then-create kind, without computed fields."""

    name: str = rc.identity()
    ver: int = rc.spec(replace_on_change=True, default=0)
    size: int = rc.spec(default=0)
    refs: tuple[rc.Ref[Any], ...] = rc.spec(default=())


@rc.resource(kind="twin", create_before_delete=True)
class Twin:
    """Replaced create-before-delete."""

    name: str = rc.identity()
    ver: int = rc.spec(replace_on_change=True, default=0)
    size: int = rc.spec(default=0)
    refs: tuple[rc.Ref[Any], ...] = rc.spec(default=())
    uid: str | None = rc.computed()


@rc.resource(kind="twin2", create_before_delete=True)
class Twin2:
    """A second create-before-delete kind, whose refs force replacement."""

    name: str = rc.identity()
    ver: int = rc.spec(replace_on_change=True, default=0)
    size: int = rc.spec(default=0)
    refs: tuple[rc.Ref[Any], ...] = rc.spec(default=(), replace_on_change=True)


KINDS: tuple[type, ...] = (Plain, Plain2, Twin, Twin2)


class Logged(InMemoryProvider[Any]):
    """An in-memory provider that also appends ``"create kind/name"``-style entries to a log shared by a world."""

    def __init__(self, cls: type, log: list[str], *, unique_names: bool) -> None:
        super().__init__(cls, unique_names=unique_names)
        self.log = log

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        self.log.append(f"create {rc.address_of(desired)}")
        return super().create(desired, ctx)

    def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        self.log.append(f"update {rc.address_of(desired)}")
        return super().update(actual, desired, ctx)

    def delete(self, actual: Any, ctx: rc.Context) -> None:
        self.log.append(f"delete {rc.address_of(actual)}")
        super().delete(actual, ctx)


def world(*classes: type, initial: Iterable[Any] = (), unique_names: bool = False) -> dict[str, Logged]:
    """Logged in-memory providers for ``classes`` (``KINDS`` by default) sharing one log, seeded with ``initial``."""
    log: list[str] = []
    providers = {rc.resource_type(c).kind: Logged(c, log, unique_names=unique_names) for c in (classes or KINDS)}
    for obj in initial:
        providers[rc.resource_type(obj).kind].objects[rc.address_of(obj)] = obj
    return providers


def log_of(providers: Mapping[str, Logged]) -> list[str]:
    """The shared call log of a world made by :func:`world`."""
    return next(iter(providers.values())).log


@attrs.frozen
class Spec:
    """One generated address: where it exists and with which values."""

    kind: type
    name: str
    actual: tuple[int, int, tuple[int, ...]] | None
    desired: tuple[int, int, tuple[int, ...]] | None
    create_before_delete: bool | None


@st.composite
def worlds(draw: st.DrawFn, max_size: int = 8) -> tuple[rc.State, rc.State]:
    """``(desired, actual)``: random states over ``KINDS``; refs only point at earlier resources, so no cycles.

    Actual resources have their computed ``uid`` filled, as if observed.
    """
    n = draw(st.integers(1, max_size))
    specs: list[Spec] = []
    for i in range(n):
        kind = draw(st.sampled_from(KINDS))
        values = st.tuples(st.integers(0, 1), st.integers(0, 1), st.sets(st.integers(0, max(i - 1, 0)), max_size=3))
        actual = draw(st.one_of(st.none(), values)) if i else draw(values)
        desired = draw(st.one_of(st.none(), values))
        cbd = draw(st.sampled_from((None, None, True, False)))
        specs.append(Spec(kind, f"r{i}", _norm(actual, i), _norm(desired, i), cbd))
    return _state(specs, "desired"), _state(specs, "actual")


def _norm(values: Any, i: int) -> tuple[int, int, tuple[int, ...]] | None:
    if values is None:
        return None
    ver, size, refs = values
    return ver, size, tuple(sorted(r for r in refs if r < i))


def _state(specs: list[Spec], side: str) -> rc.State:
    present = {i for i, s in enumerate(specs) if getattr(s, side) is not None}
    out = []
    for s in specs:
        values = getattr(s, side)
        if values is None:
            continue
        ver, size, refs = values
        ref_values = tuple(rc.ref(specs[r].kind, specs[r].name) for r in refs if r in present)
        extra: dict[str, Any] = {}
        if side == "desired" and s.create_before_delete is not None:
            extra["lifecycle"] = rc.Lifecycle(create_before_delete=s.create_before_delete)
        if side == "actual" and "uid" in attrs.fields_dict(s.kind):
            extra["uid"] = f"old-{s.name}"
        out.append(s.kind(s.name, ver, size, ref_values, **extra))
    return rc.State(out)


def reachable(plan: rc.Plan) -> dict[rc.Step, set[rc.Step]]:
    """For each step, every step that must run before it (transitively)."""
    before: dict[rc.Step, set[rc.Step]] = {}
    for step in plan.steps:  # topological order: predecessors are done first
        acc: set[rc.Step] = set()
        for p in plan.predecessors.get(step, ()):
            acc.add(p)
            acc |= before[p]
        before[step] = acc
    return before
