"""The generated fast paths (``_specialize``, ``State``) decide exactly what the generic code decides."""

from __future__ import annotations

import enum
import math
import pickle
import typing
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cache
from typing import Annotated, Any, Literal, Optional, Union

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._graph import find_cycles
from reconcile._state import _field_problem, _refs_of
from reconcile._typecheck import compiled, field_checks
from tests.support.models import Disk, LoadBalancer, Network, Node, Record, Server


@rc.resource(kind="target")
class Target:
    name: str = rc.identity()


@rc.resource(kind="other")
class Other:
    name: str = rc.identity()


@rc.resource(kind="free")
class Free:
    """Refs of any kind: an untyped Ref and an Any field."""

    name: str = rc.identity()
    link: rc.Ref[Any] | None = rc.spec(default=None)
    blob: Any = rc.spec(default=None)


# -- the generated scan against the generic checkers, field by field ----------

_LEAVES = [
    str,
    int,
    float,
    bool,
    bytes,
    type(None),
    Any,
    object,
    rc.Ref[Target],
    rc.Ref[Other],
    rc.Ref,
    Literal["a", 1],
    frozenset[str],
    frozenset[rc.Ref[Target]],
    AbstractSet[str],
    list,
    dict,
]


def _extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: tuple[t, ...]),  # type: ignore[valid-type]
        st.tuples(inner, inner).map(lambda p: tuple[p[0], p[1]]),  # type: ignore[valid-type]
        inner.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        inner.map(lambda t: Optional[t]),  # noqa: UP045
        st.tuples(inner, inner).map(lambda p: Union[p[0], p[1]]),  # noqa: UP007
        inner.map(lambda t: Sequence[t]),  # type: ignore[valid-type]
        inner.map(lambda t: Mapping[str, t]),  # type: ignore[valid-type]
        inner.map(lambda t: Annotated[t, "note"]),
    )


class _Half(float):
    pass


class _Level(enum.IntEnum):
    ONE = 1


annotations = st.recursive(st.sampled_from(_LEAVES), _extend, max_leaves=4)

_refs = st.builds(lambda k, n: rc.Ref(rc.Address(k, n)), st.sampled_from(["target", "other"]), st.sampled_from("ab"))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(-1, 1),
    st.text(max_size=2),
    st.binary(max_size=1),
    _refs,
    st.sampled_from([_Half(0.5), _Level.ONE]),
)
any_values = st.recursive(
    _scalars,
    lambda ch: st.one_of(
        st.lists(ch, max_size=3),
        st.lists(ch, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=1) | st.integers(0, 2), ch, max_size=3),
        st.frozensets(_scalars, max_size=3),
    ),
    max_leaves=6,
)


def _loops() -> list[Any]:
    """Values no annotation accepts where the nesting is not bounded: self-containing, or nested too deep."""
    a: list[Any] = []
    a.append(a)
    d: dict[str, Any] = {}
    d["d"] = [d]
    deep: list[Any] = []
    deep_tuple: tuple[Any, ...] = ()
    for _ in range(150):
        deep = [deep]
        deep_tuple = (deep_tuple,)
    return [a, d, (1, a), [deep], {"k": deep}, frozenset({deep_tuple}), {deep_tuple: 1}]


nasty_values = st.sampled_from(_loops())


def values_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values that fit ``tp`` (mostly), so the accepting side of the checks is exercised too."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return values_for(args[0])
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=2),
        int: st.integers(-2, 2),
        float: st.floats(-1, 1) | st.integers(0, 1) | st.sampled_from([_Half(0.5), _Level.ONE, True]),
        bool: st.booleans(),
        bytes: st.binary(max_size=1),
        type(None): st.none(),
        Any: any_values,
        object: any_values,
        rc.Ref: _refs,
        list: st.lists(any_values, max_size=2),
        dict: st.dictionaries(st.text(max_size=1), any_values, max_size=2),
    }
    if tp in simple:
        return simple[tp]
    if origin is rc.Ref:
        kind = rc.resource_type(args[0]).kind
        return st.sampled_from("ab").map(lambda n: rc.Ref(rc.Address(kind, n)))
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (frozenset, AbstractSet):
        return st.frozensets(values_for(args[0]), max_size=2)
    if origin in (list, Sequence):
        return st.lists(values_for(args[0]), max_size=3)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(values_for(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(values_for(a) for a in args))
    if origin in (dict, Mapping):
        return st.dictionaries(st.text(max_size=1), values_for(args[1]), max_size=3)
    if origin is Union:
        return st.one_of([values_for(a) for a in args])
    raise AssertionError(f"no values for {tp!r}")


@cache
def resource_with(tp: Any) -> type:
    """A resource class with one spec field ``x`` annotated ``tp``."""
    namespace = {
        "__annotations__": {"name": str, "x": tp},
        "name": rc.identity(),
        "x": rc.spec(),
    }
    return rc.resource(kind="probe")(type("Probe", (), namespace))


@given(st.data())
def test_scan_accepts_exactly_what_the_generic_checks_accept(data: st.DataObject) -> None:
    """For any annotation and value: scan and check pass iff every generic check passes; scan finds the same refs."""
    tp = data.draw(annotations, label="annotation")
    value = data.draw(values_for(tp) | any_values | nasty_values, label="value")
    cls = resource_with(tp)
    obj = cls("r", value)
    rt = rc.resource_type(cls)
    address, targets, explicit = compiled(rt).scan(obj)
    checked_address, checked = compiled(rt).check(obj)
    generic_ok = all(check(getattr(obj, name)) is None for name, check in field_checks(rt).items())
    assert address == checked_address == rc.Address("probe", "r")
    assert explicit == ()
    assert (targets is not None) == generic_ok
    assert (checked is not None) == generic_ok
    if targets is not None:
        assert targets == tuple(dict.fromkeys(a for _path, a in _refs_of(rt, obj)))
    # The State loops decide the same, and a refusal is always an InvalidStateError of field problems.
    for allow_dangling in (True, False):
        try:
            rc.State([obj], allow_dangling=allow_dangling)
        except rc.InvalidStateError as e:
            assert not generic_ok or not allow_dangling
            assert all(isinstance(p, (rc.FieldTypeError, rc.DanglingRefError)) for p in e.exceptions)
            assert generic_ok or any(isinstance(p, rc.FieldTypeError) for p in e.exceptions)
        else:
            assert generic_ok


def test_scan_collects_refs_in_field_order_then_depends_on_without_repeats():
    lb = LoadBalancer(
        "lb",
        backends=[rc.ref(Server, "b"), rc.ref(Server, "a"), rc.ref(Server, "b")],
        routes={"/": rc.ref(Server, "c"), "/x": rc.ref(Server, "a")},
        depends_on=["network/n", "server/c"],
    )
    _address, targets, _explicit = compiled(rc.resource_type(LoadBalancer)).scan(lb)
    assert [str(t) for t in targets] == ["server/b", "server/a", "server/c", "network/n"]


def test_an_abstract_set_annotation_accepts_sets_and_rejects_lists():
    cls = resource_with(AbstractSet[str])
    assert len(rc.State([cls("a", frozenset({"x"})), cls("b", {"y"})])) == 2
    with pytest.raises(rc.InvalidStateError, match=r"probe/c: field 'x' expects collections.abc.Set\[str\], got list"):
        rc.State([cls("c", ["x"])])


# -- equality used by the planner ---------------------------------------------


def test_same_compares_the_compared_fields_only():
    same = compiled(rc.resource_type(Disk)).same
    a = Disk("d", rc.ref(Server, "s"), 10, note="x")
    assert same(a, Disk("d", rc.ref(Server, "s"), 10, note="ignored field differs"))
    assert not same(a, Disk("d", rc.ref(Server, "s"), 11))
    assert not same(a, Disk("d", rc.ref(Server, "t"), 10))


def test_same_follows_tuple_equality_for_values_unequal_to_themselves():
    @rc.resource(kind="measure")
    class Measure:
        name: str = rc.identity()
        value: float = rc.spec()

    same = compiled(rc.resource_type(Measure)).same
    nan = math.nan
    assert same(Measure("m", nan), Measure("m", nan))  # one object: unchanged, as (nan,) == (nan,)
    assert not same(Measure("m", nan), Measure("m", float("nan")))
    rt = rc.resource_type(Measure)
    a, b = Measure("m", nan), Measure("m", nan)
    assert same(a, b) == (rt.compare_key(a) == rt.compare_key(b))


# -- the address kept on the instance ------------------------------------------


def test_address_is_computed_once_per_instance():
    n = Network("core", "x")
    assert rc.address_of(n) is rc.address_of(n)
    assert rc.address_of(n) == rc.Address("network", "core")


def test_kept_address_is_no_field():
    a, b = Record("z", "n", "v"), Record("z", "n", "v")
    rc.address_of(a)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert attrs.asdict(a) == attrs.asdict(b)
    assert "_reconcile_address" not in attrs.fields_dict(Record) and "_reconcile_address" not in attrs.asdict(a)
    assert type(a) is Record and Record.__qualname__ == "Record" and Record.__module__ == "tests.support.models"
    moved = attrs.evolve(a, name="m")
    assert rc.address_of(moved) == rc.Address("record", ("z", "m"))
    copied = pickle.loads(pickle.dumps(a))
    assert copied == a and type(copied) is Record
    assert rc.address_of(copied) == rc.address_of(a)


def test_a_resource_derived_from_another_keeps_its_address_too():
    @rc.resource(kind="special-network")
    class Special(Network):
        zone: str = rc.spec(default="z1")

    s = Special("core", "x")
    assert rc.address_of(s) is rc.address_of(s) == rc.Address("special-network", "core")
    assert rc.address_of(Network("core", "x")) == rc.Address("network", "core")


def test_identity_that_is_not_a_str_or_int_is_not_kept():
    @rc.resource(kind="box")
    class Box:
        key: list[str] = rc.identity()

    box = Box(["a"])
    assert rc.address_of(box) == rc.Address("box", "['a']")
    box.key.append("b")
    assert rc.address_of(box) == rc.Address("box", "['a', 'b']")


def test_reserved_cache_field_name_is_rejected():
    with pytest.raises(rc.ResourceDefinitionError, match="'_reconcile_address' is reserved"):

        @rc.resource(kind="bad")
        class Bad:
            name: str = rc.identity()
            _reconcile_address: str = rc.spec()


# -- State: the fast construction against a plain reference --------------------


def reference(objs: list[Any], allow_dangling: bool) -> tuple[list[str], dict[rc.Address, tuple[rc.Address, ...]]]:
    """State validation written the obvious way: (problem messages, dependency edges)."""
    problems: list[Any] = []
    by: dict[rc.Address, Any] = {}
    for obj in objs:
        rt = rc.resource_type(obj)
        address = rc.Address(rt.kind, tuple(getattr(obj, f) for f in rt.identity))
        if address in by:
            problems.append(rc.DuplicateAddressError(address, by[address], obj))
            continue
        by[address] = obj
        for name, check in field_checks(rt).items():
            err = check(getattr(obj, name))
            if err is not None:
                problems.append(_field_problem(address, rt, name, err, getattr(obj, name)))
    deps: dict[rc.Address, tuple[rc.Address, ...]] = {}
    for address, obj in by.items():
        targets: list[rc.Address] = []
        for path, target in _refs_of(rc.resource_type(obj), obj):
            if target in by:
                if target not in targets:
                    targets.append(target)
            elif not allow_dangling:
                problems.append(rc.DanglingRefError(address, path, target))
        if targets:
            deps[address] = tuple(targets)
    problems += [rc.CycleError(c) for c in find_cycles(list(deps), deps)]
    return [str(p) for p in problems], deps


_names = st.sampled_from("abc")
_junk = st.none() | st.integers(0, 1) | st.text(max_size=1)


def _ref(cls: type) -> st.SearchStrategy[rc.Ref[Any]]:
    return _names.map(lambda n: rc.ref(cls, n))


_any_ref = st.one_of(_ref(Node), _ref(Server), _ref(Network), _ref(Free))
_depends_on = st.lists(_any_ref, max_size=2)
resources = st.one_of(
    st.builds(
        Node,
        _names,
        st.integers(0, 2) | _junk,
        st.just("a"),
        st.lists(_ref(Node) | _ref(Server), max_size=3).map(tuple) | _junk,
        st.none() | _ref(Node),
        depends_on=_depends_on,
    ),
    st.builds(Network, _names, st.text(max_size=1) | _junk, depends_on=_depends_on),
    st.builds(Server, _names, _ref(Network) | _ref(Node), st.just("s"), depends_on=_depends_on),
    st.builds(Disk, _names, _ref(Server), st.integers(1, 2)),
    st.builds(
        LoadBalancer, _names, st.lists(_ref(Server), max_size=2), st.dictionaries(_names, _ref(Server), max_size=2)
    ),
    st.builds(Free, _names, st.none() | _any_ref, st.none() | _any_ref | st.lists(_any_ref, max_size=2) | _junk),
    st.builds(Record, st.just("z"), _names, st.text(max_size=1), depends_on=st.lists(_ref(Network), max_size=1)),
)


def _outcome(objs: list[Any], allow_dangling: bool) -> tuple[list[str], dict[rc.Address, tuple[rc.Address, ...]]]:
    try:
        state = rc.State(objs, allow_dangling=allow_dangling)
    except rc.InvalidStateError as e:
        return [str(p) for p in e.exceptions], {}
    deps = {a: state.dependencies(a) for a in state.addresses if state.dependencies(a)}
    return [], deps


@given(st.lists(resources, max_size=8), st.booleans())
def test_state_reports_what_the_reference_reports(objs: list[Any], allow_dangling: bool) -> None:
    """Same problems, in the same order, and the same edges, as the plain reference (lazy linking included)."""
    expected_problems, expected_deps = reference(objs, allow_dangling)
    problems, deps = _outcome(objs, allow_dangling)
    assert problems == expected_problems
    if not problems:
        assert deps == expected_deps


@given(st.lists(resources, max_size=8))
def test_dependents_reverse_dependencies(objs: list[Any]) -> None:
    """``dependents`` is the reverse of ``dependencies``, in state order, linked now or later."""
    try:
        state = rc.State(objs, allow_dangling=True)
    except rc.InvalidStateError:
        return
    for target in state.addresses:
        expected = tuple(a for a in state.addresses if target in state.dependencies(a))
        assert state.dependents(target) == expected


@given(st.lists(resources, max_size=8))
def test_trusted_state_links_like_a_validated_one(objs: list[Any]) -> None:
    """A state the engine builds without validation has the edges a validated one has."""
    try:
        state = rc.State(objs, allow_dangling=True)
    except rc.InvalidStateError:
        return
    trusted = rc.State._trusted(dict(state.items()))
    assert trusted == state
    assert {a: trusted.dependencies(a) for a in trusted.addresses} == {
        a: state.dependencies(a) for a in state.addresses
    }
    assert [trusted.dependents(a) for a in trusted.addresses] == [state.dependents(a) for a in state.addresses]


def test_observed_state_links_on_first_use():
    web = Server("web", rc.ref(Network, "core"), "s")
    state = rc.State([web, Network("core", "x"), Server("db", rc.ref(Network, "gone"), "s")], allow_dangling=True)
    assert state.dependencies("server/db") == ()
    assert state.dependencies("server/web") == (rc.Address("network", "core"),)
    assert state.dependents("network/core") == (rc.Address("server", "web"),)
    assert list(state.to_networkx().edges) == [(rc.Address("network", "core"), rc.Address("server", "web"))]


def test_observed_cycle_through_depends_on_across_kinds_is_reported():
    # Typed refs make server -> network; depends_on adds network -> server.
    objs = [Network("core", "x", depends_on=["server/web"]), Server("web", rc.ref(Network, "core"), "s")]
    with pytest.raises(rc.InvalidStateError, match="dependency cycle: network/core -> server/web -> network/core"):
        rc.State(objs, allow_dangling=True)


def test_edges_point_at_the_states_own_address_objects():
    core = Network("core", "x")
    state = rc.State([Server("web", rc.ref(Network, "core"), "s"), core])
    (target,) = state.dependencies("server/web")
    assert target is rc.address_of(core)
