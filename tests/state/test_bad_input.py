"""Bad input to ``State`` and ``plan()`` gets a ``ReconcileError`` naming the problem, never a crash of another kind."""

from __future__ import annotations

import enum
import time
from typing import Any

import pytest

import reconcile as rc
from tests.support.models import LoadBalancer, Network, Record, Server


@rc.resource(kind="blob")
class Blob:
    name: str = rc.identity()
    data: Any = rc.spec(default=None)
    items: list = rc.spec(factory=list)  # type: ignore[type-arg]
    secret: Any = rc.spec(default=None, sensitive=True)


def problems(excinfo: pytest.ExceptionInfo[rc.InvalidStateError]) -> list[rc.StateProblem]:
    return list(excinfo.value.exceptions)


@pytest.mark.parametrize("given", [None, 5, 2.5, "network/core", b"x", {"network/core": 1}])
def test_state_of_something_not_an_iterable_of_resources_is_a_state_input_error(given: Any) -> None:
    with pytest.raises(rc.StateInputError, match=r"State\(\) takes an iterable of resources") as e:
        rc.State(given)
    assert isinstance(e.value, rc.ReconcileError) and isinstance(e.value, TypeError)


def test_state_of_one_resource_not_in_a_list_says_so():
    with pytest.raises(rc.StateInputError, match="got a resource"):
        rc.State(Network("core", "x"))  # type: ignore[arg-type]


@pytest.mark.parametrize("items", [[Network], [Network("a", "x"), Network]])
def test_state_of_a_resource_class_rather_than_an_instance_is_refused(items: list[Any]) -> None:
    with pytest.raises(rc.ResourceDefinitionError, match="got the class Network .kind 'network'. itself"):
        rc.State(items)


def test_with_resources_refuses_a_class_and_a_non_resource():
    s = rc.State([Network("a", "x")])
    with pytest.raises(rc.ResourceDefinitionError, match="the class Network"):
        s.with_resources(Network)
    with pytest.raises(rc.ResourceDefinitionError, match="not a resource"):
        s.with_resources("network/b")


def test_a_list_that_contains_itself_is_refused_with_a_nesting_error():
    loop: list[Any] = []
    loop.append(loop)
    for blob in (Blob("a", data=loop), Blob("a", items=loop), Blob("a", data={"k": (loop,)})):
        with pytest.raises(rc.InvalidStateError) as e:
            rc.State([blob])
        (p,) = problems(e)
        assert isinstance(p, rc.NestingError) and isinstance(p, rc.FieldTypeError)
        assert p.contains_itself and p.field in ("data", "items")
        assert (
            str(p) == f"blob/a: field {p.field!r} holds a {type(getattr(blob, p.field)).__name__} that contains itself"
        )


def test_a_self_containing_value_is_refused_in_observed_states_too():
    loop: dict[str, Any] = {}
    loop["me"] = loop
    with pytest.raises(rc.InvalidStateError, match="that contains itself"):
        rc.State([Blob("a", data=loop)], allow_dangling=True)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_values_nested_1000_deep_are_refused_and_100_deep_accepted():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Blob("a", data=_nested(1000)), Blob("b", items=[_nested(1000)])])
    assert [(p.field, type(p).__name__) for p in problems(e)] == [("data", "NestingError"), ("items", "NestingError")]
    assert "nested deeper than 100 levels" in str(e.value)
    assert len(rc.State([Blob("a", data=_nested(100))])) == 1
    with pytest.raises(rc.InvalidStateError, match="nested deeper than 100 levels"):
        rc.State([Blob("a", data=_nested(101))])


def test_nesting_in_a_typed_field_is_bounded_by_its_annotation():
    @rc.resource(kind="grid")
    class Grid:
        name: str = rc.identity()
        cells: list[list[int]] = rc.spec()
        loose: list[list[list]] = rc.spec(factory=list)  # type: ignore[type-arg]

    assert len(rc.State([Grid("g", [[1, 2], [3]])])) == 1
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Grid("g", [[1]], [[_nested(1000)]])])
    (p,) = problems(e)
    assert isinstance(p, rc.NestingError) and p.field == "loose"


def test_a_sensitive_self_containing_value_is_not_shown():
    loop: list[Any] = ["s3cr3t"]
    loop.append(loop)
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Blob("a", secret=loop)])
    (p,) = problems(e)
    assert p.value == "(sensitive)" and "s3cr3t" not in str(e.value)
    assert str(p) == "blob/a: field 'secret' holds a value that contains itself"


def test_a_self_containing_value_in_a_ref_field_does_not_break_the_ref_walk():
    loop: list[Any] = [rc.ref(Network, "gone")]
    loop.append(loop)
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([LoadBalancer("lb", backends=loop)])
    assert all(isinstance(p, rc.FieldTypeError) for p in problems(e))


# -- the kept allow_dangling ----------------------------------------------------


def test_without_and_with_resources_keep_allow_dangling():
    s = rc.State([Network("a", "x"), Server("s", rc.ref(Network, "gone"), "m")], allow_dangling=True)
    assert set(map(str, s.without("network/a").addresses)) == {"server/s"}
    assert len(s.with_resources(Network("b", "y"))) == 3
    assert s.with_resources(Server("t", rc.ref(Network, "also-gone"), "m")).dependencies("server/t") == ()


def test_without_and_with_resources_of_a_strict_state_stay_strict():
    s = rc.State([Network("a", "x"), Server("s", rc.ref(Network, "a"), "m")])
    with pytest.raises(rc.InvalidStateError, match="refers to network/a, which is not in the state"):
        s.without("network/a")
    with pytest.raises(rc.InvalidStateError, match="refers to network/gone"):
        s.with_resources(Server("t", rc.ref(Network, "gone"), "m"))


# -- many refs -------------------------------------------------------------------


def test_a_resource_holding_many_refs_keeps_them_once_each_in_order():
    n = 3000
    refs = [rc.ref(Record, "z", f"r{i % 1000}") for i in range(n)]
    lb_refs = refs[::-1]
    records = [Record("z", f"r{i}", "v") for i in range(1000)]
    holder = Record("z", "holder", "v", depends_on=[r.address for r in lb_refs])
    s = rc.State([*records, holder])
    expected = tuple(dict.fromkeys(r.address for r in lb_refs))
    assert s.dependencies("record/z/holder") == expected and len(expected) == 1000
    assert s.dependents("record/z/r5") == (rc.Address("record", ("z", "holder")),)


def test_a_resource_holding_20000_refs_is_validated_in_linear_time():
    # Not a timing assert on the whole: a quadratic scan takes seconds per resource
    # at this size (11 s before the fix); the bound leaves a wide margin.
    n = 20_000
    servers = [Server(f"s{i}", rc.ref(Network, "n"), "m") for i in range(n)]
    lb = LoadBalancer("lb", backends=[rc.ref(Server, f"s{i}") for i in range(n)])
    start = time.process_time()
    s = rc.State([Network("n", "x"), *servers, lb])
    assert time.process_time() - start < 2.0
    assert len(s.dependencies("lb/lb")) == n


# -- numbers and keys ------------------------------------------------------------------


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Ratio(float):
    pass


@rc.resource(kind="meter")
class Meter:
    name: str = rc.identity()
    level: int = rc.spec(default=0)
    ratio: float = rc.spec(default=0.0)
    counts: dict[str, int] = rc.spec(factory=dict)


@pytest.mark.parametrize("ratio", [1.5, 2, Ratio(0.5), Level.HIGH])
def test_float_fields_accept_ints_float_subclasses_and_int_enums(ratio: Any) -> None:
    assert rc.State([Meter("m", ratio=ratio)])["meter/m"].ratio == ratio


def test_int_fields_accept_int_enums():
    assert rc.State([Meter("m", level=Level.LOW)])["meter/m"].level is Level.LOW


@pytest.mark.parametrize(("field", "value"), [("level", True), ("ratio", False), ("level", 1.0)])
def test_bools_stay_refused_for_numbers_and_floats_for_ints(field: str, value: Any) -> None:
    with pytest.raises(rc.InvalidStateError, match=f"field '{field}' expects"):
        rc.State([Meter("m", **{field: value})])


def test_a_wrong_typed_dict_key_is_blamed_on_the_key():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Meter("m", counts={"ok": 1, 7: 2})])  # type: ignore[dict-item]
    (p,) = problems(e)
    assert isinstance(p, rc.FieldTypeError)
    assert p.field == "counts (key)" and p.value == 7 and p.expected == "str"
    assert str(p) == "meter/m: field 'counts (key)' expects str, got int 7"


def test_a_wrong_typed_nested_dict_key_names_the_dict_holding_it():
    @rc.resource(kind="nest")
    class Nest:
        name: str = rc.identity()
        maps: list[dict[str, str]] = rc.spec()

    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Nest("n", [{"a": "b"}, {"c": "d", (1, 2): "e"}])])  # type: ignore[dict-item]
    (p,) = problems(e)
    assert p.field == "maps[1] (key)" and p.value == (1, 2)


def test_a_wrong_typed_value_is_still_blamed_on_the_value():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Meter("m", counts={"ok": "one"})])  # type: ignore[dict-item]
    (p,) = problems(e)
    assert p.field == "counts['ok']" and p.value == "one"


# -- plan() ------------------------------------------------------------------------


def test_plan_of_something_not_a_state_is_a_state_input_error_and_still_a_type_error():
    s = rc.State([Network("a", "x")])
    for desired, actual in ((s, "x"), (None, s), ([Network("a", "x")], s)):
        with pytest.raises(rc.StateInputError, match=r"plan\(desired, actual\) takes two States") as e:
            rc.plan(desired, actual)  # type: ignore[arg-type]
        assert isinstance(e.value, TypeError) and isinstance(e.value, rc.ReconcileError)


@pytest.mark.parametrize("option", ["targets", "exclude", "adopt"])
@pytest.mark.parametrize("value", [5, 2.5, None.__class__, b"network/a", {"network/a": 1}])
def test_plan_targets_that_are_no_addresses_are_a_plan_option_error(option: str, value: Any) -> None:
    s = rc.State([Network("a", "x")])
    with pytest.raises(rc.PlanOptionError, match=rf"plan\({option}=...\) takes an address, a Ref or an iterable"):
        rc.plan(s, s, **{option: value})


def test_plan_targets_still_take_one_address_or_many():
    s = rc.State([Network("a", "x"), Network("b", "y")])
    empty = rc.State([])
    assert [str(c.address) for c in rc.plan(s, empty, targets="network/a").changes.values()] == ["network/a"]
    assert len(rc.plan(s, empty, targets=iter(["network/a", rc.ref(Network, "b")])).changes) == 2
