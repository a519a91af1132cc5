"""``replace_triggered_by``: replace a resource when a watched resource, or one of its fields, changes."""

from __future__ import annotations

import pytest

import reconcile as rc
from tests.support.planner import Plain, world


@rc.resource(kind="config")
class Config:
    name: str = rc.identity()
    body: str = rc.spec()
    labels: dict[str, str] = rc.spec(factory=dict)
    image: str = rc.spec(default="v1", replace_on_change=True)
    revision: str | None = rc.computed()


@rc.resource(kind="app")
class App:
    name: str = rc.identity()
    size: int = rc.spec(default=1)
    config: rc.Ref[Config] | None = rc.spec(default=None)


def watcher(*triggers: object, **fields: object) -> App:
    return App("a", lifecycle=rc.Lifecycle(replace_triggered_by=triggers), **fields)  # type: ignore[arg-type]


def plan_for(config_before: Config | None, config_after: Config | None, app: App) -> rc.Plan:
    actual = rc.State([c for c in (config_before, App("a")) if c is not None])
    desired = rc.State([c for c in (config_after, app) if c is not None])
    return rc.plan(desired, actual)


def test_any_change_of_a_watched_resource_replaces_the_watcher() -> None:
    plan = plan_for(Config("c", "x"), Config("c", "y"), watcher(rc.ref(Config, "c")))
    change = plan.change("app/a")
    assert change.action is rc.Action.REPLACE
    assert change.triggered_by == (rc.Address("config", "c"),)
    assert change.changed_fields == ()
    assert "-/+ app/a  (replace: triggered by config/c)" in rc.render(plan)


def test_an_unchanged_watched_resource_triggers_nothing() -> None:
    assert plan_for(Config("c", "x"), Config("c", "x"), watcher("config/c")).is_empty


@pytest.mark.parametrize("target", ["config/c", rc.Address("config", "c"), rc.ref(Config, "c")])
def test_targets_can_be_given_as_address_strings_addresses_or_refs(target: object) -> None:
    assert rc.Lifecycle(replace_triggered_by=target).replace_triggered_by == (rc.Trigger("config/c"),)


def test_a_field_trigger_fires_only_when_that_field_changes() -> None:
    app = watcher(rc.Trigger(rc.ref(Config, "c"), "labels.env"))
    fired = plan_for(Config("c", "x", {"env": "a"}), Config("c", "x", {"env": "b"}), app)
    assert fired.change("app/a").action is rc.Action.REPLACE
    quiet = plan_for(Config("c", "x", {"env": "a"}), Config("c", "y", {"env": "a", "z": "1"}), app)
    assert quiet.change("config/c").action is rc.Action.UPDATE
    assert quiet.change("app/a").action is rc.Action.NOOP


def test_a_computed_field_trigger_fires_when_the_watched_resource_is_replaced() -> None:
    app = watcher(rc.Trigger("config/c", "revision"))
    before = Config("c", "x", revision="r1")
    assert plan_for(before, Config("c", "x", image="v2"), app).change("app/a").action is rc.Action.REPLACE
    assert plan_for(before, Config("c", "y"), app).change("app/a").action is rc.Action.NOOP


def test_creating_or_deleting_the_watched_resource_fires() -> None:
    assert plan_for(None, Config("c", "x"), watcher(rc.Trigger("config/c", "body"))).change("app/a").triggered_by
    assert plan_for(Config("c", "x"), None, watcher("config/c")).change("app/a").triggered_by


def test_a_trigger_upgrades_an_update_and_keeps_its_fields() -> None:
    plan = plan_for(Config("c", "x"), Config("c", "y"), watcher("config/c", size=2))
    change = plan.change("app/a")
    assert change.action is rc.Action.REPLACE and change.changed_fields == ("size",)


def test_triggers_chain_and_combine_with_replaced_refs() -> None:
    # config/c changes -> plain/p (watching it) is replaced -> plain/q refs p, so q is updated,
    # and app/a watching q is replaced in turn.
    p = Plain("p", lifecycle=rc.Lifecycle(replace_triggered_by=["config/c"]))
    q = Plain("q", refs=(rc.ref(Plain, "p"),))
    app = watcher("plain/q")
    actual = rc.State([Config("c", "x"), Plain("p"), Plain("q", refs=(rc.ref(Plain, "p"),)), App("a")])
    plan = rc.plan(rc.State([Config("c", "y"), p, q, app]), actual)
    assert plan.change("plain/p").triggered_by == (rc.Address("config", "c"),)
    assert plan.change("plain/q").action is rc.Action.UPDATE
    assert plan.change("plain/q").replaced_refs == (rc.Address("plain", "p"),)
    assert plan.change("app/a").triggered_by == (rc.Address("plain", "q"),)


def test_a_field_trigger_on_a_ref_fires_when_the_ref_target_is_replaced() -> None:
    app = App("a", config=rc.ref(Config, "c"))
    w = Plain("w", lifecycle=rc.Lifecycle(replace_triggered_by=[rc.Trigger("app/a", "config")]))
    actual = rc.State([Config("c", "x"), App("a", config=rc.ref(Config, "c")), Plain("w")])
    plan = rc.plan(rc.State([Config("c", "x", image="v2"), app, w]), actual)
    assert plan.change("app/a").action is rc.Action.UPDATE
    assert plan.change("plain/w").triggered_by == (rc.Address("app", "a"),)


def test_a_triggered_replacement_of_a_protected_resource_is_refused() -> None:
    app = App("a", lifecycle=rc.Lifecycle(protect=True, replace_triggered_by=["config/c"]))
    with pytest.raises(rc.ProtectedResourceError, match=r"app/a: replace \(triggered by config/c\)"):
        plan_for(Config("c", "x"), Config("c", "y"), app)


def test_applying_a_triggered_replacement_converges() -> None:
    actual = [Config("c", "x", revision="r"), App("a")]
    providers = world(Config, App, initial=actual)
    desired = rc.State([Config("c", "y"), watcher("config/c")])
    plan = rc.plan(desired, rc.observe(providers))
    assert rc.apply(plan, providers).ok
    assert rc.plan(desired, rc.observe(providers)).is_empty


def test_a_trigger_watching_nothing_is_an_error_naming_both_ends() -> None:
    with pytest.raises(
        rc.LifecycleError,
        match=r"app/a: lifecycle replace_triggered_by\[1\] watches config/zz, "
        r"which is in neither the desired nor the actual state",
    ):
        plan_for(Config("c", "x"), Config("c", "y"), watcher("config/c", "config/zz"))


def test_a_trigger_on_an_unknown_field_is_an_error() -> None:
    with pytest.raises(rc.LifecycleError, match=r"watches field 'nope.x' of config/c, but kind 'config' has no field"):
        plan_for(Config("c", "x"), Config("c", "y"), watcher(rc.Trigger("config/c", "nope.x")))


def test_malformed_triggers_are_refused_when_declared() -> None:
    with pytest.raises(rc.LifecycleError, match=r"Trigger path: field path 'a b'"):
        rc.Trigger("config/c", "a b")
    with pytest.raises(rc.AddressError, match="malformed address 'nonsense'"):
        rc.Lifecycle(replace_triggered_by=["nonsense"])


def test_lifecycle_options_are_checked_even_when_nothing_changes() -> None:
    state = rc.State([App("a", lifecycle=rc.Lifecycle(replace_triggered_by=["config/gone"]))])
    with pytest.raises(rc.LifecycleError, match=r"app/a: lifecycle replace_triggered_by\[0\] watches config/gone"):
        rc.plan(state, rc.State([App("a")]))
