"""``InMemoryProvider`` keeps what a real API keeps: an object's fields, not the planning metadata it was made with."""

from __future__ import annotations

import reconcile as rc
from reconcile.testing import InMemoryProvider


@rc.resource(kind="pin")
class Pin:
    name: str = rc.identity()
    where: str = rc.spec(replace_on_change=True)
    pin_id: str | None = rc.computed()


PIN_A = rc.Address("pin", ("a",))
PIN_B = rc.Address("pin", ("b",))


def test_reversing_a_depends_on_edge_with_only_the_other_end_replaced_leaves_no_cycle_in_the_world():
    world = {"pin": InMemoryProvider(Pin, unique_names=False)}
    first = rc.State([Pin("a", "x", depends_on=[PIN_B]), Pin("b", "x")])
    assert rc.apply(rc.plan(first, rc.observe(world)), world).ok

    # a is unchanged (a NOOP: depends_on is never compared); b is replaced and now depends on a.
    second = rc.State([Pin("a", "x"), Pin("b", "y", depends_on=[PIN_A])])
    planned = rc.plan(second, rc.observe(world))
    assert {a: c.action for a, c in planned.changes.items()} == {PIN_B: rc.Action.REPLACE}
    result = rc.apply(planned, world)
    assert result.ok, result.errors

    observed = rc.observe(world)  # used to raise InvalidStateError: a cycle pin/a -> pin/b -> pin/a
    assert observed[PIN_B].where == "y"
    assert rc.plan(second, observed).is_empty
    # The apply's own view of the world is a valid state too: the same objects, no cycle.
    assert rc.State(list(result.state)) == rc.State(list(observed))
