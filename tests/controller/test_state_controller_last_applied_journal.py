"""With a journal, a StateController's last applied state per key outlives the process: restarts and failover still order deletes."""

from __future__ import annotations

import pathlib
import signal
import sqlite3
import subprocess
import sys
from typing import Any

import reconcile as rc
from reconcile.controller import (
    READY,
    ControllerEventKind,
    ExponentialBackoff,
    Metrics,
    StateController,
    StoreLease,
)
from reconcile.journal import Journal
from tests.support.controller import running, until
from tests.support.delete_order import App, GuardedApps
from tests.support.models import Network

ROOT = pathlib.Path(__file__).parent.parent.parent
FAST = {"resync": None, "rate_limiter": ExponentialBackoff(0.001, 0.02)}
A, B = rc.Address.parse("app/a"), rc.Address.parse("app/b")
BOTH = rc.State([App("a"), App("b", depends_on=[rc.ref(App, "a")])])


def controller(journal: Journal, apps: GuardedApps, desired: dict[str, Any], **options: Any) -> StateController[str]:
    # ``owns``: a restarted controller does not know what a key owns; the world's addresses tell it.
    return StateController(
        "apps",
        lambda t: desired.get(t),
        {"app": apps},
        executor=rc.ThreadExecutor(4),
        journal=journal,
        owns=lambda t: list(apps.objects),
        **{**FAST, **options},
    )


def test_a_new_controller_on_the_same_journal_orders_the_deletes_of_its_first_reconcile(store_url: str) -> None:
    apps = GuardedApps({B: A})
    desired: dict[str, Any] = {"t0": BOTH}
    with Journal.open(store_url) as journal:
        first = controller(journal, apps, desired)
        with running(first):
            first.enqueue("t0")
            until(lambda: first.reconciles == 1)
        assert first.conditions("t0")[READY].status
        assert journal.last_applied("apps/'t0'", [App]) == BOTH
    # A restart: a new process opens the journal; nothing in memory says b needs a.
    del desired["t0"]
    with Journal.open(store_url) as journal:
        second = controller(journal, apps, desired)
        assert second.last_applied("t0") is None
        with running(second):
            second.enqueue("t0")
            until(lambda: second.reconciles == 1)
        assert second.conditions("t0")[READY].status
        assert journal.last_applied("apps/'t0'", [App]) is None, "the key owns nothing: its record is gone"
    assert apps.refused == []
    assert apps.objects == {}
    assert apps.methods_called("delete") == [B, A]
    assert second.last_applied("t0") is None


def test_a_newly_elected_leader_orders_the_deletes_by_what_the_old_leader_applied(store_url: str) -> None:
    apps = GuardedApps({B: A})
    desired: dict[str, Any] = {"t0": BOTH}
    with Journal.open(store_url) as journal:
        old = controller(journal, apps, desired, lease=StoreLease(journal, "apps", owner="old", ttl=5))
        new = controller(journal, apps, desired, lease=StoreLease(journal, "apps", owner="new", ttl=5))
        with running(old):
            old.enqueue("t0")
            until(lambda: old.reconciles == 1)
        # The old leader stopped (its lease released); the new one takes over with an empty memory.
        del desired["t0"]
        with running(new):
            until(lambda: new.epoch == 2, what="the new leader elected")
            new.enqueue("t0")
            until(lambda: new.reconciles == 1)
    assert apps.refused == []
    assert apps.methods_called("delete") == [B, A]
    assert new.conditions("t0")[READY].status


def test_an_unchanged_state_is_not_written_again(store_url: str) -> None:
    apps = GuardedApps({B: A})
    desired: dict[str, Any] = {"t0": BOTH}
    with Journal.open(store_url) as journal:
        ctl = controller(journal, apps, desired)

        def recorded() -> Any:
            return journal.backend.read(lambda tx: tx.one("SELECT recorded FROM reconcile_last_applied"))

        with running(ctl):
            ctl.enqueue("t0")
            until(lambda: ctl.reconciles == 1)
            first = recorded()
            # Equal states, built anew: a resync that finds nothing to do writes nothing.
            desired["t0"] = rc.State([App("a"), App("b", depends_on=[rc.ref(App, "a")])])
            ctl.enqueue("t0")
            until(lambda: ctl.reconciles == 2)
            assert recorded() == first
            desired["t0"] = rc.State([App("a"), App("b")])
            ctl.enqueue("t0")
            until(lambda: ctl.reconciles == 3)
        assert journal.last_applied("apps/'t0'", [App]) == desired["t0"]
        assert recorded() != first


def test_a_record_that_cannot_be_read_is_planned_without_and_reported(store_url: str) -> None:
    apps = GuardedApps({})
    desired: dict[str, Any] = {"t0": rc.State([App("a")])}
    with Journal.open(store_url) as journal:
        # A kind the key's states no longer have (deleted from the world and the spec): no class for it.
        journal.record_last_applied("apps/'t0'", rc.State([App("a"), Network("gone", "10.0.0.0/16")]))
        metrics = Metrics()
        seen: list[Any] = []
        ctl = controller(journal, apps, desired, listeners=[metrics, seen.append])
        with running(ctl):
            ctl.enqueue("t0")
            until(lambda: ctl.reconciles == 1)
        assert ctl.conditions("t0")[READY].status
        (event,) = [e for e in seen if e.kind is ControllerEventKind.LAST_APPLIED_ERROR]
        assert event.key == "t0" and "'network'" in str(event.error)
        assert metrics.counts[ControllerEventKind.LAST_APPLIED_ERROR] == 1
        assert list(apps.objects) == [rc.Address.parse("app/a")]
        # The next state remembered replaces the record.
        assert journal.last_applied("apps/'t0'", [App]) == desired["t0"]


def _controller_process(url: str, world: str, apps: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.controller.last_applied_child", url, world, apps],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _reconciled(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("reconciled"), f"the controller process said {line!r} (exit code {child.poll()})"
    said = line.split(maxsplit=1)[1].strip()
    return said if said.startswith("True") else f"{said}: {child.stdout.readline().strip()}"


def test_a_controller_process_killed_after_an_apply_is_followed_by_one_that_orders_the_deletes(
    store_url: str, tmp_path: Any
) -> None:
    world = str(tmp_path / "world.db")
    first = _controller_process(store_url, world, "a b>a")
    try:
        assert _reconciled(first) == "True 1"
    finally:
        first.kill()  # SIGKILL: nothing runs after the apply; only what the journal made durable is left
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    names = sqlite3.connect(world).execute("SELECT name FROM apps ORDER BY name").fetchall()
    assert names == [("a",), ("b",)]
    second = _controller_process(store_url, world, "")
    try:
        # Both dropped: b first (the world refuses to delete a while b exists), in one apply that succeeds.
        assert _reconciled(second) == "True 1"
    finally:
        second.kill()
        second.wait(10)
    assert sqlite3.connect(world).execute("SELECT name FROM apps").fetchall() == []


def test_a_deposed_leaders_last_applied_state_is_refused_and_its_next_holding_records_it(store_url: str) -> None:
    desired = {"t0": rc.State([App("a")])}
    with Journal.open(store_url) as journal:
        lease = StoreLease(journal, "apps", owner="old", ttl=5)
        newer: list[Any] = []

        class Deposing(GuardedApps):
            def create(self, want: App, ctx: rc.Context) -> App:
                # Another leader takes over while this apply's provider call runs.
                assert lease.held is not None
                journal.force_unlock("apps", lease.held.lease_id)
                newer.append(journal.lease("apps", "new", ttl=30))
                return super().create(want, ctx)

        apps = Deposing({})
        ctl = controller(journal, apps, desired, lease=lease, renew_every=0.05)
        try:
            with running(ctl):
                ctl.enqueue("t0")
                until(lambda: ctl.reconciles >= 1 and ctl.epoch is None, what="the old leader deposed")
                assert journal.last_applied("apps/'t0'", [App]) is None, "the deposed leader's write was refused"
                newer[0].release()
                until(lambda: ctl.epoch == 3, what="the old leader elected again")
                until(lambda: journal.last_applied("apps/'t0'", [App]) == desired["t0"], what="the record")
        finally:
            for held in newer:
                held.release()
        assert apps.methods_called("create") == [rc.Address.parse("app/a")]
