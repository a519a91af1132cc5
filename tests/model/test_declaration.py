"""Declaring kinds: the ``Resource`` base class, annotations resolved in their scope, refs that cannot be followed."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import attrs
import pytest

import reconcile as rc
from tests.support.models import Network


def test_a_self_referencing_kind_declared_in_a_function_resolves_its_annotations():
    def declare() -> type:
        @rc.resource(kind="chain")
        class Chain:
            name: str = rc.identity()
            nxt: rc.Ref[Chain] | None = rc.spec(default=None)

        return Chain

    chain = declare()
    state = rc.State([chain("a", rc.ref(chain, "b")), chain("b")])
    assert state.dependencies(rc.Address("chain", "a")) == (rc.Address("chain", "b"),)
    with pytest.raises(rc.InvalidStateError, match="refers to chain/c"):
        rc.State([chain("a", rc.ref(chain, "c"))])


def test_kinds_declared_in_one_function_may_refer_to_one_declared_after_them():
    def declare() -> tuple[type, type]:
        @rc.resource(kind="app")
        class App:
            name: str = rc.identity()
            db: rc.Ref[Db] = rc.spec()

        @rc.resource(kind="db")
        class Db:
            name: str = rc.identity()

        return App, Db

    app, db = declare()
    state = rc.State([app("web", rc.ref(db, "main")), db("main")])
    assert state.dependencies(rc.Address("app", "web")) == (rc.Address("db", "main"),)
    # The annotation names a Db, so a ref of another kind is a type error.
    with pytest.raises(rc.InvalidStateError, match="field 'db' expects"):
        rc.State([app("web", rc.ref(Network, "core")), Network("core", "x")])


def test_a_resource_subclass_is_a_resource_like_a_decorated_class():
    class Vpc(rc.Resource, kind="vpc", protect=True, ignore=["tags.owner"]):
        name: str = rc.identity()
        cidr: str = rc.spec(replace_on_change=True)
        tags: dict[str, str] = rc.spec(factory=dict)
        vpc_id: str | None = rc.computed()

    rt = rc.resource_type(Vpc)
    assert (rt.kind, rt.identity, rt.spec, rt.computed) == ("vpc", ("name",), ("cidr", "tags"), ("vpc_id",))
    assert rt.protect and rt.ignore == ("tags.owner",) and rt.replace_on_change == {"cidr"}
    v = Vpc("core", "10.0.0.0/16", vpc_id="vpc-1", depends_on=["network/core"], lifecycle=rc.Lifecycle(protect=False))
    assert rc.address_of(v) == rc.Address("vpc", "core")
    assert v.depends_on == (rc.Address("network", "core"),)
    assert v.lifecycle == rc.Lifecycle(protect=False)
    assert v == Vpc(
        "core", "10.0.0.0/16", vpc_id="vpc-1", depends_on=["network/core"], lifecycle=rc.Lifecycle(protect=False)
    )
    assert isinstance(v, rc.Resource) and attrs.has(Vpc)
    assert not hasattr(v, "__dict__"), "slotted, like decorated kinds"
    with pytest.raises(AttributeError):
        v.cidr = "x"  # type: ignore[misc]


def test_a_resource_subclass_without_kind_takes_its_lowercased_name():
    class Bucket(rc.Resource):
        name: str = rc.identity()

    assert rc.resource_type(Bucket).kind == "bucket"
    assert rc.address_of(Bucket("b")) == rc.Address("bucket", "b")


def test_a_resource_subclass_declared_in_a_function_may_refer_to_itself():
    def declare() -> type:
        class Link(rc.Resource, kind="link"):
            name: str = rc.identity()
            nxt: rc.Ref[Link] | None = rc.spec(default=None)

        return Link

    link = declare()
    state = rc.State([link("a", rc.ref(link, "b")), link("b")])
    assert state.dependencies(rc.Address("link", "a")) == (rc.Address("link", "b"),)


def test_a_resource_subclass_checks_its_declaration_like_the_decorator():
    with pytest.raises(rc.ResourceDefinitionError, match="no identity field"):

        class Nameless(rc.Resource, kind="nameless"):
            size: int = rc.spec()

    with pytest.raises(rc.ResourceDefinitionError, match="invalid kind 'a/b'"):

        class BadKind(rc.Resource, kind="a/b"):
            name: str = rc.identity()

    with pytest.raises(rc.ResourceDefinitionError, match="ignore takes a list of field paths"):

        class BadIgnore(rc.Resource, kind="bad", ignore="tags"):
            name: str = rc.identity()


def test_a_resource_subclass_cannot_also_be_decorated():
    with pytest.raises(rc.ResourceDefinitionError, match="give kind= there"):

        @rc.resource(kind="twice")
        class Twice(rc.Resource):
            name: str = rc.identity()


def test_a_resource_subclass_may_derive_from_another_one():
    class Base(rc.Resource, kind="base"):
        name: str = rc.identity()
        size: int = rc.spec(default=1)

    class Derived(Base, kind="derived"):
        zone: str = rc.spec(default="a")

    d = Derived("x", 2, "b")
    assert rc.address_of(d) == rc.Address("derived", "x")
    assert rc.resource_type(Derived).spec == ("size", "zone")
    assert rc.resource_type(Base).kind == "base"


def test_a_ref_identity_field_is_refused_at_declaration():
    with pytest.raises(rc.ResourceDefinitionError, match="identity field 'vpc' is a Ref"):

        @rc.resource(kind="sg")
        class Sg:
            vpc: rc.Ref[Network] = rc.identity()
            name: str = rc.identity()

    with pytest.raises(rc.ResourceDefinitionError, match="identity field 'vpc' is a Ref"):

        class Sg2(rc.Resource, kind="sg2"):
            vpc: rc.Ref[Network] | None = rc.identity()


@pytest.mark.parametrize(
    "annotation",
    [
        dict[rc.Ref[Network], int],
        Mapping[rc.Ref[Network], str],
        list[dict[rc.Ref[Network], int]],
        dict[str, dict[tuple[str, rc.Ref[Network]], int]],
        dict[rc.Ref[Network] | None, int] | None,
    ],
)
def test_ref_in_a_dict_key_annotation_is_refused_at_declaration(annotation):
    with pytest.raises(rc.ResourceDefinitionError, match="field 'routes' has Ref in a dict key type"):
        rc.resource(kind="keyed")(
            type("Keyed", (), {"__annotations__": {"name": str, "routes": annotation}, "name": rc.identity()})
        )


def test_ref_values_in_dicts_are_still_followed():
    @rc.resource(kind="router")
    class Router:
        name: str = rc.identity()
        routes: dict[str, list[rc.Ref[Network]]] = rc.spec(factory=dict)

    state = rc.State([Router("r", {"a": [rc.ref(Network, "core")]}), Network("core", "x")])
    assert state.dependencies(rc.Address("router", "r")) == (rc.Address("network", "core"),)


def test_a_ref_dict_key_behind_a_forward_reference_is_refused_at_first_use():
    def declare() -> type:
        @rc.resource(kind="later")
        class Later:
            name: str = rc.identity()
            routes: dict[rc.Ref[Target], int] = rc.spec(factory=dict)

        @rc.resource(kind="target")
        class Target:
            name: str = rc.identity()

        return Later

    later = declare()  # Target is not bound yet when Later is declared: checked on first use
    with pytest.raises(rc.ResourceDefinitionError, match="field 'routes' has Ref in a dict key type"):
        rc.State([later("x")])


def test_a_ref_value_used_as_a_dict_key_is_refused():
    @rc.resource(kind="loose")
    class Loose:
        name: str = rc.identity()
        data: Any = rc.spec(default=None)

    with pytest.raises(rc.AddressError, match="a Ref to kind 'network' is used as a dict key"):
        rc.State([Loose("x", {rc.ref(Network, "core"): 1}), Network("core", "x")])
    with pytest.raises(rc.AddressError, match="a Ref to kind 'network' is used as a dict key"):
        rc.State([Loose("x", [{("a", rc.ref(Network, "core")): 1}]), Network("core", "x")])
    # Other keys, and Refs as values, are fine.
    state = rc.State([Loose("x", {"k": rc.ref(Network, "core"), ("a", 1): 2}), Network("core", "x")])
    assert state.dependencies(rc.Address("loose", "x")) == (rc.Address("network", "core"),)


@pytest.mark.parametrize("annotation", [dict[Any, int], dict[object, Any], list[dict[Any, Any]]])
def test_a_ref_value_used_as_a_key_of_a_loosely_keyed_dict_is_refused(annotation):
    keyed = rc.resource(kind="keyed")(
        type(
            "Keyed",
            (),
            {"__annotations__": {"name": str, "data": annotation}, "name": rc.identity(), "data": rc.spec()},
        )
    )

    def wrap(d: dict[Any, Any]) -> Any:
        return [d] if typing.get_origin(annotation) is list else d

    for key in (rc.ref(Network, "core"), ("a", rc.ref(Network, "core"))):
        with pytest.raises(rc.AddressError, match="a Ref to kind 'network' is used as a dict key in field 'data'"):
            rc.State([keyed("x", wrap({key: 1})), Network("core", "x")])
    assert len(rc.State([keyed("x", wrap({("a", 1): 1, "b": 2}))])) == 1


def test_a_resource_subclass_refuses_unknown_or_mistyped_class_keywords():
    with pytest.raises(rc.ResourceDefinitionError, match="unknown class keyword.*'kindd'"):

        class Typo(rc.Resource, kindd="typo"):  # type: ignore[call-arg]
            name: str = rc.identity()

    with pytest.raises(rc.ResourceDefinitionError, match="protect must be True or False, got str"):

        class Flag(rc.Resource, kind="flag", protect="yes"):  # type: ignore[arg-type]
            name: str = rc.identity()


def test_decorator_flags_must_be_bools():
    with pytest.raises(rc.ResourceDefinitionError, match="create_before_delete must be True or False, got int"):
        rc.resource(kind="x", create_before_delete=1)  # type: ignore[arg-type]


class Net(rc.Resource, kind="net"):
    name: str = rc.identity()
    cidr: str = rc.spec(default="10.0.0.0/8")
    net_id: str | None = rc.computed()


class Vm(rc.Resource, kind="vm"):
    name: str = rc.identity()
    net: rc.Ref[Net] = rc.spec()


def test_resource_subclass_instances_plan_apply_save_and_pickle_like_decorated_ones():
    import copy
    import pickle

    from reconcile.testing import InMemoryProvider

    n = Net("a", depends_on=["vm/x"])
    assert pickle.loads(pickle.dumps(n)) == n == copy.deepcopy(n)
    assert attrs.evolve(n, cidr="x").depends_on == (rc.Address("vm", "x"),)
    desired = rc.State([Net("a"), Vm("v", rc.ref(Net, "a"))])
    providers: rc.Providers = {"net": InMemoryProvider(Net), "vm": InMemoryProvider(Vm)}
    plan = rc.plan(desired, rc.observe(providers))
    assert rc.loads(rc.dumps(plan), types=[Net, Vm]) == plan
    assert rc.apply(plan, providers).ok
    assert rc.plan(desired, rc.observe(providers)).is_empty
