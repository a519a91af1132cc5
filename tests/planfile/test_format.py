"""Saved plans: JSON round trips, refusing damaged files, and refusing stale plans at apply time."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from tests.support.planner import KINDS, Plain, Twin, world, worlds


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Port:
    number: int
    proto: Literal["tcp", "udp"] = "tcp"


@rc.resource(kind="rich", ignore=("labels_by_id[0]",))
class Rich:
    name: str = rc.identity()
    zone: int = rc.identity()
    color: Color = rc.spec(default=Color.RED)
    ports: list[Port] = rc.spec(factory=list)
    labels: frozenset[str] = rc.spec(default=frozenset())
    seq: Sequence[int] = rc.spec(default=())
    anything: Any = rc.spec(default=None)
    labels_by_id: dict[int, str] = rc.spec(factory=dict)
    pair: tuple[int, str] = rc.spec(default=(0, ""))
    when: datetime.datetime | None = rc.spec(default=None)
    ratio: float = rc.spec(default=0.0, replace_on_change=True)
    links: dict[str, rc.Ref[Any]] = rc.spec(factory=dict)
    blob: bytes = rc.spec(sensitive=True, default=b"")
    rid: str | None = rc.computed()


scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4) | st.floats(allow_nan=False)
any_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(st.integers(0, 5) | st.text(max_size=2), max_size=3)
        | st.sets(st.integers(0, 5), max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.dictionaries(st.integers(0, 3), inner, max_size=2)
    ),
    max_leaves=8,
)


@st.composite
def rich(draw: st.DrawFn, name: str, refs: Sequence[str]) -> Rich:
    triggers = [rc.Trigger(f"plain/{refs[0]}", "size")] if refs else []
    lifecycle = draw(
        st.sampled_from(
            [
                rc.Lifecycle(),
                rc.Lifecycle(create_before_delete=True, ignore=("ports[*].proto",)),
                rc.Lifecycle(protect=False, replace_triggered_by=triggers),
            ]
        )
    )
    return Rich(
        name,
        draw(st.integers(0, 1)),
        draw(st.sampled_from(Color)),
        draw(st.lists(st.builds(Port, st.integers(0, 3), st.sampled_from(["tcp", "udp"])), max_size=2)),
        draw(st.frozensets(st.sampled_from("xyz"))),
        draw(st.lists(st.integers(0, 3), max_size=2) | st.tuples(st.integers(0, 3))),
        draw(any_values),
        draw(st.dictionaries(st.integers(0, 2), st.sampled_from("pq"), max_size=2)),
        (draw(st.integers(0, 1)), draw(st.sampled_from("ab"))),
        draw(st.none() | st.datetimes(datetime.datetime(2020, 1, 1), datetime.datetime(2030, 1, 1))),
        draw(st.sampled_from([0.0, 0.5, 1e300])),
        {k: rc.ref(Plain, k) for k in (draw(st.lists(st.sampled_from(refs), max_size=2, unique=True)) if refs else ())},
        draw(st.binary(max_size=4)),
        rid=draw(st.none() | st.just("r-1")),
        lifecycle=lifecycle,
    )


@st.composite
def plans(draw: st.DrawFn) -> rc.Plan:
    """Plans over the generated worlds plus resources with many field types, some deferred."""
    desired, actual = draw(worlds(max_size=5))
    plains = [o.name for o in desired if isinstance(o, Plain) and o.name in {a.key[0] for a in actual.addresses}]
    extra_d = [draw(rich(f"x{i}", plains)) for i in range(draw(st.integers(0, 2)))]
    extra_a = [draw(rich(f"x{i}", plains)) for i in range(draw(st.integers(0, 2)))]
    desired = rc.State([*desired, *extra_d])
    actual = rc.State([*actual, *{rc.address_of(o): o for o in extra_a}.values()])
    everything = sorted({*desired.addresses, *actual.addresses}, key=str)
    exclude = draw(st.none() | st.lists(st.sampled_from(everything), max_size=1))
    return rc.plan(desired, actual, exclude=exclude)


TYPES = (*KINDS, Rich)


@given(plans())
def test_a_plan_survives_a_json_round_trip_equal_to_itself(plan: rc.Plan) -> None:
    """loads(dumps(plan)) == plan, with every change, step, edge and deferred change; dumps is deterministic."""
    text = rc.dumps(plan)
    back = rc.loads(text, TYPES)
    assert back == plan
    assert list(back.changes) == list(plan.changes) and back.steps == plan.steps
    for address, change in plan.changes.items():
        assert type(back.changes[address].after) is type(change.after)
    assert back.fingerprint == rc.fingerprint(plan)
    assert rc.dumps(back) == text
    assert json.loads(text)["version"] == 1


def test_values_keep_their_python_types() -> None:
    obj = Rich(
        "r",
        1,
        seq=[1, 2],
        anything={"t": (1, [2, {3}]), 5: frozenset({"a"}), "$x": rc.ref(Plain, "a"), "f": float("inf")},
    )
    back = rc.loads(rc.dumps(rc.plan(rc.State([obj, Plain("a")]), rc.State([]))), TYPES).desired["rich/r/1"]
    assert back == obj
    assert type(back.seq) is list and type(back.anything["t"]) is tuple and type(back.anything["t"][1][1]) is set
    assert back.anything["$x"] == rc.ref(Plain, "a")


def simple_plan() -> rc.Plan:
    actual = rc.State([Plain("a", size=1), Plain("b")])
    return rc.plan(rc.State([Plain("a", size=2), Plain("c")]), actual)


def reseal(doc: dict[str, Any]) -> str:
    """Recompute the checksum as docs/saved-plans.md describes, to tamper with a file consistently."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return json.dumps({**body, "checksum": "sha256:" + hashlib.sha256(text.encode()).hexdigest()})


def test_a_truncated_file_is_refused() -> None:
    text = rc.dumps(simple_plan())
    with pytest.raises(rc.PlanFileError, match=r"plan file is not valid JSON \(truncated\?\)"):
        rc.loads(text[: len(text) // 2], TYPES)


def test_an_edited_file_is_refused() -> None:
    text = rc.dumps(simple_plan())
    assert '"size":2' in text
    with pytest.raises(rc.PlanFileError, match="checksum does not match its content: the file was modified"):
        rc.loads(text.replace('"size":2', '"size":3'), TYPES)
    doc = json.loads(text)
    del doc["checksum"]
    with pytest.raises(rc.PlanFileError, match="checksum does not match"):
        rc.loads(json.dumps(doc), TYPES)


def test_another_format_version_is_refused() -> None:
    text = rc.dumps(simple_plan()).replace('"version":1', '"version":2')
    with pytest.raises(rc.PlanFileError, match="format version 2 is not supported: this reconcile reads version 1"):
        rc.loads(text, TYPES)


@pytest.mark.parametrize("text", ['{"a": 1}', "[]", '"plan"'])
def test_other_json_is_not_a_plan_file(text: str) -> None:
    with pytest.raises(rc.PlanFileError, match="not a reconcile plan file"):
        rc.loads(text, TYPES)


def test_a_kind_without_a_class_is_named() -> None:
    text = rc.dumps(rc.plan(rc.State([Twin("t")]), rc.State([])))
    with pytest.raises(rc.PlanFileError, match=r"desired\[0\]: no class given for kind 'twin'"):
        rc.loads(text, [Plain])


def test_types_may_be_a_mapping_but_not_ambiguous() -> None:
    text = rc.dumps(simple_plan())
    assert rc.loads(text, {"plain": Plain}) == simple_plan()

    @rc.resource(kind="plain")
    class Other:
        name: str = rc.identity()

    with pytest.raises(rc.ResourceDefinitionError, match="two classes for kind 'plain'"):
        rc.loads(text, [Plain, Other])
    with pytest.raises(rc.ResourceDefinitionError, match="is not a resource"):
        rc.loads(text, [dict])


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda d: d["steps"].pop(),
            r"steps: its own states give 3 steps, the file lists 2 \(missing '\w+ plain/\w'\)",
        ),
        (
            lambda d: d["after"].append([0, [1]]),
            r"after: step 0 \(update plain/a\) runs after step 1 .* an edge its own",
        ),
        (lambda d: d["desired"][0]["fields"].update(size="big"), r"desired\[0\]: cannot rebuild a Plain: .*size"),
        (lambda d: d["actual"][0]["fields"].update(size=7), "fingerprint does not match the actual resources"),
        (lambda d: d["changes"][0].update(action="explode"), r"changes\[0\]\.action: expected one of 'create', "),
        (
            lambda d: d["changes"][0].update(before=None),
            r'changes\[0\]\.before: an update has before "actual", got null',
        ),
        (lambda d: d.update(unchanged=-1), "unchanged: expected a non-negative integer"),
        (lambda d: d.update(extra=1), "plan file: unknown key 'extra' in a plan file"),
        (lambda d: d["steps"].append(["plain/zz", "create"]), r"steps\[3\]: a step its own states do not give"),
    ],
    ids=["step", "edge", "type", "fingerprint", "action", "before", "unchanged", "keys", "extra step"],
)
def test_a_resealed_but_inconsistent_file_is_refused(tamper: Any, message: str) -> None:
    doc = json.loads(rc.dumps(simple_plan()))
    tamper(doc)
    with pytest.raises(rc.PlanFileError, match=message):
        rc.loads(reseal(doc), TYPES)


def test_a_value_without_a_json_form_is_named_when_saving() -> None:
    @rc.resource(kind="money")
    class Money:
        name: str = rc.identity()
        amount: decimal.Decimal = rc.spec()

    @rc.resource(kind="bag")
    class Bag:
        name: str = rc.identity()
        extra: Any = rc.spec(default=None)

    with pytest.raises(rc.PlanFileError, match=r"cannot save money/m: field 'amount': .*Decimal"):
        rc.dumps(rc.plan(rc.State([Money("m", decimal.Decimal("1.5"))]), rc.State([])))
    with pytest.raises(rc.PlanFileError, match=r"cannot save bag/n: field 'extra': a Port in an Any-annotated"):
        rc.dumps(rc.plan(rc.State([Bag("n", Port(1))]), rc.State([])))

    converter = rc.make_converter()
    converter.register_unstructure_hook(decimal.Decimal, str)
    converter.register_structure_hook(decimal.Decimal, lambda v, _t: decimal.Decimal(v))
    plan = rc.plan(rc.State([Money("m", decimal.Decimal("1.5"))]), rc.State([]))
    assert rc.loads(rc.dumps(plan, converter=converter), [Money], converter=converter) == plan


def test_the_fingerprint_covers_what_the_plan_touches() -> None:
    plan = simple_plan()
    same = rc.plan(rc.State([Plain("a", size=2), Plain("c")]), rc.State([Plain("a", size=1), Plain("b")]))
    assert rc.fingerprint(plan) == rc.fingerprint(same)
    moved = rc.plan(rc.State([Plain("a", size=2), Plain("c")]), rc.State([Plain("a", size=5), Plain("b")]))
    assert rc.fingerprint(plan) != rc.fingerprint(moved)
    assert rc.fingerprint(plan).startswith("sha256:")
    assert simple_plan().fingerprint is None


# ---------------------------------------------------------------- staleness


def saved_world() -> tuple[dict[str, Any], rc.State, rc.Plan]:
    providers = world(Plain, initial=[Plain("a", size=1), Plain("b"), Plain("untouched")])
    desired = rc.State([Plain("a", size=2), Plain("c"), Plain("untouched")])
    saved = rc.loads(rc.dumps(rc.plan(desired, rc.observe(providers))), TYPES)
    return providers, desired, saved


def writes(providers: dict[str, Any]) -> list[str]:
    return [c.method for p in providers.values() for c in p.calls if c.method in ("create", "update", "delete")]


def test_a_saved_plan_applies_when_the_world_has_not_moved() -> None:
    providers, desired, saved = saved_world()
    providers["plain"].objects[rc.Address("plain", "untouched")] = Plain("untouched", size=9)
    result = rc.apply(saved, providers)
    assert result.ok
    assert sorted(str(c.address) for c in providers["plain"].calls if c.method == "read") == [
        "plain/a",
        "plain/b",
        "plain/c",
    ]
    assert rc.plan(desired, rc.observe(providers)).changes.keys() == {rc.Address("plain", "untouched")}


@pytest.mark.parametrize(
    ("move", "what"),
    [
        (lambda o: o.__setitem__(rc.Address("plain", "a"), Plain("a", size=3)), "plain/a (changed: size)"),
        (lambda o: o.pop(rc.Address("plain", "b")), "plain/b (deleted)"),
        (lambda o: o.__setitem__(rc.Address("plain", "c"), Plain("c")), "plain/c (created)"),
    ],
    ids=["changed", "deleted", "created"],
)
def test_a_saved_plan_is_refused_when_what_it_touches_moved(move: Any, what: str) -> None:
    providers, _desired, saved = saved_world()
    move(providers["plain"].objects)
    with pytest.raises(rc.StalePlanError) as info:
        rc.apply(saved, providers)
    assert what in str(info.value)
    assert "saved plan is stale: 1 address it touches changed since it was made" in str(info.value)
    assert "Nothing was applied; plan again." in str(info.value)
    assert [a for a, _what in info.value.differences] == [rc.Address.parse(what.split(" ")[0])]
    assert writes(providers) == []


def test_a_plan_in_memory_is_applied_without_reading() -> None:
    providers = world(Plain, initial=[Plain("a")])
    plan = rc.plan(rc.State([Plain("a", size=1)]), rc.observe(providers))
    providers["plain"].objects[rc.Address("plain", "a")] = Plain("a", size=7)
    assert rc.apply(plan, providers).ok
    assert [c.method for c in providers["plain"].calls] == ["list", "update"]


def test_check_fresh_checks_a_plan_in_memory_on_request() -> None:
    providers = world(Plain, initial=[Plain("a")])
    plan = rc.plan(rc.State([Plain("a", size=1)]), rc.observe(providers))
    rc.check_fresh(plan, providers)
    providers["plain"].objects[rc.Address("plain", "a")] = Plain("a", size=7)
    with pytest.raises(rc.StalePlanError, match=r"plain/a \(changed: size\)"):
        rc.check_fresh(plan, providers)


class AsyncPlain:
    """A provider whose ``read`` is a coroutine."""

    def __init__(self, objects: dict[rc.Address, Any]) -> None:
        self.objects = objects

    async def read(self, address: rc.Address) -> Any:
        await asyncio.sleep(0)
        return self.objects.get(address)


def test_async_reads_are_awaited() -> None:
    objects = {rc.Address("plain", "a"): Plain("a")}
    plan = rc.plan(rc.State([Plain("a", size=1)]), rc.State(objects.values()))
    rc.check_fresh(plan, {"plain": AsyncPlain(objects)})
    asyncio.run(rc.check_fresh_async(plan, {"plain": AsyncPlain(objects)}))
    objects[rc.Address("plain", "a")] = Plain("a", size=4)
    with pytest.raises(rc.StalePlanError, match="plain/a"):
        rc.check_fresh(plan, {"plain": AsyncPlain(objects)})
    with pytest.raises(rc.StalePlanError, match="plain/a"):
        asyncio.run(rc.check_fresh_async(plan, {"plain": AsyncPlain(objects)}))

    async def inside_a_loop() -> None:
        rc.check_fresh(plan, {"plain": AsyncPlain(objects)})

    with pytest.raises(rc.ReconcileError, match=r"inside a running event loop; await check_fresh_async\(\)"):
        asyncio.run(inside_a_loop())
