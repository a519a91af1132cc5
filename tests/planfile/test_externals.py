"""Plan files carry externals (declared and as read) and adoptions faithfully, and refuse files that bend them."""

from __future__ import annotations

import json
from typing import Any

import pytest

import reconcile as rc
from reconcile import Action
from tests.planfile.test_format import reseal
from tests.support.models import Network, Server
from tests.support.owned import OwnedProvider

TYPES = [Network, Server]
DEFAULT = rc.external(Network, "default")
FOUND_NET = Network("default", "172.31.0.0/16", network_id="net-0")
HAND_MADE = Network("core", "10.0.0.0/16", {"made": "by hand"}, network_id="net-7")


def external_plan() -> rc.Plan:
    desired = rc.State([DEFAULT, Server("web", DEFAULT.ref, "small")])
    return rc.plan(desired, rc.State([rc.external(FOUND_NET)]))


def adopt_plan() -> rc.Plan:
    desired = rc.State([Network("core", "10.0.0.0/16", {"env": "prod"}), Server("db", rc.ref(Network, "core"), "s")])
    return rc.plan(desired, rc.State([rc.external(HAND_MADE)]), adopt=["network/core"])


def doc_of(plan: rc.Plan) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(rc.dumps(plan))
    return doc


def refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(rc.PlanFileError, match=message):
        rc.loads(reseal(doc), TYPES)


@pytest.mark.parametrize("make", [external_plan, adopt_plan])
def test_plans_with_externals_and_adoptions_round_trip(make: Any) -> None:
    plan = make()
    back = rc.loads(rc.dumps(plan), TYPES)
    assert back == plan
    assert back.desired.externals == plan.desired.externals and back.actual.externals == plan.actual.externals
    assert back.reads == plan.reads
    assert [str(s) for s in back.steps] == [str(s) for s in plan.steps]
    assert back.fingerprint == rc.fingerprint(plan)


def test_the_file_records_externals_only_when_there_are_any() -> None:
    doc = doc_of(external_plan())
    assert doc["externals"]["desired"] == [{"address": "network/default", "value": None}]
    assert doc["externals"]["actual"][0]["address"] == "network/default"
    assert doc["externals"]["actual"][0]["value"]["fields"]["network_id"] == "net-0"
    plain = doc_of(rc.plan(rc.State([Network("core", "1")]), rc.State()))
    assert "externals" not in plain


def test_an_external_read_dropped_from_the_file_is_refused() -> None:
    doc = doc_of(external_plan())
    doc["externals"]["actual"] = []
    refused(doc, "its own states do not give a plan: external object.s. not found: network/default")


def test_an_external_value_at_another_address_is_refused() -> None:
    doc = doc_of(external_plan())
    doc["externals"]["actual"][0]["address"] = "network/other"
    refused(doc, r"externals.actual\[0\].value: a resource at network/default, not at network/other")


def test_an_empty_or_malformed_externals_section_is_refused() -> None:
    doc = doc_of(external_plan())
    refused({**doc, "externals": {"desired": [], "actual": []}}, "externals: empty")
    refused({**doc, "externals": {"desired": []}}, "missing key 'actual'")
    refused({**doc, "externals": {**doc["externals"], "desired": [{"address": "network/default"}]}}, "missing key")


def test_an_external_of_a_kind_without_a_class_is_refused() -> None:
    with pytest.raises(rc.PlanFileError, match="no class given for kind 'network'"):
        rc.loads(rc.dumps(external_plan()), [Server])


def test_an_adopt_without_a_found_object_is_refused() -> None:
    doc = doc_of(adopt_plan())
    del doc["externals"]
    refused(doc, r"changes\[0\].action: an adopt of network/core, which its actual state holds no found object for")


def test_an_adopt_turned_into_a_create_is_refused() -> None:
    doc = doc_of(adopt_plan())
    doc["changes"][0]["action"] = "create"
    doc["changes"][0]["before"] = None
    refused(doc, r"changes\[0\]")


def test_a_saved_plan_whose_external_changed_is_stale() -> None:
    networks = OwnedProvider(Network, foreign=[FOUND_NET])
    servers = OwnedProvider(Server)
    world = {"network": networks, "server": servers}
    desired = rc.State([DEFAULT, Server("web", DEFAULT.ref, "small")])
    saved = rc.dumps(rc.plan(desired, rc.observe(world, desired)))
    networks.objects[rc.Address("network", "default")] = Network("default", "172.31.0.0/16", network_id="net-9")
    with pytest.raises(rc.StalePlanError, match=r"network/default \(changed: network_id\)"):
        rc.apply(rc.loads(saved, TYPES), world)
    assert servers.writes() == []


def test_a_saved_adoption_applies_and_records_the_adoption() -> None:
    networks = OwnedProvider(Network, foreign=[HAND_MADE])
    world = {"network": networks, "server": OwnedProvider(Server)}
    plan = rc.loads(rc.dumps(adopt_plan()), TYPES)
    result = rc.apply(plan, world)
    assert result.ok, result.errors
    assert result.adopted == (rc.Address("network", "core"),)
    assert networks.writes()[:2] == [
        ("adopt", rc.Address("network", "core")),
        ("update", rc.Address("network", "core")),
    ]
    assert plan.change("network/core").action is Action.ADOPT


def test_saved_states_keep_their_externals_declared_and_as_read() -> None:
    desired = rc.State([DEFAULT, Server("web", DEFAULT.ref, "small")])
    observed = rc.State([rc.external(FOUND_NET), rc.external(HAND_MADE), Server("web", DEFAULT.ref, "small")])
    for state in (desired, observed):
        back = rc.loads_state(rc.dumps(state), TYPES)
        assert back == state and back.externals == state.externals
    assert "externals" not in json.loads(rc.dumps(rc.State([Network("core", "1")])))


def test_a_saved_state_with_a_bent_externals_section_is_refused() -> None:
    doc = json.loads(rc.dumps(rc.State([rc.external(FOUND_NET), rc.external(HAND_MADE)])))
    with pytest.raises(rc.PlanFileError, match="state file: externals: not in address order"):
        rc.loads_state(reseal({**doc, "externals": doc["externals"][::-1]}), TYPES)
    with pytest.raises(rc.PlanFileError, match="state file: externals: empty"):
        rc.loads_state(reseal({**doc, "externals": []}), TYPES)


def test_an_adopted_object_survives_saving_the_state_after_the_apply() -> None:
    networks = OwnedProvider(Network, foreign=[HAND_MADE])
    world = {"network": networks, "server": OwnedProvider(Server)}
    result = rc.apply(adopt_plan(), world)
    assert result.ok, result.errors
    back = rc.loads_state(rc.dumps(result.state), TYPES)
    assert back == result.state and not back.externals and "network/core" in back
    # Planning again, with the saved desired state as the last applied one, adopts nothing and changes nothing.
    desired = adopt_plan().desired
    last = rc.loads_state(rc.dumps(desired), TYPES)
    actual = rc.observe(world, desired, adopt=["network/core"])
    assert rc.plan(desired, actual, adopt=["network/core"], last_applied=last).is_empty
