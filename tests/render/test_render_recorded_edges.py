"""The text review says which delete order came from the last applied state, and which of its edges the world overruled."""

from __future__ import annotations

import reconcile as rc
from tests.plan.test_planner_delete_order import applied_world
from tests.support.planner import Plain

FOLLOWED = "Delete order from the last applied state (edges the world does not report):"
OVERRULED = "Not followed (with the world's own edges they would close a cycle; the world's order wins):"


def test_the_review_names_each_edge_the_last_applied_state_ordered_deletes_by():
    last, world = applied_world()
    text = rc.render(rc.plan(rc.State(), rc.observe(world), last_applied=last))
    lines = text.splitlines()
    at = lines.index(FOLLOWED)
    assert lines[at + 1] == "  app/b before app/a"
    assert OVERRULED not in text


def test_the_review_names_an_overruled_edge_and_says_the_worlds_order_wins():
    actual = rc.State([Plain("a", refs=(rc.ref(Plain, "b"),), uid="1"), Plain("b", uid="2")], allow_dangling=True)
    last = rc.State([Plain("a"), Plain("b", depends_on=[rc.ref(Plain, "a")])])
    lines = rc.render(rc.plan(rc.State(), actual, last_applied=last)).splitlines()
    assert lines[lines.index(OVERRULED) + 1] == "  plain/b before plain/a"
    assert FOLLOWED not in lines


def test_a_plan_without_last_applied_says_nothing_of_it():
    _, world = applied_world()
    text = rc.render(rc.plan(rc.State(), rc.observe(world)))
    assert FOLLOWED not in text and OVERRULED not in text
