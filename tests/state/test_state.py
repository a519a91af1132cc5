"""State validation: every problem reported at once, each naming resource, field and value."""

from __future__ import annotations

import pytest

import reconcile as rc
from tests.support.models import Disk, LoadBalancer, Network, Record, Server


def problems(excinfo: pytest.ExceptionInfo[rc.InvalidStateError]) -> list[rc.StateProblem]:
    return list(excinfo.value.exceptions)


def test_valid_state_builds_its_graph():
    s = rc.State([Network("core", "x"), Server("web", rc.ref(Network, "core"), "small")])
    assert len(s) == 2
    assert s.dependencies("server/web") == (rc.Address("network", "core"),)
    assert s.dependents("network/core") == (rc.Address("server", "web"),)
    assert s["network/core"].cidr == "x"
    assert "server/web" in s and "server/nope" not in s


def test_duplicate_address_shows_both_values():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Network("core", "10.0.0.0/16"), Network("core", "10.9.0.0/16")])
    (p,) = problems(e)
    assert isinstance(p, rc.DuplicateAddressError)
    assert p.address == rc.Address("network", "core")
    assert "network/core" in str(p) and "10.0.0.0/16" in str(p) and "10.9.0.0/16" in str(p)


def test_dangling_ref_names_resource_field_and_target():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Server("web", rc.ref(Network, "missing"), "small")])
    (p,) = problems(e)
    assert isinstance(p, rc.DanglingRefError)
    assert str(p) == "server/web: field 'network' refers to network/missing, which is not in the state"


def test_dangling_ref_inside_list_and_dict_names_the_path():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(
            [
                LoadBalancer("lb", backends=[rc.ref(Server, "a")], routes={"/": rc.ref(Server, "b")}),
            ]
        )
    fields = sorted(p.field for p in problems(e) if isinstance(p, rc.DanglingRefError))
    assert fields == ["backends[0]", "routes['/']"]


def test_dangling_depends_on():
    with pytest.raises(rc.InvalidStateError, match="field 'depends_on' refers to network/x"):
        rc.State([Record("z", "n", "v", depends_on=["network/x"])])


def test_cycle_lists_its_addresses_in_order():
    a = Record("z", "a", "1", depends_on=["record/z/b"])
    b = Record("z", "b", "1", depends_on=["record/z/c"])
    c = Record("z", "c", "1", depends_on=["record/z/a"])
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([a, b, c])
    (p,) = problems(e)
    assert isinstance(p, rc.CycleError)
    assert [str(x) for x in p.cycle] == ["record/z/a", "record/z/b", "record/z/c"]
    assert "record/z/a -> record/z/b -> record/z/c -> record/z/a" in str(p)


def test_self_reference_is_a_cycle():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Record("z", "a", "1", depends_on=["record/z/a"])])
    (p,) = problems(e)
    assert isinstance(p, rc.CycleError) and p.cycle == (rc.Address("record", ("z", "a")),)


def test_wrong_type_names_field_expected_and_value():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Network("core", 42)])  # type: ignore[arg-type]
    (p,) = problems(e)
    assert isinstance(p, rc.FieldTypeError)
    assert str(p) == "network/core: field 'cidr' expects str, got int 42"


def test_wrong_nested_type_names_the_path():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Network("core", "x", {"env": 3})])  # type: ignore[dict-item]
    (p,) = problems(e)
    assert isinstance(p, rc.FieldTypeError)
    assert p.field == "tags['env']"
    assert "got int 3" in str(p)


def test_ref_to_wrong_kind_is_a_type_error():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(
            [Network("core", "x"), Server("web", rc.ref(Network, "core"), "s"), Disk("d", rc.ref(Network, "core"))]
        )  # type: ignore[arg-type]
    (p,) = problems(e)
    assert isinstance(p, rc.FieldTypeError)
    assert "a ref to kind 'server', not 'network'" in str(p)


def test_sensitive_wrong_value_is_not_shown():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Network("core", "x"), Server("web", rc.ref(Network, "core"), "s", password=123456789)])  # type: ignore[arg-type]
    assert "123456789" not in str(e.value)
    assert "field 'password' expects str" in str(e.value)


def test_bool_is_not_an_int():
    with pytest.raises(rc.InvalidStateError, match="field 'gb' expects int, got bool True"):
        rc.State([Network("n", "x"), Server("s", rc.ref(Network, "n"), "m"), Disk("d", rc.ref(Server, "s"), True)])


def test_all_problems_are_reported_at_once():
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(
            [
                Network("core", "x"),
                Network("core", "y"),
                Network("bad", 1),  # type: ignore[arg-type]
                Server("web", rc.ref(Network, "nowhere"), "small"),
                Record("z", "a", "1", depends_on=["record/z/a"]),
            ]
        )
    kinds = sorted(type(p).__name__ for p in problems(e))
    assert kinds == ["CycleError", "DanglingRefError", "DuplicateAddressError", "FieldTypeError"]
    text = str(e.value)
    assert text.startswith("invalid state (4 problems):")
    for needle in ("network/core", "network/bad", "server/web", "record/z/a"):
        assert needle in text


def test_problems_can_be_caught_by_kind_with_except_star():
    caught = []
    try:
        rc.State([Server("web", rc.ref(Network, "nowhere"), "small")])
    except* rc.DanglingRefError as group:
        caught.extend(group.exceptions)
    assert len(caught) == 1


def test_non_resource_item_is_rejected():
    with pytest.raises(rc.ResourceDefinitionError, match="not a resource"):
        rc.State([object()])


def test_allow_dangling_keeps_the_resource_without_an_edge():
    s = rc.State([Server("web", rc.ref(Network, "gone"), "small")], allow_dangling=True)
    assert s.dependencies("server/web") == ()


def test_with_resources_and_without_return_new_states():
    s = rc.State([Network("core", "x")])
    s2 = s.with_resources(Network("core", "y"), Network("edge", "z"))
    assert s["network/core"].cidr == "x"
    assert s2["network/core"].cidr == "y" and len(s2) == 2
    assert s2.without("network/edge") == rc.State([Network("core", "y")])
    with pytest.raises(rc.InvalidStateError):
        rc.State([Network("core", "x"), Server("web", rc.ref(Network, "core"), "s")]).without("network/core")


def test_state_graph_to_networkx():
    s = rc.State([Network("core", "x"), Server("web", rc.ref(Network, "core"), "small")])
    g = s.to_networkx()
    assert list(g.edges) == [(rc.Address("network", "core"), rc.Address("server", "web"))]
