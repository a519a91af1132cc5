"""Rollout properties on a simulated fleet: real agents on ``MemoryRuntime``, the real control plane and store, a fake clock.

Each agent runs in this process and reaches the control plane through an
in-process client (no HTTP), which an outage makes unreachable. Failures are
builds that never get healthy in chosen cells; outages cut chosen cells off
the control plane for a while (they keep running, and cannot report).
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.fleet import (
    ArtifactStore,
    BackendFleetStore,
    ControlPlane,
    ControlPlaneUnavailableError,
    DesiredSpec,
    MemoryRuntime,
    StagePolicy,
)
from reconcile.fleet.agent import Agent
from tests.support.fleet import Artifacts

STAGES = ("staging", "saas", "dedicated")
ADMIN = "a" * 24


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class InProcessClient:
    """What the agent asks of the control plane, answered in this process; raises while the cell is cut off."""

    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.down = False

    def _reachable(self) -> None:
        if self.down:
            raise ControlPlaneUnavailableError("simulated outage")

    def desired(self, cell_id: str, etag: str | None = None, wait: float = 0.0) -> tuple[DesiredSpec | None, str]:
        self._reachable()
        spec = self.control.desired(cell_id)
        tag = f'"{spec.generation}"'
        return (None, tag) if tag == etag else (spec, tag)

    def put_status(self, cell_id: str, status: Any) -> None:
        self._reachable()
        self.control.report_status(cell_id, status)

    def download(self, digest: str, dest: pathlib.Path) -> None:
        self._reachable()
        shutil.copyfile(self.control.artifacts.path(digest), dest)

    def close(self) -> None:
        pass


class SimulatedAgent(Agent):
    """The real agent (plan, apply, judge, report) with its client in this process and no journal."""

    def __init__(self, control: ControlPlane, cell: str, state_dir: pathlib.Path, clock: Clock) -> None:
        self.link = InProcessClient(control)
        self.cell = cell
        super().__init__(
            "in-process", state_dir, runtime=MemoryRuntime(), poll_interval=1.0, durable=False, clock=clock
        )

    @property
    def cell_id(self) -> str:
        return self.cell

    @property
    def registered(self) -> bool:
        return True

    def client(self) -> Any:
        return self.link


@pytest.fixture(scope="module")
def shm() -> Iterator[pathlib.Path]:
    # Each example has its own SQLite store; on tmpfs its durable commits cost no disk flush.
    root = pathlib.Path(tempfile.mkdtemp(dir="/dev/shm" if pathlib.Path("/dev/shm").is_dir() else None))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


class World:
    """A control plane with its rollouts on a fake clock, and one simulated agent per cell."""

    def __init__(self, root: pathlib.Path, artifacts: Artifacts, cells: dict[str, str]) -> None:
        self.root = root
        self.clock = Clock()
        self.store = BackendFleetStore.open(f"sqlite:///{root / 'fleet.db'}")
        self.control = ControlPlane(self.store, ArtifactStore(root / "artifacts"), admin_token=ADMIN, clock=self.clock)
        self.rollouts = self.control.rollouts
        self.rollouts.unreachable_after = 60.0
        self.rollouts.apply_timeout = 120.0
        self.agents: dict[str, SimulatedAgent] = {}
        for cid, stage in cells.items():
            token = self.control.create_cell({"id": cid, "stage": stage})["registration_token"]
            self.control.register({"token": token})
            self.agents[cid] = SimulatedAgent(self.control, cid, root / "cells" / cid, self.clock)
        self.publish(artifacts, "r1", "1.0.0")
        self.step()
        for cid in cells:
            self.control.set_target(cid, {"release": "r1"})
        self.publish(artifacts, "r2", "2.0.0")

    def publish(self, artifacts: Artifacts, release: str, version: str) -> None:
        parts = []
        for name in ("workspaces", "proxy"):
            digest = self.control.artifacts.put_file(artifacts.paths[(name, version)])
            parts.append({"name": name, "digest": digest})
        self.control.publish_release({"version": release, "components": parts})

    def step(self) -> None:
        for agent in self.agents.values():
            agent.tick()

    def close(self) -> None:
        for agent in self.agents.values():
            agent.close()
        self.store.close()


ORDER = {s: i for i, s in enumerate(STAGES)}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 3)),
    batch=st.sampled_from([1, 2, "50%", "100%"]),
    bake=st.sampled_from([0.0, 10.0, 25.0]),
    data=st.data(),
)
def test_rollout_properties_on_a_simulated_fleet(
    shm: pathlib.Path, artifacts: Artifacts, sizes: tuple[int, int, int], batch: Any, bake: float, data: Any
) -> None:
    """No later stage gets the release before the earlier one completed; nothing is set after a halt; a cell
    counts as updated only on a status of the target generation; every cell ends updated, or listed as
    skipped or failed (or, after a halt, still pending)."""
    cells = {f"{stage[:2]}{i}": stage for stage, n in zip(STAGES, sizes, strict=True) for i in range(n)}
    ids = sorted(cells)
    failing = data.draw(st.sets(st.sampled_from(ids), max_size=2), label="failing")
    excluded = data.draw(st.sets(st.sampled_from(ids), max_size=1), label="excluded")
    # Outages: (cell, first step, steps) while which the cell cannot reach the control plane.
    outages = data.draw(
        st.lists(st.tuples(st.sampled_from(ids), st.integers(0, 40), st.integers(1, 30)), max_size=3), label="outages"
    )
    root = pathlib.Path(tempfile.mkdtemp(dir=shm))
    world = World(root, artifacts, cells)
    try:
        for cid in failing:
            world.agents[cid].runtime.unhealthy_versions.add("2.0.0")
        policies = tuple(StagePolicy(s, batch=batch, bake_time=bake) for s in STAGES)
        rollout = world.rollouts.start("r2", stages=policies, exclude=frozenset(excluded))
        halted_targets: set[str] | None = None
        halted_for = 0
        offline: set[str] = set()
        for step in range(200):
            for cid, agent in world.agents.items():
                agent.link.down = any(c == cid and first <= step < first + n for c, first, n in outages)
                if agent.link.down:
                    offline.add(cid)
            before = dict(rollout.cells)
            world.step()
            world.rollouts.tick()
            rollout = world.rollouts.get(rollout.id)  # rollouts live in the store: read what the tick wrote
            targeted = {c for c in ids if (s := world.store.get_spec(c)) and s.release and s.release.version == "r2"}
            for cid in targeted:
                # Every cell of an earlier stage is done (updated or skipped) before a later one gets the release.
                for other in ids:
                    if ORDER[cells[other]] < ORDER[cells[cid]]:
                        assert rollout.cells[other].state in ("updated", "skipped"), (cid, other, rollout.cells)
            if rollout.state == "halted" and halted_targets is None:
                halted_targets = targeted
            if halted_targets is not None:
                assert targeted <= halted_targets, "a cell got the release after the halt"
            for cid, progress in rollout.cells.items():
                if progress.state == "updated" and before[cid].state != "updated":
                    status = world.store.get_status(cid)
                    assert status is not None and status.observed_generation >= progress.generation > 0
                    assert status.release == "r2" and status.ready
            halted_for = 0 if halted_targets is None else halted_for + 1
            # A halted rollout stays active (resume could continue it): watch it a while, then stop.
            if not rollout.active or halted_for > 10:
                break
            world.clock.now += 5.0
        assert rollout.state in ("completed", "halted")
        view = rollout.view(world.clock.now)
        listed = {e["cell"] for s in view["stages"] for e in s["skipped"] + s["failed_cells"]}
        for cid, progress in rollout.cells.items():
            if progress.state == "updated":
                assert world.agents[cid].runtime.running["workspaces"].version == "2.0.0"
            elif progress.state in ("skipped", "failed"):
                assert cid in listed and progress.reason
            else:
                assert rollout.state == "halted" and progress.state in ("pending", "applying", "baking"), progress
            if cid in excluded:
                assert progress.state == "skipped" and progress.reason == "excluded"
        failed = {c for c, p in rollout.cells.items() if p.state == "failed"}
        if rollout.state == "completed":
            assert not failed
            assert all(p.state in ("updated", "skipped") for p in rollout.cells.values())
        else:
            assert rollout.halt.split(":")[0].removeprefix("cell ") in failed
        # Failures come only from the bad build or from a cell cut off the control plane.
        assert failed <= failing | offline
        if not failing and not offline:
            assert rollout.state == "completed"
            assert {c for c, p in rollout.cells.items() if p.state == "updated"} == set(ids) - excluded
    finally:
        world.close()
        shutil.rmtree(root, ignore_errors=True)
