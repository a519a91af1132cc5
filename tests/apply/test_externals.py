"""Applying plans that read external objects and adopt found ones, through every executor."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

import reconcile as rc
from reconcile import Action
from tests.support.executors import EXECUTORS, Kit
from tests.support.models import Network, Server
from tests.support.owned import AsyncOwned, OwnedProvider

DEFAULT = rc.external(Network, "default")
FOUND_NET = Network("default", "172.31.0.0/16", network_id="net-0")


@pytest.fixture(params=EXECUTORS)
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    k = Kit(request.param)
    yield k
    k.close()


class ResolvingServers(OwnedProvider):
    """Servers whose create needs the network's id, read through ``ctx.resolve``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resolved: list[Any] = []

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        network = ctx.resolve(desired.network)
        self.resolved.append(network)
        assert network.network_id is not None
        return super().create(desired, ctx)


def world_for(kit: Kit, **providers: OwnedProvider) -> dict[str, Any]:
    if kit.name == "async-native":
        return {k: AsyncOwned(p) for k, p in providers.items()}
    return dict(providers)


def test_an_external_resolves_in_dependents_creates_and_is_never_written(kit):
    networks = OwnedProvider(Network, foreign=[FOUND_NET])
    servers = ResolvingServers(Server)
    world = world_for(kit, network=networks, server=servers)
    desired = rc.State([DEFAULT, Server("web", DEFAULT.ref, "small"), Server("db", DEFAULT.ref, "large")])
    actual = asyncio.run(rc.observe_async(world, desired)) if kit.name == "async-native" else rc.observe(world, desired)
    assert actual.externals[rc.Address("network", "default")].value == FOUND_NET and len(actual) == 0
    result = rc.apply(rc.plan(desired, actual), world, executor=kit.executor())
    assert result.ok, result.errors
    assert servers.resolved == [FOUND_NET, FOUND_NET]
    assert networks.writes() == []
    assert networks.objects == {rc.Address("network", "default"): FOUND_NET} and not networks.owned
    # The result's state keeps the external apart: a plan of nothing from it deletes the servers only.
    assert result.state.externals == actual.externals
    teardown = rc.plan(rc.State(), result.state)
    assert sorted(str(s) for s in teardown.steps) == ["delete server/db", "delete server/web"]
    again = rc.plan(desired, rc.observe(world, desired)) if kit.name != "async-native" else None
    assert again is None or again.is_empty


def test_an_adopted_object_is_owned_then_managed(kit):
    hand_made = Network("core", "10.0.0.0/16", {"made": "by hand"}, network_id="net-7")
    networks = OwnedProvider(Network, foreign=[hand_made])
    servers = ResolvingServers(Server)
    world = world_for(kit, network=networks, server=servers)
    desired = rc.State([Network("core", "10.0.0.0/16", {"env": "prod"}), Server("web", rc.ref(Network, "core"), "s")])
    adopt = ["network/core"]
    if kit.name == "async-native":
        actual = asyncio.run(rc.observe_async(world, desired, adopt=adopt))
    else:
        actual = rc.observe(world, desired, adopt=adopt)
    plan = rc.plan(desired, actual, adopt=adopt)
    result = rc.apply(plan, world, executor=kit.executor(), listeners=[kit.probe.listener])
    assert result.ok, result.errors
    address = rc.Address("network", "core")
    assert networks.writes() == [("adopt", address), ("update", address)]
    assert result.adopted == (address,)
    assert result.outcomes[rc.Step(address, Action.ADOPT)].value == hand_made
    assert result.state[address] == Network("core", "10.0.0.0/16", {"env": "prod"}, network_id="net-7")
    assert not result.state.externals
    assert servers.resolved[0].network_id == "net-7"
    adopt_events = [e.kind for _t, e in kit.probe.events if e.step.op is Action.ADOPT]
    assert adopt_events == [rc.EventKind.QUEUED, rc.EventKind.STARTED, rc.EventKind.SUCCEEDED]
    # Owned now: listed, so the same adopt= is a no-op and the plan converges; later changes are plain updates.
    inner = networks
    assert address in {rc.address_of(o) for o in inner.list()}
    if kit.name != "async-native":
        assert rc.plan(desired, rc.observe(world, desired, adopt=adopt), adopt=adopt).is_empty
        changed = desired.with_resources(Network("core", "10.0.0.0/16", {"env": "dev"}))
        later = rc.plan(changed, rc.observe(world, changed, adopt=adopt), adopt=adopt)
        assert [(str(c.address), c.action) for c in later] == [("network/core", Action.UPDATE)]


def test_a_provider_without_an_adopt_hook_is_called_for_nothing_and_the_adoption_is_recorded(kit):
    hand_made = Network("core", "10.0.0.0/16", network_id="net-7")
    networks = OwnedProvider(Network, foreign=[hand_made], hook=False)
    world = world_for(kit, network=networks)
    actual = rc.State([rc.external(hand_made)])
    plan = rc.plan(rc.State([Network("core", "10.0.0.0/16")]), actual, adopt=["network/core"])
    result = rc.apply(plan, world, executor=kit.executor())
    assert result.ok, result.errors
    assert networks.writes() == []
    assert result.adopted == (rc.Address("network", "core"),)
    assert result.state["network/core"] == hand_made


def test_a_failed_adoption_skips_what_follows_and_leaves_the_object_unmanaged():
    hand_made = Network("core", "10.0.0.0/16", network_id="net-7")

    class Refusing(OwnedProvider):
        def _adopt(self, found: Any, desired: Any, ctx: rc.Context) -> Any:
            raise PermissionError("owned by another stack")

    networks = Refusing(Network, foreign=[hand_made])
    desired = rc.State([Network("core", "10.0.0.0/16", {"env": "prod"})])
    plan = rc.plan(desired, rc.State([rc.external(hand_made)]), adopt=["network/core"])
    result = rc.apply(plan, {"network": networks})
    assert result.failed == (rc.Step("network/core", Action.ADOPT),)
    assert result.skipped == (rc.Step("network/core", Action.UPDATE),)
    assert result.adopted == () and "network/core" not in result.state
    assert list(result.state.externals) == [rc.Address("network", "core")]


def test_observe_reports_a_read_that_returns_another_address():
    class Confused(OwnedProvider):
        def read(self, address: rc.Address) -> Any:
            return Network("elsewhere", "1")

    with pytest.raises(rc.ProviderContractError, match=r"read\(network/default\) returned"):
        rc.observe({"network": Confused(Network)}, rc.State([DEFAULT]))


def test_observe_needs_a_provider_for_every_external_kind():
    with pytest.raises(rc.MissingProviderError, match="network"):
        rc.observe({}, rc.State([DEFAULT]))


def test_observe_leaves_out_what_read_does_not_find_and_plan_names_it():
    desired = rc.State([DEFAULT, Server("web", DEFAULT.ref, "small")])
    world = {"network": OwnedProvider(Network), "server": OwnedProvider(Server)}
    actual = rc.observe(world, desired)
    assert not actual.externals
    with pytest.raises(rc.MissingExternalError, match="network/default"):
        rc.plan(desired, actual)
    managed = rc.State([Network("core", "10.0.0.0/16")])
    with pytest.raises(rc.NothingToAdoptError, match="network/core"):
        rc.plan(managed, rc.observe(world, managed, adopt="network/core"), adopt="network/core")


class StatelessServers:
    """A thin client, as FuturesExecutor asks for when calls run in other processes: picklable, no state."""

    def list(self) -> list[Any]:
        return []

    def read(self, address: rc.Address) -> Any:
        return None

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        network = ctx.resolve(desired.network)
        return attrs.evolve(desired, server_id=f"on-{network.network_id}")

    def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        raise AssertionError("not planned")

    def delete(self, actual: Any, ctx: rc.Context) -> None:
        raise AssertionError("not planned")


def test_externals_resolve_and_adoptions_run_in_another_process():
    hand_made = Network("core", "10.0.0.0/16", network_id="net-7")
    desired = rc.State(
        [
            DEFAULT,
            Network("core", "10.0.0.0/16"),
            Server("web", DEFAULT.ref, "s"),
            Server("db", rc.ref(Network, "core"), "s"),
        ]
    )
    actual = rc.State([rc.external(FOUND_NET), rc.external(hand_made)])
    plan = rc.plan(desired, actual, adopt=["network/core"])
    world = {"network": OwnedProvider(Network, hook=False), "server": StatelessServers()}
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        result = rc.apply(plan, world, executor=rc.FuturesExecutor(pool))
    assert result.ok, result.errors
    assert result.state["server/web"].server_id == "on-net-0"
    assert result.state["server/db"].server_id == "on-net-7"
    assert result.adopted == (rc.Address("network", "core"),)
