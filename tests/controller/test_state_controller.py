"""StateController end to end: in-memory providers, a 20% transient-fault injector, drift, ownership and errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import reconcile as rc
from reconcile.controller import (
    DEGRADED,
    READY,
    ApplyFailedError,
    ControllerEventKind,
    ControllerOptionError,
    Desired,
    ExponentialBackoff,
    Metrics,
    StateController,
)
from reconcile.testing import FaultInjector, InMemoryProvider, in_memory_world, world_state
from tests.support.controller import running, until
from tests.support.testing_kinds import Firewall, Network, Server

E = ControllerEventKind
FAST = {"resync": None, "rate_limiter": ExponentialBackoff(0.001, 0.02)}


def tenant_state(tenant: str, size: str = "small") -> rc.State:
    net = Network(name=f"{tenant}-net", cidr="10.0.0.0/16")
    srv = Server(name=f"{tenant}-srv", network=rc.ref(net), size=size)
    fw = Firewall(name=f"{tenant}-fw", guards=rc.ref(srv), ports=frozenset({443}))
    return rc.State([net, srv, fw])


def world() -> dict[str, InMemoryProvider[Any]]:
    return in_memory_world(Network, Server, Firewall)


TENANTS = [f"t{i}" for i in range(12)]


def expected(tenants: list[str], **kw: Any) -> dict[rc.Address, Any]:
    return {a: o for t in tenants for a, o in tenant_state(t, **kw).items()}


def same_specs(actual: dict[rc.Address, Any], want: dict[rc.Address, Any]) -> bool:
    return actual.keys() == want.keys() and all(
        rc.plan(rc.State([want[a]], allow_dangling=True), rc.State([actual[a]], allow_dangling=True)).is_empty
        for a in want
    )


def test_every_key_converges_with_conditions_ready_at_generation_one():
    w = world()
    ctl = StateController("tenants", tenant_state, w, workers=4, executor=rc.ThreadExecutor(4), **FAST)
    for t in TENANTS:
        ctl.enqueue(t)
    with running(ctl):
        assert ctl.wait_idle(20)
    assert same_specs(world_state(w), expected(TENANTS))
    for t in TENANTS:
        ready = ctl.conditions(t)[READY]
        assert ready.status and ready.observed_generation == 1
        assert ctl.owned(t) == frozenset(tenant_state(t).addresses)
    assert ctl.applies == len(TENANTS) and ctl.drift_repaired == 0


def test_observe_reads_only_the_addresses_the_key_names_and_never_lists():
    stranger = Network(name="someone-else", cidr="192.168.0.0/24")
    w = in_memory_world(Network, Server, Firewall, initial=[stranger])
    ctl = StateController("tenants", tenant_state, w, **FAST)
    ctl.enqueue("t0")
    with running(ctl):
        assert ctl.wait_idle(10)
    calls = [c for p in w.values() for c in p.calls]
    assert not [c for c in calls if c.method == "list"]
    assert {c.address for c in calls if c.method == "read"} == set(tenant_state("t0").addresses)
    assert w["network"].objects[rc.address_of(stranger)] == stranger


def test_a_no_change_resync_writes_nothing():
    w = world()
    ctl = StateController("tenants", tenant_state, w, **FAST)
    for t in TENANTS[:3]:
        ctl.enqueue(t)
    with running(ctl):
        assert ctl.wait_idle(10)
        writes = [c for p in w.values() for c in p.calls if c.method != "read"]
        for t in TENANTS[:3]:
            ctl.enqueue(t)
        until(lambda: ctl.reconciles == 6)
        assert ctl.wait_idle(10)
    assert [c for p in w.values() for c in p.calls if c.method != "read"] == writes
    assert ctl.applies == 3


def test_drift_is_repaired_and_counted_and_a_desired_change_is_not_drift():
    w = world()
    sizes = {"t0": "small", "t1": "small"}
    metrics = Metrics()
    ctl = StateController("tenants", lambda t: tenant_state(t, sizes[t]), w, listeners=[metrics], **FAST)
    with running(ctl):
        ctl.enqueue("t0")
        ctl.enqueue("t1")
        until(lambda: ctl.reconciles == 2)
        assert ctl.wait_idle(10)
        # Drift: someone edited t0's server and deleted t1's firewall behind the controller's back.
        srv = rc.Address("server", ("t0-srv",))
        w["server"].objects[srv] = Server(name="t0-srv", network=rc.ref(Network, "t0-net"), size="huge")
        del w["firewall"].objects[rc.Address("firewall", ("t1-fw",))]
        ctl.enqueue("t0")
        ctl.enqueue("t1")
        until(lambda: ctl.reconciles == 4)
        assert ctl.wait_idle(10)
        assert ctl.drift_repaired == 2 and metrics.counts[E.DRIFT_REPAIRED] == 2
        assert w["server"].objects[srv].size == "small"
        sizes["t0"] = "large"  # a new desired generation: an apply, not drift
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 5)
        assert ctl.wait_idle(10)
    assert ctl.drift_repaired == 2
    assert w["server"].objects[srv].size == "large"
    assert ctl.conditions("t0")[READY].observed_generation == 2
    assert ctl.conditions("t1")[READY].observed_generation == 1


def test_resources_the_key_no_longer_desires_are_deleted_and_a_gone_key_deletes_all_it_owns():
    w = world()
    desired: dict[str, Any] = {"t0": tenant_state("t0")}
    ctl = StateController("tenants", lambda t: desired.get(t), w, **FAST)
    with running(ctl):
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 1)
        state = tenant_state("t0")
        fw = rc.Address("firewall", ("t0-fw",))
        desired["t0"] = rc.State([o for a, o in state.items() if a != fw])
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 2)
        assert fw not in w["firewall"].objects and ctl.owned("t0") == frozenset(desired["t0"].addresses)
        del desired["t0"]
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 3)
        assert ctl.wait_idle(10)
    assert world_state(w) == {} and ctl.owned("t0") == frozenset()


def test_owns_tells_a_fresh_controller_what_a_gone_key_left_behind():
    w = world()
    first = StateController("tenants", tenant_state, w, **FAST)
    first.enqueue("t0")
    with running(first):
        assert first.wait_idle(10)
    assert len(world_state(w)) == 3
    owned = [str(a) for a in tenant_state("t0").addresses]
    second = StateController("tenants", lambda t: None, w, owns=lambda t: owned, **FAST)
    second.enqueue("t0")
    with running(second):
        until(lambda: second.reconciles == 1)
    assert world_state(w) == {}


def test_an_explicit_generation_is_recorded():
    ctl = StateController("tenants", lambda t: Desired(tenant_state(t), generation=7), world(), **FAST)
    ctl.enqueue("t0")
    with running(ctl):
        until(lambda: ctl.conditions("t0"))
    assert ctl.conditions("t0")[READY].observed_generation == 7


def test_with_twenty_percent_transient_faults_every_key_converges():
    w = world()
    faults = FaultInjector(seed=12, transient_rate=0.2)
    providers = faults.wrap_all(w)
    events: list[Any] = []
    ctl = StateController(
        "tenants",
        tenant_state,
        providers,
        workers=3,
        retry=rc.RetryPolicy(max_attempts=2, backoff=0.0, jitter=False),
        listeners=[events.append],
        **FAST,
    )
    for t in TENANTS:
        ctl.enqueue(t)
    with running(ctl):
        until(lambda: all(ctl.conditions(t).get(READY, None) and ctl.conditions(t)[READY].status for t in TENANTS), 30)
    assert same_specs(world_state(w), expected(TENANTS))
    assert len(faults.faults("transient")) > 0
    failed = [e for e in events if e.kind is E.RETRYING]
    assert failed, "some applies ran out of step retries and were retried by the controller"
    assert all(isinstance(e.error, ApplyFailedError) and "InjectedTransientError" in str(e.error) for e in failed)


def test_a_key_that_cannot_converge_says_why_in_its_conditions():
    w = world()
    broken = rc.Address("server", ("t1-srv",))
    providers = FaultInjector(seed=1, fail={broken}).wrap_all(w)
    ctl = StateController("tenants", tenant_state, providers, degraded_after=3, **FAST)
    ctl.enqueue("t0")
    ctl.enqueue("t1")
    with running(ctl):
        until(lambda: ctl.conditions("t1").get(DEGRADED) and ctl.conditions("t1")[DEGRADED].status, 10)
    ready = ctl.conditions("t1")[READY]
    assert not ready.status and ready.reason == "ReconcileFailed"
    assert "server/t1-srv (create): InjectedPermanentError" in ready.message
    assert "1 failed, 1 skipped" in ready.message, "the firewall that guards it was skipped"
    assert ready.observed_generation == 1
    assert ctl.conditions("t0")[READY].status


def test_bad_desired_states_and_missing_providers_are_terminal_with_a_reason():
    def desired(t: str) -> Any:
        if t == "not-a-state":
            return ["nope"]
        if t == "invalid":
            return rc.State([Network(name="n", cidr="x"), Network(name="n", cidr="y")])
        return rc.State([Network(name="n", cidr="x")])

    ctl = StateController("tenants", desired, {"server": InMemoryProvider(Server)}, **FAST)
    for t in ("not-a-state", "invalid", "no-provider"):
        ctl.enqueue(t)
    with running(ctl):
        until(lambda: all(ctl.conditions(t) for t in ("not-a-state", "invalid", "no-provider")))
    reasons = {t: ctl.conditions(t)[DEGRADED].reason for t in ("not-a-state", "invalid", "no-provider")}
    assert reasons == {
        "not-a-state": "InvalidDesiredState",
        "invalid": "InvalidDesiredState",
        "no-provider": "MissingProvider",
    }
    assert "returned list" in ctl.conditions("not-a-state")[DEGRADED].message
    assert "network" in ctl.conditions("no-provider")[DEGRADED].message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"desired": 3}, "desired must be a callable"),
        ({"providers": [1]}, "providers must be a mapping"),
        ({"providers": {"network": object()}}, "has no read"),
        ({"executor": object()}, "executor must be a reconcile.Executor"),
        ({"retry": 3}, "retry must be a reconcile.RetryPolicy"),
        ({"owns": 3}, "owns must be a callable"),
        ({"workers": 0}, "workers must be an int >= 1"),
    ],
)
def test_bad_state_controller_options_are_refused(kwargs, message):
    args: dict[str, Any] = {"desired": tenant_state, "providers": world(), **kwargs}
    with pytest.raises(ControllerOptionError, match=message):
        StateController("t", args.pop("desired"), args.pop("providers"), **args)


def test_desired_validates_its_fields():
    with pytest.raises(ControllerOptionError, match="state must be a reconcile.State"):
        Desired([])  # type: ignore[arg-type]
    with pytest.raises(ControllerOptionError, match="generation must be an int >= 0"):
        Desired(rc.State(), generation=-1)


class AsyncMemory:
    """An async provider over an ``InMemoryProvider`` (every method a coroutine)."""

    def __init__(self, inner: InMemoryProvider[Any]) -> None:
        self.inner = inner

    async def list(self) -> list[Any]:
        return list(self.inner.list())

    async def read(self, address: rc.Address) -> Any:
        await asyncio.sleep(0)
        return self.inner.read(address)

    async def create(self, desired: Any, ctx: rc.Context) -> Any:
        await asyncio.sleep(0)
        return self.inner.create(desired, ctx)

    async def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        return self.inner.update(actual, desired, ctx)

    async def delete(self, actual: Any, ctx: rc.Context) -> None:
        self.inner.delete(actual, ctx)


def test_async_providers_make_an_async_reconcile_applied_with_apply_async():
    w = world()
    providers = {kind: AsyncMemory(p) for kind, p in w.items()}
    providers["firewall"] = w["firewall"]  # async and sync providers may be mixed
    ctl = StateController("tenants", tenant_state, providers, workers=3, executor=rc.AsyncExecutor(), **FAST)
    for t in TENANTS:
        ctl.enqueue(t)

    async def main() -> None:
        task = asyncio.ensure_future(ctl.run_async())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if all(ctl.conditions(t) for t in TENANTS):
                break
        ctl.stop()
        await task

    asyncio.run(main())
    assert same_specs(world_state(w), expected(TENANTS))
    assert all(ctl.conditions(t)[READY].status for t in TENANTS)
    assert ctl.applies == len(TENANTS)


def test_async_providers_need_an_async_executor():
    providers = {kind: AsyncMemory(p) for kind, p in world().items()}
    with pytest.raises(ControllerOptionError, match="executor must be an AsyncExecutor"):
        StateController("t", tenant_state, providers, executor=rc.ThreadExecutor(2))
