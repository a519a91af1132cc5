"""The facades of the journal, storage and CLI rooms: pinned names, docstrings, and every name in the docs."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

import reconcile.cli
import reconcile.journal
import reconcile.storage

DOCS = pathlib.Path(__file__).parent.parent.parent / "docs"

JOURNAL = [
    "ApplyLog", "ApplyRecord", "CorruptStoreError", "FencedError", "Journal", "JournalCorruptError", "JournalError",
    "JournalOptionError", "Lease", "LeaseError", "LeaseHeldError", "LeaseInfo", "LeaseNotFoundError",
    "LeaseOptionError", "RecoveredStep", "RecoveryError", "RecoveryReport", "SchemaVersionError", "StepRecord",
    "StorageError", "StorageURLError", "UnknownKindError",
]  # fmt: skip
STORAGE = [
    "Backend", "CorruptStoreError", "FencedBackend", "FencedError", "Lease", "LeaseError", "LeaseHeldError",
    "LeaseInfo", "LeaseNotFoundError", "LeaseOptionError", "Migration", "PostgresBackend", "SQLiteBackend",
    "SchemaVersionError", "StorageError", "StorageURLError", "Subscription", "Tx", "acquire", "epoch_fence",
    "force_unlock", "lease_info", "migrate", "open_store", "schema_version",
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "names"),
    [(reconcile.journal, JOURNAL), (reconcile.storage, STORAGE), (reconcile.cli, ["LastAppliedStateError", "main"])],
)
def test_facades_export_exactly_the_pinned_names_each_documented(module: object, names: list[str]) -> None:
    assert sorted(module.__all__) == sorted(names)  # type: ignore[attr-defined]
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    for name in names:
        obj = getattr(module, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
        assert f"`{name}" in text or f" {name}" in text, f"{name} is not in docs/"


def test_the_journal_is_not_exported_from_the_top() -> None:
    assert not {"Journal", "Lease", "FencedError"} & set(reconcile.__all__)


def test_importing_reconcile_loads_neither_the_journal_nor_its_drivers() -> None:
    code = "import sys, reconcile; print(sorted(m for m in ('reconcile.journal', 'psycopg', 'click', 'sqlite3') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_opening_a_sqlite_journal_does_not_load_psycopg(tmp_path: pathlib.Path) -> None:
    code = (
        "import sys; from reconcile.journal import Journal; "
        f"Journal.open('sqlite:///{tmp_path}/j.db').close(); print('psycopg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
