"""The fleet's store, on SQLite and on a PostgreSQL the tests start: generations grow on every change, registration happens once."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from reconcile.fleet import Cell, CellStatus, ConflictError, InvalidInputError, NotFoundError, Release, ReleaseComponent
from reconcile.fleet.store import BackendFleetStore, open_store


def rel(version: str) -> Release:
    return Release(version, (ReleaseComponent("workspaces", "1.0.0", "a" * 64),), 1.0)


@pytest.fixture
def store(store_url: str) -> Iterator[BackendFleetStore]:
    opened = BackendFleetStore.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def test_a_cell_created_before_any_release_has_generation_zero_and_no_release(store: BackendFleetStore) -> None:
    spec = store.create_cell(Cell("acme", "dedicated"), "h" * 64, 10.0)
    assert (spec.generation, spec.release) == (0, None)


def test_publishing_moves_every_following_cell_one_generation_on(store: BackendFleetStore) -> None:
    store.create_cell(Cell("a", "staging"), "h", 10.0)
    store.create_cell(Cell("b", "saas"), "h", 10.0)
    store.publish_release(rel("r1"))
    store.set_target("b", "r1")  # pinned: same release, no new generation
    assert store.get_spec("b").generation == 1  # type: ignore[union-attr]
    assert store.publish_release(rel("r2")) == ["a"]
    a, b = store.get_spec("a"), store.get_spec("b")
    assert a is not None and b is not None
    assert (a.generation, a.release.version if a.release else None) == (2, "r2")
    assert (b.generation, b.release.version if b.release else None) == (1, "r1")
    assert store.set_target("b", None).generation == 2  # following the newest again: r2
    assert store.set_target("b", None).generation == 2


def test_a_cell_created_after_a_release_starts_at_generation_one_with_it(store: BackendFleetStore) -> None:
    store.publish_release(rel("r1"))
    spec = store.create_cell(Cell("late", "dedicated"), "h", 10.0)
    assert spec.generation == 1 and spec.release == rel("r1")


def test_conflicts_and_missing_things_are_typed_errors(store: BackendFleetStore) -> None:
    store.create_cell(Cell("a", "staging"), "h", 10.0)
    store.publish_release(rel("r1"))
    with pytest.raises(ConflictError):
        store.create_cell(Cell("a", "staging"), "h", 10.0)
    with pytest.raises(ConflictError):
        store.publish_release(rel("r1"))
    with pytest.raises(NotFoundError):
        store.set_target("nobody", "r1")
    with pytest.raises(NotFoundError):
        store.set_target("a", "r9")


def test_a_registration_completes_once(store: BackendFleetStore) -> None:
    store.create_cell(Cell("a", "staging"), "tokenhash", 10.0)
    assert store.complete_registration("a", "tokenhash", "cred1", 1.0)
    assert not store.complete_registration("a", "tokenhash", "cred2", 2.0)
    assert store.credential_hash("a") == "cred1"
    assert store.get_cell("a").registered  # type: ignore[union-attr]
    assert store.reissue_token("a", "newhash", 20.0)
    reg = store.registration("a")
    assert reg is not None and reg.token_hash == "newhash" and reg.used_at is None


def test_deleting_a_cell_forgets_its_status_and_credential(store: BackendFleetStore) -> None:
    store.create_cell(Cell("a", "staging"), "h", 10.0)
    store.complete_registration("a", "h", "cred", 1.0)
    store.put_status("a", CellStatus(1))
    assert store.delete_cell("a") and not store.delete_cell("a")
    assert store.get_status("a") is None and store.credential_hash("a") is None


def test_open_store_names_what_it_expects(tmp_path: pathlib.Path) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path / 'x' / 'fleet.db'}"), BackendFleetStore)
    with pytest.raises(InvalidInputError, match="sqlite:///path or postgresql://"):
        open_store("mysql://nope")


def test_two_stores_on_one_database_see_each_others_changes(store_url: str) -> None:
    """Control-plane replicas share one store: what one writes, the other reads."""
    first, second = BackendFleetStore.open(store_url), BackendFleetStore.open(store_url)
    try:
        first.create_cell(Cell("shared", "saas"), "h", 10.0)
        first.publish_release(rel("r1"))
        assert second.generation("shared") == 1
        assert second.set_target("shared", "r1").generation == 1
        second.audit(1.0, "admin", "x", "shared")
        assert [e.action for e in first.list_audit()] == ["x"]
    finally:
        first.close()
        second.close()
