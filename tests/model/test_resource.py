"""The resource model: field roles, addresses, refs and declaration errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from tests.support.models import LoadBalancer, Network, Record, Server


def test_field_roles_are_recorded_on_the_type():
    rt = rc.resource_type(Network)
    assert rt.kind == "network"
    assert rt.identity == ("name",)
    assert rt.spec == ("cidr", "tags")
    assert rt.compared == ("cidr", "tags")
    assert rt.computed == ("network_id",)
    assert rt.replace_on_change == {"cidr"}


def test_ignored_and_sensitive_fields():
    from tests.support.models import Disk

    rt = rc.resource_type(Disk)
    assert "note" in rt.spec and "note" not in rt.compared
    assert rc.resource_type(Server).sensitive == {"password"}


def test_resources_are_frozen_values():
    n = Network("core", "10.0.0.0/16")
    assert n == Network("core", "10.0.0.0/16")
    with pytest.raises(AttributeError):
        n.cidr = "x"  # type: ignore[misc]


def test_computed_fields_are_keyword_only_and_default_to_none():
    n = Network("core", "10.0.0.0/16", network_id="n-1")
    assert n.network_id == "n-1"
    assert Network("core", "10.0.0.0/16").network_id is None


def test_repr_redacts_sensitive_fields():
    s = Server("web", rc.ref(Network, "core"), "small", password="hunter2")
    assert "hunter2" not in repr(s)
    assert "(sensitive)" in repr(s)


def test_address_of_single_and_composite_identity():
    assert rc.address_of(Network("core", "x")) == rc.Address("network", "core")
    a = rc.address_of(Record("example.com", "www", "1.2.3.4"))
    assert a == rc.Address("record", ("example.com", "www"))
    assert str(a) == "record/example.com/www"


@pytest.mark.parametrize(
    "key",
    [("a/b",), ("%2F",), ("",), ("a", ""), ("100%",), ("x/y/z", "%25/"), (" sp ace ",), ("ü/ß",)],
)
def test_address_round_trips_awkward_identity_values(key):
    a = rc.Address("record", key)
    assert rc.Address.parse(str(a)) == a
    assert str(rc.Address.parse(str(a))) == str(a)


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_every_address_round_trips_through_its_string_form(key):
    """For all identity values, parse(str(address)) == address."""
    a = rc.Address("k", tuple(key))
    assert rc.Address.parse(str(a)) == a


def test_distinct_keys_have_distinct_strings():
    assert str(rc.Address("k", ("a/b",))) != str(rc.Address("k", ("a", "b")))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nokey", "expected 'kind/key'"),
        ("k/a%zz", "bad escape"),
        ("bad kind/x", "invalid kind"),
        ("/x", "invalid kind"),
    ],
)
def test_address_parse_errors_name_the_problem(text, needle):
    with pytest.raises(rc.AddressError, match=needle):
        rc.Address.parse(text)


def test_ref_forms_agree():
    n = Network("core", "x")
    expected = rc.Ref(rc.Address("network", "core"))
    assert rc.ref(Network, "core") == expected
    assert rc.ref(n) == expected
    assert rc.ref("network/core") == expected
    assert rc.ref(rc.Address("network", "core")) == expected


def test_ref_with_wrong_number_of_identity_values():
    with pytest.raises(rc.AddressError, match=r"needs 2 identity value\(s\) \(zone, name\), got 1"):
        rc.ref(Record, "example.com")


def test_resource_without_identity_is_rejected():
    with pytest.raises(rc.ResourceDefinitionError, match="Nameless.*no identity field"):

        @rc.resource(kind="nameless")
        class Nameless:
            size: int = rc.spec()


def test_reserved_field_names_are_rejected():
    with pytest.raises(rc.ResourceDefinitionError, match="'depends_on' is reserved"):

        @rc.resource(kind="bad")
        class Bad:
            name: str = rc.identity()
            depends_on: str = rc.spec()


def test_invalid_kind_is_rejected():
    with pytest.raises(rc.ResourceDefinitionError, match="invalid kind 'a/b'"):

        @rc.resource(kind="a/b")
        class Bad:
            name: str = rc.identity()


def test_non_resource_is_named_in_the_error():
    with pytest.raises(rc.ResourceDefinitionError, match="int 3 is not a resource"):
        rc.resource_type(3)


def test_depends_on_accepts_refs_addresses_and_strings():
    lb = LoadBalancer("lb", depends_on=[rc.ref(Network, "core"), "server/web", rc.Address("network", "b")])
    assert lb.depends_on == (
        rc.Address("network", "core"),
        rc.Address("server", "web"),
        rc.Address("network", "b"),
    )


def test_spec_rejects_default_and_factory_together():
    with pytest.raises(rc.ResourceDefinitionError, match="default or factory"):
        rc.spec(default=1, factory=list)


def test_refers_to_finds_a_ref_wherever_iter_refs_does():
    from reconcile._model import iter_refs, refers_to

    a, b = rc.Address("network", "a"), rc.Address("network", "b")
    values = [
        rc.Ref(a),
        [rc.Ref(b), rc.Ref(a)],
        (1, "x", [{"k": rc.Ref(a)}]),
        {"k": (rc.Ref(b),)},
        frozenset({rc.Ref(a)}),
        {rc.Ref(b)},
        "network/a",
        a,
        [a],
        None,
        {"network/a": 1},
        [],
    ]
    for value in values:
        for target in (a, b):
            assert refers_to(value, target) == any(r.address == target for _p, r in iter_refs(value, "f")), value
