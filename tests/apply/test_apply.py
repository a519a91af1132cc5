"""Serial apply: order, failure isolation, context resolution, result state and errors."""

from __future__ import annotations

import pytest

import reconcile as rc
from reconcile import Action, Step, StepStatus
from reconcile.testing import InMemoryProvider, in_memory_world
from tests.support.models import Disk, Network, Server

NET = rc.ref(Network, "core")


class Boom(Exception):
    pass


class FailingProvider(InMemoryProvider):
    """Fails create/update/delete for chosen addresses."""

    def __init__(self, cls, fail=(), initial=()):
        super().__init__(cls, initial)
        self.fail = {rc.Address.parse(a) for a in fail}

    def _maybe_fail(self, obj):
        if rc.address_of(obj) in self.fail:
            raise Boom(f"cannot touch {rc.address_of(obj)}")

    def create(self, desired, ctx):
        self._maybe_fail(desired)
        return super().create(desired, ctx)

    def update(self, actual, desired, ctx):
        self._maybe_fail(desired)
        return super().update(actual, desired, ctx)

    def delete(self, actual, ctx):
        self._maybe_fail(actual)
        return super().delete(actual, ctx)


class NeedsNetworkId(InMemoryProvider):
    def create(self, desired, ctx):
        self.seen = ctx.resolve(desired.network).network_id
        return super().create(desired, ctx)


def test_apply_creates_in_order_and_resolves_refs_through_the_context():
    world = {"network": InMemoryProvider(Network), "server": NeedsNetworkId(Server)}
    desired = rc.State([Network("core", "x"), Server("web", NET, "small")])
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert result.ok, result.errors
    assert world["server"].seen == result.state["network/core"].network_id is not None
    assert result.state["server/web"].server_id is not None
    assert rc.plan(desired, rc.observe(world)).is_empty


def test_failing_step_skips_exactly_its_descendants():
    world = {
        "network": FailingProvider(Network, fail=["network/core"]),
        "server": InMemoryProvider(Server),
        "disk": InMemoryProvider(Disk),
    }
    desired = rc.State(
        [
            Network("core", "x"),
            Server("web", NET, "small"),
            Disk("d", rc.ref(Server, "web")),
            Network("edge", "y"),
            Server("api", rc.ref(Network, "edge"), "small"),
        ]
    )
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert not result.ok
    failed = Step("network/core", Action.CREATE)
    assert result.failed == (failed,)
    assert isinstance(result.errors[failed], Boom)
    assert set(result.skipped) == {Step("server/web", Action.CREATE), Step("disk/d", Action.CREATE)}
    for s in result.skipped:
        assert result.outcomes[s].cause == failed
    assert set(result.succeeded) == {Step("network/edge", Action.CREATE), Step("server/api", Action.CREATE)}
    assert set(result.state.addresses) == {rc.Address("network", "edge"), rc.Address("server", "api")}


def test_failed_delete_keeps_the_resource_and_skips_dependency_deletes():
    initial = [Network("core", "x", network_id="n"), Server("web", NET, "small", server_id="s")]
    world = {
        "network": InMemoryProvider(Network, initial[:1]),
        "server": FailingProvider(Server, fail=["server/web"], initial=initial[1:]),
    }
    result = rc.apply(rc.plan(rc.State(), rc.observe(world)), world)
    assert result.failed == (Step("server/web", Action.DELETE),)
    assert result.skipped == (Step("network/core", Action.DELETE),)
    assert len(result.state) == 2
    assert world["network"].methods_called("delete") == []


def test_missing_provider_raises_before_anything_runs():
    world = {"network": InMemoryProvider(Network)}
    desired = rc.State([Network("core", "x"), Server("web", NET, "small"), Disk("d", rc.ref(Server, "web"))])
    with pytest.raises(rc.MissingProviderError, match="no provider for kind\\(s\\): disk, server") as e:
        rc.apply(rc.plan(desired, rc.State()), world)
    assert e.value.kinds == ("disk", "server")
    assert world["network"].calls == []


def test_provider_returning_a_wrong_address_fails_the_step():
    class Liar(InMemoryProvider):
        def create(self, desired, ctx):
            return Network("other", desired.cidr)

    world = {"network": Liar(Network)}
    result = rc.apply(rc.plan(rc.State([Network("core", "x")]), rc.State()), world)
    (err,) = result.errors.values()
    assert isinstance(err, rc.ProviderContractError)
    assert "returned a Network at network/other, expected the resource at network/core" in str(err)


def test_provider_returning_a_non_resource_fails_the_step():
    class Liar(InMemoryProvider):
        def create(self, desired, ctx):
            return None

    result = rc.apply(rc.plan(rc.State([Network("core", "x")]), rc.State()), {"network": Liar(Network)})
    (err,) = result.errors.values()
    assert isinstance(err, rc.ProviderContractError) and "returned None (expected a resource of kind" in str(err)


def test_resolve_of_a_missing_address_raises_unresolved_ref():
    class Curious(InMemoryProvider):
        def create(self, desired, ctx):
            ctx.resolve("network/nowhere")
            raise AssertionError("unreachable")

    result = rc.apply(rc.plan(rc.State([Network("core", "x")]), rc.State()), {"network": Curious(Network)})
    (err,) = result.errors.values()
    assert isinstance(err, rc.UnresolvedRefError) and "network/nowhere" in str(err)


def test_replace_reports_the_old_object():
    world = in_memory_world(Network, initial=[Network("core", "10.0.0.0/16", network_id="old-id")])
    result = rc.apply(rc.plan(rc.State([Network("core", "10.1.0.0/16")]), rc.observe(world)), world)
    assert result.ok
    assert result.replaced[rc.Address("network", "core")].network_id == "old-id"
    assert result.state["network/core"].network_id != "old-id"
    assert result.outcomes[Step("network/core", Action.CREATE)].status is StepStatus.SUCCEEDED


def test_observe_rejects_a_provider_listing_another_kind():
    class Wrong(InMemoryProvider):
        def list(self):
            return [Server("web", NET, "small")]

    with pytest.raises(rc.ProviderContractError, match="provider for kind 'network' listed .* of kind 'server'"):
        rc.observe({"network": Wrong(Network)})


def test_observe_tolerates_refs_to_missing_objects():
    world = in_memory_world(Network, Server, initial=[Server("web", NET, "small")])
    actual = rc.observe(world)
    assert len(actual) == 1 and actual.dependencies("server/web") == ()


def test_apply_result_repr_and_ok():
    world = in_memory_world(Network)
    result = rc.apply(rc.plan(rc.State([Network("core", "x")]), rc.State()), world)
    assert result.ok and repr(result) == "<ApplyResult ok=True succeeded=1>"


@pytest.mark.parametrize(
    "odd",
    [Server("web", NET, "small"), "network/x", Network, None],
    ids=["another kind", "a string", "the class", "None"],
)
def test_observe_refuses_an_odd_item_listed_after_many_good_ones(odd: object) -> None:
    """The check is made once per class listed: an item of another class late in a long listing is still refused."""

    class Late(InMemoryProvider):
        def list(self):
            return [*(Network(f"n{i}", "10.0.0.0/16") for i in range(500)), odd, Network("last", "10.0.0.0/16")]

    with pytest.raises(rc.ProviderContractError, match="provider for kind 'network' listed"):
        rc.observe({"network": Late(Network)})
