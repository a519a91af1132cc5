"""Schema versions per component, upgraded by forward migrations inside one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from .backend import Backend, Tx
from .errors import SchemaVersionError, StorageError

SCHEMA_TABLE = "reconcile_schema"

MIGRATIONS_LOCK = 7210431
"""The advisory lock key migrators hold on PostgreSQL (the lowest of the project's keys: see ``Backend.submit``)."""


@attrs.frozen
class Migration:
    """One forward step of a component's schema.

    Attributes:
        version: the version the schema is at after this step (1, 2, ... without gaps).
        description: what the step changes, for people.
        up: the function that makes the change, given the transaction.
    """

    version: int
    description: str
    up: Callable[[Tx], None]


def schema_version(tx: Tx, component: str) -> int:
    """The version ``component``'s schema is at in the store, 0 when it has none."""
    if tx.dialect == "sqlite":
        exists = tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SCHEMA_TABLE,))
    else:
        exists = tx.one(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
            (SCHEMA_TABLE,),
        )
    if exists is None:
        return 0
    row = tx.one(f"SELECT version FROM {SCHEMA_TABLE} WHERE component = ?", (component,))
    return 0 if row is None else int(row[0])


def migrate(backend: Backend, component: str, migrations: Sequence[Migration]) -> int:
    """Bring ``component``'s schema in ``backend`` up to the last of ``migrations``; return the version.

    Every pending step runs in one transaction with the version bump, so a
    store is never left half-migrated; concurrent openers wait for each other.

    Raises:
        SchemaVersionError: the store's schema is newer than ``migrations`` know (nothing is changed).
        StorageError: ``migrations`` are not numbered 1, 2, ... in order.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise StorageError(f"migrations of {component!r} must be numbered 1..{len(migrations)}, got {versions}")
    latest = len(migrations)

    def check(tx: Tx) -> int:
        return schema_version(tx, component)

    # A read first, so an up-to-date store costs no write transaction at open.
    found = backend.read(check)
    if found > latest:
        raise SchemaVersionError(component, found, latest)
    if found == latest:
        return found

    def upgrade(tx: Tx) -> int:
        tx.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (component TEXT PRIMARY KEY, version BIGINT NOT NULL)")
        now = schema_version(tx, component)
        if now > latest:
            raise SchemaVersionError(component, now, latest)
        for step in migrations[now:]:
            step.up(tx)
        tx.execute(
            f"INSERT INTO {SCHEMA_TABLE} (component, version) VALUES (?, ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (component, latest),
        )
        return latest

    # The lock serialises concurrent migrators on PostgreSQL; SQLite's write transaction already does.
    return backend.write(upgrade, locks=(MIGRATIONS_LOCK,))
