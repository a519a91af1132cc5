"""Bad input to the model API gets a ``ReconcileError`` of the right kind, naming the problem."""

from __future__ import annotations

import pytest

import reconcile as rc
from tests.support.models import LoadBalancer, Network


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (None, r"depends_on: expected a Ref, an Address, an address string or a list of them, got NoneType; leave"),
        (5, "depends_on: expected .* got int"),
        ({"network/core": 1}, "depends_on: expected .* got dict"),
        (b"network/core", "depends_on: expected .* got bytes"),
        ([5], "expected an Address, an address string or a Ref, got int"),
        (["nokey"], "malformed address 'nokey'"),
    ],
)
def test_bad_depends_on_is_an_address_error(value, needle):
    with pytest.raises(rc.AddressError, match=needle):
        LoadBalancer("lb", depends_on=value)


def test_depends_on_may_be_empty():
    assert LoadBalancer("lb", depends_on=()).depends_on == ()
    assert LoadBalancer("lb", depends_on=[]).depends_on == ()
    assert LoadBalancer("lb").depends_on == ()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (None, r"lifecycle: expected a reconcile.Lifecycle\(...\), got NoneType; leave lifecycle= out"),
        (5, r"lifecycle: expected a reconcile.Lifecycle\(...\), got int$"),
        ({}, r"lifecycle: expected a reconcile.Lifecycle\(...\), got dict$"),
        ({"protect": True}, r"got dict"),
    ],
)
def test_bad_lifecycle_is_a_lifecycle_error(value, needle):
    with pytest.raises(rc.LifecycleError, match=needle):
        Network("core", "x", lifecycle=value)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"ignore": 5}, "Lifecycle ignore: expected a field path or a list of them, got int"),
        ({"ignore": {"tags": 1}}, "Lifecycle ignore: expected a field path or a list of them, got dict"),
        ({"ignore": [5]}, "Lifecycle ignore: expected a field path string, got int"),
        ({"ignore": ["tags..x"]}, "Lifecycle ignore: "),
        ({"protect": "no"}, "Lifecycle protect: expected True, False or None, got str"),
        ({"protect": 0}, "Lifecycle protect: expected True, False or None, got int"),
        ({"create_before_delete": "yes"}, "Lifecycle create_before_delete: expected True, False or None, got str"),
        ({"replace_triggered_by": 5}, "Lifecycle replace_triggered_by: expected .* got int"),
        ({"replace_triggered_by": {"network/core": "cidr"}}, "Lifecycle replace_triggered_by: expected .* got dict"),
    ],
)
def test_bad_lifecycle_options_are_lifecycle_errors(options, needle):
    with pytest.raises(rc.LifecycleError, match=needle):
        rc.Lifecycle(**options)


def test_good_lifecycle_options_are_kept():
    lc = rc.Lifecycle(protect=False, create_before_delete=True, ignore="tags.env", replace_triggered_by="network/a")
    assert (lc.protect, lc.create_before_delete, lc.ignore) == (False, True, ("tags.env",))
    assert lc.replace_triggered_by == (rc.Trigger(rc.Address("network", "a")),)
    assert Network("core", "x", lifecycle=lc).lifecycle is lc


def test_a_trigger_with_a_bad_target_or_path_is_refused():
    with pytest.raises(rc.AddressError, match="got int"):
        rc.Trigger(5)  # type: ignore[arg-type]
    with pytest.raises(rc.LifecycleError, match="Trigger path: expected a field path string, got int"):
        rc.Trigger("network/a", 5)  # type: ignore[arg-type]


def test_positional_kind_is_refused_with_a_hint_to_use_kind():
    with pytest.raises(
        rc.ResourceDefinitionError, match=r"the kind is a keyword argument: write @resource\(kind='network'\)"
    ):
        rc.resource("network")  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"kind": 5}, "kind must be a string, got int"), ({"ignore": "tags"}, "ignore takes a list of field paths")],
)
def test_bad_resource_options_are_refused(kwargs, needle):
    with pytest.raises(rc.ResourceDefinitionError, match=needle):
        rc.resource(**kwargs)


def test_decorating_something_other_than_a_class_is_refused():
    with pytest.raises(rc.ResourceDefinitionError, match="decorates a class, got function"):
        rc.resource(kind="x")(lambda: None)  # type: ignore[type-var]


def test_an_ignore_path_that_is_not_a_string_is_refused():
    with pytest.raises(rc.ResourceDefinitionError, match="ignore: a field path is a string, got int"):

        @rc.resource(kind="x", ignore=[5])  # type: ignore[list-item]
        class X:
            name: str = rc.identity()


def test_a_factory_that_is_not_callable_is_refused():
    with pytest.raises(rc.ResourceDefinitionError, match="factory must be callable, got list"):
        rc.spec(factory=[])  # type: ignore[call-overload]


def test_ref_takes_an_address_or_its_string_form():
    assert rc.Ref("network/core") == rc.ref(Network, "core")
    assert type(rc.Ref("network/core").address) is rc.Address
    assert rc.Ref(rc.Address("network", "core")) == rc.ref(Network, "core")


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (5, r"Ref\(\) takes an Address or an address string \('network/core'\), got int"),
        (("network", ("core",)), "got tuple"),
        ("nokey", "malformed address 'nokey'"),
        ("network/a%zz", "bad escape"),
    ],
)
def test_ref_refuses_what_is_not_an_address(value, needle):
    with pytest.raises(rc.AddressError, match=needle):
        rc.Ref(value)


def test_a_ref_built_from_a_string_in_a_ref_field_is_checked_like_any_ref():
    from tests.support.models import Server

    ok = Server("web", rc.Ref("network/core"), "small")
    assert rc.State([ok, Network("core", "x")]).dependencies(rc.Address("server", "web")) == (
        rc.Address("network", "core"),
    )
    wrong_kind = Server("web", rc.Ref("server/other"), "small")
    with pytest.raises(rc.InvalidStateError, match="field 'network' expects"):
        rc.State([wrong_kind, Server("other", rc.ref(Network, "core"), "small"), Network("core", "x")])
