"""Tests of the hypothesis strategies in ``reconcile.testing``: validity, coverage, shrinking, errors."""

from collections import Counter
from typing import Literal

import attrs
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import HarnessError, plans, register_strategy, resources, state_pairs, states
from tests.support.testing_kinds import KINDS, Firewall, Network, Server

# Fixed seeds for the counted samples, so their thresholds never flake.
SAMPLE = settings(max_examples=300, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
SEARCH = settings(database=None, derandomize=True, max_examples=500)


def refs_in(value, path):
    """Every ``(path, address)`` a value refers to, through Refs nested in containers."""
    if isinstance(value, rc.Ref):
        yield path, value.address
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield from refs_in(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from refs_in(v, f"{path}[{k!r}]")


def refs_of(obj):
    for field in attrs.fields(type(obj)):
        if field.name == "depends_on":
            yield from (("depends_on", a) for a in obj.depends_on)
        else:
            yield from refs_in(getattr(obj, field.name), field.name)


def assert_valid(state: rc.State) -> None:
    """Every ref and depends_on target is in the state, of the annotated kind, and the graph has no cycle."""
    for obj in state:
        address = rc.address_of(obj)
        for path, target in refs_of(obj):
            assert target in state, f"{address}: {path} points at {target}, outside the state"
        if isinstance(obj, Server):
            assert obj.network.address.kind == "network"
    done: set[rc.Address] = set()
    visiting: set[rc.Address] = set()

    def visit(a: rc.Address) -> None:
        assert a not in visiting, f"cycle through {a}"
        if a in done:
            return
        visiting.add(a)
        for dep in state.dependencies(a):
            visit(dep)
        visiting.discard(a)
        done.add(a)

    for a in state.addresses:
        visit(a)


@given(states(KINDS, max_size=10))
def test_states_are_valid_and_acyclic(state):
    """Every generated state is valid: re-validating it finds nothing, refs stay inside, no cycle."""
    assert rc.State(list(state)) == state
    assert len(state) <= 10
    assert_valid(state)


@given(state_pairs(KINDS))
def test_both_states_of_a_pair_are_valid(pair):
    """Both states of every generated pair are valid on their own."""
    desired, actual = pair
    assert_valid(desired)
    assert_valid(actual)
    assert len({*desired.addresses, *actual.addresses}) <= 8


@given(states(KINDS, min_size=3, max_size=4))
def test_states_respect_min_and_max_size(state):
    assert 3 <= len(state) <= 4


def test_state_pairs_cover_every_action():
    """A counted sample of planned pairs holds every action, each a fair share of the changes."""
    counts: Counter[rc.Action] = Counter()

    @SAMPLE
    @given(state_pairs(KINDS))
    def sample(pair):
        for change in rc.plan(*pair):
            counts[change.action] += 1
        counts[rc.Action.NOOP] += rc.plan(*pair).unchanged

    sample()
    total = sum(counts.values())
    # ADOPT needs plan(adopt=...) over objects found but not managed, which state pairs do not model.
    for action in set(rc.Action) - {rc.Action.ADOPT}:
        assert counts[action] >= total * 0.05, (action, counts)


def test_weights_shift_the_mix_of_actions():
    """With every weight on deletes, deletes dominate; with creates at 0 there is no create."""
    counts: Counter[rc.Action] = Counter()

    @SAMPLE
    @given(state_pairs(KINDS, create=0, noop=1, update=1, replace=1, delete=6))
    def sample(pair):
        for change in rc.plan(*pair):
            counts[change.action] += 1

    sample()
    assert counts[rc.Action.CREATE] == 0
    assert counts[rc.Action.DELETE] > sum(counts.values()) / 2, counts


@given(state_pairs(KINDS, create=0, update=0, replace=0, delete=0, noop=1))
def test_only_noop_weight_gives_empty_plans(pair):
    assert rc.plan(*pair).is_empty


@given(plans(KINDS, min_size=1))
def test_plans_are_plans_between_valid_states(p):
    assert isinstance(p, rc.Plan)
    assert_valid(p.desired)
    assert_valid(p.actual)
    assert {c.address for c in p} <= {*p.desired.addresses, *p.actual.addresses}


def test_a_failing_state_shrinks_to_the_resources_it_needs():
    """Asking for a server yields exactly one network and one server, with the simplest values."""
    found = find(states(KINDS), lambda s: any(isinstance(r, Server) for r in s), settings=SEARCH)
    assert [type(r) for r in found] == [Network, Server]
    network, server = found
    assert server.network == rc.ref(network)
    assert (server.size, server.backups, network.tags) == ("", [], {})


def test_a_failing_pair_shrinks_to_one_replaced_resource():
    def has_replace(pair):
        return any(c.action is rc.Action.REPLACE for c in rc.plan(*pair))

    desired, actual = find(state_pairs(KINDS), has_replace, settings=SEARCH)
    assert len(desired) == len(actual) == 1
    assert rc.plan(desired, actual).summary()[rc.Action.REPLACE] == 1


@given(resources(Server))
def test_resources_alone_fill_identity_and_spec_and_leave_computed_none(server):
    assert isinstance(server, Server)
    assert server.server_id is None
    assert server.network.address.kind == "network"
    rc.State([server], allow_dangling=True)


@given(resources(Server, size=st.sampled_from(["small", "large"]), network=st.just(rc.ref(Network, "core"))))
def test_resources_overrides_replace_field_strategies(server):
    assert server.size in ("small", "large")
    assert server.network == rc.ref(Network, "core")


@given(states([resources(Network, cidr=st.just("10.0.0.0/8")), Server], min_size=1))
def test_states_use_the_overrides_of_resources_given_as_kinds(state):
    assert all(n.cidr == "10.0.0.0/8" for n in state if isinstance(n, Network))


@given(states([resources(Network, lifecycle=st.just(rc.Lifecycle(create_before_delete=True)))], min_size=1))
def test_lifecycle_is_drawn_only_when_overridden(state):
    assert all(n.lifecycle.create_before_delete for n in state)


@given(resources(Network))
def test_resources_keep_the_default_lifecycle(network):
    assert network.lifecycle == rc.Lifecycle()


@attrs.frozen
class Colour:
    rgb: tuple[int, int, int]


@rc.resource(kind="lamp")
class Lamp:
    name: str = rc.identity()
    colour: Colour = rc.spec()
    mode: Literal["on", "off"] = rc.spec(default="off")
    ratio: float = rc.spec(default=0.0)
    blob: bytes = rc.spec(default=b"")


register_strategy(Colour, st.sampled_from([Colour((255, 0, 0)), Colour((0, 0, 255))]))


@given(resources(Lamp))
def test_registered_strategies_are_used_for_their_type(lamp):
    assert lamp.colour in (Colour((255, 0, 0)), Colour((0, 0, 255)))
    assert lamp.mode in ("on", "off")
    assert lamp.ratio == lamp.ratio, "NaN is never drawn: it is not equal to itself"
    assert isinstance(lamp.blob, bytes)


@given(states([Firewall]))
def test_an_optional_ref_with_no_target_is_none(state):
    assert all(f.guards is None for f in state)


def test_a_kind_whose_required_ref_has_no_kind_is_refused_naming_the_field():
    with pytest.raises(HarnessError, match=r"Server can never be generated: field 'network'"):
        states([Server])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: states([]), "kinds must be a non-empty list"),
        (lambda: states(Network), "kinds must be a non-empty list"),
        (lambda: states([int]), "expected a resource class"),
        (lambda: states([st.integers()]), "neither a resource class nor a strategy made by resources"),
        (lambda: states([Network, Network]), "kind 'network' is given twice"),
        (lambda: states([Network], min_size=3, max_size=2), "min_size <= max_size"),
        (lambda: state_pairs([Network], delete=-1), "weight delete=-1"),
        (lambda: state_pairs([Network], create=0, update=0, replace=0, delete=0, noop=0), "must be > 0"),
        (lambda: resources(Network, colour=st.just(1)), "no identity or spec field 'colour'"),
        (lambda: resources(Network, network_id=st.just("n")), "no identity or spec field 'network_id'"),
        (lambda: resources(Network, cidr="10.0.0.0/8"), "the override for 'cidr' must be a hypothesis strategy"),
        (lambda: register_strategy(Colour, Colour((0, 0, 0))), "expected a hypothesis strategy"),
    ],
)
def test_bad_arguments_raise_harness_errors_naming_the_problem(call, message):
    with pytest.raises(HarnessError, match=message) as info:
        call()
    assert isinstance(info.value, rc.ReconcileError)
