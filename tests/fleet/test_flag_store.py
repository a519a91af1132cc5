"""Labels and flags in the fleet's store, on SQLite and on a PostgreSQL the tests start: a cell's spec gets a new
generation when (and only when) its flag values change, in the same generation as the change that caused it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconcile.fleet import Cell, InvalidInputError, NotFoundError, Release, ReleaseComponent
from reconcile.fleet.flags import Flag
from reconcile.fleet.store import BackendFleetStore


def rel(version: str) -> Release:
    return Release(version, (ReleaseComponent("workspaces", "1.0.0", "a" * 64),), 1.0)


def flag(*rules: dict[str, Any], key: str = "workspace-usage") -> Flag:
    return Flag.from_json({"key": key, "type": "bool", "default": False, "rules": list(rules)})


@pytest.fixture
def store(store_url: str) -> Iterator[BackendFleetStore]:
    opened = BackendFleetStore.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def gen(store: BackendFleetStore, cell: str) -> int:
    spec = store.get_spec(cell)
    assert spec is not None
    return spec.generation


def value(store: BackendFleetStore, cell: str, key: str = "workspace-usage") -> tuple[Any, str]:
    spec = store.get_spec(cell)
    assert spec is not None
    return spec.flags[key]["value"], spec.flags[key]["reason"]


def test_labels_are_stored_listed_changed_and_forgotten_with_their_cell(store: BackendFleetStore) -> None:
    store.create_cell(Cell("acme", "dedicated", "acme", labels={"tier": "gold", "ring": "early"}), "h", 10.0)
    store.create_cell(Cell("globex", "dedicated"), "h", 10.0)
    assert store.get_cell("acme").labels == {"ring": "early", "tier": "gold"}  # type: ignore[union-attr]
    assert [c.labels for c in store.list_cells()] == [{"ring": "early", "tier": "gold"}, {}]
    cell, spec = store.update_labels("acme", {"tier": "platinum", "team": "core"}, ["ring"])
    assert cell.labels == {"team": "core", "tier": "platinum"} == store.get_cell("acme").labels  # type: ignore[union-attr]
    assert spec.generation == 0  # no flag to change: no new generation
    with pytest.raises(NotFoundError):
        store.update_labels("nobody", {"a": "b"}, [])
    with pytest.raises(InvalidInputError, match="at most 64 labels"):
        store.update_labels("acme", {f"k{i}": "v" for i in range(63)}, [])
    assert store.get_cell("acme").labels == {"team": "core", "tier": "platinum"}  # type: ignore[union-attr]
    assert store.delete_cell("acme")
    store.create_cell(Cell("acme", "dedicated"), "h", 10.0)
    assert store.get_cell("acme").labels == {}  # type: ignore[union-attr]


def test_a_flag_change_gives_a_new_generation_only_to_cells_whose_values_change(store: BackendFleetStore) -> None:
    store.publish_release(rel("2026.12.1"))
    for cell, customer in (("acme", "acme"), ("globex", "globex")):
        store.create_cell(Cell(cell, "dedicated", customer), "h", 10.0)
    assert (gen(store, "acme"), gen(store, "globex")) == (1, 1)

    revision, changed = store.put_flag(flag({"match": {"customer": "acme"}, "value": True}), 20.0)
    # A new flag is a new value for every cell.
    assert (revision, changed) == (1, ["acme", "globex"])
    assert (value(store, "acme"), value(store, "globex")) == ((True, "TARGETING_MATCH"), (False, "DEFAULT"))
    assert (gen(store, "acme"), gen(store, "globex")) == (2, 2)

    # A rule that changes nothing for globex leaves its generation alone.
    revision, changed = store.put_flag(
        flag({"match": {"customer": "acme"}, "value": True}, {"match": {"region": "mars"}, "value": True}), 30.0
    )
    assert (revision, changed) == (2, [])
    assert (gen(store, "acme"), gen(store, "globex")) == (2, 2)

    revision, changed = store.put_flag(flag({"match": {"customer": ["acme", "globex"]}, "value": True}), 40.0)
    assert (revision, changed) == (3, ["globex"])
    assert (gen(store, "acme"), gen(store, "globex")) == (2, 3)
    stored = store.get_flag("workspace-usage")
    assert stored is not None and (stored.revision, stored.updated_at) == (3, 40.0)
    assert [s.flag.key for s in store.list_flags()] == ["workspace-usage"]
    assert store.get_flag("nope") is None


def test_a_label_change_re_evaluates_the_cells_flags(store: BackendFleetStore) -> None:
    store.create_cell(Cell("acme", "dedicated"), "h", 10.0)
    store.put_flag(flag({"match": {"labels": {"tier": "gold"}}, "value": True}), 20.0)
    assert (gen(store, "acme"), value(store, "acme")) == (1, (False, "DEFAULT"))
    _, spec = store.update_labels("acme", {"tier": "gold"}, [])
    assert (spec.generation, spec.flags["workspace-usage"]["value"]) == (2, True)
    _, spec = store.update_labels("acme", {"team": "core"}, [])
    assert spec.generation == 2  # same values: same generation
    _, spec = store.update_labels("acme", {}, ["tier"])
    assert (spec.generation, spec.flags["workspace-usage"]["reason"]) == (3, "DEFAULT")


def test_a_new_release_and_the_flag_values_it_brings_are_one_generation(store: BackendFleetStore) -> None:
    store.put_flag(flag({"match": {"release": ">=2026.12.2"}, "value": True}), 5.0)
    spec = store.create_cell(Cell("follower", "saas"), "h", 10.0)
    # No release, but a flag value: something is asked of the cell.
    assert (spec.generation, spec.flags["workspace-usage"]["value"]) == (1, False)
    store.create_cell(Cell("pinned", "saas"), "h", 10.0)
    store.publish_release(rel("2026.12.1"))
    store.set_target("pinned", "2026.12.1")
    assert (gen(store, "follower"), value(store, "follower")) == (2, (False, "DEFAULT"))
    assert store.publish_release(rel("2026.12.2")) == ["follower"]
    assert (gen(store, "follower"), value(store, "follower")) == (3, (True, "TARGETING_MATCH"))
    assert (gen(store, "pinned"), value(store, "pinned")) == (2, (False, "DEFAULT"))
    spec = store.set_target("pinned", "2026.12.2")
    assert (spec.generation, spec.flags["workspace-usage"]["value"]) == (3, True)
    spec = store.set_target("pinned", "2026.12.1")
    assert (spec.generation, spec.flags["workspace-usage"]["value"]) == (4, False)


def test_a_stored_flag_that_no_longer_parses_evaluates_to_error_not_a_crash(store: BackendFleetStore) -> None:
    store.create_cell(Cell("acme", "dedicated"), "h", 10.0)
    store.put_flag(flag(key="broken"), 5.0)
    store.backend.write(
        lambda tx: tx.execute("UPDATE fleet_flags SET body = ? WHERE key = ?", ('{"key": 1}', "broken"))
    )
    store.put_flag(flag(), 6.0)
    spec = store.get_spec("acme")
    assert spec is not None
    assert spec.flags["broken"]["reason"] == "ERROR" and spec.flags["broken"]["value"] is None
    assert "stored definition unreadable" in spec.flags["broken"]["error"]
    assert spec.flags["workspace-usage"]["reason"] == "STATIC"
