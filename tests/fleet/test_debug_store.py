"""The control plane's copy of the cells' debug audit trails, on SQLite and on a PostgreSQL the tests start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconcile.fleet import Cell, CellStatus, ControlPlane, DebugAccessStatus, DebugEvent, NotFoundError
from reconcile.fleet.artifacts import ArtifactStore
from reconcile.fleet.store import BackendFleetStore


@pytest.fixture
def store(store_url: str) -> Iterator[BackendFleetStore]:
    opened = BackendFleetStore.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def event(seq: int, kind: str = "use") -> DebugEvent:
    return DebugEvent(seq, 100.0 + seq, kind, "dg1", "alice", f"event {seq}", f"{seq:064x}")


def test_each_event_is_kept_once_per_cell_and_sequence_number(store: BackendFleetStore) -> None:
    assert [e.seq for e in store.record_debug_events("acme", [event(2), event(1)], 5.0)] == [1, 2]
    assert [e.seq for e in store.record_debug_events("acme", [event(1), event(2), event(3)], 6.0)] == [3]
    assert store.record_debug_events("acme", [event(3)], 7.0) == []
    assert [e.seq for e in store.record_debug_events("globex", [event(1)], 7.0)] == [1]
    assert store.debug_audit("acme") == [event(1), event(2), event(3)]
    assert [e.seq for e in store.debug_audit("acme", limit=2)] == [2, 3]
    assert store.debug_audit("initech") == []


def test_reported_events_reach_the_audit_log_once(store: BackendFleetStore, tmp_path: object) -> None:
    now = [1000.0]
    control = ControlPlane(store, ArtifactStore(f"{tmp_path}/artifacts"), admin_token="t" * 20, clock=lambda: now[0])
    store.create_cell(Cell("acme", "dedicated"), "h" * 64, 10.0)
    for _ in range(2):
        status = CellStatus(0, debug_access=DebugAccessStatus(False, (), (event(1, "grant"), event(2, "expire"))))
        kept = control.report_status("acme", status.to_json())
    assert kept.reported_at == 1000.0 and kept.debug_access == status.debug_access
    actions = [(e["action"], e["actor"]) for e in control.audit_log()]
    assert actions == [("debug.grant", "cell:acme"), ("debug.expire", "cell:acme")]
    assert [e["seq"] for e in control.show_cell("acme")["debug_audit"]] == [1, 2]
    with pytest.raises(NotFoundError):
        control.debug_audit("nope")
