"""Unordered fields (compared as multisets, kept in a canonical order) and field converters."""

from __future__ import annotations

import enum
import random
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._plan import changed_fields
from reconcile._typecheck import compiled
from reconcile.testing import InMemoryProvider


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Rule:
    port: int
    cidr: str


@rc.resource(kind="sg")
class Group:
    name: str = rc.identity()
    rules: list[Rule] = rc.spec(factory=list, unordered=True)
    ports: tuple[int, ...] = rc.spec(default=(), unordered=True)
    anything: list[Any] = rc.spec(factory=list, unordered=True)
    ordered: list[str] = rc.spec(factory=list)


@rc.resource(kind="user")
class User:
    name: str = rc.identity()
    email: str = rc.spec(converter=str.lower, default="NOBODY@EXAMPLE.COM")
    groups: list[str] = rc.spec(factory=list, converter=lambda v: [g.strip() for g in v], unordered=True)


def test_the_same_items_in_another_order_are_equal_and_plan_nothing():
    a = Group("web", [Rule(443, "0.0.0.0/0"), Rule(22, "10.0.0.0/8")], ports=(443, 80, 22))
    b = Group("web", [Rule(22, "10.0.0.0/8"), Rule(443, "0.0.0.0/0")], ports=(22, 443, 80))
    assert a == b
    assert compiled(rc.resource_type(Group)).same(a, b)
    assert changed_fields(rc.resource_type(Group), a, b) == ()
    assert rc.plan(rc.State([a]), rc.State([b])).is_empty


def test_repeats_count_as_in_a_multiset():
    once = Group("web", ports=(80, 443))
    twice = Group("web", ports=(443, 80, 80))
    assert once != twice
    assert not compiled(rc.resource_type(Group)).same(once, twice)
    assert changed_fields(rc.resource_type(Group), once, twice) == ("ports",)
    change = rc.plan(rc.State([twice]), rc.State([once])).changes[rc.Address.parse("sg/web")]
    assert [str(f) for f in change.explain()] == ["ports[1]: added 80"]


def test_a_plain_list_field_still_counts_its_order():
    assert Group("web", ordered=["a", "b"]) != Group("web", ordered=["b", "a"])


def test_numbers_sort_numerically_and_mixed_unorderable_items_get_one_order():
    assert Group("web", ports=(443, 80, 8080, 22)).ports == (22, 80, 443, 8080)
    items = [{"b": 1}, rc.ref("sg/x"), None, 2.5, "s", Color.RED, [1, 2], {3}, Rule(1, "a"), b"x", True, 1]
    shown = Group("web", anything=items).anything
    for _ in range(20):
        random.shuffle(items)
        assert Group("web", anything=items).anything == shown


mixed = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=8,
)


@given(st.lists(mixed, max_size=6), st.randoms(use_true_random=False))
def test_any_permutation_of_an_unordered_value_gives_the_same_value(items, rnd):
    """Invariant: an unordered field's value depends on its items, never on their order."""
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert Group("web", anything=items).anything == Group("web", anything=shuffled).anything


def test_an_unordered_field_is_rendered_and_saved_in_its_canonical_order():
    a = Group("web", ports=(443, 80))
    b = Group("web", ports=(80, 443))
    assert "ports: (80, 443)" in rc.render(rc.State([a]))
    assert rc.dumps(rc.plan(rc.State([a]), rc.State())) == rc.dumps(rc.plan(rc.State([b]), rc.State()))
    back = rc.loads(rc.dumps(rc.plan(rc.State([a]), rc.State())), [Group])
    assert back.desired["sg/web"].ports == (80, 443)


def test_explain_lists_the_items_removed_and_added_not_shifted_indices():
    old = Group("web", [Rule(22, "a"), Rule(80, "a"), Rule(443, "a")])
    new = Group("web", [Rule(8080, "a"), Rule(22, "a"), Rule(443, "a")])
    change = rc.plan(rc.State([new]), rc.State([old])).changes[rc.Address.parse("sg/web")]
    assert [(f.path, f.difference) for f in change.explain()] == [
        ("rules[1]", rc.Difference.REMOVED),
        ("rules[2]", rc.Difference.ADDED),
    ]


@pytest.mark.parametrize("annotation", ["set[int]", "dict[str, int]", "int", "tuple[int, str]"])
def test_unordered_is_refused_on_a_field_that_is_no_list_or_tuple(annotation):
    namespace: dict[str, Any] = {"rc": rc}
    with pytest.raises(rc.ResourceDefinitionError, match=r"field 'f' is unordered=True, which needs a list"):
        exec(
            f"@rc.resource(kind='k')\nclass K:\n    n: str = rc.identity()\n    f: {annotation} = rc.spec(unordered=True)\n",
            namespace,
        )


def test_unordered_accepts_optional_and_sequence_annotations():
    @rc.resource(kind="opt")
    class Opt:
        n: str = rc.identity()
        f: list[int] | None = rc.spec(default=None, unordered=True)

    assert Opt("x").f is None
    assert Opt("x", [3, 1]).f == [1, 3]


def test_a_converter_runs_at_construction_on_values_and_defaults():
    assert User("ann", "Ann@Example.COM").email == "ann@example.com"
    assert User("ann").email == "nobody@example.com"
    assert attrs.evolve(User("ann"), email="X@Y").email == "x@y"


def test_a_converter_runs_before_the_canonical_order():
    assert User("ann", groups=[" ops", "dev "]).groups == ["dev", "ops"]


def test_converted_values_read_back_from_a_plan_file_unchanged():
    desired = rc.State([User("ann", "Ann@X", [" b", "a"])])
    back = rc.loads(rc.dumps(rc.plan(desired, rc.State())), [User])
    assert back.desired["user/ann"] == User("ann", "ann@x", ["a", "b"])


@pytest.mark.parametrize(("option", "value"), [("converter", "lower"), ("unordered", 1)])
def test_spec_refuses_a_converter_that_is_not_callable_or_a_non_bool_unordered(option, value):
    with pytest.raises(rc.ResourceDefinitionError, match=rf"spec\(\): {option} must be"):
        rc.spec(**{option: value})


class Reordering(InMemoryProvider[Any]):
    """Returns every list field of what it stores in a fresh random order, as an API that keeps sets would."""

    def __init__(self, cls: type, seed: int) -> None:
        super().__init__(cls)
        self.rnd = random.Random(seed)

    def _shuffled(self, obj: Any) -> Any:
        if obj is None:
            return None
        changes = {}
        for f in attrs.fields(type(obj)):
            value = getattr(obj, f.name)
            if isinstance(value, list) and f.name not in ("depends_on", "lifecycle"):
                value = list(value)
                self.rnd.shuffle(value)
                changes[f.name] = value
        return attrs.evolve(obj, **changes)

    def read(self, address: rc.Address) -> Any:
        return self._shuffled(super().read(address))

    def list(self) -> Any:
        return iter([self._shuffled(o) for o in super().list()])


@rc.resource(kind="plain")
class PlainGroup:
    name: str = rc.identity()
    rules: list[str] = rc.spec(factory=list)


@pytest.mark.parametrize("seed", range(5))
def test_an_unordered_field_converges_against_a_provider_that_reorders(seed):
    rules = [Rule(p, "10.0.0.0/8") for p in (443, 80, 22, 8080, 5432)]
    desired = rc.State([Group("web", rules, anything=["z", "a", "m", "b"])])
    world = {"sg": Reordering(Group, seed)}
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert result.ok, result.errors
    for _ in range(5):
        assert rc.plan(desired, rc.observe(world)).is_empty


def test_a_plain_list_does_not_converge_against_a_provider_that_reorders():
    """The control for the test above: the provider really reorders what it returns."""
    desired = rc.State([PlainGroup("web", ["a", "b", "c", "d", "e", "f"])])
    world = {"plain": Reordering(PlainGroup, 0)}
    rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert any(not rc.plan(desired, rc.observe(world)).is_empty for _ in range(5))


@given(st.lists(st.integers(0, 3), max_size=5), st.lists(st.integers(0, 3), max_size=5), st.randoms())
def test_the_fast_path_and_changed_fields_agree_on_unordered_fields(left, right, rnd):
    """Invariant: ``same()`` says equal exactly when ``changed_fields`` finds nothing, and that is multiset equality."""
    shuffled = list(left)
    rnd.shuffle(shuffled)
    rt = rc.resource_type(Group)
    for other in (right, shuffled):
        a, b = Group("web", ports=tuple(left)), Group("web", ports=tuple(other))
        same = compiled(rt).same(a, b)
        assert same == (changed_fields(rt, a, b) == ())
        assert same == (sorted(left) == sorted(other))
