"""Several control planes over one store: shared rollouts, fenced controllers, long polls woken across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.controller import StoreLease
from reconcile.fleet import (
    ArtifactStore,
    BackendFleetStore,
    ControlPlane,
    ControlPlaneClient,
    FleetError,
    Release,
    ReleaseComponent,
    RolloutConflictError,
    StagePolicy,
    StoreRolloutRecords,
    create_app,
)
from reconcile.fleet.controllers import ROLLOUTS_LEASE, rollouts_controller
from reconcile.storage import FencedError, acquire, epoch_fence, lease_info
from tests.support.fleet import wait_for

DIGEST = "a" * 64
TOKEN = "x" * 32
STAGES = (StagePolicy("staging", bake_time=10), StagePolicy("saas", bake_time=10))


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


class Replicas:
    """Two control planes (two stores, two connections) over one database, cells registered on release 1."""

    def __init__(self, url: str, root: pathlib.Path, cells: dict[str, str]) -> None:
        self.clock = Clock()
        self.stores = [BackendFleetStore.open(url), BackendFleetStore.open(url)]
        self.cps = [
            ControlPlane(s, ArtifactStore(root / "artifacts"), admin_token=TOKEN, clock=self.clock) for s in self.stores
        ]
        a = self.stores[0]
        for v in ("1", "2"):
            a.publish_release(Release(v, (ReleaseComponent("workspaces", v, DIGEST),)))
        self.credentials: dict[str, str] = {}
        for cid, stage in cells.items():
            token = self.cps[0].create_cell({"id": cid, "stage": stage, "release": "1"})["registration_token"]
            self.credentials[cid] = self.cps[1].register({"token": token})["credential"]
            self.report(cid)

    def report(self, cid: str, cp: int = 0) -> None:
        """The cell's agent applied its spec and reports healthy (through replica ``cp``)."""
        spec = self.stores[cp].get_spec(cid)
        assert spec is not None and spec.release is not None
        v, g = spec.release.version, spec.generation
        self.cps[cp].report_status(
            cid,
            {
                "observed_generation": g,
                "release": v,
                "components": [{"name": "workspaces", "version": v, "digest": DIGEST, "health": "healthy"}],
                "conditions": [{"type": "Ready", "status": True, "reason": "Applied", "observed_generation": g}],
            },
        )

    def close(self) -> None:
        for s in self.stores:
            s.close()


@pytest.fixture
def replicas(store_url: str, tmp_path: pathlib.Path) -> Iterator[Replicas]:
    r = Replicas(store_url, tmp_path, {"s1": "staging", "a1": "saas", "a2": "saas"})
    try:
        yield r
    finally:
        r.close()


def test_a_rollout_started_on_one_replica_is_driven_and_seen_through_the_other(replicas: Replicas) -> None:
    a, b = (cp.rollouts for cp in replicas.cps)
    assert isinstance(a.records, StoreRolloutRecords)
    started = a.start("2", stages=STAGES)
    assert [r.id for r in b.all()] == [started.id]
    assert b.get(started.id).view(0) == started.view(0)
    with pytest.raises(RolloutConflictError):
        b.start("2")  # one active rollout per track, whichever replica asks
    b.tick()
    assert replicas.stores[0].get_spec("s1").release.version == "2"  # type: ignore[union-attr]
    assert a.get(started.id).cells["s1"].state == "applying"
    for _ in range(20):
        for cid in ("s1", "a1", "a2"):
            replicas.report(cid, cp=1)
        replicas.clock.now += 5
        # the ticks alternate between the replicas, as after failovers
        if (a if _ % 2 else b).tick() is None:
            break
    done = b.get(started.id)
    assert done.state == "completed" and {c.state for c in done.cells.values()} == {"updated"}
    assert [e["action"] for e in replicas.cps[1].audit_log() if e["target"] == "a2"][-1] == "cell.target"


def test_a_restarted_replica_continues_the_rollout(store_url: str, tmp_path: pathlib.Path) -> None:
    first = Replicas(store_url, tmp_path, {"s1": "staging", "a1": "saas"})
    started = first.cps[0].rollouts.start("2", stages=(StagePolicy("staging", bake_time=0), StagePolicy("saas")))
    first.cps[0].rollouts.tick()
    first.close()
    store = BackendFleetStore.open(store_url)  # a new process, as after a restart
    try:
        cp = ControlPlane(store, ArtifactStore(tmp_path / "artifacts"), admin_token=TOKEN, clock=first.clock)
        again = cp.rollouts.get(started.id)
        assert again.cells["s1"].state == "applying" and again.cells["s1"].generation == 2
        assert again.stages == started.stages and again.cells["a1"].state == "pending"
        assert cp.rollouts.pause(started.id).state == "paused"
        assert cp.rollouts.resume(started.id).state == "running"
    finally:
        store.close()


def test_a_pause_through_one_replica_stops_the_others_batches(replicas: Replicas) -> None:
    a, b = (cp.rollouts for cp in replicas.cps)
    r = a.start("2", stages=(StagePolicy("staging", bake_time=0), StagePolicy("saas", bake_time=0)))
    b.tick()
    a.pause(r.id)
    for _ in range(5):
        for cid in ("s1", "a1", "a2"):
            replicas.report(cid)
        replicas.clock.now += 5
        b.tick()
    assert replicas.stores[1].get_spec("a1").release.version == "1"  # type: ignore[union-attr]
    assert b.get(r.id).state == "paused"


@pytest.mark.parametrize("action", ["abort", "pause", "supersede"])
def test_a_step_whose_rollout_changed_meanwhile_writes_nothing(replicas: Replicas, action: str) -> None:
    a, b = (cp.rollouts for cp in replicas.cps)
    r = a.start("2", stages=STAGES)
    store = replicas.stores[1]
    real = store.get_status
    aborted = threading.Event()

    def abort_midway(cell_id: str) -> Any:
        # The operator acts through the other replica while this one is deciding.
        if not aborted.is_set():
            aborted.set()
            if action == "supersede":
                a.start("1", stages=(StagePolicy("dedicated"),), supersede=True)
            else:
                getattr(a, action)(r.id)
        return real(cell_id)

    store.get_status = abort_midway  # type: ignore[method-assign]
    assert b.tick_one(r.id) == pytest.approx(0.001)  # refused: look again at once
    store.get_status = real  # type: ignore[method-assign]
    assert aborted.is_set()
    assert store.get_spec("s1").release.version == "1"  # type: ignore[union-attr]
    state = {"abort": "aborted", "pause": "paused", "supersede": "superseded"}[action]
    assert b.get(r.id).state == state
    for _ in range(3):
        b.tick_one(r.id)
    assert store.get_spec("s1").release.version == "1"  # type: ignore[union-attr]
    assert not [e for e in replicas.cps[0].audit_log() if e["action"] == "cell.target"]


def test_a_tick_under_a_stale_epoch_is_refused_whole(replicas: Replicas) -> None:
    a, b = (cp.rollouts for cp in replicas.cps)
    backend = replicas.stores[0].backend
    r = a.start("2", stages=STAGES)
    old = acquire(backend, ROLLOUTS_LEASE, "replica a", ttl=60, renew=False)
    stale = epoch_fence(backend, ROLLOUTS_LEASE, old.epoch)
    old.release()
    new = acquire(backend, ROLLOUTS_LEASE, "replica b", ttl=60, renew=False)
    with pytest.raises(FencedError):
        a.fenced(stale).tick_one(r.id)
    assert replicas.stores[1].get_spec("s1").release.version == "1"  # type: ignore[union-attr]
    assert b.get(r.id).cells["s1"].state == "pending"
    b.fenced(epoch_fence(backend, ROLLOUTS_LEASE, new.epoch)).tick_one(r.id)
    assert replicas.stores[1].get_spec("s1").release.version == "2"  # type: ignore[union-attr]
    new.release()


def test_only_one_replicas_rollout_controller_leads(replicas: Replicas) -> None:
    a, b = (cp.rollouts for cp in replicas.cps)
    controllers = [rollouts_controller(x, every=0.05, lease_ttl=1.0) for x in (a, b)]
    assert all(isinstance(c.lease, StoreLease) and c.lease.name == ROLLOUTS_LEASE for c in controllers)
    for c in controllers:
        c.start()
    try:
        wait_for(lambda: any(c.is_leader for c in controllers), 10, message="a leader")
        assert sum(c.is_leader for c in controllers) == 1
        leader = next(c for c in controllers if c.is_leader)
        info = lease_info(replicas.stores[0].backend, ROLLOUTS_LEASE)
        assert info is not None and info.epoch == leader.epoch
        r = a.start("2", stages=(StagePolicy("staging", bake_time=0), StagePolicy("saas", bake_time=0)))
        wait_for(lambda: b.get(r.id).cells["s1"].state == "applying", 10, message="the first batch")
        leader.stop()
        leader.join()  # releases the lease: the other takes over and goes on
        other = next(c for c in controllers if c is not leader)
        wait_for(lambda: other.is_leader, 10, message="the other replica to lead")

        def agents_report_and_done() -> bool:
            for cid in ("s1", "a1", "a2"):
                replicas.report(cid)
            replicas.clock.now += 1
            return b.get(r.id).state == "completed"

        wait_for(agents_report_and_done, 60, 0.05, message="the rollout to complete under the new leader")
    finally:
        for c in controllers:
            c.stop()
            c.join()


def _long_poll(app: Any, cell: str, credential: str, etag: str, wait: float) -> Any:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
            return await client.get(
                f"/v1/cells/{cell}/desired",
                params={"wait": str(wait)},
                headers={"Authorization": f"Bearer {credential}", "If-None-Match": etag},
                timeout=wait + 10,
            )

    return go()


def test_a_spec_change_through_one_replica_wakes_a_long_poll_on_the_other(replicas: Replicas) -> None:
    # The other replica's app re-reads only after a minute: the poll returns early only if it is woken.
    app_b = create_app(replicas.cps[1], recheck=60)
    cross = replicas.stores[0].backend.notifies_other_processes  # PostgreSQL: replica a's change; SQLite: b's own
    writer = replicas.cps[0] if cross else replicas.cps[1]
    generation = replicas.stores[1].generation("a1")

    async def scenario() -> httpx.Response:
        poll = asyncio.ensure_future(_long_poll(app_b, "a1", replicas.credentials["a1"], f'"g{generation}"', 30))
        await asyncio.sleep(0.5)  # the poll is waiting
        assert not poll.done()
        # a controller-like write: straight to the store, no HTTP handler to wake anyone
        await asyncio.to_thread(writer.store.set_target, "a1", "2")
        return await asyncio.wait_for(poll, 20)

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.json()["generation"] == generation + 1  # type: ignore[operator]
    assert response.json()["release"]["version"] == "2"


def test_the_client_turns_to_the_next_replica_when_one_is_down() -> None:
    dead = "http://127.0.0.1:9"

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(dead):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"status": "ok"})

    with ControlPlaneClient(f"{dead},http://replica-b/", TOKEN, transport=httpx.MockTransport(handler)) as client:
        assert client.base_urls == [dead, "http://replica-b"]
        assert client.healthz()
        assert client.base_url == "http://replica-b"  # and it stays there
        assert client.healthz()


def test_registration_expiry_under_a_stale_epoch_purges_nothing(replicas: Replicas) -> None:
    cp, store = replicas.cps[0], replicas.stores[0]
    cp.create_cell({"id": "late", "stage": "saas", "token_ttl": 60})
    replicas.clock.now += 61
    backend = store.backend
    old = acquire(backend, "fleet/controllers", "replica a", ttl=60, renew=False)
    stale = store.fenced(epoch_fence(backend, "fleet/controllers", old.epoch))
    old.release()
    with pytest.raises(FencedError):
        cp.expire_registration("late", store=stale)
    reg = store.registration("late")
    assert reg is not None and reg.token_hash is not None  # still there: the refused purge left nothing
    assert not [e for e in cp.audit_log() if e["action"] == "cell.token.expired"]
    new = acquire(backend, "fleet/controllers", "replica b", ttl=60, renew=False)
    assert (
        cp.expire_registration("late", store=store.fenced(epoch_fence(backend, "fleet/controllers", new.epoch))) is None
    )
    assert store.registration("late").token_hash is None  # type: ignore[union-attr]
    new.release()


# -- a property: interleaved steps of two replicas and an operator -------------------------------

STEP = st.one_of(
    st.tuples(st.just("tick"), st.integers(0, 1)),
    st.tuples(st.just("tick_interrupted"), st.integers(0, 1), st.sampled_from(["pause", "abort", "supersede"])),
    st.tuples(st.just("operator"), st.integers(0, 1), st.sampled_from(["pause", "resume", "abort"])),
    st.tuples(st.just("report"), st.sampled_from(["s1", "a1", "a2"]), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 20)),
)


def _interrupting(real: Any, other: Any, action: str, rollout_id: str, stages: Any) -> Any:
    """``get_status`` that, the first time it is called, has the other replica act on the rollout."""
    done: list[bool] = []

    def interrupt(cell_id: str) -> Any:
        if not done:
            done.append(True)
            with contextlib.suppress(FleetError):
                if action == "supersede":
                    other.start("2", stages=stages, track="t", supersede=True)
                else:
                    getattr(other, action)(rollout_id)
        return real(cell_id)

    return interrupt


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=25))
def test_no_cell_is_targeted_by_a_rollout_that_no_longer_runs(
    tmp_path_factory: pytest.TempPathFactory, steps: Any
) -> None:
    """Whatever the interleaving of two replicas' ticks (some interrupted by an operator's action) and the
    operator's pauses, resumes and aborts: in the store's commit order (the audit log), a rollout sets a
    target only while it runs, and never in a later stage before the earlier stages are done."""
    root = tmp_path_factory.mktemp("prop")
    replicas = Replicas(f"sqlite:///{root / 'f.db'}", root, {"s1": "staging", "a1": "saas", "a2": "saas"})
    try:
        rs = [cp.rollouts for cp in replicas.cps]
        stages = (StagePolicy("staging", bake_time=5), StagePolicy("saas", batch=1, bake_time=5))
        current = rs[0].start("2", stages=stages, track="t")
        for step in steps:
            kind = step[0]
            if kind == "tick":
                rs[step[1]].tick()
            elif kind == "tick_interrupted":
                store = replicas.stores[step[1]]
                real = store.get_status
                interrupt = _interrupting(real, rs[1 - step[1]], step[2], current.id, stages)
                store.get_status = interrupt
                try:
                    rs[step[1]].tick()
                finally:
                    store.get_status = real
            elif kind == "operator":
                with contextlib.suppress(FleetError):
                    getattr(rs[step[1]], step[2])(current.id)
            elif kind == "report":
                if step[2]:
                    replicas.report(step[1])
            else:
                replicas.clock.now += step[1]
        # Replay the commit order: each rollout's state as its audit entries say, at each target.
        state: dict[str, str] = {}
        stage_of = {"s1": "staging", "a1": "saas", "a2": "saas"}
        updated_staging: set[str] = set()
        for e in replicas.cps[0].audit_log(1000):
            action, target, detail = e["action"], e["target"], e["detail"]
            if action == "rollout.start":
                state[target] = "running"
            elif action in ("rollout.pause", "rollout.abort", "rollout.halt", "rollout.superseded"):
                state[target] = action.split(".")[1]
            elif action == "rollout.resume":
                state[target] = "running"
            elif action == "rollout.stage":
                updated_staging.add(target)
            elif action == "cell.target":
                rid = detail.split()[1]
                assert state.get(rid) == "running", f"{target} targeted by {rid} while {state.get(rid)}"
                if stage_of[target] == "saas":
                    assert rid in updated_staging, f"{target} targeted by {rid} before its staging stage ended"
    finally:
        replicas.close()
