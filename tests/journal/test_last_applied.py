"""The journal keeps named last applied states, on SQLite and PostgreSQL: replaced, deleted, checked, fenced, migrated."""

from __future__ import annotations

from typing import Any

import pytest

import reconcile as rc
from reconcile.journal import (
    FencedError,
    Journal,
    JournalCorruptError,
    JournalError,
    JournalOptionError,
    UnknownKindError,
)
from reconcile.journal import _journal as journal_module
from reconcile.journal._schema import MIGRATIONS
from reconcile.storage import StorageError, schema_version
from reconcile.testing import InMemoryProvider
from tests.support.delete_order import App
from tests.support.models import Network, Server

TYPES = [Network, Server, App]
V1 = rc.State([App("a"), App("b", depends_on=[rc.ref(App, "a")])])
V2 = rc.State([Network("core", "10.0.0.0/16"), Server("web", rc.ref(Network, "core"), "small", password="pw-123")])


def test_a_recorded_state_reads_back_equal_with_its_depends_on_in_a_new_journal(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        assert journal.last_applied("apps/'t0'", TYPES) is None
        journal.record_last_applied("apps/'t0'", V1)
    with Journal.open(store_url) as journal:
        got = journal.last_applied("apps/'t0'", TYPES)
    assert got == V1
    assert got is not None and got.dependencies(rc.Address.parse("app/b")) == (rc.Address.parse("app/a"),)


def test_recording_replaces_and_an_empty_state_deletes_the_record(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        journal.record_last_applied("one", V1)
        journal.record_last_applied("two", V1)
        journal.record_last_applied("one", V2)
        assert journal.last_applied("one", TYPES) == V2
        journal.record_last_applied("one", rc.State())
        assert journal.last_applied("one", TYPES) is None
        assert journal.last_applied("two", TYPES) == V1
        rows = journal.backend.read(lambda tx: tx.query("SELECT name FROM reconcile_last_applied"))
    assert [r[0] for r in rows] == ["two"]


def test_a_state_with_dangling_refs_round_trips(store_url: str) -> None:
    # What a failed apply leaves to order: the state tried plus what the one before dropped.
    dangling = rc.State([Server("web", rc.ref(Network, "gone"), "small")], allow_dangling=True)
    with Journal.open(store_url) as journal:
        journal.record_last_applied("k", dangling)
        assert journal.last_applied("k", TYPES) == dangling


def test_the_classes_the_journal_knows_need_not_be_passed_again(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        journal.record_last_applied("k", V2)
    with Journal.open(store_url, types=[Network, Server]) as journal:
        assert journal.last_applied("k", []) == V2


def test_a_kind_without_a_class_is_a_typed_error_naming_the_record_and_kinds(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        journal.record_last_applied("apps/'t0'", rc.State([*V1, *V2]))
    missing = r"last applied state \"apps/'t0'\".*'network', 'server'"
    with Journal.open(store_url) as journal, pytest.raises(UnknownKindError, match=missing):
        journal.last_applied("apps/'t0'", [App])


@pytest.mark.parametrize(
    ("column", "value"),
    [("state", "'{}'"), ("recorded", "recorded + 1"), ("name", "'other'")],
)
def test_a_modified_record_is_refused_naming_it(store_url: str, column: str, value: str) -> None:
    with Journal.open(store_url) as journal:
        journal.record_last_applied("k", V1)
        journal.backend.write(lambda tx: tx.execute(f"UPDATE reconcile_last_applied SET {column} = {value}"))
        name = "other" if column == "name" else "k"
        with pytest.raises(JournalCorruptError, match=f"last applied state '{name}' fails its check"):
            journal.last_applied(name, TYPES)


def test_a_record_whose_text_is_not_a_valid_state_is_refused_even_with_a_matching_digest(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        journal.record_last_applied("k", V1)
        for text in ("[1, 2]", '{"resources": [{"kind": "app", "fields": {}}]}'):
            now = journal.backend.clock()
            digest = journal.codec.digest("k", text, now)
            journal.backend.write(
                lambda tx, t=text, n=now, d=digest: tx.execute(
                    "UPDATE reconcile_last_applied SET state = ?, recorded = ?, digest = ?", (t, n, d)
                )
            )
            with pytest.raises(JournalCorruptError, match="last applied state 'k'"):
                journal.last_applied("k", TYPES)


def test_a_signed_journal_signs_the_state_and_refuses_a_record_under_another_key(store_url: str) -> None:
    with Journal.open(store_url, key="secret-1") as journal:
        journal.record_last_applied("k", V1)
        text = journal.backend.read(lambda tx: tx.one("SELECT state FROM reconcile_last_applied"))[0]
        assert '"signature"' in text
        assert journal.last_applied("k", TYPES) == V1
    with Journal.open(store_url, key="secret-2") as journal, pytest.raises(JournalCorruptError, match="another key"):
        journal.last_applied("k", TYPES)
    with Journal.open(store_url) as journal, pytest.raises(JournalCorruptError, match="fails its check"):
        journal.last_applied("k", TYPES)


@pytest.mark.parametrize("name", ["", None, 3, b"k"])
def test_a_bad_name_is_a_typed_error(store_url: str, name: Any) -> None:
    with Journal.open(store_url) as journal:
        with pytest.raises(JournalOptionError, match="non-empty string"):
            journal.record_last_applied(name, V1)
        with pytest.raises(JournalOptionError, match="non-empty string"):
            journal.last_applied(name, TYPES)


def test_bad_states_types_and_leases_are_typed_errors(store_url: str, tmp_path: Any) -> None:
    with Journal.open(store_url) as journal:
        with pytest.raises(JournalOptionError, match="state must be a reconcile.State, got list"):
            journal.record_last_applied("k", [App("a")])  # type: ignore[arg-type]
        with pytest.raises(JournalOptionError, match="types must be an iterable"):
            journal.last_applied("k", App)  # type: ignore[arg-type]
        with pytest.raises(JournalOptionError, match="types must be resource classes"):
            journal.last_applied("k", [App("a")])  # type: ignore[list-item]
        with pytest.raises(JournalOptionError, match="lease must be a Lease"):
            journal.record_last_applied("k", V1, lease="leader")
        with (
            Journal.open(f"sqlite:///{tmp_path}/other.db") as other,
            other.lease("l", "me") as foreign,
            pytest.raises(JournalOptionError, match="another store"),
        ):
            journal.record_last_applied("k", V1, lease=foreign)
        assert journal.last_applied("k", TYPES) is None


def test_a_value_without_a_json_form_is_a_journal_error_naming_the_record(store_url: str) -> None:
    @rc.resource(kind="odd")
    class Odd:
        name: str = rc.identity()
        blob: Any = rc.spec(default=None)

    with Journal.open(store_url) as journal:
        with pytest.raises(JournalError, match="cannot record journal last applied state 'k'"):
            journal.record_last_applied("k", rc.State([Odd("x", blob=object())]))
        assert journal.last_applied("k", [Odd]) is None


def test_a_deposed_holders_record_is_refused_and_the_new_holders_is_kept(store_url: str) -> None:
    now = [1000.0]
    with Journal.open(store_url, clock=lambda: now[0]) as journal:
        first = journal.lease("leader", owner="first", ttl=10)
        first._stop.set()  # no background renewal: the test moves the clock itself
        journal.record_last_applied("k", V1, lease=first)
        now[0] += 11
        with journal.lease("leader", owner="second", ttl=10) as second:
            with pytest.raises(FencedError):
                journal.record_last_applied("k", rc.State(), lease=first)
            with pytest.raises(FencedError):
                journal.record_last_applied("k", V2, lease=first)
            assert journal.last_applied("k", TYPES) == V1
            journal.record_last_applied("k", V2, lease=second)
            assert journal.last_applied("k", TYPES) == V2


def test_a_v1_journal_is_migrated_to_v2_keeping_its_records(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    providers = {"network": InMemoryProvider(Network), "server": InMemoryProvider(Server)}
    # A journal as the release before this one made it: its schema stops at migration 1.
    monkeypatch.setattr(journal_module, "MIGRATIONS", MIGRATIONS[:1])
    with Journal.open(store_url) as journal:
        assert journal.backend.read(lambda tx: schema_version(tx, "journal")) == 1
        assert rc.apply(rc.plan(V2, rc.observe(providers)), providers, journal=journal).ok
        with pytest.raises(StorageError):
            journal.record_last_applied("k", V1)
    monkeypatch.undo()
    with Journal.open(store_url, types=TYPES) as journal:
        assert journal.backend.read(lambda tx: schema_version(tx, "journal")) == len(MIGRATIONS) == 2
        (run,) = journal.applies()
        assert (run.status, run.steps) == ("succeeded", 2)
        assert [str(s.address) for s in journal.steps(run.id)] == ["network/core", "server/web"]
        assert journal.last_known("network/core") == providers["network"].read(rc.Address.parse("network/core"))
        assert journal.last_applied("k", TYPES) is None
        journal.record_last_applied("k", V1)
        assert journal.last_applied("k", TYPES) == V1
