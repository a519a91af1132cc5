"""Tests of fault injection: latency, transient and permanent errors, the simulated crash, determinism."""

import asyncio
import contextlib
import zlib

import pytest

import reconcile as rc
from reconcile.testing import (
    AsyncFaultyProvider,
    Fault,
    FaultEffect,
    FaultInjector,
    FaultyProvider,
    HarnessError,
    InjectedPermanentError,
    InjectedTransientError,
    InMemoryProvider,
    SimulatedCrash,
    in_memory_world,
)
from tests.support.testing_kinds import Network, Server

ctx = rc.Context(rc.Step("network/x", rc.Action.CREATE), lambda a: None)


def net(name: str) -> Network:
    return Network(name, "10.0.0.0/16")


def outcomes(injector: FaultInjector, names: list[str]) -> dict[str, str]:
    """Create each network through the injector; what happened to each."""
    p = injector.wrap(InMemoryProvider(Network))
    out = {}
    for name in names:
        try:
            p.create(net(name), ctx)
            out[name] = "ok"
        except InjectedTransientError:
            out[name] = "transient"
    return out


def test_fixed_latency_is_slept_before_each_counted_call():
    slept: list[float] = []
    p = FaultInjector(latency=0.25, sleep=slept.append).wrap(InMemoryProvider(Network))
    p.create(net("a"), ctx)
    p.read(rc.Address("network", "a"))
    p.delete(net("a"), ctx)
    assert slept == [0.25, 0.25], "reads are not counted by default"


def test_random_latency_stays_in_range_and_repeats_for_a_seed():
    def delays(seed: int) -> list[float]:
        slept: list[float] = []
        p = FaultInjector(seed, latency=(0.001, 0.004), sleep=slept.append).wrap(InMemoryProvider(Network))
        for i in range(20):
            p.create(net(str(i)), ctx)
        return slept

    first = delays(7)
    assert all(0.001 <= d <= 0.004 for d in first)
    assert delays(7) == first
    assert delays(8) != first


def test_latency_really_waits_with_the_default_sleep():
    injector = FaultInjector(latency=0.002)
    injector.wrap(InMemoryProvider(Network)).create(net("a"), ctx)
    assert [f.effect for f in injector.log] == [FaultEffect.LATENCY]
    assert injector.log[0].delay == 0.002


def test_transient_errors_leave_the_world_untouched():
    inner = InMemoryProvider(Network)
    injector = FaultInjector(transient_rate=1.0)
    with pytest.raises(InjectedTransientError, match="injected transient error: create network/a") as info:
        injector.wrap(inner).create(net("a"), ctx)
    assert info.value.address == rc.Address("network", "a")
    assert info.value.method == "create"
    assert inner.calls == [], "the wrapped provider was never called"


def test_transient_errors_hit_about_the_rate_asked_for():
    result = outcomes(FaultInjector(3, transient_rate=0.3), [str(i) for i in range(1000)])
    assert 230 <= list(result.values()).count("transient") <= 370


def test_the_same_seed_gives_the_same_faults_in_any_call_order():
    names = [str(i) for i in range(50)]
    forward = outcomes(FaultInjector(11, transient_rate=0.5), names)
    backward = outcomes(FaultInjector(11, transient_rate=0.5), names[::-1])
    assert forward == backward
    assert forward != outcomes(FaultInjector(12, transient_rate=0.5), names)


def test_retries_of_one_call_get_fresh_draws():
    p = FaultInjector(5, transient_rate=0.5).wrap(InMemoryProvider(Network))
    results = []
    for _ in range(30):
        try:
            p.read(rc.Address("network", "a"))
            results.append("ok")
        except InjectedTransientError:
            results.append("transient")
    assert results == ["ok"] * 30, "reads are not counted unless asked for"
    injector = FaultInjector(5, transient_rate=0.5, methods={"read"})
    p = injector.wrap(InMemoryProvider(Network))
    for _ in range(30):
        with contextlib.suppress(InjectedTransientError):
            p.read(rc.Address("network", "a"))
    assert 0 < len(injector.faults(FaultEffect.TRANSIENT)) < 30


def test_permanent_failures_hit_only_the_chosen_addresses():
    inner = InMemoryProvider(Network)
    injector = FaultInjector(fail=["network/bad"])
    p = injector.wrap(inner)
    p.create(net("good"), ctx)
    for _ in range(3):
        with pytest.raises(InjectedPermanentError, match="network/bad"):
            p.create(net("bad"), ctx)
    assert set(inner.objects) == {rc.Address("network", "good")}
    assert [f.address for f in injector.faults("permanent")] == [rc.Address("network", "bad")] * 3


def test_a_custom_transient_error_is_raised_instead():
    class Retry(Exception):
        pass

    injector = FaultInjector(transient_rate=1.0, transient=lambda method, address: Retry(f"{method} {address}"))
    with pytest.raises(Retry, match="update network/a"):
        injector.wrap(InMemoryProvider(Network, [net("a")])).update(net("a"), net("a"), ctx)


def test_the_crash_comes_after_the_nth_call_has_had_its_effect():
    inner = InMemoryProvider(Network)
    injector = FaultInjector(crash_after=2)
    p = injector.wrap(inner)
    p.create(net("a"), ctx)
    with pytest.raises(SimulatedCrash, match="simulated crash after call 2 \\(create network/b\\)"):
        p.create(net("b"), ctx)
    assert set(inner.objects) == {rc.Address("network", "a"), rc.Address("network", "b")}
    assert injector.crashed
    with pytest.raises(SimulatedCrash):
        p.create(net("c"), ctx)
    assert rc.Address("network", "c") not in inner.objects, "after the crash nothing reaches the world"
    assert not issubclass(SimulatedCrash, Exception)
    assert injector.log == [Fault(2, "create", rc.Address("network", "b"), FaultEffect.CRASH)]


def test_faults_are_filtered_by_effect_or_its_value_and_an_unknown_effect_is_refused():
    injector = FaultInjector(fail=["network/bad"], latency=0.001, sleep=lambda _s: None)
    with contextlib.suppress(InjectedPermanentError):
        injector.wrap(InMemoryProvider(Network)).create(net("bad"), ctx)
    assert [f.effect for f in injector.faults()] == [FaultEffect.LATENCY, FaultEffect.PERMANENT]
    assert injector.faults("permanent") == injector.faults(FaultEffect.PERMANENT) == [injector.log[1]]
    assert injector.faults(FaultEffect.CRASH) == []
    with pytest.raises(HarnessError, match=r"FaultInjector.faults: unknown effect 'kaboom'; choose from 'latency', "):
        injector.faults("kaboom")
    assert not hasattr(injector.log[0], "kind"), "a fault has an effect; 'kind' is a resource kind"


def test_a_crash_stops_apply_like_a_dead_process():
    world = in_memory_world(Network, Server)
    desired = rc.State([net(str(i)) for i in range(5)])
    injector = FaultInjector(crash_after=3)
    with pytest.raises(SimulatedCrash):
        rc.apply(rc.plan(desired, rc.observe(world)), injector.wrap_all(world))
    assert len(world["network"].objects) == 3
    # A fault-free reconcile afterwards finishes the job.
    result = rc.apply(rc.plan(desired, rc.observe(world)), world)
    assert result.ok
    assert rc.plan(desired, rc.observe(world)).is_empty


def test_a_crash_after_an_injected_error_still_crashes():
    injector = FaultInjector(transient_rate=1.0, crash_after=1)
    with pytest.raises(SimulatedCrash) as info:
        injector.wrap(InMemoryProvider(Network)).create(net("a"), ctx)
    assert isinstance(info.value.__context__, InjectedTransientError)


def test_the_crashed_flag_can_be_reset_to_restart():
    injector = FaultInjector(crash_after=1)
    p = injector.wrap(InMemoryProvider(Network))
    with pytest.raises(SimulatedCrash):
        p.create(net("a"), ctx)
    injector.crashed = False
    assert p.create(net("b"), ctx).name == "b"


def test_wrapped_providers_pass_results_through():
    p = FaultInjector().wrap(InMemoryProvider(Network))
    created = p.create(net("a"), ctx)
    assert created.network_id is not None
    assert p.read(rc.Address("network", "a")) == created
    assert list(p.list()) == [created]
    assert p.update(created, Network("a", "10.0.0.0/16", {"x": "y"}), ctx).tags == {"x": "y"}
    p.delete(created, ctx)
    assert p.read(rc.Address("network", "a")) is None
    assert isinstance(p, rc.Provider)


class AsyncNetworks:
    def __init__(self) -> None:
        self.inner = InMemoryProvider(Network)

    async def list(self):
        return self.inner.list()

    async def read(self, address):
        return self.inner.read(address)

    async def create(self, desired, ctx):
        return self.inner.create(desired, ctx)

    async def update(self, actual, desired, ctx):
        return self.inner.update(actual, desired, ctx)

    async def delete(self, actual, ctx):
        self.inner.delete(actual, ctx)


def test_async_providers_get_an_async_wrapper_with_the_same_faults():
    provider = AsyncNetworks()
    injector = FaultInjector(fail=["network/bad"], crash_after=3, latency=0.001)
    wrapped = injector.wrap_all({"network": provider})["network"]
    assert isinstance(wrapped, AsyncFaultyProvider)

    async def scenario():
        created = await wrapped.create(net("a"), ctx)
        assert await wrapped.read(rc.Address("network", "a")) == created
        with pytest.raises(InjectedPermanentError):
            await wrapped.create(net("bad"), ctx)
        with pytest.raises(SimulatedCrash):
            await wrapped.update(created, net("a"), ctx)
        assert list(await FaultInjector().wrap_async(provider).list()) == [created]

    asyncio.run(scenario())
    with pytest.raises(HarnessError, match=r"async provider; wrap it with FaultInjector\.wrap_async"):
        injector.wrap(provider)
    assert isinstance(injector.wrap(InMemoryProvider(Network)), FaultyProvider)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transient_rate": 1.5}, "transient_rate must be between 0 and 1, got 1.5"),
        ({"latency": -1}, "latency must be seconds >= 0"),
        ({"latency": (0.5, 0.1)}, "latency must be seconds >= 0 or a \\(low, high\\) range"),
        ({"crash_after": 0}, "crash_after must be a call number >= 1 or None, got 0"),
        ({"methods": {"create", "frobnicate"}}, "unknown provider method\\(s\\) \\['frobnicate'\\]"),
    ],
)
def test_bad_settings_raise_harness_errors(kwargs, message):
    with pytest.raises(HarnessError, match=message):
        FaultInjector(**kwargs)


def test_settings_are_validated_on_assignment_too():
    injector = FaultInjector()
    with pytest.raises(HarnessError, match="transient_rate must be between 0 and 1, got 2"):
        injector.transient_rate = 2


def test_the_fault_injector_fixture_is_seeded_from_the_test_id(fault_injector, request):
    assert isinstance(fault_injector, FaultInjector)
    assert fault_injector.seed == zlib.crc32(request.node.nodeid.encode())
    assert (fault_injector.transient_rate, fault_injector.crash_after, fault_injector.fail) == (0.0, None, frozenset())


def test_the_memory_world_fixture_builds_fresh_worlds(memory_world):
    first = memory_world(Network, Server, initial=[net("a")])
    second = memory_world(Network)
    assert set(first) == {"network", "server"}
    assert list(first["network"].objects) == [rc.Address("network", "a")]
    assert second["network"].objects == {}
