"""Journal conformance, on SQLite and PostgreSQL: intents and outcomes, recovery, idempotency keys, fencing, history."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

import reconcile as rc
from reconcile.journal import (
    FencedError,
    Journal,
    JournalCorruptError,
    RecoveryError,
    SchemaVersionError,
    UnknownKindError,
)
from reconcile.testing import InMemoryProvider
from tests.support.models import Network, Server


class Crash(BaseException):
    """Stands in for the process dying right after the provider call made its change."""


class Recording(InMemoryProvider[Any]):
    """An in-memory provider that remembers the idempotency key of every create and can crash after one."""

    def __init__(self, cls: type, initial: Any = ()) -> None:
        super().__init__(cls, initial)
        self.keys: dict[rc.Address, list[str]] = {}
        self.crash_after_create: set[rc.Address] = set()
        self.crash_before_create: set[rc.Address] = set()
        self.fail_once: set[rc.Address] = set()

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        address = rc.address_of(desired)
        self.keys.setdefault(address, []).append(ctx.idempotency_key)
        if address in self.fail_once:
            self.fail_once.discard(address)
            raise rc.TransientError("try again")
        if address in self.crash_before_create:
            self.crash_before_create.discard(address)
            raise Crash
        obj = super().create(desired, ctx)
        if address in self.crash_after_create:
            self.crash_after_create.discard(address)
            raise Crash
        return obj


def world() -> dict[str, Recording]:
    return {"network": Recording(Network), "server": Recording(Server)}


def desired_state(*extra: Any) -> rc.State:
    return rc.State(
        [
            Network("core", "10.0.0.0/16"),
            Server("web", rc.ref(Network, "core"), "small", password="pw-123"),
            *extra,
        ]
    )


FAST = rc.RetryPolicy(backoff=0.0, jitter=False)


def test_an_apply_records_every_call_and_its_outcome(store_url: str) -> None:
    providers = world()
    with Journal.open(store_url) as journal:
        plan = rc.plan(desired_state(), rc.observe(providers))
        result = rc.apply(plan, providers, journal=journal)
        assert result.ok
        (run,) = journal.applies()
        assert (run.status, run.steps, dict(run.summary)) == ("succeeded", 2, {"succeeded": 2})
        assert run.finished is not None and run.finished >= run.started
        steps = journal.steps(run.id)
        assert [(str(s.address), s.op, s.status, s.attempt) for s in steps] == [
            ("network/core", rc.Action.CREATE, "succeeded", 1),
            ("server/web", rc.Action.CREATE, "succeeded", 1),
        ]
        assert [s.idempotency_key for s in steps] == [
            providers["network"].keys[rc.Address("network", "core")][0],
            providers["server"].keys[rc.Address("server", "web")][0],
        ]
        assert steps[0].actual["network_id"] == "network-1"
        assert "pw-123" not in repr(steps)
        assert journal.last_known("server/web") == providers["server"].objects[rc.Address("server", "web")]
        assert journal.pending() == []


def test_history_is_newest_first_and_limited(store_url: str) -> None:
    providers = world()
    with Journal.open(store_url) as journal:
        for extra in ((), (Network("edge", "10.1.0.0/16"),), (Network("dmz", "10.2.0.0/16"),)):
            rc.apply(rc.plan(desired_state(*extra), rc.observe(providers)), providers, journal=journal)
        runs = journal.applies()
        assert [r.steps for r in runs] == [2, 1, 2]  # the last deletes edge and creates dmz
        assert [r.id for r in journal.applies(limit=2)] == [r.id for r in runs[:2]]
        assert journal.last_known("network/dmz") is not None
        rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        assert journal.last_known("network/dmz") is None


def test_idempotency_keys_are_stable_across_retries(store_url: str) -> None:
    providers = world()
    providers["network"].fail_once.add(rc.Address("network", "core"))
    with Journal.open(store_url) as journal:
        result = rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal, retry=FAST)
        assert result.ok
        keys = providers["network"].keys[rc.Address("network", "core")]
        assert len(keys) == 2 and keys[0] == keys[1]
        steps = journal.steps(journal.applies()[0].id)
        core = [s for s in steps if str(s.address) == "network/core"]
        assert [(s.attempt, s.status) for s in core] == [(1, "failed"), (2, "succeeded")]
        assert "TransientError: try again" in (core[0].error or "")


def test_without_a_journal_keys_are_stable_across_retries_too() -> None:
    providers = world()
    providers["network"].fail_once.add(rc.Address("network", "core"))
    assert rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, retry=FAST).ok
    keys = providers["network"].keys[rc.Address("network", "core")]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]


def test_a_create_the_dead_apply_made_is_adopted_not_made_twice(store_url: str) -> None:
    providers = world()
    core = rc.Address("network", "core")
    providers["network"].crash_after_create.add(core)
    with Journal.open(store_url) as journal:
        with pytest.raises(Crash):
            rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        (pending,) = journal.pending()
        assert (pending.address, pending.op, pending.status) == (core, rc.Action.CREATE, "pending")
        report = journal.recover(providers)
        assert [(s.address, s.resolution) for s in report.steps] == [(core, "adopted")]
        assert report.adopted[0].found == providers["network"].objects[core]
        assert journal.last_known(core) == providers["network"].objects[core]
        assert journal.pending() == []
        result = rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        assert result.ok
        assert providers["network"].methods_called("create") == [core]
        assert rc.plan(desired_state(), rc.observe(providers)).is_empty


def test_a_create_left_without_outcome_reuses_its_key(store_url: str) -> None:
    providers = world()
    core = rc.Address("network", "core")
    providers["network"].crash_before_create.add(core)
    with Journal.open(store_url) as journal:
        with pytest.raises(Crash):
            rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        report = journal.recover(providers)
        assert [s.resolution for s in report.steps] == ["not_done"]
        assert rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal).ok
        first, second = providers["network"].keys[core]
        assert first == second == report.steps[0].idempotency_key
        # Once the create succeeded, a later create of the address is a new object with a new key.
        rc.apply(rc.plan(rc.State([]), rc.observe(providers)), providers, journal=journal)
        rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        assert providers["network"].keys[core][2] != first


def test_apply_recovers_by_itself_and_refuses_a_plan_made_before_the_crash(store_url: str) -> None:
    providers = world()
    core = rc.Address("network", "core")
    providers["network"].crash_after_create.add(core)
    with Journal.open(store_url) as journal:
        before = rc.plan(desired_state(), rc.observe(providers))
        with pytest.raises(Crash):
            rc.apply(before, providers, journal=journal)
        with pytest.raises(rc.StalePlanError, match="network/core .created by an interrupted apply"):
            rc.apply(before, providers, journal=journal)
        assert providers["network"].methods_called("create") == [core]
        assert journal.pending() == []
        assert rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal).ok


def test_pending_deletes_and_updates_are_resolved_by_reading(store_url: str) -> None:
    class CrashingDelete(Recording):
        def delete(self, actual: Any, ctx: rc.Context) -> None:
            super().delete(actual, ctx)
            raise Crash

    class CrashingUpdate(Recording):
        def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
            super().update(actual, desired, ctx)
            raise Crash

    old = Network("old", "10.9.0.0/16", network_id="n-9")
    web = Server("web", rc.ref(Network, "old"), "small", server_id="s-1")
    with Journal.open(store_url) as journal:
        nets = CrashingDelete(Network, [old])
        servers = CrashingUpdate(Server, [web])
        providers = {"network": nets, "server": servers}
        with pytest.raises(Crash):
            rc.apply(rc.plan(rc.State([]), rc.observe({"network": nets})), {"network": nets}, journal=journal)
        report = journal.recover(providers)
        assert [(str(s.address), s.resolution) for s in report.steps] == [("network/old", "done")]
        assert journal.last_known("network/old") is None
        bigger = rc.State([old, Server("web", rc.ref(Network, "old"), "large")])
        with pytest.raises(Crash):
            rc.apply(
                rc.plan(bigger, rc.observe({"server": servers, "network": Recording(Network, [old])})),
                providers,
                journal=journal,
            )
        report = journal.recover(providers)
        assert [(str(s.address), s.resolution) for s in report.steps] == [("server/web", "reread")]
        assert journal.last_known("server/web").size == "large"


def test_unresolvable_pending_intents_stop_recovery_and_apply(store_url: str) -> None:
    providers = world()
    providers["network"].crash_after_create.add(rc.Address("network", "core"))
    with Journal.open(store_url) as journal:
        with pytest.raises(Crash):
            rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        with pytest.raises(RecoveryError, match="no provider for kind 'network'") as info:
            journal.recover({"server": providers["server"]})
        assert len(info.value.report.unresolved) == 1
        with pytest.raises(RecoveryError):
            rc.apply(
                rc.plan(desired_state(), rc.observe(providers)),
                {"server": providers["server"], "network": _Unreadable(Network)},
                journal=journal,
            )
        assert len(journal.pending()) == 1


class _Unreadable(Recording):
    def read(self, address: rc.Address) -> Any:
        raise OSError("API down")


def test_a_fenced_apply_calls_no_provider(store_url: str) -> None:
    now = [1000.0]
    providers = world()
    with Journal.open(store_url, clock=lambda: now[0]) as journal:
        lease = journal.lease("prod", owner="a", ttl=10)
        lease._stop.set()  # no background renewal: the test moves the clock itself
        now[0] += 11
        with journal.lease("prod", owner="b", ttl=10) as newer:
            assert newer.epoch == lease.epoch + 1
            plan = rc.plan(desired_state(), rc.observe(providers))
            with pytest.raises(FencedError):
                rc.apply(plan, providers, journal=journal, lease=lease)
            assert providers["network"].methods_called("create") == []
            result = rc.apply(plan, providers, journal=journal, lease=newer)
            assert result.ok
            (run, *_) = journal.applies()
            assert (run.lease, run.epoch, run.owner) == ("prod", newer.epoch, "b")


def test_a_lease_lost_mid_apply_fails_the_remaining_steps_before_their_calls(store_url: str) -> None:
    providers = world()
    with Journal.open(store_url) as journal:
        lease = journal.lease("prod", owner="a", ttl=30)

        class Unlocking(Recording):
            def create(self, desired: Any, ctx: rc.Context) -> Any:
                journal.force_unlock("prod", lease.lease_id)
                return super().create(desired, ctx)

        providers["network"] = Unlocking(Network)
        result = rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal, lease=lease)
        assert not result.ok
        assert [str(s) for s in result.succeeded] == ["create network/core"]
        assert isinstance(result.errors[rc.Step("server/web", rc.Action.CREATE)], FencedError)
        assert providers["server"].methods_called("create") == []
        # The fenced holder could not record its create's outcome: the next holder recovers it.
        assert [(str(p.address), p.status) for p in journal.pending()] == [("network/core", "pending")]
        with journal.lease("prod", owner="b", ttl=30) as newer:
            report = journal.recover(providers, lease=newer)
            assert [s.resolution for s in report.steps] == ["adopted"]


def test_steps_run_through_a_pool_are_recorded_too(store_url: str) -> None:
    providers = world()
    with Journal.open(store_url) as journal, concurrent.futures.ThreadPoolExecutor(4) as pool:
        plan = rc.plan(desired_state(), rc.observe(providers))
        assert rc.apply(plan, providers, journal=journal, executor=rc.FuturesExecutor(pool)).ok
        steps = journal.steps(journal.applies()[0].id)
        assert [s.status for s in steps] == ["succeeded", "succeeded"]
        assert journal.last_known("network/core") is not None


@pytest.mark.parametrize("executor", [rc.ThreadExecutor(8), rc.AsyncExecutor(max_workers=8)], ids=["threads", "async"])
def test_concurrent_executors_journal_every_step(store_url: str, executor: rc.Executor) -> None:
    nets = [Network(f"n{i}", f"10.{i}.0.0/16") for i in range(30)]
    providers = world()
    with Journal.open(store_url) as journal:
        plan = rc.plan(rc.State(nets), rc.observe(providers))
        assert rc.apply(plan, providers, journal=journal, executor=executor).ok
        steps = journal.steps(journal.applies()[0].id)
        assert sorted(str(s.address) for s in steps if s.status == "succeeded") == sorted(
            f"network/n{i}" for i in range(30)
        )


def test_a_modified_record_is_refused(store_url: str) -> None:
    providers = world()
    providers["network"].crash_after_create.add(rc.Address("network", "core"))
    with Journal.open(store_url) as journal:
        with pytest.raises(Crash):
            rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        journal.backend.write(lambda tx: tx.execute("UPDATE reconcile_ops SET desired = '{}'"))
        with pytest.raises(JournalCorruptError, match="fails its check"):
            journal.recover(providers)
        with pytest.raises(JournalCorruptError):
            rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        assert providers["server"].methods_called("create") == []


def test_a_signed_journal_refuses_records_under_another_key(store_url: str) -> None:
    providers = world()
    with Journal.open(store_url, key="secret-1") as journal:
        rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
        assert len(journal.steps(journal.applies()[0].id)) == 2
    with Journal.open(store_url, key="secret-2") as journal, pytest.raises(JournalCorruptError, match="another key"):
        journal.applies()


def test_a_journal_at_a_newer_schema_is_refused(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        journal.backend.write(
            lambda tx: tx.execute("UPDATE reconcile_schema SET version = 99 WHERE component = 'journal'")
        )
    with pytest.raises(SchemaVersionError, match="'journal' schema is at version 99"):
        Journal.open(store_url)


def test_last_known_needs_the_class_in_a_new_process(store_url: str) -> None:
    providers = world()
    with Journal.open(store_url) as journal:
        rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, journal=journal)
    with Journal.open(store_url) as journal, pytest.raises(UnknownKindError, match="types="):
        journal.last_known("network/core")
    with Journal.open(store_url, types=[Network]) as journal:
        assert journal.last_known("network/core") == providers["network"].objects[rc.Address("network", "core")]


class ReadOnly:
    """A provider that cannot list: it observes from what the journal recorded."""

    def __init__(self, inner: InMemoryProvider[Any]) -> None:
        self.inner = inner

    def read(self, address: rc.Address) -> Any:
        return self.inner.read(address)

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        return self.inner.create(desired, ctx)

    def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        return self.inner.update(actual, desired, ctx)

    def delete(self, actual: Any, ctx: rc.Context) -> None:
        self.inner.delete(actual, ctx)


def test_providers_that_cannot_list_observe_from_the_journal(store_url: str) -> None:
    inner = InMemoryProvider(Network)
    providers = {"network": ReadOnly(inner), "server": InMemoryProvider(Server)}
    wanted = desired_state()
    with Journal.open(store_url) as journal:
        first = rc.plan(wanted, journal.observe(providers))
        assert len(first.steps) == 2
        assert rc.apply(first, providers, journal=journal).ok
        assert rc.plan(wanted, journal.observe(providers)).is_empty
        inner.objects.clear()
        assert [c.action for c in rc.plan(wanted, journal.observe(providers)).changes.values()] == [rc.Action.CREATE]


class ListsAll:
    """A provider whose listing method is named ``list_all`` (``rc.ListAllProvider``)."""

    def __init__(self, inner: InMemoryProvider[Any]) -> None:
        self.inner = inner

    def list_all(self) -> list[Any]:
        return list(self.inner.list())

    def read(self, address: rc.Address) -> Any:
        return self.inner.read(address)


def test_the_journal_observes_through_list_all_like_observe(store_url: str) -> None:
    made_by_hand = Network("core", "10.0.0.0/16")
    providers = {"network": ListsAll(InMemoryProvider(Network, [made_by_hand]))}
    with Journal.open(store_url) as journal:
        # The journal never saw it: only list_all can find it.
        assert list(journal.observe(providers)) == [made_by_hand]


def test_intents_written_ahead_for_steps_that_never_ran_are_marked_not_started(store_url: str) -> None:
    class Failing(Recording):
        def create(self, desired: Any, ctx: rc.Context) -> Any:
            if desired.name == "n0":
                raise RuntimeError("quota exceeded")
            return super().create(desired, ctx)

    providers = {"network": Failing(Network), "server": Recording(Server)}
    nets = rc.State([Network(f"n{i}", f"10.{i}.0.0/16") for i in range(20)])
    with Journal.open(store_url) as journal:
        result = rc.apply(rc.plan(nets, rc.observe(providers)), providers, journal=journal, fail_fast=True)
        assert [str(s) for s in result.failed] == ["create network/n0"]
        steps = journal.steps(journal.applies()[0].id)
        statuses = {str(s.address): s.status for s in steps}
        assert statuses["network/n0"] == "failed"
        called = {"network/n0", *(str(a) for a in providers["network"].keys)}  # every create call
        assert {a for a, st in statuses.items() if st == "not_started"} == {f"network/n{i}" for i in range(20)} - called
        assert journal.pending() == []


def test_apply_async_journals_too(store_url: str) -> None:
    import asyncio

    providers = world()
    with Journal.open(store_url) as journal:
        plan = rc.plan(desired_state(), rc.observe(providers))
        with journal.lease("prod", owner="async", ttl=30) as lease:
            result = asyncio.run(rc.apply_async(plan, providers, journal=journal, lease=lease))
        assert result.ok
        (run,) = journal.applies()
        assert (run.status, run.epoch) == ("succeeded", 1)
        assert [s.status for s in journal.steps(run.id)] == ["succeeded", "succeeded"]


def test_a_lease_without_a_journal_is_refused_before_anything_runs() -> None:
    providers = world()
    with pytest.raises(rc.ApplyOptionError, match="lease= needs journal="):
        rc.apply(rc.plan(desired_state(), rc.observe(providers)), providers, lease=object())
    assert providers["network"].methods_called("create") == []
