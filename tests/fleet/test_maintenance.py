"""Maintenance mode: the switch and its file, the provider's window around updates, and the release fields."""

from __future__ import annotations

import json
import pathlib
import stat
import threading
from typing import Any

import pytest
from hypothesis import strategies as st

import reconcile as rc
from reconcile.fleet import (
    DEFAULT_MAINTENANCE_DURATION,
    ArtifactStore,
    BackendFleetStore,
    CellStatus,
    ComponentError,
    ControlPlane,
    FileClock,
    InvalidInputError,
    Maintenance,
    MaintenanceProvider,
    MaintenanceSwitch,
    MemoryRuntime,
    ReleaseComponent,
)
from reconcile.fleet.maintenance import ENV_CLOCK_FILE, ENV_MAINTENANCE_FILE, component_env, read_window
from reconcile.fleet.runtime import Component
from reconcile.fleet.table import format_table, summary
from reconcile.testing import check_provider
from tests.support.fleet import Artifacts

DIGEST = "b" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_begin_writes_the_window_and_end_removes_it(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    switch = MaintenanceSwitch(tmp_path / "maintenance.json", clock=clock)
    assert switch.current() is None
    window = switch.begin(60, "update of workspaces 1 -> 2")
    assert window == Maintenance(clock.now, clock.now + 60, "update of workspaces 1 -> 2")
    data = json.loads(switch.path.read_text())
    assert data == {"enabled_until": clock.now + 60, "since": clock.now, "reason": "update of workspaces 1 -> 2"}
    assert stat.S_IMODE(switch.path.stat().st_mode) == 0o644
    assert switch.current() == window
    switch.end()
    assert not switch.path.exists() and switch.current() is None
    # Nothing but the file is left behind (the write went through a temporary file, renamed over).
    assert list(tmp_path.iterdir()) == []


def test_a_window_ends_by_itself_at_its_end_time(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    switch = MaintenanceSwitch(tmp_path / "m.json", clock=clock)
    switch.begin(30, "x")
    clock.now += 29.9
    assert switch.current() is not None
    clock.now += 0.1
    assert switch.current() is None  # on while now < until
    assert read_window(switch.path) is not None  # the file is still there: nobody had to remove it


def test_windows_nest_and_the_later_end_wins(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    switch = MaintenanceSwitch(tmp_path / "m.json", clock=clock)
    first = switch.begin(100, "first")
    clock.now += 10
    second = switch.begin(200, "second")
    assert second.since == first.since and second.until == clock.now + 200
    switch.end()
    assert switch.current() == second  # one update still runs
    switch.end()
    assert switch.current() is None
    switch.end()  # one end too many is harmless
    assert switch.begin(5, "again").until == clock.now + 5


def test_clear_ends_a_window_a_dead_agent_left(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    MaintenanceSwitch(tmp_path / "m.json", clock=clock).begin(600, "left behind")
    fresh = MaintenanceSwitch(tmp_path / "m.json", clock=clock)
    assert fresh.current() is not None
    left = fresh.clear()
    assert left is not None and left.reason == "left behind"
    assert fresh.current() is None and fresh.clear() is None


@pytest.mark.parametrize("duration", [0, -1, 86401, True])
def test_bad_durations_are_refused(tmp_path: pathlib.Path, duration: Any) -> None:
    switch = MaintenanceSwitch(tmp_path / "m.json")
    with pytest.raises(InvalidInputError, match="maintenance duration"):
        switch.begin(duration, "x")
    assert not switch.path.exists()


def test_component_env_names_the_file_and_a_shared_clock(tmp_path: pathlib.Path) -> None:
    assert component_env(tmp_path / "m.json", Clock()) == {ENV_MAINTENANCE_FILE: str(tmp_path / "m.json")}
    env = component_env(tmp_path / "m.json", FileClock(tmp_path / "clock.json"))
    assert env[ENV_CLOCK_FILE] == str(tmp_path / "clock.json")


class Recording(MemoryRuntime):
    """A MemoryRuntime that records, in each call, whether maintenance was on."""

    def __init__(self, switch: MaintenanceSwitch) -> None:
        super().__init__()
        self.switch = switch
        self.seen: list[tuple[str, str, bool]] = []

    def create(self, desired: Component, ctx: rc.Context) -> Component:
        self.seen.append(("create", desired.name, self.switch.current() is not None))
        return super().create(desired, ctx)

    def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Component:
        self.seen.append(("update", desired.name, self.switch.current() is not None))
        return MemoryRuntime.create(self, desired, ctx)  # what MemoryRuntime.update does, not recorded as a create


def apply_release(provider: MaintenanceProvider, components: list[Component]) -> rc.ApplyResult:
    providers = {"component": provider}
    plan = rc.plan(rc.State(components), rc.observe(providers))
    return rc.apply(plan, providers)


def test_the_provider_opens_a_window_only_around_updates_of_components_that_require_it(
    tmp_path: pathlib.Path,
) -> None:
    clock = Clock()
    switch = MaintenanceSwitch(tmp_path / "m.json", clock=clock)
    runtime = Recording(switch)
    changes: list[bool] = []
    provider = MaintenanceProvider(
        runtime,
        switch,
        lambda name: 120.0 if name == "workspaces" else None,
        on_change=lambda: changes.append(switch.current() is not None),
    )
    v1 = [Component("workspaces", "1", DIGEST), Component("proxy", "1", DIGEST)]
    assert apply_release(provider, v1).ok
    v2 = [Component("workspaces", "2", DIGEST), Component("proxy", "2", DIGEST)]
    assert apply_release(provider, v2).ok
    assert sorted(runtime.seen) == [
        ("create", "proxy", False),
        ("create", "workspaces", False),  # a first install: nothing running to protect
        ("update", "proxy", False),
        ("update", "workspaces", True),
    ]
    assert changes == [True, False]  # reported when it went on and when it went off
    assert switch.current() is None and not switch.path.exists()


def test_a_failed_update_still_ends_the_window(tmp_path: pathlib.Path) -> None:
    switch = MaintenanceSwitch(tmp_path / "m.json", clock=Clock())
    runtime = MemoryRuntime()
    provider = MaintenanceProvider(runtime, switch, lambda name: 60.0)
    assert apply_release(provider, [Component("workspaces", "1", DIGEST)]).ok
    runtime.unhealthy_versions.add("2")
    result = apply_release(provider, [Component("workspaces", "2", DIGEST)])
    assert not result.ok and isinstance(next(iter(result.errors.values())), ComponentError)
    assert switch.current() is None and not switch.path.exists()
    assert runtime.running["workspaces"].version == "1"


def test_a_report_that_fails_does_not_stop_the_update(tmp_path: pathlib.Path) -> None:
    switch = MaintenanceSwitch(tmp_path / "m.json", clock=Clock())
    runtime = MemoryRuntime()

    def broken() -> None:
        raise RuntimeError("control plane away")

    provider = MaintenanceProvider(runtime, switch, lambda name: 60.0, on_change=broken)
    apply_release(provider, [Component("workspaces", "1", DIGEST)])
    assert apply_release(provider, [Component("workspaces", "2", DIGEST)]).ok
    assert runtime.running["workspaces"].version == "2"


def test_concurrent_updates_share_one_window(tmp_path: pathlib.Path) -> None:
    switch = MaintenanceSwitch(tmp_path / "m.json", clock=Clock())
    inside = threading.Barrier(2, timeout=10)
    states: list[bool] = []

    class Slow(MemoryRuntime):
        def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Component:
            inside.wait()  # both updates are in their window at once
            result = super().update(actual, desired, ctx)
            inside.wait()
            states.append(switch.current() is not None)
            return result

    runtime = Slow()
    provider = MaintenanceProvider(runtime, switch, lambda name: 60.0)
    first = [Component("a", "1", DIGEST), Component("b", "1", DIGEST)]
    apply_release(provider, first)
    providers = {"component": provider}
    plan = rc.plan(rc.State([Component("a", "2", DIGEST), Component("b", "2", DIGEST)]), rc.observe(providers))
    assert rc.apply(plan, providers, executor=rc.ThreadExecutor(max_workers=2)).ok
    assert states == [True, True]
    assert switch.current() is None


# -- the release and status fields ----------------------------------------------


def test_release_component_maintenance_fields_round_trip() -> None:
    plain = ReleaseComponent("proxy", "1", DIGEST)
    assert plain.to_json() == {"name": "proxy", "version": "1", "digest": DIGEST, "config": {}}
    assert ReleaseComponent.from_json(plain.to_json()) == plain
    marked = ReleaseComponent.from_json(
        {"name": "workspaces", "version": "1", "digest": DIGEST, "requires_maintenance": True}
    )
    assert marked.requires_maintenance and marked.maintenance_duration == DEFAULT_MAINTENANCE_DURATION == 600.0
    assert ReleaseComponent.from_json(marked.to_json()) == marked
    timed = ReleaseComponent("workspaces", "1", DIGEST, requires_maintenance=True, maintenance_duration=90)
    assert ReleaseComponent.from_json(timed.to_json()).maintenance_duration == 90.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"requires_maintenance": "yes"}, r"requires_maintenance: expected a boolean"),
        ({"maintenance_duration": 60}, r"maintenance_duration: given, but requires_maintenance is not true"),
        ({"requires_maintenance": True, "maintenance_duration": 0}, r"maintenance_duration: expected seconds"),
        ({"requires_maintenance": True, "maintenance_duration": 90000}, r"maintenance_duration: expected seconds"),
        ({"requires_maintenance": True, "maintenance_duration": "60"}, r"maintenance_duration: expected"),
    ],
)
def test_bad_maintenance_fields_are_refused_by_name(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"release.components\[0\]\.{message}"):
        ReleaseComponent.from_json({"name": "w", "version": "1", "digest": DIGEST, **extra}, "release.components[0]")


def test_cell_status_carries_the_window() -> None:
    status = CellStatus(3, maintenance=Maintenance(100.0, 700.0, "update of workspaces 1 -> 2"))
    assert CellStatus.from_json(status.to_json()) == status
    assert CellStatus.from_json(CellStatus(3).to_json()).maintenance is None
    with pytest.raises(InvalidInputError, match=r"status.maintenance.until"):
        CellStatus.from_json({**status.to_json(), "maintenance": {"since": 10.0, "until": 5.0}})
    with pytest.raises(InvalidInputError, match=r"status.maintenance: unknown field 'owner'"):
        CellStatus.from_json({**status.to_json(), "maintenance": {"since": 1, "until": 2, "owner": "x"}})


def test_publish_release_takes_the_maintenance_fields_and_refuses_unknown_ones(
    tmp_path: pathlib.Path, artifacts: Artifacts
) -> None:
    clock = Clock()
    store = BackendFleetStore.open(f"sqlite:///{tmp_path / 'fleet.db'}")
    cp = ControlPlane(store, ArtifactStore(tmp_path / "artifacts"), admin_token="t" * 20, clock=clock)
    digest = cp.artifacts.put_file(artifacts.paths[("workspaces", "1.0.0")])
    body = {"name": "workspaces", "digest": digest, "requires_maintenance": True, "maintenance_duration": 45}
    release, _ = cp.publish_release({"version": "r1", "components": [body]})
    assert release.components[0].requires_maintenance and release.components[0].maintenance_duration == 45.0
    assert store.get_release("r1") == release
    with pytest.raises(InvalidInputError, match=r"release.components\[0\]: unknown field 'requires_maintenence'"):
        cp.publish_release({"version": "r2", "components": [{"digest": digest, "requires_maintenence": True}]})
    with pytest.raises(InvalidInputError, match=r"release.components\[0\].maintenance_duration"):
        cp.publish_release({"version": "r2", "components": [{"digest": digest, "maintenance_duration": 5}]})
    assert store.get_release("r2") is None
    store.close()


def test_the_status_table_shows_a_window_until_its_end() -> None:
    status = CellStatus(1, "r1", maintenance=Maintenance(1000.0, 1600.0, "update of workspaces 1 -> 2")).to_json()
    view = {"cell": {"id": "acme", "stage": "dedicated"}, "spec": {"generation": 1}, "status": status}
    row = summary(view, 1100.0)
    assert row["maintenance"] == {
        "since": 1000.0,
        "until": 1600.0,
        "reason": "update of workspaces 1 -> 2",
        "left": 500.0,
    }
    table = format_table([row])
    assert "MAINTENANCE" in table and "(500s left): update of workspaces 1 -> 2" in table
    assert summary(view, 1600.0)["maintenance"] is None  # ended by itself, whatever the last report said
    assert "MAINTENANCE" not in format_table([summary(view, 1600.0)])


def test_the_maintenance_provider_passes_check_provider(tmp_path: pathlib.Path) -> None:
    """Wrapped, the runtime keeps the provider contract (and no window outlives a call)."""
    switch = MaintenanceSwitch(tmp_path / "m.json")
    components = st.builds(
        Component, st.sampled_from(["workspaces", "proxy"]), st.sampled_from(["1", "2", "3"]), st.just(DIGEST)
    )
    check_provider(lambda: MaintenanceProvider(MemoryRuntime(), switch, lambda name: 60.0), components, max_resources=2)
    assert switch.current() is None
