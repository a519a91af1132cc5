"""The check-in path: one store read per poll, and long polls woken by one batched look (``GenerationWatch``)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import time

import httpx
import pytest

from reconcile.fleet import (
    ArtifactStore,
    AuthenticationError,
    BackendFleetStore,
    ControlPlane,
    PermissionDeniedError,
    Release,
    ReleaseComponent,
    create_app,
)
from reconcile.fleet.watch import GenerationWatch


@pytest.fixture
def control(tmp_path: pathlib.Path) -> ControlPlane:
    return ControlPlane(
        BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}"), ArtifactStore(tmp_path / "a"), admin_token="x" * 32
    )


def registered(cp: ControlPlane, cell_id: str) -> str:
    token = cp.create_cell({"id": cell_id, "stage": "dedicated"})["registration_token"]
    credential: str = cp.register({"token": token})["credential"]
    return credential


def release(version: str) -> Release:
    return Release(version, (ReleaseComponent("web", "1.0.0", "a" * 64, {}),), 0.0)


def test_check_in_returns_the_generation_for_the_cells_own_credential_only(control: ControlPlane) -> None:
    a, b = registered(control, "a"), registered(control, "b")
    assert control.check_in(a, "a") == 0
    control.store.publish_release(release("r1"))
    assert control.check_in(a, "a") == 1
    with pytest.raises(PermissionDeniedError):
        control.check_in(b, "a")
    assert any(e["action"] == "cell.denied" for e in control.audit_log())
    for bearer, code in ((None, "missing_credential"), (a + "x", "invalid_credential"), ("rc.zz.secret", "invalid_credential")):
        with pytest.raises(AuthenticationError) as caught:
            control.check_in(bearer, "zz" if bearer == "rc.zz.secret" else "a")
        assert caught.value.code == code
    control.delete_cell("a")
    with pytest.raises(AuthenticationError):
        control.check_in(a, "a")  # a deleted cell's credential stops working


def test_a_cell_not_yet_registered_has_no_valid_credential(control: ControlPlane) -> None:
    control.create_cell({"id": "new", "stage": "dedicated"})
    with pytest.raises(AuthenticationError):
        control.check_in("rc.new.guess", "new")


def test_the_store_reads_many_generations_at_once(control: ControlPlane) -> None:
    ids = [f"c{i:04d}" for i in range(1200)]
    for cell_id in ids:
        control.create_cell({"id": cell_id, "stage": "dedicated"})
    control.store.publish_release(release("r1"))
    found = control.store.generations([*ids, "missing"])
    assert found == dict.fromkeys(ids, 1)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_one_look_serves_every_waiting_poll_and_wakes_only_the_changed() -> None:
    generations = {"a": 1, "b": 1, "c": 1}
    reads: list[list[str]] = []

    def read(cells: list[str]) -> dict[str, int]:
        reads.append(sorted(cells))
        return {c: generations[c] for c in cells if c in generations}

    async def scenario() -> tuple[bool, bool, bool, float]:
        watch = GenerationWatch(read, every=0.05)
        polls = [asyncio.ensure_future(watch.wait(c, 1, 2.0)) for c in ("a", "b", "c")]
        await asyncio.sleep(0.12)
        generations["a"] = 2
        del generations["b"]  # deleted: its poll must answer too
        started = time.monotonic()
        a, b = await polls[0], await polls[1]
        took = time.monotonic() - started
        c = await polls[2]
        return a, b, c, took

    a, b, c, took = run(scenario())  # type: ignore[misc]
    assert (a, b, c) == (True, True, False)
    assert took < 2.0  # the watch's look answered them, not their own 2 s timeout (a loaded machine is slow)
    assert reads and all(r == ["a", "b", "c"] or set(r) <= {"a", "b", "c"} for r in reads)
    assert any(r == ["a", "b", "c"] for r in reads)  # one read for all three waiting cells


def test_a_poke_makes_the_watch_look_at_once() -> None:
    generations = {"a": 1}

    async def scenario() -> float:
        watch = GenerationWatch(lambda cells: {c: generations[c] for c in cells}, every=30.0)
        poll = asyncio.ensure_future(watch.wait("a", 1, 10.0))
        await asyncio.sleep(0.05)
        generations["a"] = 2
        started = time.monotonic()
        watch.poke()
        assert await poll
        assert watch.waiting == 0
        return time.monotonic() - started

    assert run(scenario()) < 10.0  # type: ignore[operator]  # the poke, not the watch's 30 s timer


def test_a_poke_while_the_caller_read_makes_the_wait_look_at_once() -> None:
    """A change notified between the poll's read and its wait is not left to the next tick."""
    generations = {"a": 1}

    async def scenario() -> float:
        watch = GenerationWatch(lambda cells: {c: generations.get(c, 0) for c in cells}, every=30.0)
        other = asyncio.ensure_future(watch.wait("b", 0, 10.0))  # keeps the watch's task running
        await asyncio.sleep(0.05)
        before = watch.pokes  # the caller of the next wait takes the count, then reads generation 1...
        generations["a"] = 2
        await asyncio.to_thread(watch.poke)  # ...while a change is notified from another thread
        await asyncio.sleep(0.2)  # and that look happens before the wait is registered: it saw nothing for "a"
        assert watch.looks >= 1
        started = time.monotonic()
        assert await watch.wait("a", 1, 5.0, after=before)
        took = time.monotonic() - started
        other.cancel()
        return took

    assert run(scenario()) < 5.0  # type: ignore[operator]  # within the wait's own 5 s: not the 30 s timer


def test_a_store_that_fails_lets_the_polls_time_out() -> None:
    def read(cells: list[str]) -> dict[str, int]:
        raise OSError("store away")

    async def scenario() -> bool:
        watch = GenerationWatch(read, every=0.02)
        return await watch.wait("a", 1, 0.2)

    assert run(scenario()) is False


async def _poll(app: object, cell: str, credential: str, etag: str, wait: float) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
        return await client.get(
            f"/v1/cells/{cell}/desired",
            params={"wait": str(wait)},
            headers={"Authorization": f"Bearer {credential}", "If-None-Match": etag},
        )


def test_a_long_poll_answers_a_change_written_to_the_store_behind_the_servers_back(control: ControlPlane) -> None:
    """The rollout controller and other replicas write the store directly: the watch's timer finds it."""
    credential = registered(control, "a")
    app = create_app(control)

    async def scenario() -> tuple[httpx.Response, float]:
        poll = asyncio.ensure_future(_poll(app, "a", credential, '"g0"', 20))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await asyncio.to_thread(control.store.publish_release, release("r1"))
        answer = await poll
        return answer, time.monotonic() - started

    answer, took = run(scenario())  # type: ignore[misc]
    assert answer.status_code == 200 and answer.json()["generation"] == 1
    assert answer.headers["etag"] == '"g1"'
    assert took < 15  # the watch's timer found it, well before the poll's own 20 s


def test_a_credential_revoked_during_a_long_poll_is_refused_when_it_wakes(control: ControlPlane) -> None:
    credential = registered(control, "a")
    app = create_app(control)

    async def scenario() -> httpx.Response:
        poll = asyncio.ensure_future(_poll(app, "a", credential, '"g0"', 20))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(control.delete_cell, "a")
        return await poll

    answer = run(scenario())
    assert answer.status_code == 401  # type: ignore[attr-defined]


def test_a_poll_that_sees_no_change_answers_304_after_its_wait(control: ControlPlane) -> None:
    credential = registered(control, "a")
    app = create_app(control)
    started = time.monotonic()
    answer = run(_poll(app, "a", credential, '"g0"', 0.6))
    assert answer.status_code == 304 and answer.headers["etag"] == '"g0"'  # type: ignore[attr-defined]
    assert time.monotonic() - started >= 0.5


def test_the_check_in_read_and_the_batched_read_agree_with_the_spec_on_both_backends(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    store = BackendFleetStore.open(store_url)
    try:
        cp = ControlPlane(store, ArtifactStore(tmp_path / "a"), admin_token="x" * 32)
        credential = registered(cp, "a")
        cp.create_cell({"id": "b", "stage": "saas"})
        store.publish_release(release("r1"))
        assert cp.check_in(credential, "a") == store.get_spec("a").generation == 1  # type: ignore[union-attr]
        found = store.check_in("a")
        assert found is not None and found[0] is not None and found[1] == 1
        assert store.check_in("b") == (None, 1)  # created, not registered: no credential yet
        assert store.check_in("nope") is None
        assert store.generations(["a", "b", "nope"]) == {"a": 1, "b": 1}
        assert store.backend.query("SELECT COUNT(*) FROM fleet_cells") == [(2,)]
    finally:
        store.close()


def test_a_one_statement_read_never_writes(store_url: str) -> None:
    from reconcile.storage import StorageError, open_store

    backend = open_store(store_url)
    try:
        backend.write(lambda tx: tx.execute("CREATE TABLE t (x INTEGER)"))
        # PostgreSQL refuses it (a read-only session); SQLite rolls the read transaction back.
        with contextlib.suppress(StorageError):
            backend.query("INSERT INTO t VALUES (1)")
        assert backend.query("SELECT COUNT(*) FROM t") == [(0,)]
        assert backend.read(lambda tx: tx.query("SELECT COUNT(*) FROM t")) == [(0,)]
    finally:
        backend.close()
