"""External objects (read, never written) and adoption (objects found, then managed) in states and plans."""

from __future__ import annotations

import json

import pytest

import reconcile as rc
from reconcile import Action
from tests.support.models import Disk, Network, Server

DEFAULT = rc.external(Network, "default")
FOUND_NET = Network("default", "172.31.0.0/16", network_id="net-0")


def desired_with_external() -> rc.State:
    return rc.State([DEFAULT, Server("web", DEFAULT.ref, "small")])


def observed(*objs: object, found: tuple[object, ...] = ()) -> rc.State:
    """An actual state: ``objs`` listed (managed), ``found`` read but not managed."""
    return rc.State([*(rc.external(o) for o in found), *objs], allow_dangling=True)


# --- declaring externals ---------------------------------------------------------------------------------------------


def test_a_ref_to_a_declared_external_is_not_dangling_and_the_external_is_kept_apart():
    desired = desired_with_external()
    assert list(desired.externals) == [rc.Address("network", "default")]
    assert len(desired) == 1 and [type(o) for o in desired] == [Server]
    assert "network/default" not in desired and desired.get("network/default") is None
    assert desired.dependencies("server/web") == ()
    assert repr(desired) == "<State: 1 resource, 1 external>"
    with pytest.raises(rc.InvalidStateError) as err:
        rc.State([Server("web", DEFAULT.ref, "small")])
    assert [type(e) for e in err.value.exceptions] == [rc.DanglingRefError]


def test_external_takes_a_class_and_its_key_or_a_resource():
    assert rc.external(Network, "default").ref == rc.ref(Network, "default")
    assert rc.external(FOUND_NET) == rc.External(rc.Address("network", "default"), FOUND_NET)
    with pytest.raises(rc.AddressError, match=r"needs 1 identity value\(s\) \(name\), got 2"):
        rc.external(Network, "a", "b")
    with pytest.raises(rc.AddressError, match="does not say which class"):
        rc.external("network/default")  # type: ignore[call-overload]
    with pytest.raises(rc.ResourceDefinitionError):
        rc.external(object())
    with pytest.raises(rc.AddressError, match="not at its address"):
        rc.External(rc.Address("network", "other"), FOUND_NET)


def test_an_external_at_a_managed_address_or_twice_is_a_duplicate():
    with pytest.raises(rc.InvalidStateError) as err:
        rc.State([DEFAULT, rc.external(Network, "default"), Network("default", "10.0.0.0/8")])
    assert [type(e) for e in err.value.exceptions] == [rc.DuplicateAddressError, rc.DuplicateAddressError]


def test_an_external_value_of_the_wrong_field_type_is_reported():
    with pytest.raises(rc.InvalidStateError, match="field 'cidr' expects str"):
        rc.State([rc.external(Network("default", 5))])  # type: ignore[arg-type]


def test_with_resources_and_without_keep_or_drop_externals():
    desired = desired_with_external()
    assert desired.with_resources(Server("db", DEFAULT.ref, "large")).externals == desired.externals
    assert not desired.without("server/web", "network/default").externals


# --- planning with externals -----------------------------------------------------------------------------------------


def test_an_external_read_by_observe_is_never_a_change_and_is_listed_as_read():
    p = rc.plan(desired_with_external(), observed(found=(FOUND_NET,)))
    assert [(str(c.address), c.action) for c in p] == [("server/web", Action.CREATE)]
    assert [str(s) for s in p.steps] == ["create server/web"]
    assert p.reads == {rc.Address("network", "default"): FOUND_NET}


def test_a_listed_external_is_read_but_never_deleted():
    p = rc.plan(desired_with_external(), observed(FOUND_NET))
    assert [str(s) for s in p.steps] == ["create server/web"]
    assert p.reads == {rc.Address("network", "default"): FOUND_NET}
    again = rc.plan(desired_with_external(), observed(FOUND_NET, Server("web", DEFAULT.ref, "small")))
    assert again.is_empty


def test_a_missing_external_is_a_typed_error_naming_every_address():
    other = rc.external(Network, "shared")
    desired = rc.State([DEFAULT, other, Server("web", DEFAULT.ref, "small"), Server("db", other.ref, "small")])
    with pytest.raises(rc.MissingExternalError, match="not found: network/default, network/shared") as err:
        rc.plan(desired, rc.State())
    assert err.value.addresses == (rc.Address("network", "default"), rc.Address("network", "shared"))
    assert isinstance(err.value, rc.ReconcileError)


def test_the_review_shows_reads_with_their_own_marker_and_count():
    text = rc.render(rc.plan(desired_with_external(), observed(found=(FOUND_NET,))))
    assert text.splitlines()[0] == "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged, 1 read."
    assert "<= network/default  (external: read, never changed)" in text
    assert "      network_id: 'net-0'" in text
    empty = rc.render(rc.plan(rc.State([DEFAULT]), observed(found=(FOUND_NET,))))
    assert "No changes" in empty and "<= network/default" in empty


def test_the_json_rendering_lists_reads_and_never_a_step_for_them():
    doc = json.loads(rc.render(rc.plan(desired_with_external(), observed(found=(FOUND_NET,))), "json"))
    assert doc["summary"]["read"] == 1
    assert doc["reads"] == [
        {
            "address": "network/default",
            "kind": "network",
            "action": "read",
            "fields": {"cidr": "172.31.0.0/16", "tags": {}, "network_id": "net-0"},
        }
    ]
    assert [s["address"] for s in doc["steps"]] == ["server/web"]


# --- adoption --------------------------------------------------------------------------------------------------------

HAND_MADE = Network("core", "10.0.0.0/16", {"made": "by hand"}, network_id="net-7")


def test_adopting_a_found_object_that_matches_is_one_adopt_step():
    desired = rc.State([Network("core", "10.0.0.0/16", {"made": "by hand"})])
    p = rc.plan(desired, observed(found=(HAND_MADE,)), adopt=["network/core"])
    change = p.change("network/core")
    assert (change.action, change.before, change.changed_fields) == (Action.ADOPT, HAND_MADE, ())
    assert [str(s) for s in p.steps] == ["adopt network/core"]
    assert p.summary()[Action.ADOPT] == 1 and p.unchanged == 0


def test_adopting_a_found_object_that_differs_adopts_then_updates():
    desired = rc.State([Network("core", "10.0.0.0/16", {"env": "prod"}), Server("web", rc.ref(Network, "core"), "s")])
    p = rc.plan(desired, observed(found=(HAND_MADE,)), adopt=[rc.ref(Network, "core")])
    assert p.change("network/core").changed_fields == ("tags",)
    assert [str(s) for s in p.steps] == ["adopt network/core", "update network/core", "create server/web"]
    update = rc.Step("network/core", Action.UPDATE)
    assert p.predecessors[update] == (rc.Step("network/core", Action.ADOPT),)
    assert p.predecessors[rc.Step("server/web", Action.CREATE)] == (update,)
    text = rc.render(p)
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete, 1 to adopt, 0 unchanged." in text
    assert "=> network/core  (adopt: exists, not managed yet; then update tags)" in text
    assert "      tags: {'made': 'by hand'} -> {'env': 'prod'}" in text
    assert json.loads(rc.render(p, "json"))["summary"]["adopt"] == 1


def test_adopting_an_object_already_listed_is_a_no_op_so_plans_converge():
    desired = rc.State([HAND_MADE])
    assert rc.plan(desired, observed(HAND_MADE), adopt=["network/core"]).is_empty


def test_nothing_to_adopt_is_a_typed_error_naming_the_addresses():
    desired = rc.State([Network("core", "1"), Network("edge", "2")])
    with pytest.raises(rc.NothingToAdoptError, match="nothing to adopt at network/core, network/edge") as err:
        rc.plan(desired, rc.State(), adopt=["network/core", "network/edge"])
    assert err.value.addresses == (rc.Address("network", "core"), rc.Address("network", "edge"))


def test_adopting_what_the_desired_state_does_not_manage_is_refused():
    with pytest.raises(rc.PlanOptionError, match="does not manage"):
        rc.plan(rc.State([DEFAULT]), observed(found=(FOUND_NET,)), adopt=["network/default"])


def test_a_found_object_desired_without_adopt_is_refused_rather_than_created():
    with pytest.raises(rc.PlanOptionError, match=r"exists but is not managed.*adopt="):
        rc.plan(rc.State([Network("core", "10.0.0.0/16")]), observed(found=(HAND_MADE,)))


def test_a_found_object_that_must_be_replaced_is_a_replacement():
    desired = rc.State([Network("core", "10.9.0.0/16")])
    p = rc.plan(desired, observed(found=(HAND_MADE,)), adopt=["network/core"])
    assert p.change("network/core").action is Action.REPLACE
    assert [str(s) for s in p.steps] == ["delete network/core", "create network/core"]


def test_a_replaced_dependency_turns_an_adoption_into_adopt_and_update():
    server = Server("web", rc.ref(Network, "core"), "small")
    desired = rc.State([Network("core", "10.9.0.0/16"), server, Disk("d", rc.ref(Server, "web"))])
    actual = observed(Network("core", "10.0.0.0/16"), found=(server,))
    p = rc.plan(desired, actual, adopt=["server/web"])
    change = p.change("server/web")
    assert change.action is Action.ADOPT
    assert change.replaced_refs == (rc.Address("network", "core"),)
    assert "adopt server/web" in [str(s) for s in p.steps] and "update server/web" in [str(s) for s in p.steps]
