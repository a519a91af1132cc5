"""Staged rollouts: each rule by example, and properties on a simulated fleet with a fake clock."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.fleet import (
    ArtifactStore,
    BackendFleetStore,
    Cell,
    CellStatus,
    ComponentStatus,
    Condition,
    ControlPlane,
    DesiredSpec,
    InvalidInputError,
    NotFoundError,
    Release,
    ReleaseComponent,
    RolloutConflictError,
    Rollouts,
    RolloutStateError,
    StagePolicy,
)

DIGEST = "a" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeFleet:
    """An in-memory store with simulated agents: what ``Rollouts`` needs, and a record of every target set."""

    def __init__(self, clock: Clock, cells: dict[str, str]) -> None:
        self.clock = clock
        self.cells = {cid: Cell(cid, stage, registered=True) for cid, stage in cells.items()}
        self.releases = {v: Release(v, (ReleaseComponent("workspaces", v, DIGEST),)) for v in ("1", "2", "3")}
        self.specs = {cid: DesiredSpec(cid, 1, self.releases["1"]) for cid in cells}
        self.statuses: dict[str, CellStatus] = {cid: self.healthy(cid, 1, "1") for cid in cells}
        self.targets: list[tuple[float, str, int]] = []
        self.on_target: Any = None
        self.audits: list[tuple[str, str, str]] = []

    def healthy(self, cid: str, gen: int, release: str, health: str = "healthy") -> CellStatus:
        ok = health == "healthy"
        return CellStatus(
            gen,
            release,
            (ComponentStatus("workspaces", release, DIGEST, health),),
            (
                Condition("Ready", ok, "Applied" if ok else "ComponentUnhealthy", "", gen),
                Condition("Degraded", False, "Applied", "", gen),
                Condition("Progressing", False, "Applied", "", gen),
            ),
            reported_at=self.clock.now,
        )

    def degraded(self, cid: str, gen: int) -> CellStatus:
        return CellStatus(
            gen,
            "1",
            (ComponentStatus("workspaces", "1", DIGEST, "healthy"),),
            (
                Condition("Ready", False, "ApplyFailed", "1 of 1 changes failed: boom", gen),
                Condition("Degraded", True, "ApplyFailed", "1 of 1 changes failed: boom", gen),
            ),
            reported_at=self.clock.now,
        )

    def report(self, cid: str, status: CellStatus) -> None:
        self.statuses[cid] = status

    def apply(self, cid: str) -> None:
        """The cell's agent applies its spec and reports healthy."""
        spec = self.specs[cid]
        assert spec.release is not None
        self.statuses[cid] = self.healthy(cid, spec.generation, spec.release.version)

    # -- RolloutFleet
    def list_cells(self) -> list[Cell]:
        return list(self.cells.values())

    def get_release(self, version: str) -> Release | None:
        return self.releases.get(version)

    def get_status(self, cell_id: str) -> CellStatus | None:
        return self.statuses.get(cell_id)

    def get_spec(self, cell_id: str) -> DesiredSpec | None:
        return self.specs.get(cell_id)

    def set_target(self, cell_id: str, version: str | None) -> DesiredSpec:
        if self.on_target is not None:
            self.on_target(cell_id, version)
        old = self.specs[cell_id]
        release = self.releases[version] if version else None
        spec = old if old.release == release else DesiredSpec(cell_id, old.generation + 1, release)
        self.specs[cell_id] = spec
        self.targets.append((self.clock.now, cell_id, spec.generation))
        return spec

    def audit(self, at: float, actor: str, action: str, target: str, detail: str = "") -> None:
        self.audits.append((action, target, detail))


def setup(cells: dict[str, str], **kw: Any) -> tuple[Clock, FakeFleet, Rollouts]:
    clock = Clock()
    fleet = FakeFleet(clock, cells)
    return clock, fleet, Rollouts(fleet, clock=clock, **kw)


FAST = tuple(StagePolicy(s, batch=1, bake_time=10) for s in ("staging", "saas", "dedicated"))


def refresh(fleet: FakeFleet) -> None:
    """Agents keep reporting: the reported_at stays fresh, the status the same."""
    for cid, status in fleet.statuses.items():
        fleet.statuses[cid] = CellStatus(
            status.observed_generation,
            status.release,
            status.components,
            status.conditions,
            reported_at=fleet.clock.now,
        )


def run(clock: Clock, fleet: FakeFleet, rollouts: Rollouts, *, steps: int = 200, dt: float = 5.0) -> None:
    """Tick, let every targeted cell apply, advance the clock; until nothing is active."""
    for _ in range(steps):
        if rollouts.tick() is None:
            return
        for cid, spec in fleet.specs.items():
            if cid in fleet.statuses and fleet.statuses[cid].observed_generation < spec.generation:
                fleet.apply(cid)
        refresh(fleet)
        clock.now += dt
    raise AssertionError("the rollout did not end")


# -- the rules, by example ----------------------------------------------------


def test_stages_go_in_order_and_every_cell_ends_updated() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas", "a2": "saas", "d1": "dedicated"})
    r = rollouts.start("2", stages=FAST)
    run(clock, fleet, rollouts)
    assert r.state == "completed"
    assert [c for _, c, _ in fleet.targets] == ["s1", "a1", "a2", "d1"]
    assert {c.state for c in r.cells.values()} == {"updated"}
    assert all(fleet.specs[c].release.version == "2" for c in fleet.cells)  # type: ignore[union-attr]


def test_an_older_generation_never_counts() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=FAST)
    rollouts.tick()
    assert r.cells["s1"].state == "applying" and r.cells["s1"].generation == 2
    for _ in range(30):  # healthy on the target release, but of generation 1: nothing moves
        fleet.report("s1", fleet.healthy("s1", 1, "2"))
        clock.now += 60
        rollouts.tick()
    assert r.cells["s1"].state == "failed"  # the apply timeout, never "updated"
    assert "generation 2" in r.halt and r.halt.startswith("cell s1")
    assert [c for _, c, _ in fleet.targets] == ["s1"]


def test_bake_time_is_waited_before_a_cell_counts() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=(StagePolicy("staging", bake_time=100), StagePolicy("saas", bake_time=0)))
    rollouts.tick()
    fleet.apply("s1")
    rollouts.tick()
    assert r.cells["s1"].state == "baking"
    clock.now += 99
    refresh(fleet)
    left = rollouts.tick()
    assert r.cells["s1"].state == "baking" and left == pytest.approx(1.0)
    assert r.view(clock.now)["stages"][0]["time_left"] == pytest.approx(1.0)
    assert [c for _, c, _ in fleet.targets] == ["s1"]
    clock.now += 1
    refresh(fleet)
    rollouts.tick()
    assert r.cells["s1"].state == "updated"
    assert r.cells["a1"].state == "applying"


def test_min_wait_between_batches() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "s2": "staging"})
    r = rollouts.start("2", stages=(StagePolicy("staging", batch=1, bake_time=0, min_wait=50),))
    rollouts.tick()
    fleet.apply("s1")
    rollouts.tick()  # baking
    assert rollouts.tick() == pytest.approx(50)  # updated now; the next batch waits
    assert r.cells["s1"].state == "updated" and r.cells["s2"].state == "pending"
    clock.now += 49
    refresh(fleet)
    rollouts.tick()
    assert r.cells["s2"].state == "pending"
    clock.now += 1
    refresh(fleet)
    rollouts.tick()
    assert r.cells["s2"].state == "applying"


def test_percent_batches_round_up() -> None:
    assert StagePolicy("saas", batch="25%").batch_size(5) == 2
    assert StagePolicy("saas", batch="1%").batch_size(3) == 1
    assert StagePolicy("saas", batch=3).batch_size(2) == 3
    _clock, _fleet, rollouts = setup({f"a{i}": "saas" for i in range(5)})
    r = rollouts.start("2", stages=(StagePolicy("saas", batch="40%", bake_time=0),))
    rollouts.tick()
    assert sorted(c for c, p in r.cells.items() if p.state == "applying") == ["a0", "a1"]


@pytest.mark.parametrize(
    ("batch", "field"),
    [(0, "batch"), ("0%", "batch"), ("150%", "batch"), ("x%", "batch"), (True, "batch"), ("3", "batch")],
)
def test_bad_batch_is_refused(batch: Any, field: str) -> None:
    with pytest.raises(InvalidInputError, match=f"stage 'saas'.{field}"):
        StagePolicy("saas", batch=batch)


def test_bad_times_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="bake_time"):
        StagePolicy("saas", bake_time=-1)
    with pytest.raises(InvalidInputError, match="min_wait"):
        StagePolicy("saas", min_wait="5")  # type: ignore[arg-type]


def test_degraded_halts_and_names_the_cell() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "s2": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=(StagePolicy("staging", batch=2, bake_time=10), StagePolicy("saas")))
    rollouts.tick()
    fleet.report("s1", fleet.degraded("s1", 2))
    fleet.apply("s2")
    rollouts.tick()
    assert r.state == "halted"
    assert r.halt == "cell s1: Degraded: ApplyFailed: 1 of 1 changes failed: boom"
    assert r.cells["s1"].state == "failed"
    for _ in range(10):
        clock.now += 10
        refresh(fleet)
        rollouts.tick()
    assert r.cells["a1"].state == "pending"
    assert [c for _, c, _ in fleet.targets] == ["s1", "s2"]
    assert ("rollout.halt", r.id, r.halt) in fleet.audits


def test_unhealthy_during_bake_halts() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=FAST)
    rollouts.tick()
    fleet.apply("s1")
    rollouts.tick()
    assert r.cells["s1"].state == "baking"
    clock.now += 5
    fleet.report("s1", fleet.healthy("s1", 2, "2", health="unhealthy"))
    rollouts.tick()
    assert r.state == "halted" and r.halt == "cell s1: component workspaces is unhealthy"


def test_resume_after_halt_continues_and_keeps_the_failure_listed() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=FAST)
    rollouts.tick()
    fleet.report("s1", fleet.degraded("s1", 2))
    rollouts.tick()
    assert r.state == "halted"
    rollouts.resume(r.id)
    run(clock, fleet, rollouts)
    assert r.state == "completed"
    assert r.cells["s1"].state == "failed" and r.cells["a1"].state == "updated"
    assert r.view(clock.now)["stages"][0]["failed_cells"][0]["cell"] == "s1"


def test_pause_starts_no_batch_and_resume_continues() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "s2": "staging"})
    r = rollouts.start("2", stages=(StagePolicy("staging", bake_time=0),))
    rollouts.tick()
    rollouts.pause(r.id)
    fleet.apply("s1")
    for _ in range(3):
        rollouts.tick()
    assert r.cells["s1"].state == "updated" and r.cells["s2"].state == "pending"
    with pytest.raises(RolloutStateError, match="is paused; cannot pause"):
        rollouts.pause(r.id)
    rollouts.resume(r.id)
    run(clock, fleet, rollouts)
    assert r.state == "completed"


def test_abort_is_final() -> None:
    _clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=FAST)
    rollouts.abort(r.id)
    assert rollouts.tick() is None and fleet.targets == []
    for action in (rollouts.resume, rollouts.pause, rollouts.abort):
        with pytest.raises(RolloutStateError, match="is aborted"):
            action(r.id)
    rollouts.start("3")  # the track is free again


def test_one_active_rollout_per_track_unless_supersede() -> None:
    _clock, fleet, rollouts = setup({"s1": "staging"})
    first = rollouts.start("2")
    with pytest.raises(RolloutConflictError, match=f"rollout {first.id} of 2 is running on track 'default'"):
        rollouts.start("3")
    other = rollouts.start("3", track="lts")
    assert other.state == "running"
    second = rollouts.start("3", supersede=True)
    assert first.state == "superseded" and second.state == "running"
    rollouts.tick()
    assert fleet.specs["s1"].release.version == "3"  # type: ignore[union-attr]


def test_start_errors() -> None:
    _clock, _fleet, rollouts = setup({"s1": "staging"})
    with pytest.raises(NotFoundError, match="no release '9'"):
        rollouts.start("9")
    with pytest.raises(InvalidInputError, match="distinct stages"):
        rollouts.start("2", stages=(StagePolicy("saas"), StagePolicy("saas")))
    with pytest.raises(InvalidInputError, match="distinct stages"):
        rollouts.start("2", stages=())
    with pytest.raises(NotFoundError, match="no rollout 'r9'"):
        rollouts.get("r9")
    assert rollouts.all() == []


def test_skipped_cells_are_listed_with_the_reason() -> None:
    cells = {"s1": "staging", "s2": "staging", "s3": "staging", "s4": "staging", "a1": "saas", "d1": "dedicated"}
    clock, fleet, rollouts = setup(cells, skip_check=lambda c: "out of SLA" if c.id == "s3" else None)
    fleet.statuses["s2"] = CellStatus(1, "1", reported_at=clock.now - 1000)  # silent for 1000 s
    fleet.cells["s4"] = Cell("s4", "staging", registered=False)
    del fleet.statuses["s4"]
    r = rollouts.start(
        "2",
        stages=(StagePolicy("staging", batch=4, bake_time=0), StagePolicy("saas")),
        exclude={"a1": "excluded: label canary=no"},
    )
    run(clock, fleet, rollouts)
    assert r.state == "completed"
    reasons = {c: p.reason for c, p in r.cells.items() if p.state == "skipped"}
    assert reasons == {
        "s2": "unreachable: no status for 1000s",
        "s3": "out of SLA",
        "s4": "unreachable: never reported a status",
        "a1": "excluded: label canary=no",
        "d1": "stage 'dedicated' is not one of the rollout's stages",
    }
    assert [c for _, c, _ in fleet.targets] == ["s1"]
    view = r.view(clock.now)
    assert [s["cells"] for s in view["stages"]] == [4, 1]
    assert view["outside"] == [{"cell": "d1", "reason": "stage 'dedicated' is not one of the rollout's stages"}]
    assert r.cells["d1"].state == "skipped" and "d1" not in {c for _, c, _ in fleet.targets}
    assert view["stages"][0]["updated"] == 1 and len(view["stages"][0]["skipped"]) == 3


def test_view_counts_per_stage() -> None:
    clock, fleet, rollouts = setup({"s1": "staging", "s2": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=(StagePolicy("staging", batch=2, bake_time=30), StagePolicy("saas")))
    rollouts.tick()
    fleet.apply("s1")
    rollouts.tick()
    view = r.view(clock.now + 10)
    staging, saas = view["stages"][0], view["stages"][1]
    assert (staging["cells"], staging["baking"], staging["applying"], staging["updated"]) == (2, 1, 1, 0)
    assert staging["time_left"] == pytest.approx(20) and staging["status"] == "active"
    assert (saas["status"], saas["pending"], saas["time_left"]) == ("waiting", 1, None)


# -- through the real store and control plane ----------------------------------


def test_rollout_through_the_store_and_the_control_plane(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    store = BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}")
    cp = ControlPlane(store, ArtifactStore(tmp_path / "a"), admin_token="x" * 32, clock=clock)
    for v in ("1", "2"):
        store.publish_release(Release(v, (ReleaseComponent("workspaces", v, DIGEST),)))
    tokens = {}
    for cid, stage in (("s1", "staging"), ("a1", "saas")):
        tokens[cid] = cp.create_cell({"id": cid, "stage": stage, "release": "1"})["registration_token"]
    rollouts = Rollouts(store, clock=clock)

    def report(cid: str) -> None:
        spec = store.get_spec(cid)
        assert spec is not None and spec.release is not None
        v, g = spec.release.version, spec.generation
        cp.report_status(
            cid,
            {
                "observed_generation": g,
                "release": v,
                "components": [{"name": "workspaces", "version": v, "digest": DIGEST, "health": "healthy"}],
                "conditions": [{"type": "Ready", "status": True, "reason": "Applied", "observed_generation": g}],
            },
        )

    for cid in ("s1", "a1"):
        report(cid)
    r = rollouts.start("2", stages=(StagePolicy("staging", bake_time=10), StagePolicy("saas", bake_time=10)))
    rollouts.tick()
    # cells never registered: skipped as unreachable, and listed
    assert {c: p.state for c, p in r.cells.items()} == {"s1": "skipped", "a1": "skipped"}
    assert r.state == "completed"
    assert store.get_spec("s1").release.version == "1"  # type: ignore[union-attr]

    for token in tokens.values():
        cp.register({"token": token, "agent_version": "test"})
    registered = Rollouts(store, clock=clock, unreachable_after=60)
    r = registered.start("2", stages=(StagePolicy("staging", bake_time=10), StagePolicy("saas", bake_time=10)))
    before = store.get_spec("s1").generation  # type: ignore[union-attr]
    registered.tick()
    assert store.get_spec("s1").generation == before + 1  # type: ignore[union-attr]
    assert store.get_spec("a1").release.version == "1"  # type: ignore[union-attr]
    for _ in range(10):
        report("s1")
        report("a1")
        clock.now += 5
        if registered.tick() is None:
            break
    assert r.state == "completed"
    assert store.get_spec("a1").release.version == "2"  # type: ignore[union-attr]
    assert any(e["action"] == "cell.target" and e["target"] == "a1" for e in cp.audit_log())


# -- properties on a simulated fleet -------------------------------------------

cell_behaviour = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(("staging", "saas", "dedicated")),
        "delay": st.integers(0, 3),  # ticks before the agent reports the new generation
        "fail_apply": st.integers(0, 9).map(lambda n: n == 0),
        "fail_bake": st.integers(0, 9).map(lambda n: n == 0),
        "down": st.integers(0, 6).map(lambda n: n == 0),  # silent from the start
        "excluded": st.integers(0, 9).map(lambda n: n == 0),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    behaviours=st.lists(cell_behaviour, min_size=1, max_size=10),
    batch=st.one_of(st.integers(1, 3), st.sampled_from(["30%", "50%", "100%"])),
    bake=st.sampled_from([0, 10, 25]),
    wait=st.sampled_from([0, 15]),
    rollback=st.booleans(),
)
def test_rollout_properties(
    behaviours: list[dict[str, Any]], batch: int | str, bake: int, wait: int, rollback: bool
) -> None:
    cells = {f"c{i}": b["stage"] for i, b in enumerate(behaviours)}
    clock, fleet, rollouts = setup(cells, unreachable_after=60, apply_timeout=100)
    stages = tuple(StagePolicy(s, batch=batch, bake_time=bake, min_wait=wait) for s in ("staging", "saas", "dedicated"))
    order = [s.name for s in stages]
    b = {f"c{i}": x for i, x in enumerate(behaviours)}
    for cid, x in b.items():
        if x["down"]:
            fleet.statuses[cid] = CellStatus(1, "1", reported_at=clock.now - 1000)
    r = rollouts.start(
        "2", stages=stages, exclude={c: "excluded" for c, x in b.items() if x["excluded"]}, auto_rollback=rollback
    )
    first_healthy: dict[str, float] = {}

    def on_target(cid: str, version: str | None) -> None:
        if version == "1":  # a rollback: only of the halted batch, only after the halt
            assert r.state == "halted" and r.auto_rollback and r.cells[cid].batch == r.batches
            return
        # no cell of a later stage before the earlier stages completed; nothing after a halt
        assert r.state == "running", f"{cid} targeted while {r.state}"
        k = order.index(cells[cid])
        for other, p in r.cells.items():
            if order.index(p.stage) < k:
                assert p.state in ("updated", "skipped"), f"{cid} targeted before {other} ({p.state})"

    fleet.on_target = on_target
    pending: dict[str, int] = {}
    for _ in range(400):
        if rollouts.tick() is None or r.state == "halted":
            break
        for cid, spec in fleet.specs.items():
            x = b[cid]
            if x["down"]:
                continue
            status = fleet.statuses[cid]
            if status.observed_generation < spec.generation:
                pending[cid] = pending.get(cid, 0) + 1
                if pending[cid] <= x["delay"]:
                    # a status of an older generation, even one that names the target release
                    fleet.report(cid, fleet.healthy(cid, spec.generation - 1, "2"))
                elif x["fail_apply"]:
                    fleet.report(cid, fleet.degraded(cid, spec.generation))
                else:
                    fleet.apply(cid)
                    first_healthy[cid] = clock.now
            elif x["fail_bake"] and spec.generation > 1 and status.ready:
                fleet.report(cid, fleet.healthy(cid, spec.generation, "2", health="unhealthy"))
            else:
                refresh_one(fleet, cid)
        clock.now += 5
    else:
        raise AssertionError("the rollout did not end")

    # nothing updated after a halt: the number of targets stays put
    if r.state == "halted":
        n = len(fleet.targets)
        for _ in range(5):
            clock.now += 50
            rollouts.tick()
        assert len(fleet.targets) == n
        failed = [c for c, p in r.cells.items() if p.state == "failed"]
        assert failed and any(r.halt.startswith(f"cell {c}:") for c in failed)
        last = {c for c, p in r.cells.items() if p.batch == r.batches and p.generation}
        on_release = {c for c, spec in fleet.specs.items() if spec.release is not None and spec.release.version == "2"}
        if rollback:  # the halted batch is back on the previous release, and only it
            assert not (last & on_release)
            assert all(r.cells[c].state in ("failed", "rolled_back") for c in last)
            assert all(p.state == "updated" for c, p in r.cells.items() if c in on_release)
        else:
            assert last <= on_release
    else:
        assert r.state == "completed"
        # every eligible cell ends updated, or listed as skipped or failed
        assert all(p.state in ("updated", "skipped", "failed") for p in r.cells.values())
    # never dropped: every cell of a rolled-out stage is listed
    assert set(r.cells) == set(cells)
    for cid, p in r.cells.items():
        if p.state == "updated" and not (rollback and p.batch == r.batches and r.state == "halted"):
            # counted only on the target generation's status, held for the bake time
            status = fleet.statuses[cid]
            assert status.observed_generation >= p.generation > 1 and status.release == "2"
            assert p.since - first_healthy[cid] >= bake
        if p.state in ("skipped", "failed"):
            assert p.reason
        if b[cid]["excluded"]:
            assert p.state == "skipped" and p.reason == "excluded"
        if b[cid]["down"] and not b[cid]["excluded"]:
            assert p.state in ("skipped", "pending")
    targeted = {c for _, c, _ in fleet.targets}
    assert all(r.cells[c].state not in ("pending", "skipped") for c in targeted)
    if r.state == "completed":
        assert not any(p.state == "rolled_back" for p in r.cells.values())


def refresh_one(fleet: FakeFleet, cid: str) -> None:
    s = fleet.statuses[cid]
    fleet.statuses[cid] = CellStatus(
        s.observed_generation, s.release, s.components, s.conditions, reported_at=fleet.clock.now
    )


def test_the_rollout_controller_drives_a_rollout_to_the_end() -> None:
    import time

    from reconcile.fleet.controllers import rollouts_controller
    from tests.support.fleet import wait_for

    _clock, fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start("2", stages=(StagePolicy("staging", bake_time=0), StagePolicy("saas", bake_time=0)))
    controller = rollouts_controller(rollouts, every=0.02)
    controller.start()
    try:
        for _ in range(200):
            for cid, spec in list(fleet.specs.items()):
                if fleet.statuses[cid].observed_generation < spec.generation:
                    fleet.apply(cid)
            if r.state == "completed":
                break
            time.sleep(0.02)
        wait_for(lambda: r.state == "completed", 5, message="the rollout to complete")
    finally:
        controller.stop()
        controller.join()
    assert [c for _, c, _ in fleet.targets] == ["s1", "a1"]


def test_start_from_json() -> None:
    _clock, _fleet, rollouts = setup({"s1": "staging", "a1": "saas"})
    r = rollouts.start_json(
        {"release": "2", "track": "t", "stages": [{"name": "saas", "batch": "50%", "bake_time": 5}], "exclude": ["a1"]}
    )
    assert r.track == "t" and r.stages == (StagePolicy("saas", batch="50%", bake_time=5),)
    assert r.cells["a1"].reason == "excluded" and r.cells["s1"].state == "skipped"
    assert rollouts.start_json({"release": "3"}).stages == rollouts.start_json({"release": "3", "track": "u"}).stages


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "rollout: expected an object"),
        ({"release": "2", "x": 1}, "rollout: unknown field 'x'"),
        ({}, "rollout.release: expected a version"),
        ({"release": "2", "track": ""}, "rollout.track"),
        ({"release": "2", "supersede": "yes"}, "rollout.supersede"),
        ({"release": "2", "exclude": "a1"}, "rollout.exclude"),
        ({"release": "2", "stages": []}, "rollout.stages: expected a list"),
        ({"release": "2", "stages": [3]}, r"rollout.stages\[0\]: expected an object"),
        ({"release": "2", "stages": [{"name": "saas", "size": 1}]}, r"rollout.stages\[0\]: unknown field 'size'"),
        ({"release": "2", "stages": [{"batch": 1}]}, r"rollout.stages\[0\].name"),
        ({"release": "2", "stages": [{"name": "saas", "batch": -1}]}, "stage 'saas'.batch"),
    ],
)
def test_start_from_json_refuses_bad_input(body: Any, message: str) -> None:
    _clock, fleet, rollouts = setup({"s1": "staging"})
    with pytest.raises(InvalidInputError, match=message):
        rollouts.start_json(body)
    assert rollouts.all() == [] and fleet.targets == []


def test_auto_rollback_puts_the_halted_batch_back() -> None:
    clock, fleet, rollouts = setup({"s0": "staging", "s1": "staging", "s2": "staging", "s3": "staging"})
    r = rollouts.start("2", stages=(StagePolicy("staging", batch=2, bake_time=0),), auto_rollback=True)
    rollouts.tick()
    fleet.apply("s0")
    fleet.apply("s1")
    rollouts.tick()  # baking
    rollouts.tick()  # updated; the second batch starts
    assert [r.cells[c].state for c in ("s0", "s1", "s2", "s3")] == ["updated", "updated", "applying", "applying"]
    fleet.apply("s3")
    fleet.report("s2", fleet.degraded("s2", fleet.specs["s2"].generation))
    rollouts.tick()
    assert r.state == "halted" and r.halt.startswith("cell s2: Degraded")
    assert r.cells["s2"].state == "failed" and r.cells["s2"].reason.endswith("; rolled back to 1")
    assert r.cells["s3"].state == "rolled_back" and r.cells["s3"].reason.startswith("rolled back to 1: cell s2")
    versions = {c: spec.release.version for c, spec in fleet.specs.items()}  # type: ignore[union-attr]
    assert versions == {"s0": "2", "s1": "2", "s2": "1", "s3": "1"}  # an earlier batch stays
    assert r.view(clock.now)["stages"][0]["rolled_back"] == 1
    assert ("cell.rollback", "s3", f"rollout {r.id} rolled back to 1") in fleet.audits
    rollouts.resume(r.id)  # the rolled-back cell is tried again; the failed one stays failed
    assert r.cells["s3"].state == "pending"
    run(clock, fleet, rollouts)
    assert r.state == "completed" and r.cells["s3"].state == "updated" and r.cells["s2"].state == "failed"


def test_without_auto_rollback_the_halted_batch_stays() -> None:
    _clock, fleet, rollouts = setup({"s1": "staging", "s2": "staging"})
    r = rollouts.start("2", stages=(StagePolicy("staging", batch=2),))
    rollouts.tick()
    fleet.report("s1", fleet.degraded("s1", 2))
    rollouts.tick()
    assert r.state == "halted"
    assert fleet.specs["s1"].release.version == "2" and fleet.specs["s2"].release.version == "2"  # type: ignore[union-attr]
    assert not [a for a in fleet.audits if a[0] == "cell.rollback"]
