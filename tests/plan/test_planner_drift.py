"""Drift or intent: ``plan(..., last_applied=state)`` tells a world that moved from a desired state that changed."""

from __future__ import annotations

import hashlib
import json

import attrs
import pytest
from hypothesis import given

import reconcile as rc
from reconcile.testing import state_pairs
from tests.support.testing_kinds import KINDS


@rc.resource(kind="net")
class Net:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    mtu: int = rc.spec(default=1500)
    note: str = rc.spec(default="", ignore=True)
    net_id: str | None = rc.computed()


@rc.resource(kind="host")
class Host:
    name: str = rc.identity()
    net: rc.Ref[Net] = rc.spec(replace_on_change=True)
    size: str = rc.spec(default="small")
    host_id: str | None = rc.computed()


NET = rc.ref(Net, "core")
APPLIED = rc.State([Net("core", "10.0.0.0/16"), Host("web", NET), Host("db", NET)])


def world(*objs: object) -> rc.State:
    """An observed state: what ``APPLIED`` became, with the ids the provider gave, edited by ``objs``."""
    ids = {"net/core": {"net_id": "n-1"}, "host/web": {"host_id": "h-1"}, "host/db": {"host_id": "h-2"}}
    found = {str(a): o for a, o in APPLIED.items()}
    found.update({str(rc.address_of(o)): o for o in objs})
    return rc.State([attrs.evolve(o, **ids.get(a, {})) for a, o in found.items() if o is not None], allow_dangling=True)


def origins(plan: rc.Plan) -> dict[str, rc.Origin | None]:
    return {str(c.address): c.origin for c in plan}


def test_a_change_made_outside_is_drift():
    plan = rc.plan(APPLIED, world(Host("web", NET, "large")), last_applied=APPLIED)
    assert origins(plan) == {"host/web": rc.Origin.DRIFT}


def test_a_change_of_the_desired_state_is_intent():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    plan = rc.plan(desired, world(), last_applied=APPLIED)
    assert origins(plan) == {"host/web": rc.Origin.INTENT}


def test_a_change_of_both_is_marked_both():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    plan = rc.plan(desired, world(Host("web", NET, "medium")), last_applied=APPLIED)
    assert origins(plan) == {"host/web": rc.Origin.BOTH}
    assert plan.changes[rc.Address.parse("host/web")].origin.is_drift


def test_objects_deleted_or_made_outside_are_drift_and_added_or_removed_ones_intent():
    observed = rc.State([*world(), Host("stray", NET)], allow_dangling=True).without("host/db")
    desired = APPLIED.without("host/web").with_resources(Host("cache", NET))
    plan = rc.plan(desired, observed, last_applied=APPLIED)
    assert origins(plan) == {
        "host/db": rc.Origin.DRIFT,  # deleted outside: created again
        "host/stray": rc.Origin.DRIFT,  # made outside: deleted
        "host/web": rc.Origin.INTENT,  # removed from the desired state
        "host/cache": rc.Origin.INTENT,  # added to it
    }


def test_dependents_replaced_by_a_drifted_target_are_drift_too():
    plan = rc.plan(APPLIED, world(Net("core", "10.9.0.0/16")), last_applied=APPLIED)
    assert {a: (plan.changes[rc.Address.parse(a)].action, o) for a, o in origins(plan).items()} == {
        "net/core": (rc.Action.REPLACE, rc.Origin.DRIFT),
        "host/web": (rc.Action.REPLACE, rc.Origin.DRIFT),
        "host/db": (rc.Action.REPLACE, rc.Origin.DRIFT),
    }


def test_computed_and_ignored_values_are_never_drift():
    plan = rc.plan(APPLIED, world(Net("core", "10.0.0.0/16", note="edited")), last_applied=APPLIED)
    assert plan.is_empty
    plan = rc.plan(APPLIED, world(Net("core", "10.0.0.0/16", mtu=9000, note="x")), last_applied=APPLIED)
    assert origins(plan) == {"net/core": rc.Origin.DRIFT}


def test_without_last_applied_no_change_has_an_origin_and_the_plan_is_the_same():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    with_last = rc.plan(desired, world(), last_applied=APPLIED)
    plain = rc.plan(desired, world())
    assert origins(plain) == {"host/web": None}
    assert with_last.steps == plain.steps and with_last.predecessors == plain.predecessors
    assert "[intent]" not in rc.render(plain) and "Since the last apply" not in rc.render(plain)


def test_last_applied_must_be_a_state():
    with pytest.raises(rc.PlanOptionError, match="last_applied takes the State of the last apply"):
        rc.plan(APPLIED, world(), last_applied=[])  # type: ignore[arg-type]


def test_the_text_review_tags_each_change_and_counts_them():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    plan = rc.plan(desired, world(Host("db", NET, "medium")), last_applied=APPLIED)
    text = rc.render(plan)
    assert text.splitlines()[1] == (
        "Since the last apply: 1 to repair drift (changed outside reconcile), "
        "1 for a change of the desired state, 0 both."
    )
    assert "~ host/web [intent]" in text and "~ host/db [drift]" in text


def test_the_json_rendering_gives_each_origin_and_their_counts():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    plan = rc.plan(desired, world(Host("db", NET, "medium")), last_applied=APPLIED)
    doc = json.loads(rc.render(plan, format="json"))
    assert {c["address"]: c["origin"] for c in doc["changes"]} == {"host/web": "intent", "host/db": "drift"}
    assert doc["summary"]["origins"] == {"intent": 1, "drift": 1, "both": 0}
    plain = json.loads(rc.render(rc.plan(desired, world()), format="json"))
    assert "origin" not in plain["changes"][0] and "origins" not in plain["summary"]


def test_a_saved_plan_keeps_its_origins_and_a_tampered_origin_is_refused():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    plan = rc.plan(desired, world(Host("db", NET, "medium")), last_applied=APPLIED)
    text = rc.dumps(plan)
    back = rc.loads(text, [Net, Host])
    assert back == plan and origins(back) == origins(plan)
    doc = json.loads(text)
    doc["changes"][0]["origin"] = "sideways"
    with pytest.raises(rc.PlanFileError, match=r"changes\[0\]\.origin: expected one of 'intent', 'drift', 'both'"):
        rc.loads(reseal(doc), [Net, Host])
    del doc["changes"][0]["origin"]
    with pytest.raises(rc.PlanFileError, match="some changes have an origin and some do not"):
        rc.loads(reseal(doc), [Net, Host])


def reseal(doc: dict) -> str:
    """``doc`` with its checksum made right again, as someone editing the file on purpose would."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return json.dumps({**body, "checksum": "sha256:" + hashlib.sha256(text.encode()).hexdigest()})


def test_a_saved_state_is_the_last_applied_state_of_the_next_plan():
    saved = rc.dumps(APPLIED)
    plan = rc.plan(APPLIED, world(Host("web", NET, "large")), last_applied=rc.loads_state(saved, [Net, Host]))
    assert origins(plan) == {"host/web": rc.Origin.DRIFT}


@given(state_pairs(KINDS, max_size=6))
def test_with_the_desired_state_last_applied_every_change_is_drift(pair):
    """Invariant: when nothing was asked for since the last apply, whatever the plan does repairs drift."""
    desired, actual = pair
    plan = rc.plan(desired, actual, last_applied=desired)
    assert all(c.origin is rc.Origin.DRIFT for c in plan)


@given(state_pairs(KINDS, max_size=6))
def test_with_the_actual_state_last_applied_every_change_is_intent(pair):
    """Invariant: when the world is as last applied, whatever the plan does follows the desired state."""
    desired, actual = pair
    plan = rc.plan(desired, actual, last_applied=actual)
    assert all(c.origin is rc.Origin.INTENT for c in plan)


@rc.resource(kind="link")
class Link:
    name: str = rc.identity()
    prev: rc.Ref[Link] | None = rc.spec(default=None, replace_on_change=True)
    shape: str = rc.spec(default="a", replace_on_change=True)


def test_a_long_chain_of_replacements_takes_its_root_origin_and_is_reviewed_root_first():
    """Origins and the review order are found without recursion: a chain longer than Python's recursion limit."""
    n = 3000
    chain = [Link("l0")] + [Link(f"l{i}", rc.ref(Link, f"l{i - 1}")) for i in range(1, n)]
    last = rc.State(chain)
    moved = rc.State([Link("l0", shape="b"), *chain[1:]])
    plan = rc.plan(last, moved, last_applied=last)
    assert len(plan) == n and all(c.origin is rc.Origin.DRIFT for c in plan)
    heads = [line for line in rc.render(plan).splitlines()[3:] if not line.startswith(" ")]
    assert heads[0].startswith("-/+ link/l0 [drift]") and heads[-1].startswith(f"-/+ link/l{n - 1} [drift]")


def test_deferred_changes_have_origins_too():
    desired = APPLIED.with_resources(Host("web", NET, "large"))
    plan = rc.plan(desired, world(Host("db", NET, "medium")), targets=["host/web"], last_applied=APPLIED)
    assert origins(plan) == {"host/web": rc.Origin.INTENT}
    assert {str(a): c.origin for a, c in plan.deferred.items()} == {"host/db": rc.Origin.DRIFT}
    assert rc.render(plan).endswith("~ host/db [drift]\n")
