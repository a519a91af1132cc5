"""Tests of ``check_provider``: it passes good providers and names the contract a broken one breaks."""

import itertools
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import CONTRACTS, ContractViolation, HarnessError, InMemoryProvider, check_provider, resources
from tests.support.testing_kinds import Network, Server

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
from file_provider import Disk, DiskFiles


def test_the_battery_passes_on_the_in_memory_provider():
    check_provider(lambda: InMemoryProvider(Network), resources(Network))


def test_the_battery_passes_with_refs_resolved_through_dependencies():
    class Servers(InMemoryProvider[Server]):
        def create(self, desired, ctx):
            assert ctx.resolve(desired.network).cidr == "10.0.0.0/8"
            return super().create(desired, ctx)

    core = rc.ref(Network, "core")
    check_provider(
        lambda: Servers(Server),
        resources(Server, network=st.just(core), backups=st.lists(st.just(core), max_size=1)),
        dependencies=[Network("core", "10.0.0.0/8", network_id="n-1")],
    )


def test_the_battery_passes_on_the_example_file_provider(tmp_path):
    worlds = itertools.count()
    check_provider(lambda: DiskFiles(tmp_path / str(next(worlds))), resources(Disk))


def test_the_battery_runs_with_the_settings_given():
    made = []

    def make():
        made.append(1)
        return InMemoryProvider(Network)

    check_provider(make, resources(Network), settings=settings(max_examples=3, database=None))
    assert 6 <= len(made) <= 6 * 3, "one fresh provider per example, three examples per contract at most"


class ReadMissesFreshCreates(InMemoryProvider[Network]):
    """Eventually consistent: read does not see an object until it has been updated."""

    def read(self, address):
        found = super().read(address)
        return found if address in self.methods_called("update") else None


class UpdateIgnoresTags(InMemoryProvider[Network]):
    def update(self, actual, desired, ctx):
        return super().update(actual, attrs.evolve(desired, tags=actual.tags), ctx)


class DeleteLeavesTheObject(InMemoryProvider[Network]):
    def delete(self, actual, ctx):
        self.calls.append(rc.testing.Call("delete", rc.address_of(actual)))


class ListMissesObjects(InMemoryProvider[Network]):
    """Pagination bug: list() returns only the first page, of two objects."""

    def list(self):
        return list(super().list())[:2]


@rc.resource(kind="volume")
class Volume:
    name: str = rc.identity()
    size: int = rc.spec()


class UpdateAppliesADelta(InMemoryProvider[Volume]):
    """Grows the volume by (desired - actual): right once, wrong when a retry repeats the call."""

    def update(self, actual, desired, ctx):
        current = self.objects[rc.address_of(actual)]
        grown = attrs.evolve(desired, size=current.size + desired.size - actual.size)
        return super().update(actual, grown, ctx)


class NamesStayReservedAfterDelete(InMemoryProvider[Network]):
    """A deleted name cannot be created again, so replacing an object fails."""

    def __init__(self, cls):
        super().__init__(cls)
        self.deleted = set()

    def create(self, desired, ctx):
        if rc.address_of(desired) in self.deleted:
            raise LookupError(f"{rc.address_of(desired)} is still reserved")
        return super().create(desired, ctx)

    def delete(self, actual, ctx):
        super().delete(actual, ctx)
        self.deleted.add(rc.address_of(actual))


class CreateNormalises(InMemoryProvider[Network]):
    def create(self, desired, ctx):
        return super().create(attrs.evolve(desired, cidr=desired.cidr.strip()), ctx)


@pytest.mark.parametrize(
    ("provider", "strategy", "contract", "details"),
    [
        (ReadMissesFreshCreates, resources(Network), "read-after-create", ("then read(network/", "returned None")),
        (UpdateIgnoresTags, resources(Network), "update-returns-desired", ("field 'tags': expected {'",)),
        (DeleteLeavesTheObject, resources(Network), "delete-then-read", ("then read(network/", "returned Network(")),
        (ListMissesObjects, resources(Network), "list-agrees-with-read", ("list() misses network/",)),
        (
            UpdateAppliesADelta,
            resources(Volume),
            "update-idempotent",
            ("again with the same arguments", "field 'size'"),
        ),
        (NamesStayReservedAfterDelete, resources(Network), "plan-converges", ("create network/", "is still reserved")),
        (CreateNormalises, resources(Network), "create-returns-desired", ("field 'cidr': expected",)),
    ],
)
def test_the_battery_names_the_broken_contract(provider, strategy, contract, details):
    kind = Volume if provider is UpdateAppliesADelta else Network
    with pytest.raises(ContractViolation) as info:
        check_provider(lambda: provider(kind), strategy)
    assert info.value.contract == contract
    assert contract in CONTRACTS
    assert str(info.value).startswith(f"provider contract broken: {contract}: ")
    for detail in details:
        assert detail in str(info.value)


def test_a_broken_contract_is_shown_on_the_smallest_example():
    with pytest.raises(ContractViolation) as info:
        check_provider(lambda: UpdateIgnoresTags(Network), resources(Network), settings=settings(database=None))
    assert info.value.detail.endswith("field 'tags': expected {'': ''}, got {}")
    assert "update(Network(name='', cidr='', tags={}, network_id='network-1')" in info.value.detail


def test_an_exception_from_the_provider_names_the_call_and_contract():
    class Broken(InMemoryProvider[Network]):
        def create(self, desired, ctx):
            raise RuntimeError("quota exceeded")

    with pytest.raises(ContractViolation, match=r"create-returns-desired: create\(Network\(.*\)\) raised RuntimeError"):
        check_provider(lambda: Broken(Network), resources(Network))


def test_create_must_return_a_resource():
    class ReturnsNothing(InMemoryProvider[Network]):
        def create(self, desired, ctx):
            super().create(desired, ctx)

    with pytest.raises(ContractViolation, match="expected a resource of kind 'network', got NoneType None"):
        check_provider(lambda: ReturnsNothing(Network), resources(Network))


def test_a_ref_outside_the_dependencies_is_reported_as_such():
    class Servers(InMemoryProvider[Server]):
        def create(self, desired, ctx):
            ctx.resolve(desired.network)
            return super().create(desired, ctx)

    with pytest.raises(ContractViolation, match="not among the dependencies given to check_provider"):
        check_provider(lambda: Servers(Server), resources(Server))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"make_provider": InMemoryProvider(Network)}, "make_provider must be a callable"),
        ({"resources": Network}, "resources must be a hypothesis strategy"),
        ({"max_resources": 0}, "max_resources must be an int >= 1"),
        ({"dependencies": [Network]}, "dependencies must be resources"),
    ],
)
def test_bad_arguments_raise_harness_errors(kwargs, message):
    args = {"make_provider": lambda: InMemoryProvider(Network), "resources": resources(Network), **kwargs}
    with pytest.raises(HarnessError, match=message):
        check_provider(**args)
