"""The harness features real APIs need: factories that see dependencies, a fresh world per example, the real-api
settings, per-kind weights, independence from list() order, and the ``list_all`` alias."""

from __future__ import annotations

import contextlib
import ipaddress
import random
from collections.abc import Iterator
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import reconcile as rc
from reconcile.testing import (
    ContractViolation,
    Drawn,
    HarnessError,
    InMemoryProvider,
    ReconcileMachine,
    check_provider,
    resources,
    state_pairs,
    states,
)
from tests.support.testing_kinds import Pin

FEW = settings(max_examples=15, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@rc.resource(kind="net")
class Net:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    label: str = rc.spec(default="")
    net_id: str | None = rc.computed()


@rc.resource(kind="block")
class Block:
    name: str = rc.identity()
    net: rc.Ref[Net] = rc.spec(replace_on_change=True)
    cidr: str = rc.spec(replace_on_change=True)
    block_id: str | None = rc.computed()


class Nets(InMemoryProvider[Net]):
    def __init__(self) -> None:
        super().__init__(Net, unique_names=False)


class Blocks(InMemoryProvider[Block]):
    """Refuses what a cloud refuses: a block outside its net's CIDR, or overlapping another block."""

    def __init__(self) -> None:
        super().__init__(Block, unique_names=False)

    def create(self, desired: Block, ctx: rc.Context) -> Block:
        net = ctx.resolve(desired.net)
        mine = ipaddress.ip_network(desired.cidr)
        if not mine.subnet_of(ipaddress.ip_network(net.cidr)):
            raise RuntimeError(f"InvalidSubnet.Range: {desired.cidr} is not inside {net.cidr}")
        for other in self.list():
            if ipaddress.ip_network(other.cidr).overlaps(mine):
                raise RuntimeError(f"InvalidSubnet.Conflict: {desired.cidr} overlaps {other.cidr}")
        return super().create(desired, ctx)

    def update(self, actual: Block, desired: Block, ctx: rc.Context) -> Block:
        raise AssertionError("every field of a block replaces it")


CORE = Net("core", "10.0.0.0/16", net_id="net-1")
NAMES = st.sampled_from(["a", "b", "c", "d"])


def free_cidrs(drawn: Drawn) -> st.SearchStrategy[str] | None:
    """/24s inside the block's net, clear of every other block."""
    net = drawn.resolve(drawn.fields["net"])
    if net is None:
        return None
    taken = [ipaddress.ip_network(o.cidr) for o in drawn.others if isinstance(o, Block)]
    free = [
        str(c)
        for c in list(ipaddress.ip_network(net.cidr).subnets(new_prefix=24))[:8]
        if not any(c.overlaps(t) for t in taken)
    ]
    return st.sampled_from(free) if free else None


def test_a_clash_the_api_refuses_is_named_after_the_contract_being_checked():
    blocks = resources(Block, name=NAMES, net=st.just(rc.ref(Net, "core")), cidr=st.just("10.0.1.0/24"))
    with pytest.raises(ContractViolation) as info:
        check_provider(Blocks, blocks, dependencies=[CORE], settings=FEW)
    # The first create works; the second clashes: the list contract was being set up.
    assert info.value.contract == "list-agrees-with-read"
    assert "InvalidSubnet.Conflict" in str(info.value)
    assert "creating 2 of 2" in str(info.value)
    assert "factory" in str(info.value)


def test_a_factory_sees_the_dependencies_and_the_other_resources_so_the_battery_passes():
    blocks = resources(Block, name=NAMES, net=st.just(rc.ref(Net, "core")), cidr=free_cidrs)
    check_provider(Blocks, blocks, dependencies=[CORE], settings=FEW)


def test_a_factory_returning_something_else_is_refused_by_name():
    blocks = resources(Block, name=NAMES, net=st.just(rc.ref(Net, "core")), cidr=lambda drawn: "10.0.0.0/24")
    with pytest.raises(HarnessError, match=r"factory for 'cidr' must return a hypothesis strategy or None"):
        check_provider(Blocks, blocks, dependencies=[CORE], settings=FEW)


def test_an_override_that_is_neither_a_strategy_nor_a_function_is_refused():
    with pytest.raises(HarnessError, match=r"override for 'cidr' must be a hypothesis strategy, or a function"):
        resources(Block, cidr="10.0.0.0/24")


def valid(blocks: list[Block], nets: rc.State) -> None:
    for b in blocks:
        assert ipaddress.ip_network(b.cidr).subnet_of(ipaddress.ip_network(nets[b.net].cidr))
    for x in blocks:
        for y in blocks:
            if x is not y:
                assert not ipaddress.ip_network(x.cidr).overlaps(ipaddress.ip_network(y.cidr))


NETS = resources(Net, cidr=st.sampled_from(["10.0.0.0/16", "10.1.0.0/16"]))
BLOCKS = resources(Block, cidr=free_cidrs)


@settings(FEW, max_examples=300)
@given(states([NETS, BLOCKS], max_size=6))
def test_states_drawn_with_a_factory_keep_every_block_inside_its_net_and_apart(state):
    valid([r for r in state if isinstance(r, Block)], state)


@settings(FEW, max_examples=300)
@given(state_pairs([NETS, BLOCKS], max_size=6, replace=3))
def test_pairs_redraw_a_factory_field_when_what_it_refers_to_is_replaced(pair):
    desired, actual = pair
    valid([r for r in desired if isinstance(r, Block)], desired)
    valid([r for r in actual if isinstance(r, Block)], actual)


def test_make_provider_may_return_a_context_manager_entered_and_exited_once_per_example():
    log: list[str] = []

    @contextlib.contextmanager
    def fresh() -> Iterator[Nets]:
        log.append("enter")
        try:
            yield Nets()
        finally:
            log.append("exit")

    check_provider(fresh, resources(Net), settings=FEW)
    assert log and log.count("enter") == log.count("exit")
    assert log == ["enter", "exit"] * (len(log) // 2)


def test_the_context_is_exited_when_an_example_fails():
    entered, exited = [], []

    class Broken(Nets):
        def read(self, address: rc.Address) -> Net | None:
            return None

    @contextlib.contextmanager
    def fresh() -> Iterator[Nets]:
        entered.append(1)
        try:
            yield Broken()
        finally:
            exited.append(1)

    with pytest.raises(ContractViolation, match="read-after-create"):
        check_provider(fresh, resources(Net), settings=FEW)
    assert len(entered) == len(exited) > 0


def test_real_api_runs_few_examples_and_never_shrinks():
    calls = []

    class Counting(Nets):
        def create(self, desired: Net, ctx: rc.Context) -> Net:
            calls.append(desired)
            return super().create(desired, ctx)

    check_provider(Counting, resources(Net), real_api=True)
    # 10 examples per contract, each at most max_resources creates (plans may create a few more).
    assert len(calls) <= 10 * (1 + 4 + 1 + 1 + 1 + 4 + 6)
    profile = settings.get_profile("real-api")
    assert Phase.shrink not in profile.phases
    assert profile.max_examples == 10 and profile.deadline is None


class Shuffled(InMemoryProvider[Net]):
    """Lists in a new, unseeded order on every call, as moto's IAM does."""

    def __init__(self) -> None:
        super().__init__(Net, unique_names=False)
        self.rng = random.Random()

    def list(self) -> list[Net]:
        found = list(super().list())
        self.rng.shuffle(found)
        return found


class ShuffledMachine(ReconcileMachine):
    kinds = (resources(Net, name=st.sampled_from(["a", "b", "c", "d", "e"])),)

    def make_providers(self) -> dict[str, object]:
        return {"net": Shuffled()}


def test_the_machine_does_not_depend_on_the_order_list_returns():
    run_state_machine_as_test(ShuffledMachine, settings=settings(FEW, max_examples=40, stateful_step_count=20))


class CountingNets(Nets):
    created: ClassVar[list[str]] = []

    def create(self, desired: Net, ctx: rc.Context) -> Net:
        CountingNets.created.append(desired.name)
        return super().create(desired, ctx)


class CountingBlocks(Blocks):
    created: ClassVar[list[str]] = []

    def create(self, desired: Block, ctx: rc.Context) -> Block:
        CountingBlocks.created.append(desired.name)
        return super().create(desired, ctx)


class WeightedMachine(ReconcileMachine):
    kinds = (
        resources(Net, name=st.just("core"), cidr=st.sampled_from(["10.0.0.0/16", "10.1.0.0/16"])),
        resources(Block, name=NAMES, cidr=free_cidrs),
    )
    weights: ClassVar[dict[str, float]] = {"net": 1, "block": 20}
    drift_enabled = False
    faults_enabled = False

    def make_providers(self) -> dict[str, object]:
        return {"net": CountingNets(), "block": CountingBlocks()}


def test_factories_keep_the_machine_s_worlds_valid_as_nets_are_replaced():
    CountingNets.created.clear()
    CountingBlocks.created.clear()
    # Blocks refuse a CIDR outside their net or overlapping another: a net replaced
    # with a new CIDR takes its blocks along, their CIDRs drawn again inside it.
    run_state_machine_as_test(WeightedMachine, settings=settings(FEW, max_examples=25, stateful_step_count=15))
    assert CountingBlocks.created and CountingNets.created


def test_a_kind_of_weight_zero_is_never_created():
    class NoBlocks(WeightedMachine):
        weights: ClassVar[dict[str, float]] = {"net": 1, "block": 0}

    CountingNets.created.clear()
    CountingBlocks.created.clear()
    run_state_machine_as_test(NoBlocks, settings=settings(FEW, max_examples=60, stateful_step_count=15))
    assert CountingNets.created  # the machine did create, just never a block
    assert CountingBlocks.created == []


def test_weights_name_kinds_of_the_machine():
    class Typo(WeightedMachine):
        weights: ClassVar[dict[str, float]] = {"blok": 2}

    with pytest.raises(HarnessError, match=r"Typo.weights: 'blok' is not among the kinds"):
        Typo()


def test_make_providers_may_return_a_context_manager_exited_in_teardown():
    log: list[str] = []

    class Managed(ReconcileMachine):
        kinds = (Net,)

        @contextlib.contextmanager
        def make_providers(self) -> Iterator[dict[str, object]]:
            log.append("enter")
            yield {"net": Nets()}
            log.append("exit")

    run_state_machine_as_test(Managed, settings=settings(FEW, max_examples=5, stateful_step_count=5))
    # One world per example, each exited before the next is made.
    assert len(log) >= 10
    assert log == ["enter", "exit"] * (len(log) // 2)


def test_a_machine_with_real_api_uses_the_real_api_settings():
    class Real(ReconcileMachine):
        kinds = (Net,)
        real_api = True

    assert Real.TestCase.settings.max_examples == 10
    assert Phase.shrink not in Real.TestCase.settings.phases


class ListAll:
    """A provider that names its listing method list_all, so list[...] annotations keep the builtin."""

    def __init__(self) -> None:
        self.inner = Nets()

    def list_all(self) -> list[Net]:
        return list(self.inner.list())

    def names(self) -> list[str]:
        return [n.name for n in self.list_all()]

    def read(self, address: rc.Address) -> Net | None:
        return self.inner.read(address)

    def create(self, desired: Net, ctx: rc.Context) -> Net:
        return self.inner.create(desired, ctx)

    def update(self, actual: Net, desired: Net, ctx: rc.Context) -> Net:
        return self.inner.update(actual, desired, ctx)

    def delete(self, actual: Net, ctx: rc.Context) -> None:
        self.inner.delete(actual, ctx)


def test_observe_and_the_harness_use_list_all_when_a_provider_has_it():
    world = {"net": ListAll()}
    rc.apply(rc.plan(rc.State([Net("a", "10.0.0.0/16")]), rc.observe(world)), world)
    assert [str(a) for a in rc.observe(world).addresses] == ["net/a"]
    assert isinstance(world["net"], rc.ListAllProvider)
    check_provider(ListAll, resources(Net), settings=FEW)


class Pins(InMemoryProvider[Pin]):
    def __init__(self) -> None:
        super().__init__(Pin, unique_names=False)

    def update(self, actual: Pin, desired: Pin, ctx: rc.Context) -> Pin:
        raise AssertionError("every field of a pin replaces it: nobody may ask for an update")


class PinMachine(ReconcileMachine):
    # depends_on is drawn too: reversing an edge while replacing only its other end used to leave
    # a cycle in the world (InMemoryProvider stored the edges an object was created with).
    kinds = (resources(Pin, name=st.sampled_from(["a", "b"]), where=st.sampled_from(["x", "y"])),)

    def make_providers(self) -> dict[str, object]:
        return {"pin": Pins()}


def test_drift_never_updates_a_kind_whose_fields_all_replace_it():
    run_state_machine_as_test(PinMachine, settings=settings(FEW, max_examples=40, stateful_step_count=15))


def test_a_kind_whose_fields_all_replace_skips_the_update_contracts():
    # Pins.update raises: the planner never calls it, and neither does the battery.
    check_provider(Pins, resources(Pin), settings=FEW)
