"""Create-before-delete replacement: ordering, forcing onto dependencies, and what apply does with two objects."""

from __future__ import annotations

from typing import Any

import pytest

import reconcile as rc
from reconcile.testing import InMemoryProvider
from tests.support.planner import Plain, Twin, log_of, world

C, U, D = rc.Action.CREATE, rc.Action.UPDATE, rc.Action.DELETE


@rc.resource(kind="network", create_before_delete=True)
class Network:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    network_id: str | None = rc.computed()


@rc.resource(kind="server")
class Server:
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec()
    size: str = rc.spec(default="small")


def steps(plan: rc.Plan) -> list[str]:
    return [str(s) for s in plan.steps]


def test_create_before_delete_kind_creates_new_then_moves_dependents_then_deletes_old() -> None:
    actual = rc.State([Network("core", "10.0.0.0/16", network_id="n-1"), Server("web", rc.ref(Network, "core"))])
    desired = rc.State([Network("core", "10.1.0.0/16"), Server("web", rc.ref(Network, "core"))])
    plan = rc.plan(desired, actual)
    assert steps(plan) == ["create network/core", "update server/web", "delete network/core"]
    assert plan.predecessors[rc.Step("network/core", D)] == (rc.Step("network/core", C), rc.Step("server/web", U))
    change = plan.change("network/core")
    assert change.action is rc.Action.REPLACE
    assert change.create_before_delete and change.forced_by is None
    assert change.marker == "+/-"
    assert "+/- network/core  (replace: cidr forces replacement; create before delete)" in rc.render(plan)


def test_delete_then_create_stays_the_default() -> None:
    actual = rc.State([Plain("a", ver=0)])
    plan = rc.plan(rc.State([Plain("a", ver=1)]), actual)
    assert steps(plan) == ["delete plain/a", "create plain/a"]
    assert not plan.change("plain/a").create_before_delete
    assert plan.change("plain/a").marker == "-/+"


def test_lifecycle_turns_create_before_delete_on_and_off_per_instance() -> None:
    first = rc.Lifecycle(create_before_delete=True)
    on = rc.plan(rc.State([Plain("a", ver=1, lifecycle=first)]), rc.State([Plain("a")]))
    assert steps(on) == ["create plain/a", "delete plain/a"]
    last = rc.Lifecycle(create_before_delete=False)
    off = rc.plan(rc.State([Twin("t", ver=1, lifecycle=last)]), rc.State([Twin("t")]))
    assert steps(off) == ["delete twin/t", "create twin/t"]


def test_create_before_delete_is_forced_onto_a_replaced_dependency() -> None:
    # twin/t refs plain/p; both replaced. Deleting plain/p first would need old
    # twin/t gone, which waits for new twin/t, which needs new plain/p: a cycle.
    actual = rc.State([Plain("p"), Twin("t", refs=(rc.ref(Plain, "p"),))])
    desired = rc.State([Plain("p", ver=1), Twin("t", ver=1, refs=(rc.ref(Plain, "p"),))])
    plan = rc.plan(desired, actual)
    forced = plan.change("plain/p")
    assert forced.create_before_delete and forced.forced_by == rc.Address("twin", "t")
    assert steps(plan) == ["create plain/p", "create twin/t", "delete twin/t", "delete plain/p"]
    assert "(replace: ver forces replacement; create before delete, forced by twin/t)" in rc.render(plan)


def test_forcing_walks_through_deleted_resources_of_the_old_graph() -> None:
    # Old twin/t -> plain/x (deleted) -> plain/y (replaced); new twin/t refs plain/y directly.
    actual = rc.State([Plain("y"), Plain("x", refs=(rc.ref(Plain, "y"),)), Twin("t", refs=(rc.ref(Plain, "x"),))])
    desired = rc.State([Plain("y", ver=1), Twin("t", ver=1, refs=(rc.ref(Plain, "y"),))])
    plan = rc.plan(desired, actual)
    assert plan.change("plain/y").create_before_delete
    assert plan.change("plain/y").forced_by == rc.Address("twin", "t")
    order = steps(plan)
    assert order.index("delete twin/t") < order.index("delete plain/x") < order.index("delete plain/y")


def test_an_unreplaced_dependency_is_left_alone() -> None:
    actual = rc.State([Plain("p"), Twin("t", refs=(rc.ref(Plain, "p"),))])
    desired = rc.State([Plain("p", size=5), Twin("t", ver=1, refs=(rc.ref(Plain, "p"),))])
    plan = rc.plan(desired, actual)
    assert plan.change("plain/p").action is U
    assert steps(plan) == ["update plain/p", "create twin/t", "delete twin/t"]


def test_an_update_waiting_on_an_old_dependent_yields_to_create_before_delete() -> None:
    # Old twin/a refs plain/x, which refs plain/b; new plain/b refs twin/a; plain/x goes.
    # "update b after delete x" (it may lift a constraint) would close a cycle with
    # "delete old a after b moved to new a", so it is the edge that gives way.
    actual = rc.State([Plain("b"), Plain("x", refs=(rc.ref(Plain, "b"),)), Twin("a", refs=(rc.ref(Plain, "x"),))])
    desired = rc.State([Twin("a", ver=1), Plain("b", refs=(rc.ref(Twin, "a"),))])
    plan = rc.plan(desired, actual)
    order = steps(plan)
    assert order.index("create twin/a") < order.index("update plain/b") < order.index("delete twin/a")
    assert order.index("delete twin/a") < order.index("delete plain/x")
    assert rc.Step("plain/x", D) not in plan.predecessors.get(rc.Step("plain/b", U), ())


def test_apply_keeps_the_old_object_reachable_until_it_is_deleted() -> None:
    providers = world(Network, Server)
    providers["network"].objects[rc.Address("network", "core")] = Network("core", "10.0.0.0/16", network_id="n-old")
    providers["server"].objects[rc.Address("server", "web")] = Server("web", rc.ref(Network, "core"))
    seen: list[Any] = []

    class Watching(InMemoryProvider[Server]):
        def update(self, actual: Server, desired: Server, ctx: rc.Context) -> Server:
            seen.append(ctx.resolve(desired.network))
            return super().update(actual, desired, ctx)

    watching = Watching(Server, providers["server"].objects.values())
    providers["server"] = watching  # type: ignore[assignment]
    desired = rc.State([Network("core", "10.1.0.0/16"), Server("web", rc.ref(Network, "core"), "large")])
    plan = rc.plan(desired, rc.observe(providers))
    result = rc.apply(plan, providers)
    assert result.ok
    assert seen[0].cidr == "10.1.0.0/16" and seen[0].network_id != "n-old"  # the dependent sees the new object
    assert result.replaced[rc.Address("network", "core")].network_id == "n-old"
    assert result.state["network/core"].cidr == "10.1.0.0/16"
    assert providers["network"].objects[rc.Address("network", "core")].cidr == "10.1.0.0/16"
    assert not providers["network"].deposed


def test_unique_names_make_the_create_fail_and_leave_the_old_object_current() -> None:
    old = Network("core", "10.0.0.0/16", network_id="n-old")
    providers = world(Network, Server, unique_names=True)
    providers["network"].objects[rc.address_of(old)] = old
    providers["server"].objects[rc.Address("server", "web")] = Server("web", rc.ref(Network, "core"))
    desired = rc.State([Network("core", "10.1.0.0/16"), Server("web", rc.ref(Network, "core"), "large")])
    result = rc.apply(rc.plan(desired, rc.observe(providers)), providers)
    assert result.failed == (rc.Step("network/core", C),)
    error = result.errors[rc.Step("network/core", C)]
    assert "network/core already exists" in str(error) and "cannot be created before" in str(error)
    assert set(result.skipped) == {rc.Step("server/web", U), rc.Step("network/core", D)}
    assert result.state["network/core"] == old
    assert providers["network"].objects[rc.address_of(old)] == old
    assert not result.replaced and not result.deposed
    assert log_of(providers) == ["create network/core"]


def test_a_failed_delete_leaves_the_old_object_deposed_beside_the_new_one() -> None:
    old = Network("core", "10.0.0.0/16", network_id="n-old")

    class NoDelete(InMemoryProvider[Network]):
        def delete(self, actual: Network, ctx: rc.Context) -> None:
            raise RuntimeError("delete refused")

    providers: dict[str, Any] = {"network": NoDelete(Network, [old], unique_names=False)}
    result = rc.apply(rc.plan(rc.State([Network("core", "10.1.0.0/16")]), rc.observe(providers)), providers)
    assert result.failed == (rc.Step("network/core", D),)
    assert result.deposed == {rc.Address("network", "core"): old}
    assert result.state["network/core"].cidr == "10.1.0.0/16"
    assert not result.replaced
    assert providers["network"].deposed[rc.Address("network", "core")] == [old]


def test_the_fake_refuses_to_delete_what_it_does_not_hold() -> None:
    provider = InMemoryProvider(Network, unique_names=False)
    with pytest.raises(LookupError, match="network/core does not exist"):
        provider.delete(Network("core", "x"), rc.Context(rc.Step("network/core", D), lambda a: None))
