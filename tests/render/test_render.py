"""The text plan review: markers, order, before -> after, sensitive values hidden."""

from __future__ import annotations

import reconcile as rc
from tests.support.models import Network, Server

NET = rc.ref(Network, "core")


def test_render_shows_markers_in_apply_order():
    actual = rc.State(
        [Network("core", "10.0.0.0/16"), Network("old", "1"), Network("keep", "2"), Server("web", NET, "small")]
    )
    desired = rc.State(
        [Network("core", "10.1.0.0/16"), Network("keep", "2"), Server("web", NET, "large"), Network("new", "3")]
    )
    text = rc.render(rc.plan(desired, actual))
    assert text.splitlines()[0] == "Plan: 1 to create, 1 to update, 1 to replace, 1 to delete, 1 unchanged."
    heads = [line for line in text.splitlines() if line and not line.startswith(" ") and not line.startswith("Plan")]
    assert heads == [
        "-/+ network/core  (replace: cidr forces replacement)",
        "+ network/new",
        "- network/old",
        "~ server/web",
    ]
    assert "      size: 'small' -> 'large'" in text
    assert "      cidr: '10.0.0.0/16' -> '10.1.0.0/16'  # forces replacement" in text
    assert "network/keep" not in text  # NOOPs are counted, not listed


def test_render_of_a_create_shows_known_after_apply():
    text = rc.render(rc.plan(rc.State([Network("core", "x")]), rc.State()))
    assert "      network_id: (known after apply)" in text


def test_render_never_shows_a_sensitive_value():
    secret = "correct-horse-battery"
    created = rc.State([Network("core", "x"), Server("web", NET, "small", password=secret)])
    changed = rc.State([Network("core", "x"), Server("web", NET, "small", password=secret + "2")])
    for desired, actual in [(created, rc.State()), (changed, created), (rc.State(), created)]:
        p = rc.plan(desired, actual)
        for text in (rc.render(p), repr(p), *map(repr, p.changes.values()), *map(str, p.changes.values())):
            assert secret not in text
    assert "      password: (sensitive) -> (sensitive)" in rc.render(rc.plan(changed, created))


def test_render_of_an_empty_plan():
    s = rc.State([Network("core", "x")])
    assert rc.render(rc.plan(s, s)) == (
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 1 unchanged.\n"
        "No changes: the actual state matches the desired state.\n"
    )


def test_render_marks_a_ref_whose_target_is_replaced():
    actual = rc.State([Network("core", "a"), Server("web", NET, "small")])
    desired = rc.State([Network("core", "b"), Server("web", NET, "small")])
    assert "      network: ref('network/core')  # target replaced: network/core" in rc.render(rc.plan(desired, actual))
