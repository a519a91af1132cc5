"""Targeting (rule 7): ``targets=`` keeps what they need, ``exclude=`` drops what follows; the rest is deferred."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from tests.support.planner import KINDS, Plain, world, worlds


def chain() -> tuple[rc.State, rc.State]:
    """base <- mid (unchanged) <- top, plus an unrelated change; every address but mid changes."""
    actual = rc.State(
        [
            Plain("base", size=0),
            Plain("mid", refs=(rc.ref(Plain, "base"),)),
            Plain("top", refs=(rc.ref(Plain, "mid"),)),
            Plain("other"),
        ]
    )
    desired = rc.State(
        [
            Plain("base", size=1),
            Plain("mid", refs=(rc.ref(Plain, "base"),)),
            Plain("top", size=1, refs=(rc.ref(Plain, "mid"),)),
            Plain("other", size=1),
            Plain("new"),
        ]
    )
    return desired, actual


def names(addresses: object) -> list[str]:
    return [str(a) for a in addresses]  # type: ignore[attr-defined]


def test_targets_keep_what_they_depend_on_even_through_unchanged_resources() -> None:
    desired, actual = chain()
    plan = rc.plan(desired, actual, targets=["plain/top"])
    assert names(plan.changes) == ["plain/base", "plain/top"]
    assert names(plan.deferred) == ["plain/other", "plain/new"]
    assert plan.deferred[rc.Address("plain", "other")] == rc.plan(desired, actual).change("plain/other")
    assert plan.unchanged == 1


def test_a_single_address_string_or_ref_is_one_target() -> None:
    desired, actual = chain()
    assert names(rc.plan(desired, actual, targets="plain/new").changes) == ["plain/new"]
    assert names(rc.plan(desired, actual, targets=rc.ref(Plain, "new")).changes) == ["plain/new"]
    assert names(rc.plan(desired, actual, targets=rc.Address("plain", "new")).changes) == ["plain/new"]


def test_exclude_drops_what_depends_on_them_even_through_unchanged_resources() -> None:
    desired, actual = chain()
    plan = rc.plan(desired, actual, exclude=["plain/base"])
    assert names(plan.changes) == ["plain/other", "plain/new"]
    assert names(plan.deferred) == ["plain/base", "plain/top"]


def test_targeting_a_delete_keeps_the_deletes_of_its_old_dependents() -> None:
    actual = rc.State([Plain("a"), Plain("b", refs=(rc.ref(Plain, "a"),)), Plain("c")])
    plan = rc.plan(rc.State([]), actual, targets=["plain/a"])
    assert [str(s) for s in plan.steps] == ["delete plain/b", "delete plain/a"]
    assert names(plan.deferred) == ["plain/c"]


def test_excluding_a_dependent_delete_defers_the_delete_that_must_follow_it() -> None:
    actual = rc.State([Plain("a"), Plain("b", refs=(rc.ref(Plain, "a"),))])
    plan = rc.plan(rc.State([]), actual, exclude=["plain/b"])
    assert plan.is_empty
    assert names(plan.deferred) == ["plain/a", "plain/b"]


def test_targets_and_exclude_combine() -> None:
    desired, actual = chain()
    plan = rc.plan(desired, actual, targets=["plain/top", "plain/other"], exclude=["plain/top"])
    assert names(plan.changes) == ["plain/base", "plain/other"]
    assert set(names(plan.deferred)) == {"plain/top", "plain/new"}


def test_deferred_changes_are_rendered() -> None:
    desired, actual = chain()
    plan = rc.plan(desired, actual, targets=["plain/new"])
    text = rc.render(plan)
    assert text.startswith("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete, 1 unchanged, 3 deferred.")
    assert text.endswith(
        "Deferred (left out by targets/exclude; plan again without them to apply):\n"
        "~ plain/base\n~ plain/top\n~ plain/other\n"
    )
    doc = json.loads(rc.render(plan, "json"))
    assert doc["summary"]["deferred"] == 3
    assert doc["deferred"][0] == {"address": "plain/base", "kind": "plain", "action": "update"}
    assert "deferred: update plain/base" in rc.render(plan, "dot")
    assert "deferred: update plain/base" in rc.render(plan, "mermaid")
    assert repr(plan) == "<Plan: noop=1, create=1, deferred=3>"


def test_a_fully_deferred_plan_is_empty_but_says_so() -> None:
    desired, actual = chain()
    plan = rc.plan(desired, actual, exclude=["plain/base", "plain/other", "plain/new"])
    assert plan.is_empty and len(plan.deferred) == 4
    assert "No changes" not in rc.render(plan)
    assert plan.change("plain/top").action is rc.Action.NOOP


def test_unknown_targets_are_refused_with_every_unknown_address() -> None:
    desired, actual = chain()
    unknown = r"plan\(targets=...\) names address\(es\) in neither .*plain/x, plain/y"
    with pytest.raises(rc.PlanOptionError, match=unknown):
        rc.plan(desired, actual, targets=["plain/x", "plain/top", "plain/y"])
    with pytest.raises(rc.PlanOptionError, match=r"plan\(exclude=...\) .*plain/z"):
        rc.plan(desired, actual, exclude=["plain/z"])


def test_malformed_targets_are_address_errors() -> None:
    desired, actual = chain()
    with pytest.raises(rc.AddressError, match="malformed address 'top'"):
        rc.plan(desired, actual, targets=["top"])


def test_applying_targeted_plans_in_turn_reaches_the_desired_state() -> None:
    desired, actual = chain()
    providers = world(Plain, initial=actual)
    first = rc.plan(desired, rc.observe(providers), targets=["plain/top"])
    assert rc.apply(first, providers).ok
    rest = rc.plan(desired, rc.observe(providers))
    assert set(rest.changes) == set(first.deferred)
    assert rc.apply(rest, providers).ok
    assert rc.plan(desired, rc.observe(providers)).is_empty


@given(worlds(), st.data())
def test_targeting_splits_the_plan_into_kept_and_deferred(
    states: tuple[rc.State, rc.State], data: st.DataObject
) -> None:
    """Kept and deferred changes partition the full plan's changes; kept steps never wait on a deferred step;
    targets are kept unless excluded; applying the kept part and planning again plans exactly the deferred part."""
    desired, actual = states
    full = rc.plan(desired, actual)
    everything = sorted({*desired.addresses, *actual.addresses}, key=str)
    targets = data.draw(st.none() | st.lists(st.sampled_from(everything), max_size=3))
    exclude = data.draw(st.none() | st.lists(st.sampled_from(everything), max_size=2))
    plan = rc.plan(desired, actual, targets=targets, exclude=exclude)
    assert set(plan.changes).isdisjoint(plan.deferred)
    assert {*plan.changes, *plan.deferred} == set(full.changes)
    for address, change in {**plan.changes, **plan.deferred}.items():
        assert change == full.changes[address]
    for step, preds in plan.predecessors.items():
        assert all(p.address in plan.changes for p in preds)
        for p in full.predecessors.get(step, ()):
            assert p.address in plan.changes, f"{step} kept but {p} deferred"
    for t in targets or ():
        if t in full.changes and not exclude:
            assert t in plan.changes
    for x in exclude or ():
        assert x not in plan.changes
    providers = world(*KINDS, initial=actual)
    assert rc.apply(rc.plan(desired, rc.observe(providers), targets=targets, exclude=exclude), providers).ok
    assert set(rc.plan(desired, rc.observe(providers)).changes) == set(plan.deferred)


def test_a_targeted_replacement_keeps_the_updates_it_causes() -> None:
    # Without them, the next plan would not see that plain/s must move to the new plain/n.
    actual = rc.State([Plain("n"), Plain("s", refs=(rc.ref(Plain, "n"),)), Plain("o")])
    desired = rc.State([Plain("n", ver=1), Plain("s", refs=(rc.ref(Plain, "n"),)), Plain("o", size=1)])
    plan = rc.plan(desired, actual, targets=["plain/n"])
    assert names(plan.changes) == ["plain/n", "plain/s"]
    assert names(plan.deferred) == ["plain/o"]
    excluded = rc.plan(desired, actual, exclude=["plain/s"])
    assert names(excluded.changes) == ["plain/o"]
    assert set(names(excluded.deferred)) == {"plain/n", "plain/s"}


def test_a_triggered_replacement_goes_with_its_trigger() -> None:
    watcher = Plain("w", lifecycle=rc.Lifecycle(replace_triggered_by=[rc.ref(Plain, "t")]))
    actual = rc.State([Plain("t"), Plain("w")])
    desired = rc.State([Plain("t", size=1), watcher])
    assert names(rc.plan(desired, actual, targets=["plain/t"]).changes) == ["plain/t", "plain/w"]
    assert names(rc.plan(desired, actual, targets=["plain/w"]).changes) == ["plain/t", "plain/w"]
    assert rc.plan(desired, actual, exclude=["plain/w"]).is_empty
