"""Planning: actions by rules 1-3 and 5, step ordering, explanations and rendering."""

from __future__ import annotations

import pytest

import reconcile as rc
from reconcile import Action, Step
from tests.support.models import Disk, LoadBalancer, Network, Server

NET = rc.ref(Network, "core")
WEB = rc.ref(Server, "web")


def state(*rs):
    return rc.State(rs)


def base():
    return [Network("core", "10.0.0.0/16", network_id="n-1"), Server("web", NET, "small", server_id="s-1")]


def actions(p: rc.Plan) -> dict[str, Action]:
    return {str(a): c.action for a, c in p.changes.items()}


def test_create_update_delete_noop():
    actual = state(Network("core", "10.0.0.0/16"), Network("old", "10.9.0.0/16"), Network("same", "1"))
    desired = state(
        Network("core", "10.0.0.0/16", {"env": "prod"}), Network("new", "10.1.0.0/16"), Network("same", "1")
    )
    p = rc.plan(desired, actual)
    assert actions(p) == {"network/core": Action.UPDATE, "network/new": Action.CREATE, "network/old": Action.DELETE}
    assert p.summary() == {
        Action.NOOP: 1,
        Action.CREATE: 1,
        Action.UPDATE: 1,
        Action.REPLACE: 0,
        Action.DELETE: 1,
        Action.ADOPT: 0,
    }
    assert p.change("network/same").action is Action.NOOP
    assert p.change("network/core").changed_fields == ("tags",)


def test_computed_and_ignored_fields_never_cause_a_change():
    actual = state(*base(), Disk("d", WEB, 10, note="a"))
    desired = state(Network("core", "10.0.0.0/16"), Server("web", NET, "small"), Disk("d", WEB, 10, note="b"))
    assert rc.plan(desired, actual).is_empty


def test_replace_on_change_field_forces_replace():
    p = rc.plan(state(Network("core", "10.1.0.0/16")), state(Network("core", "10.0.0.0/16")))
    c = p.change("network/core")
    assert c.action is Action.REPLACE and c.replace_fields == ("cidr",)
    assert p.steps == (Step("network/core", Action.DELETE), Step("network/core", Action.CREATE))


def test_replaced_dependency_turns_dependents_into_update():
    actual = state(*base())
    desired = state(Network("core", "10.1.0.0/16"), Server("web", NET, "small"))
    p = rc.plan(desired, actual)
    web = p.change("server/web")
    assert web.action is Action.UPDATE
    assert web.changed_fields == ("network",)
    assert web.replaced_refs == (rc.Address("network", "core"),)
    # delete the old network, create the new one, then point the server at it
    assert p.steps == (
        Step("network/core", Action.DELETE),
        Step("network/core", Action.CREATE),
        Step("server/web", Action.UPDATE),
    )


@rc.resource(kind="host")
class Host:
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec(replace_on_change=True)


def test_replaced_dependency_replaces_dependents_whose_ref_is_replace_on_change():
    actual = state(Network("core", "10.0.0.0/16"), Host("h", NET))
    desired = state(Network("core", "10.1.0.0/16"), Host("h", NET))
    h = rc.plan(desired, actual).change("host/h")
    assert h.action is Action.REPLACE
    assert h.changed_fields == ("network",) and h.replace_fields == ("network",)
    assert h.replaced_refs == (rc.Address("network", "core"),)


def test_replacement_cascades_through_replace_on_change_refs():
    actual = state(Network("core", "10.0.0.0/16"), Host("h", NET), Disk("d", WEB), Server("web", NET, "small"))
    desired = state(Network("core", "10.1.0.0/16"), Host("h", NET), Disk("d", WEB), Server("web", NET, "small"))
    p = rc.plan(desired, actual)
    assert p.change("host/h").action is Action.REPLACE
    assert p.change("server/web").action is Action.UPDATE
    assert "disk/d" not in actions(p)  # an UPDATE of its server does not touch the disk
    order = {s: i for i, s in enumerate(p.steps)}
    # dependents replaced too are deleted before the dependency and created after it
    assert order[Step("host/h", Action.DELETE)] < order[Step("network/core", Action.DELETE)]
    assert order[Step("network/core", Action.CREATE)] < order[Step("host/h", Action.CREATE)]


def test_updated_dependency_leaves_its_dependents_alone():
    actual = state(*base(), Disk("d", WEB))
    desired = state(Network("core", "10.0.0.0/16"), Server("web", NET, "small"), Disk("d", WEB))
    desired = desired.with_resources(Server("web", NET, "small", password="new"))
    p = rc.plan(desired, actual)
    assert p.change("server/web").action is Action.UPDATE
    assert "disk/d" not in actions(p)


def test_refs_in_lists_and_dicts_are_edges():
    actual = state(*base())
    desired = state(*base(), LoadBalancer("lb", backends=[WEB], routes={"/": WEB}))
    p = rc.plan(desired, actual)
    assert actions(p) == {"lb/lb": Action.CREATE}
    desired2 = state(Network("core", "10.1.0.0/16"), Server("web", NET, "small"), LoadBalancer("lb", [WEB], {"/": WEB}))
    p2 = rc.plan(desired2, rc.State([*base(), LoadBalancer("lb", [WEB], {"/": WEB})]))
    # a server UPDATE (not replace) does not change the load balancer's inputs
    assert actions(p2) == {"network/core": Action.REPLACE, "server/web": Action.UPDATE}


def test_creates_follow_dependencies_and_deletes_precede_them():
    desired = state(Network("core", "x"), Server("web", NET, "small"), Disk("d", WEB))
    p = rc.plan(desired, rc.State())
    assert [str(s) for s in p.steps] == ["create network/core", "create server/web", "create disk/d"]
    p = rc.plan(rc.State(), desired)
    assert [str(s) for s in p.steps] == ["delete disk/d", "delete server/web", "delete network/core"]
    assert p.predecessors[Step("network/core", Action.DELETE)] == (Step("server/web", Action.DELETE),)


def test_update_runs_after_delete_of_a_former_dependent():
    actual = state(*base())
    desired = state(Network("core", "10.0.0.0/16", {"env": "x"}))
    p = rc.plan(desired, actual)
    assert [str(s) for s in p.steps] == ["delete server/web", "update network/core"]


def test_depends_on_orders_without_changing_inputs():
    from tests.support.models import Record

    desired = state(Network("core", "x"), Record("z", "a", "1", depends_on=[NET]))
    p = rc.plan(desired, rc.State())
    assert p.predecessors[Step("record/z/a", Action.CREATE)] == (Step("network/core", Action.CREATE),)
    p2 = rc.plan(state(Network("core", "y"), Record("z", "a", "1", depends_on=[NET])), desired)
    assert actions(p2) == {"network/core": Action.REPLACE}


def test_explain_gives_field_level_differences():
    actual = state(Network("core", "10.0.0.0/16", {"env": "prod", "team": "a"}))
    desired = state(Network("core", "10.0.0.0/16", {"env": "dev", "owner": "b"}))
    explained = rc.plan(desired, actual).change("network/core").explain()
    assert [(f.path, f.difference.value, f.before, f.after) for f in explained] == [
        ("tags['env']", "changed", "prod", "dev"),
        ("tags['owner']", "added", None, "b"),
        ("tags['team']", "removed", "a", None),
    ]
    assert str(explained[0]) == "tags['env']: 'prod' -> 'dev'"


def test_explain_redacts_sensitive_fields_and_covers_create():
    actual = state(*base())
    desired = state(Network("core", "10.0.0.0/16"), Server("web", NET, "small", password="s3cret!"))
    c = rc.plan(desired, actual).change("server/web")
    assert c.changed_fields == ("password",)
    assert [(f.path, f.before, f.after) for f in c.explain()] == [("password", "(sensitive)", "(sensitive)")]
    created = rc.plan(desired, rc.State()).change("server/web").explain()
    assert ("password", None, "(sensitive)") in [(f.path, f.before, f.after) for f in created]
    assert "s3cret!" not in repr(c) + repr(c.explain()) + repr(created)


def test_explain_is_lazy_and_cached():
    c = rc.plan(state(Network("core", "b")), state(Network("core", "a"))).change("network/core")
    assert c.explain() is c.explain()


def test_plan_requires_states():
    with pytest.raises(TypeError, match="takes two States, got list and State"):
        rc.plan([], rc.State())  # type: ignore[arg-type]


def test_change_of_unknown_address():
    with pytest.raises(KeyError, match="network/zzz is in neither"):
        rc.plan(rc.State(), rc.State()).change("network/zzz")


def test_plan_graph_to_networkx():
    p = rc.plan(state(Network("core", "x"), Server("web", NET, "small")), rc.State())
    g = p.to_networkx()
    assert list(g.edges) == [(Step("network/core", Action.CREATE), Step("server/web", Action.CREATE))]
    assert g.nodes[Step("server/web", Action.CREATE)]["action"] is Action.CREATE


def test_a_delete_waits_for_the_update_that_moves_a_dependent_away():
    old = state(Network("n1", "10.0.0.0/16"), Server("s", rc.ref(Network, "n1"), "small"))
    new = state(Network("n2", "10.1.0.0/16"), Server("s", rc.ref(Network, "n2"), "small"))
    p = rc.plan(new, old)
    assert [str(s) for s in p.steps] == ["create network/n2", "update server/s", "delete network/n1"]
    assert Step("server/s", Action.UPDATE) in p.predecessors[Step("network/n1", Action.DELETE)]


def test_conflicting_soft_edges_give_way_lifting_first():
    from tests.support.models import Node

    def n(name, *parents, value=0):
        return Node(name, value, "a", tuple(rc.ref(Node, x) for x in parents))

    # b moves from a to x; a (deleted) depended on x; x is updated.
    actual = state(n("x"), n("a", "x"), n("b", "a"))
    desired = state(n("x", value=1), n("b", "x"))
    p = rc.plan(desired, actual)
    assert [str(s) for s in p.steps] == ["update node/x", "update node/b", "delete node/a"]
    assert p.predecessors[Step("node/a", Action.DELETE)] == (Step("node/b", Action.UPDATE),)
    assert Step("node/a", Action.DELETE) not in p.predecessors.get(Step("node/x", Action.UPDATE), ())
