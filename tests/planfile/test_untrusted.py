"""Plan files are untrusted input: every inconsistency with the file's own states is a PlanFileError naming its place."""

from __future__ import annotations

import decimal
import json
import math
import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import reconcile as rc
from tests.planfile.test_format import TYPES, Rich, reseal
from tests.support.planner import Plain, Twin


@rc.resource(kind="net")
class Net:
    name: str = rc.identity()
    mtu: int = rc.spec(default=1500)
    label: str = rc.spec(default="")
    tags: dict[str, str] = rc.spec(factory=dict)
    token: dict[str, str] = rc.spec(factory=dict, sensitive=True)
    weight: float | None = rc.spec(default=None)


@rc.resource(kind="port", ignore=("note",))
class Port:
    name: str = rc.identity()
    net: rc.Ref[Net] = rc.spec(replace_on_change=True)
    size: int = rc.spec(default=0)
    note: str = rc.spec(default="")


@attrs.frozen
class Cred:
    user: str
    password: str


@rc.resource(kind="vault")
class Vault:
    name: str = rc.identity()
    cred: Cred = rc.spec(sensitive=True, default=Cred("u", "p"))


ALL = (*TYPES, Net, Port, Vault)


def net_plan() -> rc.Plan:
    """An update of net/a (and the ignore-carrying update of port/p), a replace of port/q, a create, a delete."""
    actual = rc.State(
        [
            Net("a", 1500),
            Net("b"),
            Net("gone"),
            Port("p", rc.ref(Net, "a"), note="seen"),
            Port("q", rc.ref(Net, "a")),
        ]
    )
    desired = rc.State(
        [
            Net("a", 9000, tags={"env": "prod"}),
            Net("b"),
            Net("c"),
            Port("p", rc.ref(Net, "a"), size=2, note="wanted"),
            Port("q", rc.ref(Net, "c")),
        ]
    )
    return rc.plan(desired, actual)


def doc_of(plan: rc.Plan) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(rc.dumps(plan))
    return doc


def index(doc: dict[str, Any], section: str, address: str) -> int:
    return next(i for i, c in enumerate(doc[section]) if c["address"] == address)


def refused(doc: dict[str, Any], message: str, types: Any = ALL) -> None:
    with pytest.raises(rc.PlanFileError, match=message):
        rc.loads(reseal(doc), types)


def test_the_net_plan_round_trips() -> None:
    plan = net_plan()
    back = rc.loads(rc.dumps(plan), ALL)
    assert back == plan
    assert back.changes[rc.Address("port", "p")].after.note == "seen"  # ignored: carries the actual value
    assert [c.action for c in back] == [c.action for c in plan]


# ------------------------------------------------------------------ changes against the states


def test_an_after_that_is_not_a_resource_is_refused() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "net/a")
    doc["changes"][i]["after"] = 5
    refused(doc, rf'changes\[{i}\]\.after: expected "desired" or a resource, got an integer')
    doc["changes"][i]["after"] = "actual"
    refused(doc, rf'changes\[{i}\]\.after: expected "desired" or a resource, got a string')


def test_an_after_resource_at_another_address_is_refused() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "port/p")
    assert isinstance(doc["changes"][i]["after"], dict)
    doc["changes"][i]["after"]["fields"]["name"] = "q"
    refused(doc, rf"changes\[{i}\]\.after: a resource at port/q, not at port/p")


def test_an_after_resource_other_than_the_states_give_is_refused() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "port/p")
    doc["changes"][i]["after"]["fields"]["note"] = "wanted"  # writes what planning ignores
    refused(doc, rf"changes\[{i}\]\.after\.fields\.note: not the value its own states give")
    doc = doc_of(net_plan())
    doc["changes"][i]["after"] = "desired"
    refused(doc, rf"changes\[{i}\]\.after: its own states give a resource carrying ignored actual values")


def test_a_create_of_an_address_in_the_actual_state_is_refused() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "net/a")
    doc["changes"][i].update(action="create", before=None)
    refused(doc, rf"changes\[{i}\]\.action: a create of net/a, which its actual state already holds")


def test_a_delete_of_an_address_still_desired_is_refused() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "net/a")
    doc["changes"][i].update(action="delete", after=None)
    refused(doc, rf"changes\[{i}\]\.action: a delete of net/a, which its desired state still holds")


def test_a_change_the_states_do_not_need_is_refused() -> None:
    doc = doc_of(net_plan())
    extra = dict(doc["changes"][index(doc, "changes", "net/a")], address="net/b", changed_fields=["mtu"])
    doc["changes"].append(extra)
    refused(doc, rf"changes\[{len(doc['changes']) - 1}\]: its own states need no change at net/b")


def test_a_change_left_out_is_refused() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "net/gone")
    del doc["changes"][i]
    doc["steps"] = [s for s in doc["steps"] if s[0] != "net/gone"]
    refused(doc, r"changes: its own states give a delete of net/gone, which the file neither plans nor defers")


def test_changes_out_of_apply_order_are_refused() -> None:
    doc = doc_of(net_plan())
    first = doc["changes"][0]["address"]
    doc["changes"].reverse()
    refused(doc, rf"changes\[0\]: out of apply order: its own states put {first} here")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("changed_fields", ["label"], r"\['label'\] contradicts its own states, which give \['mtu', 'tags'\]"),
        ("changed_fields", [], r"\[\] contradicts its own states, which give \['mtu', 'tags'\]"),
        ("replace_fields", ["mtu"], r"\['mtu'\] contradicts its own states, which give \[\]"),
        ("create_before_delete", True, "the file says true, its own states give false"),
        ("forced_by", "net/b", r"contradicts its own states, which give \[\]"),
        ("triggered_by", ["net/b"], r"contradicts its own states, which give \[\]"),
        ("replaced_refs", ["net/b"], r"contradicts its own states, which give \[\]"),
        ("action", "replace", 'the file says "replace", its own states give "update"'),
    ],
)
def test_change_details_that_contradict_the_states_are_refused(key: str, value: Any, message: str) -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "net/a")
    doc["changes"][i][key] = value
    refused(doc, rf"changes\[{i}\]\.{key}: {message}")


def test_a_replacement_flag_that_contradicts_the_states_is_refused() -> None:
    plan = rc.plan(rc.State([Twin("t", ver=1)]), rc.State([Twin("t")]))
    doc = doc_of(plan)
    assert doc["changes"][0]["create_before_delete"] is True
    doc["changes"][0]["create_before_delete"] = False
    doc["steps"].reverse()  # the order a delete-then-create replacement would have
    refused(doc, r"changes\[0\]\.create_before_delete: the file says false, its own states give true", TYPES)


def test_an_unchanged_count_that_contradicts_the_states_is_refused() -> None:
    doc = doc_of(net_plan())
    assert doc["unchanged"] == 1  # net/b
    doc["unchanged"] = 4
    refused(doc, "unchanged: the file says 4, its own states leave 1 unchanged")


# ------------------------------------------------------------------ deferred changes


def deferred_plan() -> rc.Plan:
    actual = rc.State([Plain("a"), Plain("b")])
    desired = rc.State([Plain("a", size=1), Plain("b", size=1), Plain("c", refs=(rc.ref(Plain, "a"),))])
    return rc.plan(desired, actual, exclude=["plain/b"])


def test_a_deferred_plan_round_trips() -> None:
    plan = deferred_plan()
    assert list(plan.deferred) == [rc.Address("plain", "b")]
    assert rc.loads(rc.dumps(plan), TYPES) == plan


def test_an_address_both_planned_and_deferred_is_refused() -> None:
    doc = doc_of(deferred_plan())
    doc["deferred"].append(doc["changes"][0])
    refused(doc, r"deferred\[1\]: plain/a is also in changes\[0\]", TYPES)


def test_a_twice_planned_address_is_refused() -> None:
    doc = doc_of(deferred_plan())
    doc["changes"].append(doc["changes"][0])
    refused(doc, r"changes\[2\]: plain/a is also in changes\[0\]", TYPES)


def test_deferring_what_a_planned_change_needs_is_refused() -> None:
    doc = doc_of(deferred_plan())
    i = index(doc, "changes", "plain/a")
    doc["deferred"].append(doc["changes"].pop(i))
    doc["steps"] = [s for s in doc["steps"] if s[0] != "plain/a"]
    refused(doc, r"deferred\[1\]: plain/a cannot be deferred while a planned change needs it", TYPES)


def test_planning_a_deferred_change_is_refused_unless_its_steps_say_so() -> None:
    doc = doc_of(deferred_plan())
    doc["changes"].insert(1, doc["deferred"].pop())
    refused(doc, r"steps\[1\]: its own states give the step 'update plain/b' here", TYPES)


# ------------------------------------------------------------------ steps and edges


def replace_plan() -> rc.Plan:
    """A delete-then-create replacement: two steps on one address, ordered by an edge."""
    return rc.plan(rc.State([Plain("a", ver=1)]), rc.State([Plain("a")]))


def test_removing_every_edge_is_refused() -> None:
    doc = doc_of(replace_plan())
    assert doc["steps"] == [["plain/a", "delete"], ["plain/a", "create"]] and doc["after"] == [[1, [0]]]
    doc["after"] = []
    refused(
        doc,
        r"after: step 1 \(create plain/a\) runs after step 0 \(delete plain/a\) by its own states, "
        r"an edge the file leaves out",
        TYPES,
    )


def test_an_edge_the_states_do_not_give_is_refused() -> None:
    plan = rc.plan(rc.State([Plain("a"), Plain("b")]), rc.State([]))
    doc = doc_of(plan)
    doc["after"] = [[1, [0]]]
    refused(doc, r"after: step 1 \(create plain/b\) runs after step 0 \(create plain/a\) in the file", TYPES)


def test_a_malformed_edge_is_refused() -> None:
    doc = doc_of(replace_plan())
    doc["after"] = [[1, [7]]]
    refused(doc, r"after\[0\]: expected \[step index, \[indices of the steps it runs after\]\]", TYPES)


def test_steps_in_another_order_are_refused() -> None:
    doc = doc_of(replace_plan())
    doc["steps"].reverse()
    doc["after"] = [[0, [1]]]
    refused(doc, r"steps\[0\]: its own states give the step 'delete plain/a' here", TYPES)


def test_a_file_cannot_delete_a_protected_resource() -> None:
    kept = Plain("keep", lifecycle=rc.Lifecycle(protect=True))
    doc = doc_of(rc.plan(rc.State([kept]), rc.State([kept])))
    doc["desired"] = []
    doc["unchanged"] = 0
    doc["changes"] = [
        {
            "address": "plain/keep",
            "action": "delete",
            "before": "actual",
            "after": None,
            "changed_fields": [],
            "replace_fields": [],
            "replaced_refs": [],
            "create_before_delete": False,
            "forced_by": None,
            "triggered_by": [],
        }
    ]
    doc["steps"] = [["plain/keep", "delete"]]
    forged = rc.Plan(rc.State([]), rc.State([kept]), {}, (rc.Step("plain/keep", rc.Action.DELETE),), {}, 0)
    doc["fingerprint"] = rc.fingerprint(forged)
    refused(doc, r"its own states do not give a plan: plan would delete or replace 1 protected resource", TYPES)


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mtu", "15", r"mtu: expected an integer, got a string"),
        ("mtu", 15.0, r"mtu: expected an integer, got a number"),
        ("mtu", True, r"mtu: expected an integer, got true"),
        ("label", [5], r"label: expected a string, got a list"),
        ("label", 5, r"label: expected a string, got an integer"),
        ("tags", ["env"], r"tags: expected an object, got a list"),
        ("weight", "1.5", r"weight: .*"),
        ("weight", {"$float": "Infinity"}, r"weight: expected 'inf', '-inf' or 'nan' in a \$float tag, got a string"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(field: str, value: Any, message: str) -> None:
    doc = doc_of(net_plan())
    doc["desired"][0]["fields"][field] = value
    refused(doc, rf"desired\[0\]: cannot rebuild a Net: desired\[0\]\.fields\.{message}")


def test_a_lifecycle_flag_of_the_wrong_type_is_refused() -> None:
    doc = doc_of(net_plan())
    doc["desired"][1]["fields"]["lifecycle"]["protect"] = "no"
    refused(doc, r"desired\[1\]\.fields\.lifecycle\.protect: expected true or false, got a string")


def test_a_change_after_value_of_the_wrong_type_names_its_path() -> None:
    doc = doc_of(net_plan())
    i = index(doc, "changes", "port/p")
    doc["changes"][i]["after"]["fields"]["note"] = 7
    refused(doc, rf"changes\[{i}\]\.after\.fields\.note: expected a string, got an integer")


def test_wrong_values_in_a_sensitive_field_are_not_shown() -> None:
    doc = doc_of(net_plan())
    doc["desired"][0]["fields"]["token"] = {"s3cr3t-key": 5}
    with pytest.raises(rc.PlanFileError) as info:
        rc.loads(reseal(doc), ALL)
    assert "s3cr3t" not in str(info.value)
    assert re.search(
        r"desired\[0\]\.fields\.token: expected a string, got an integer \(in a sensitive field\)", str(info.value)
    )


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda f: f.update(mtuu=1500), r"desired\[0\]\.fields: unknown key \"mtuu\""),
        (lambda f: f.pop("mtu"), r"desired\[0\]\.fields: missing key \"mtu\""),
        (
            lambda f: f["lifecycle"].update(protected=True),
            r"desired\[0\]\.fields\.lifecycle: unknown key \"protected\"",
        ),
    ],
    ids=["misspelt", "missing", "nested"],
)
def test_unknown_and_missing_field_keys_are_refused(tamper: Callable[[dict[str, Any]], Any], message: str) -> None:
    doc = doc_of(net_plan())
    tamper(doc["desired"][0]["fields"])
    refused(doc, message)


def test_unknown_keys_in_a_change_or_resource_are_refused() -> None:
    doc = doc_of(net_plan())
    doc["changes"][0]["note"] = "x"
    refused(doc, r"changes\[0\]: unknown key 'note' in a change")
    doc = doc_of(net_plan())
    doc["actual"][0]["extra"] = 1
    refused(doc, r"actual\[0\]: unknown key 'extra' in a resource")


def test_int_keys_are_read_back_only_in_the_form_dumps_writes() -> None:
    plan = rc.plan(rc.State([Rich("r", 1, labels_by_id={2: "a", 10: "b"})]), rc.State([]))
    assert rc.loads(rc.dumps(plan), TYPES) == plan  # the checksum once sorted 2 < 10 in memory, "10" < "2" in the file
    doc = doc_of(plan)
    doc["desired"][0]["fields"]["labels_by_id"] = {"02": "a", "10": "b"}
    refused(doc, r"desired\[0\]\.fields\.labels_by_id: expected a key of type int, got a string", TYPES)
    doc["desired"][0]["fields"]["labels_by_id"] = {"2": "a", "-0": "b"}
    refused(doc, r'desired\[0\]\.fields\.labels_by_id: unknown key "-0"', TYPES)


def test_a_malformed_or_non_canonical_address_is_refused() -> None:
    doc = doc_of(net_plan())
    doc["changes"][0]["address"] = "net"
    refused(doc, r"changes\[0\]\.address: not a valid address")
    doc = doc_of(rc.plan(rc.State([Net("a/b")]), rc.State([])))
    assert doc["changes"][0]["address"] == "net/a%2Fb"
    doc["changes"][0]["address"] = "net/a%2fb"
    refused(doc, r"changes\[0\]\.address: not an address as dumps writes it")


# ------------------------------------------------------------------ JSON itself


def test_duplicate_json_keys_are_refused() -> None:
    text = rc.dumps(net_plan())
    assert text.count('"mtu":9000') == 1
    doubled = text.replace('"mtu":9000', '"mtu":1,"mtu":9000')  # last one wins in json.loads: the checksum matches
    assert rc.loads(reseal(json.loads(doubled)), ALL) == net_plan()
    with pytest.raises(rc.PlanFileError, match=r'plan file: desired\[0\]\.fields: key "mtu" appears twice'):
        rc.loads(doubled, ALL)
    with pytest.raises(rc.PlanFileError, match=r"plan file: the top level: key \"version\" appears twice"):
        rc.loads(text.replace('"version":1', '"version":1,"version":1'), ALL)


@pytest.mark.parametrize("version", [1.0, True, "1", None, [1]])
def test_a_version_that_is_not_an_integer_is_refused(version: Any) -> None:
    doc = doc_of(net_plan())
    doc["version"] = version
    with pytest.raises(rc.PlanFileError, match="plan file: version: expected an integer, got"):
        rc.loads(reseal(doc), ALL)


def test_a_kind_that_is_not_a_string_is_refused() -> None:
    doc = doc_of(net_plan())
    doc["desired"][0]["kind"] = ["net"]
    refused(doc, r"desired\[0\]\.kind: expected a string, got a list")


def test_noop_is_not_a_change() -> None:
    doc = doc_of(net_plan())
    doc["changes"][0]["action"] = "noop"
    refused(doc, r"changes\[0\]\.action: 'noop' is not a change")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda text: "[" * 1000 + "]" * 1000, r"more than \d+ levels deep"),
        (lambda text: '{"a":' * 1000 + "1" + "}" * 1000, r"more than \d+ levels deep"),
        (lambda text: text.replace('"unchanged":1', '"unchanged":' + "1" * 4301), "a number Python does not read"),
        (lambda text: text.replace('"unchanged":1', '"unchanged":1e999'), "a number too large for a float"),
        (lambda text: text.replace('"unchanged":1', '"unchanged":NaN'), "holds NaN, which is not standard JSON"),
        (lambda text: text.replace('"unchanged":1', '"unchanged":-Infinity'), "holds -Infinity, which is not standard"),
        (lambda text: text.replace('"unchanged":1', '"unchanged":1,"unchanged":1'), 'key "unchanged" appears twice'),
        (lambda text: text.encode(), "loads\\(\\) takes the text dumps\\(\\) wrote, got bytes"),
    ],
    ids=["arrays", "objects", "long int", "huge float", "nan", "infinity", "duplicate", "bytes"],
)
def test_hostile_json_gets_a_plan_file_error(make: Callable[[str], Any], message: str) -> None:
    assert '"unchanged":1,' in rc.dumps(net_plan())
    with pytest.raises(rc.PlanFileError, match=message):
        rc.loads(make(rc.dumps(net_plan())), ALL)


def test_the_deepest_values_a_state_takes_are_saved_and_read_back() -> None:
    # As deep as a State takes in an ``Any`` field (one more level is a NestingError), as lists, tuples and
    # dicts with int keys, whose tags take more JSON levels than the value has.
    for wrap in (lambda v: [v], lambda v: (v,), lambda v: {1: v}):
        deep: Any = 0
        for _ in range(100):
            deep = wrap(deep)
        plan = rc.plan(rc.State([Rich("r", 1, anything=deep)]), rc.State([]))
        assert rc.loads(rc.dumps(plan), TYPES).change("rich/r/1").after.anything == deep


def test_files_nested_deeper_than_the_limit_are_refused_naming_the_place() -> None:
    from reconcile._planfile.jsontext import MAX_DEPTH

    deep: Any = 0
    for _ in range(MAX_DEPTH):
        deep = [deep]
    doc = doc_of(rc.plan(rc.State([Rich("r", 1)]), rc.State([])))
    doc["desired"][0]["fields"]["anything"] = deep
    refused(doc, rf"plan file: desired\[0\]\.fields\.anything(\[0\])+: arrays and objects nest more than {MAX_DEPTH}", TYPES)


@pytest.mark.parametrize(
    ("types", "error"),
    [
        (None, rc.ResourceDefinitionError),
        (5, rc.ResourceDefinitionError),
        ("net", rc.ResourceDefinitionError),
        ([Net("x")], rc.ResourceDefinitionError),
        ({"plain": Net}, rc.ResourceDefinitionError),
    ],
)
def test_bad_types_get_a_reconcile_error(types: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        rc.loads(rc.dumps(net_plan()), types)


def test_bad_arguments_get_a_reconcile_error() -> None:
    text = rc.dumps(net_plan())
    with pytest.raises(rc.PlanFileError, match="converter= takes a cattrs converter"):
        rc.loads(text, ALL, converter=5)  # type: ignore[arg-type]
    with pytest.raises(rc.PlanFileError, match="dumps\\(\\) takes a Plan or a State, got dict"):
        rc.dumps({})  # type: ignore[arg-type]


# ------------------------------------------------------------------ standard JSON out


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard token {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_are_written_as_standard_json_and_read_back() -> None:
    objs = [
        Rich("r", 1, ratio=math.inf, anything=[-math.inf, {"x": math.inf}]),
        Net("n", weight=-math.inf),
        Net("m", weight=math.inf),
    ]
    plan = rc.plan(rc.State(objs), rc.State([]))
    text = rc.dumps(plan)
    doc = strict_json(text)
    assert doc["desired"][0]["fields"]["ratio"] == {"$float": "inf"}
    assert doc["desired"][1]["fields"]["weight"] == {"$float": "-inf"}
    back = rc.loads(text, ALL)
    assert back == plan
    assert back.desired["rich/r/1"].ratio == math.inf and back.desired["net/n"].weight == -math.inf


def test_nan_is_written_as_a_tag_and_read_back_as_nan() -> None:
    plan = rc.plan(rc.State([Rich("r", 1, ratio=math.nan, anything=math.nan), Net("n", weight=math.nan)]), rc.State([]))
    text = rc.dumps(plan)
    strict_json(text)
    back = rc.loads(text, ALL)
    assert math.isnan(back.desired["rich/r/1"].ratio) and math.isnan(back.desired["rich/r/1"].anything)
    assert math.isnan(back.desired["net/n"].weight)


@rc.resource(kind="money")
class Money:
    name: str = rc.identity()
    amount: decimal.Decimal = rc.spec()


def test_a_hook_that_writes_nan_is_refused_by_dumps() -> None:
    converter = rc.make_converter()
    converter.register_unstructure_hook(decimal.Decimal, float)
    plan = rc.plan(rc.State([Money("m", decimal.Decimal("NaN"))]), rc.State([]))
    with pytest.raises(rc.PlanFileError, match=r"cannot save money/m: field 'amount': .*non-finite float"):
        rc.dumps(plan, converter=converter)


def test_a_duplicate_key_before_a_syntax_error_is_a_plan_file_error() -> None:
    with pytest.raises(rc.PlanFileError, match="not valid JSON"):
        rc.loads('{"a": 1, "a": 2} x', ALL)
    with pytest.raises(rc.PlanFileError, match="holds NaN"):
        rc.loads('[{"a": 1, "a": 2}, NaN]', ALL)


def test_keys_inside_a_sensitive_field_are_not_shown() -> None:
    doc = doc_of(rc.plan(rc.State([Vault("v")]), rc.State([])))
    doc["desired"][0]["fields"]["cred"]["s3cr3t-token"] = "p"
    with pytest.raises(rc.PlanFileError) as info:
        rc.loads(reseal(doc), ALL)
    assert str(info.value) == "plan file: desired[0].fields.cred: not the form dumps writes (in a sensitive field)"
