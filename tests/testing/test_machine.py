"""Tests of ``ReconcileMachine``: it passes sound worlds and finds a planted provider bug within the ci profile."""

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, run_state_machine_as_test

import reconcile as rc
from reconcile.testing import (
    ContractViolation,
    FaultEffect,
    FaultInjector,
    HarnessError,
    InMemoryProvider,
    ReconcileMachine,
    SimulatedCrash,
    resources,
    world_state,
)
from tests.support.testing_kinds import KINDS, Network, Pin, Server

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
from file_provider import Disk, DiskFiles

# Stateful runs of whole worlds: the slowest part of the suite.
pytestmark = pytest.mark.slow


class InMemoryMachine(ReconcileMachine):
    kinds = KINDS


TestInMemoryMachine = InMemoryMachine.TestCase


class DiskFilesMachine(ReconcileMachine):
    kinds = (resources(Disk, size_gb=st.integers(1, 1024)),)

    def make_providers(self):
        self.directory = tempfile.mkdtemp()
        return {"disk": DiskFiles(self.directory)}

    def teardown(self):
        shutil.rmtree(self.directory)


TestDiskFilesMachine = DiskFilesMachine.TestCase


class CreateBeforeDeleteMachine(ReconcileMachine):
    """Networks replaced create-before-delete or not, at random: the default world copes with both."""

    kinds = (
        resources(Network, lifecycle=st.builds(rc.Lifecycle, create_before_delete=st.sampled_from([None, True]))),
        Server,
    )


TestCreateBeforeDeleteMachine = CreateBeforeDeleteMachine.TestCase


class ForgetfulNetworks(InMemoryProvider[Network]):
    """The planted bug: update loses the network's id, and delete silently skips a network without one."""

    def update(self, actual, desired, ctx):
        updated = attrs.evolve(super().update(actual, desired, ctx), network_id=None)
        self.objects[rc.address_of(updated)] = updated
        return updated

    def delete(self, actual, ctx):
        if actual.network_id is not None:
            super().delete(actual, ctx)


class PlantedBugMachine(ReconcileMachine):
    kinds = (Network, Server)

    def make_providers(self):
        return {"network": ForgetfulNetworks(Network), "server": InMemoryProvider(Server)}


def test_the_machine_finds_a_planted_bug_within_the_ci_profile():
    """The bug shows as a world the apply did not expect, or as a later step failing on the leftover object."""
    ci = settings(settings.get_profile("ci"), database=None)
    with pytest.raises(ContractViolation) as info:
        run_state_machine_as_test(PlantedBugMachine, settings=ci)
    message = str(info.value)
    assert message.startswith(f"provider contract broken: {info.value.contract}: ")
    if info.value.contract == "result-matches-world":
        assert "network/" in message
        assert "the apply left nothing there, but the providers report Network(" in message
    else:
        assert info.value.contract == "apply-succeeds"
        assert "create network/" in message
        assert "already exists" in message
    assert "state.reconcile" in "\n".join(info.value.__notes__)


class SlowToConverge(InMemoryProvider[Network]):
    """Every update also rewrites the tags, so the world never matches the desired spec."""

    def update(self, actual, desired, ctx):
        return super().update(actual, attrs.evolve(desired, tags={"touched": "yes"}), ctx)


class NonConvergingMachine(ReconcileMachine):
    kinds = (Network,)

    def make_providers(self):
        return {"network": SlowToConverge(Network)}


def test_a_world_that_never_converges_is_reported_with_the_remaining_plan():
    with pytest.raises(ContractViolation) as info:
        run_state_machine_as_test(NonConvergingMachine, settings=settings(settings.get_profile("ci"), database=None))
    assert info.value.contract == "reconcile-converges"
    assert "after a fault-free reconcile, the next plan still has changes" in str(info.value)
    assert "~ network/" in str(info.value)


class FailingCreates(InMemoryProvider[Network]):
    def create(self, desired, ctx):
        raise PermissionError("not allowed")


class FailingMachine(ReconcileMachine):
    kinds = (Network,)
    drift_enabled = False

    def make_providers(self):
        return {"network": FailingCreates(Network)}


def test_a_failing_fault_free_apply_is_reported_with_the_error():
    with pytest.raises(ContractViolation, match=r"apply-succeeds: .*create network/\S*: PermissionError: not allowed"):
        run_state_machine_as_test(FailingMachine, settings=settings(settings.get_profile("ci"), database=None))


class CountingMachine(ReconcileMachine):
    """Records which rules looked at the world (every rule but the desired-state ones does)."""

    kinds = (Network,)
    drift_enabled = False
    faults_enabled = False
    callers: ClassVar[set[str]] = set()

    def world(self):
        CountingMachine.callers.add(sys._getframe(1).f_code.co_name)
        return super().world()


def test_drift_and_faults_can_be_turned_off():
    run_state_machine_as_test(CountingMachine, settings=settings(max_examples=20, database=None))
    assert "reconcile" in CountingMachine.callers
    assert not CountingMachine.callers & {"drift", "reconcile_with_faults"}


def test_a_machine_without_kinds_is_refused():
    class NoKinds(ReconcileMachine):
        pass

    with pytest.raises(HarnessError, match=r"NoKinds\.kinds: kinds must be a non-empty list"):
        NoKinds()


def test_a_machine_without_a_provider_for_a_kind_is_refused():
    class Partial(ReconcileMachine):
        kinds = (Network, Server)

        def make_providers(self):
            return {"network": InMemoryProvider(Network)}

    with pytest.raises(HarnessError, match=r"Partial.make_providers\(\) has no provider for kind\(s\): server"):
        Partial()


def _faulty_run(machine: ReconcileMachine, desired: rc.State, seed: int):
    """One faulty reconcile as the machine's rule makes it: what every provider saw, in order, and the world after."""
    injector = FaultInjector(seed, transient_rate=0.5, crash_after=25)
    planned = rc.plan(desired, machine.world())
    with contextlib.suppress(SimulatedCrash):
        machine.apply_plan(planned, injector.wrap_all(machine.providers))
    calls = [(c.method, str(c.address)) for p in machine.providers.values() for c in p.calls]
    return calls, injector.log, dict(sorted(world_state(machine.providers).items(), key=lambda kv: str(kv[0])))


def test_the_machines_faulty_apply_makes_the_same_calls_in_the_same_order_on_every_run():
    """Hypothesis replays a case to shrink it: the world must come out the same whatever the timing of retries.

    With jittered, wall-clock-ordered retries (the default policy) the order of
    the retried steps changed from run to run, and with it what the crash left.
    """
    networks = [Network(f"n{i}", f"10.{i}.0.0/16") for i in range(6)]
    servers = [Server(f"s{i}", rc.ref(networks[i % 6]), "small") for i in range(12)]
    desired = rc.State([*networks, *servers])
    runs = [_faulty_run(InMemoryMachine(), desired, seed=3) for _ in range(3)]
    retried = [f for f in runs[0][1] if f.effect is FaultEffect.TRANSIENT]
    assert len(retried) >= 5, "the case must retry several steps to show anything"
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_harness_applies_wait_for_no_retry_and_draw_no_jitter():
    machine = InMemoryMachine()
    calls = []

    class SlowDown(InMemoryProvider[Network]):
        def create(self, desired, ctx):
            calls.append(ctx.attempt)
            if ctx.attempt < 3:
                raise rc.TransientError("slow down", retry_after=3600)
            return super().create(desired, ctx)

    machine.providers["network"] = SlowDown(Network, unique_names=False)
    result = machine.apply_plan(rc.plan(rc.State([Network("n", "10.0.0.0/16")]), machine.world()), machine.providers)
    assert result.ok and calls == [1, 2, 3], "an hour's retry_after is not waited inside the harness"


class EdgeTurningMachine(ReconcileMachine):
    """Records every depends_on edge turned round by a step (only ``rewire_desired`` turns one)."""

    kinds = (resources(Network, name=st.sampled_from(["a", "b", "c"])),)
    drift_enabled = False
    faults_enabled = False
    turned: ClassVar[list[tuple[rc.Address, rc.Address]]] = []

    def __init__(self):
        super().__init__()
        self.edges: set[tuple[rc.Address, rc.Address]] = set()

    @invariant()
    def record_turned_edges(self):
        now = {(a, d) for a, obj in self.desired.items() for d in obj.depends_on}
        type(self).turned.extend((a, d) for a, d in now - self.edges if (d, a) in self.edges and (d, a) not in now)
        self.edges = now


def test_the_machine_turns_depends_on_edges_round_and_the_default_world_keeps_no_stale_edge():
    """Turning an edge round is a NOOP for the planner; the in-memory world still converges with no cycle."""
    EdgeTurningMachine.turned.clear()
    run_state_machine_as_test(EdgeTurningMachine, settings=settings(max_examples=60, database=None, deadline=None))
    assert EdgeTurningMachine.turned


class EdgeKeepingPins(InMemoryProvider[Pin]):
    """What InMemoryProvider used to do: keep the depends_on an object was created with."""

    def __init__(self):
        super().__init__(Pin, unique_names=False)

    def create(self, desired, ctx):
        made = attrs.evolve(super().create(desired, ctx), depends_on=desired.depends_on)
        self.objects[rc.address_of(made)] = made
        return made


class EdgeKeepingMachine(ReconcileMachine):
    kinds = (resources(Pin, name=st.sampled_from(["a", "b"]), where=st.sampled_from(["x", "y"])),)
    drift_enabled = False
    faults_enabled = False
    max_resources = 2

    def make_providers(self):
        return {"pin": EdgeKeepingPins()}


def test_the_machine_finds_a_provider_whose_stored_depends_on_goes_stale():
    """An edge turned round while its other end is replaced leaves a cycle in such a world, which observe refuses."""
    # The ci profile whatever profile runs, no shrinking: the run stops at the first failure, which takes
    # about a second (runs of 20 steps give a reversal room); max_examples only bounds a machine that misses it.
    ci = settings.get_profile("ci")
    found = settings(ci, max_examples=3000, stateful_step_count=20, database=None, phases=[Phase.generate])
    with pytest.raises(rc.InvalidStateError, match="dependency cycle: pin/"):
        run_state_machine_as_test(EdgeKeepingMachine, settings=found)
