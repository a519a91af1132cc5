"""Bad input to ``apply`` and ``observe`` is refused with a typed error, before any provider is called."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

import reconcile as rc
from reconcile import Action, Step, StepStatus
from reconcile.testing import InMemoryProvider
from tests.support.models import Network, Server

NET = rc.ref(Network, "core")


def _world() -> dict[str, InMemoryProvider]:
    return {"network": InMemoryProvider(Network), "server": InMemoryProvider(Server)}


def _calls(world) -> list:
    return [c for p in world.values() if isinstance(p, InMemoryProvider) for c in p.calls]


class CreateOnly:
    """A provider that can only create (no update, no delete, no read)."""

    def __init__(self) -> None:
        self.inner = InMemoryProvider(Network)

    def list(self):
        return self.inner.list()

    def create(self, desired, ctx):
        return self.inner.create(desired, ctx)


def test_a_provider_that_is_none_is_refused_before_any_step_runs():
    world = {"network": InMemoryProvider(Network), "server": None}
    plan = rc.plan(rc.State([Network("core", "10.0.0.0/8"), Server("web", NET, "small")]), rc.State())
    with pytest.raises(
        rc.ProviderContractError, match=r"apply: nothing was applied: the provider for kind 'server' is None"
    ):
        rc.apply(plan, world)
    assert world["network"].calls == []


def test_a_provider_lacking_a_method_the_plan_needs_is_refused_naming_kind_and_method():
    old = Network("old", "10.1.0.0/16")
    changed = Network("core", "10.0.0.0/8")
    provider = CreateOnly()
    provider.inner.objects = {rc.address_of(old): old, rc.address_of(changed): attrs.evolve(changed, tags={"a": "b"})}
    world = {"network": provider}
    plan = rc.plan(rc.State([changed, Network("new", "10.2.0.0/16")]), rc.observe(world))
    assert {c.action for c in plan.changes.values()} == {Action.CREATE, Action.UPDATE, Action.DELETE}
    with pytest.raises(rc.ProviderContractError) as info:
        rc.apply(plan, world)
    message = str(info.value)
    assert (
        "the provider for kind 'network' (CreateOnly) has no delete() method, which the plan needs for 1 step"
        in message
    )
    assert "has no update() method, which the plan needs for 1 step" in message
    assert "create()" not in message
    assert [c.method for c in provider.inner.calls] == ["list"]


def test_a_method_needed_by_no_step_is_not_required():
    world = {"network": CreateOnly()}
    result = rc.apply(rc.plan(rc.State([Network("core", "x")]), rc.State()), world)
    assert result.ok


def test_a_saved_plan_needs_read_to_be_checked_fresh():
    world = {"network": CreateOnly()}
    saved = rc.loads(rc.dumps(rc.plan(rc.State([Network("core", "x")]), rc.observe(world))), [Network])
    with pytest.raises(
        rc.ProviderContractError, match=r"has no read\(\) method, which the plan needs to check the saved plan is fresh"
    ):
        rc.apply(saved, world)
    assert world["network"].inner.objects == {}


def test_apply_async_refuses_a_none_provider_before_any_step_runs():
    world = {"network": None}
    plan = rc.plan(rc.State([Network("core", "x")]), rc.State())
    with pytest.raises(
        rc.ProviderContractError, match=r"apply_async: nothing was applied: the provider for kind 'network' is None"
    ):
        asyncio.run(rc.apply_async(plan, world))


def test_apply_refuses_what_is_not_a_plan_or_not_a_mapping_of_providers():
    plan = rc.plan(rc.State([Network("core", "x")]), rc.State())
    with pytest.raises(
        rc.ApplyOptionError, match=r"apply: plan must be a Plan \(from plan\(\) or loads\(\)\), got NoneType"
    ):
        rc.apply(None, _world())
    with pytest.raises(rc.ApplyOptionError, match=r"apply: providers must be a mapping of kind to provider, got list"):
        rc.apply(plan, [InMemoryProvider(Network)])
    with pytest.raises(
        rc.ApplyOptionError, match=r"apply_async: providers must be a mapping of kind to provider, got NoneType"
    ):
        asyncio.run(rc.apply_async(plan, None))


class ListsNothing(InMemoryProvider):
    def __init__(self, cls, listed):
        super().__init__(cls)
        self.listed = listed

    def list(self):
        return self.listed


@pytest.mark.parametrize("listed", [None, 5], ids=["None", "int"])
def test_observe_refuses_a_list_that_returns_no_iterable(listed):
    world = {"network": ListsNothing(Network, listed)}
    with pytest.raises(
        rc.ProviderContractError,
        match=rf"provider for kind 'network': list\(\) returned {type(listed).__name__}, expected an iterable of resources",
    ):
        rc.observe(world)
    with pytest.raises(rc.ProviderContractError, match=r"list\(\) returned"):
        asyncio.run(rc.observe_async(world))


def test_observe_refuses_none_providers_and_non_mappings():
    with pytest.raises(rc.ProviderContractError, match=r"observe: the provider for kind 'network' is None"):
        rc.observe({"network": None})
    with pytest.raises(
        rc.ProviderContractError, match=r"observe: the provider for kind 'network' \(object\) has no list\(\) method"
    ):
        rc.observe({"network": object()})
    with pytest.raises(
        rc.ApplyOptionError, match=r"observe: providers must be a mapping of kind to provider, got NoneType"
    ):
        rc.observe(None)
    with pytest.raises(rc.ApplyOptionError, match=r"observe_async: providers must be a mapping"):
        asyncio.run(rc.observe_async(None))


class WrongTypes(InMemoryProvider):
    """Returns values that do not fit the annotations: a str where an int goes, an int where a str goes."""

    def create(self, desired, ctx):
        super().create(desired, ctx)
        return attrs.evolve(desired, cidr=15)

    def update(self, actual, desired, ctx):
        super().update(actual, desired, ctx)
        return attrs.evolve(desired, tags={"env": 5})


def _executor(name: str, pools: list):
    if name == "serial":
        return rc.SerialExecutor()
    if name == "threads":
        return rc.ThreadExecutor(2)
    if name == "async":
        return rc.AsyncExecutor(2)
    pool = ThreadPoolExecutor(2)
    pools.append(pool)
    return rc.FuturesExecutor(pool)


@pytest.mark.parametrize("name", ["serial", "threads", "async", "futures"])
def test_a_wrong_typed_value_returned_by_create_or_update_fails_that_step(name):
    pools: list = []
    edited = Network("edited", "10.1.0.0/16")
    world = {"network": WrongTypes(Network, [edited]), "server": InMemoryProvider(Server)}
    desired = rc.State(
        [Network("core", "10.0.0.0/8"), Server("web", NET, "small"), attrs.evolve(edited, tags={"k": "v"})]
    )
    plan = rc.plan(desired, rc.observe(world))
    try:
        result = rc.apply(plan, world, executor=_executor(name, pools))
    finally:
        for pool in pools:
            pool.shutdown()
    create, update = Step("network/core", Action.CREATE), Step("network/edited", Action.UPDATE)
    assert set(result.failed) == {create, update}
    assert isinstance(result.errors[create], rc.ProviderContractError)
    assert str(result.errors[create]).endswith(
        "provider returned a resource whose values do not fit its annotations: field 'cidr' expects str"
    )
    assert "field \"tags['env']\" expects str" in str(result.errors[update])
    assert result.outcomes[Step("server/web", Action.CREATE)].status is StepStatus.SKIPPED
    # Nothing wrong-typed reaches the result: the addresses keep what was known before.
    assert "network/core" not in result.state
    assert result.state["network/edited"] == edited
