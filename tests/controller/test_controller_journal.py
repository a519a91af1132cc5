"""Leader election over the journal's store (StoreLease, SQLite and PostgreSQL) and StateController's journaled applies."""

from __future__ import annotations

import time
from typing import Any

import pytest

import reconcile as rc
from reconcile.controller import ControllerOptionError, ExponentialBackoff, StateController, StoreLease
from reconcile.journal import Journal
from reconcile.testing import InMemoryProvider
from tests.support.controller import running, until
from tests.support.models import Network

FAST = {"resync": None, "rate_limiter": ExponentialBackoff(0.001, 0.02)}


def tenant(key: str) -> rc.State:
    return rc.State([Network(f"{key}-net", "10.0.0.0/16")])


def test_a_store_lease_is_held_by_one_owner_at_a_time_with_growing_epochs(store_url):
    with Journal.open(store_url) as journal:
        a = StoreLease(journal, "ctl", owner="a", ttl=0.5)
        b = StoreLease(journal.backend, "ctl", owner="b", ttl=0.5)
        assert a.acquire() and a.epoch == 1
        assert not b.acquire() and b.epoch is None
        assert a.acquire() and a.epoch == 1, "acquiring again keeps the holding"
        assert a.renew()
        time.sleep(0.6)  # a stops renewing: it expires
        assert b.acquire() and b.epoch == 2
        assert not a.renew() and a.epoch is None, "a paused past its expiry lost the lease"
        b.release()
        assert a.acquire() and a.epoch == 3, "a release frees the lease at once"
        a.release()
        a.release()
        assert not a.renew()


def test_state_controller_journals_every_apply_under_the_leaders_epoch(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path}/journal.db") as journal:
        lease = StoreLease(journal, "tenants", owner="host-1", ttl=5)
        world = {"network": InMemoryProvider(Network)}
        ctl = StateController("tenants", tenant, world, journal=journal, lease=lease, **FAST)
        for key in ("t0", "t1"):
            ctl.enqueue(key)
        with running(ctl):
            until(lambda: ctl.applies == 2 and ctl.wait_idle(0))
        records = journal.applies()
        assert len(records) == 2
        assert {(r.lease, r.epoch, r.owner, r.status) for r in records} == {("tenants", 1, "host-1", "succeeded")}
        assert len(world["network"].objects) == 2
        assert journal.pending() == []


def test_state_controller_journals_without_a_lease_too(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path}/journal.db") as journal:
        world = {"network": InMemoryProvider(Network)}
        ctl = StateController("tenants", tenant, world, journal=journal, **FAST)
        ctl.enqueue("t0")
        with running(ctl):
            until(lambda: ctl.applies == 1)
        (record,) = journal.applies()
        assert (record.lease, record.epoch, record.status) == (None, None, "succeeded")


def test_a_deposed_leader_gets_no_apply_through(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path}/journal.db") as journal:
        lease = StoreLease(journal, "tenants", owner="old", ttl=30)
        world = {"network": InMemoryProvider(Network)}
        # A long renew interval: the controller still believes it leads when its next apply starts.
        ctl = StateController("tenants", tenant, world, journal=journal, lease=lease, renew_every=10, **FAST)
        with running(ctl):
            until(lambda: ctl.is_leader)
            assert lease.held is not None
            journal.force_unlock("tenants", lease.held.lease_id)
            usurper = StoreLease(journal, "tenants", owner="new", ttl=30)
            assert usurper.acquire() and usurper.epoch == 2
            ctl.enqueue("t0")
            until(lambda: ctl.reconciles >= 2, what="the fenced reconcile and its retry")
            assert ctl.is_leader, "the controller has not noticed yet"
        assert world["network"].methods_called("create") == [], "no provider call under the old epoch"
        assert journal.applies() == []
        assert ctl.applies == 0


def test_store_lease_and_journal_options_are_checked(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path}/a.db") as a, Journal.open(f"sqlite:///{tmp_path}/b.db") as b:
        with pytest.raises(ControllerOptionError, match="store must be a reconcile.journal.Journal"):
            StoreLease(object(), "l", owner="o")
        with pytest.raises(ControllerOptionError, match="name must be a non-empty string"):
            StoreLease(a, "", owner="o")
        with pytest.raises(ControllerOptionError, match="owner must be a non-empty string"):
            StoreLease(a, "l", owner="")
        with pytest.raises(ControllerOptionError, match="ttl must be a finite number > 0"):
            StoreLease(a, "l", owner="o", ttl=0)
        world: dict[str, Any] = {"network": InMemoryProvider(Network)}
        with pytest.raises(ControllerOptionError, match="journal must be a reconcile.journal.Journal"):
            StateController("t", tenant, world, journal="sqlite:///x.db")  # type: ignore[arg-type]
        with pytest.raises(ControllerOptionError, match="must be on the journal's store"):
            StateController("t", tenant, world, journal=a, lease=StoreLease(b, "l", owner="o"))
        assert "StoreLease 'l' owner='o' epoch=None" in repr(StoreLease(a, "l", owner="o"))


def test_an_async_state_controller_journals_under_the_lease_too(tmp_path):
    from tests.controller.test_state_controller import AsyncMemory

    with Journal.open(f"sqlite:///{tmp_path}/journal.db") as journal:
        lease = StoreLease(journal, "tenants", owner="host-1", ttl=5)
        memory = InMemoryProvider(Network)
        ctl = StateController("tenants", tenant, {"network": AsyncMemory(memory)}, journal=journal, lease=lease, **FAST)
        ctl.enqueue("t0")
        ctl.start()  # run() runs an async reconcile in its own event loop
        try:
            until(lambda: ctl.applies == 1)
        finally:
            ctl.stop()
            ctl.join(10)
        (record,) = journal.applies()
        assert (record.lease, record.epoch, record.status) == ("tenants", 1, "succeeded")
        assert len(memory.objects) == 1


def test_a_holding_from_journal_lease_is_taken_as_the_controllers_lease(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path}/journal.db") as journal:
        held = journal.lease("tenants", owner="host-1", ttl=5)
        world = {"network": InMemoryProvider(Network)}
        ctl = StateController("tenants", tenant, world, journal=journal, lease=held, **FAST)
        assert isinstance(ctl.lease, StoreLease) and ctl.lease.held is held
        ctl.enqueue("t0")
        with running(ctl):
            until(lambda: ctl.applies == 1)
            assert ctl.epoch == held.epoch == 1
        (record,) = journal.applies()
        assert (record.lease, record.epoch, record.owner) == ("tenants", 1, "host-1")
        assert not held.held, "the controller released it on the way out"
