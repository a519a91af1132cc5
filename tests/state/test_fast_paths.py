"""The generated State loops (link, settle, check) refuse what the generic checks refuse, wherever it is in the input."""

from __future__ import annotations

import gc
from typing import Any

import pytest

import reconcile as rc
from tests.support.models import Network, Node, Server

# Which loop a state is read with: a validated state links; an observed one of
# kinds that may form a cycle (node refs node) settles; an observed one of
# kinds that cannot (server refs network) only checks.
MODES = {
    "link": (Node, False),
    "settle": (Node, True),
    "check": (Server, True),
}


def _good(cls: type, n: int) -> list[Any]:
    if cls is Node:
        return [Node(f"n{i}", i, parents=(rc.ref(Node, f"n{i - 1}"),) if i else ()) for i in range(n)]
    return [Network("net", "x"), *(Server(f"s{i}", rc.ref(Network, "net"), "m") for i in range(n))]


def _bad(cls: type) -> Any:
    if cls is Node:
        return Node("bad", "not an int")  # type: ignore[arg-type]
    return Server("bad", rc.ref(Network, "net"), 5)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", [0, 500, 999])
def test_a_wrong_value_anywhere_in_a_long_input_is_refused(mode: str, where: int) -> None:
    cls, dangling = MODES[mode]
    objs = _good(cls, 1000)
    objs.insert(where, _bad(cls))
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(objs, allow_dangling=dangling)
    (p,) = e.value.exceptions
    assert isinstance(p, rc.FieldTypeError) and str(p.address).endswith("/bad")


@pytest.mark.parametrize("mode", MODES)
def test_a_duplicate_in_a_long_input_is_refused_and_names_both(mode: str) -> None:
    cls, dangling = MODES[mode]
    objs = _good(cls, 1000)
    objs.insert(700, objs[300])
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(objs, allow_dangling=dangling)
    (p,) = e.value.exceptions
    assert isinstance(p, rc.DuplicateAddressError)


@pytest.mark.parametrize("mode", ["link", "settle"])
def test_a_cycle_closed_late_in_a_long_input_is_found(mode: str) -> None:
    _, dangling = MODES[mode]
    objs = _good(Node, 1000)
    # n0 now needs n999, which needs n998 ... which needs n0.
    objs[0] = Node("n0", 0, parents=(rc.ref(Node, "n999"),))
    with pytest.raises(rc.InvalidStateError, match="dependency cycle: node/n0 -> node/n999 -> node/n998"):
        rc.State(objs, allow_dangling=dangling)


def test_a_dangling_ref_late_in_a_long_input_is_found_unless_allowed():
    objs = _good(Node, 1000)
    objs[600] = Node("n600", 1, parents=(rc.ref(Node, "n599"), rc.ref(Node, "gone")))
    with pytest.raises(rc.InvalidStateError, match="node/n600: field 'parents\\[1\\]' refers to node/gone"):
        rc.State(objs)
    observed = rc.State(objs, allow_dangling=True)
    assert observed.dependencies("node/n600") == (rc.Address("node", "n599"),)


@pytest.mark.parametrize("mode", MODES)
def test_edges_of_every_loop_match_the_resources(mode: str) -> None:
    cls, dangling = MODES[mode]
    objs = _good(cls, 300)
    state = rc.State(list(reversed(objs)), allow_dangling=dangling)
    for obj in objs:
        address = rc.address_of(obj)
        expected = tuple(r.address for r in getattr(obj, "parents", ())) or (
            (rc.Address("network", "net"),) if cls is Server and address.kind == "server" else ()
        )
        assert state.dependencies(address) == expected
    hub = rc.address_of(objs[0])
    assert state.dependents(hub) == tuple(
        rc.address_of(o) for o in reversed(objs) if hub in state.dependencies(rc.address_of(o))
    )


def test_a_linked_state_keeps_no_tracked_object_per_edge():
    """The edges are tuples of ints, which the garbage collector stops tracking: a state of N resources whose
    addresses are already known adds about one tracked object (its dict), not one per resource."""
    objs = _good(Node, 5000)
    rc.State(objs)  # the addresses are now kept on the instances
    gc.collect()
    before = len(gc.get_objects())
    state = rc.State(objs)
    gc.collect()
    assert len(gc.get_objects()) - before < 50
    assert state.dependencies("node/n10") == (rc.Address("node", "n9"),)


@pytest.mark.parametrize("mode", MODES)
def test_the_same_object_twice_is_a_duplicate_in_every_loop(mode: str) -> None:
    cls, dangling = MODES[mode]
    objs = _good(cls, 50)
    objs.append(objs[-1])
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(objs, allow_dangling=dangling)
    (p,) = e.value.exceptions
    assert isinstance(p, rc.DuplicateAddressError) and p.address == rc.address_of(objs[-1])


@pytest.mark.parametrize("mode", MODES)
def test_a_resource_taken_after_a_duplicate_keeps_its_place_and_edges(mode: str) -> None:
    """A duplicate stops the loop without leaving anything of it behind: what follows is numbered and linked as usual."""
    cls, dangling = MODES[mode]
    objs = _good(cls, 50)
    objs.insert(20, objs[10])
    with pytest.raises(rc.InvalidStateError):
        rc.State(objs, allow_dangling=dangling)
    del objs[20]
    state = rc.State(objs, allow_dangling=dangling)
    assert list(state) == objs
    for obj in objs:
        assert state.dependencies(rc.address_of(obj)) == rc.State(objs, allow_dangling=True).dependencies(
            rc.address_of(obj)
        )


def test_dependents_found_together_match_dependents_one_by_one():
    from reconcile._state import dependents_of

    # Refs in every direction, repeats and refs to addresses outside the asked set.
    objs = [
        Node(f"n{i}", i, parents=tuple(rc.ref(Node, f"n{j}") for j in (i // 2, i // 3, i // 2) if j < i))
        for i in range(400)
    ]
    for state in (rc.State(objs), rc.State(list(reversed(objs))), rc.State(objs, allow_dangling=True)):
        asked = [rc.Address("node", f"n{i}") for i in range(0, 400, 7)] + [rc.Address("node", "absent")]
        together = dependents_of(state, asked)
        assert set(together) == set(asked[:-1])
        for address in asked[:-1]:
            assert together[address] == state.dependents(address)
        # Once the reverse edges of the whole state exist, they answer.
        assert dependents_of(state, asked) == together
