"""Durable storage shared by the journal and the fleet: SQLite and PostgreSQL backends, migrations, leases."""

from .backend import Backend, FencedBackend, Subscription, Tx
from .errors import (
    CorruptStoreError,
    FencedError,
    LeaseError,
    LeaseHeldError,
    LeaseNotFoundError,
    LeaseOptionError,
    SchemaVersionError,
    StorageError,
    StorageURLError,
)
from .leases import Lease, LeaseInfo, acquire, epoch_fence, force_unlock, lease_info
from .migrations import Migration, migrate, schema_version
from .postgres import PostgresBackend
from .sqlite import SQLiteBackend
from .urls import open_store

__all__ = [
    "Backend",
    "CorruptStoreError",
    "FencedBackend",
    "FencedError",
    "Lease",
    "LeaseError",
    "LeaseHeldError",
    "LeaseInfo",
    "LeaseNotFoundError",
    "LeaseOptionError",
    "Migration",
    "PostgresBackend",
    "SQLiteBackend",
    "SchemaVersionError",
    "StorageError",
    "StorageURLError",
    "Subscription",
    "Tx",
    "acquire",
    "epoch_fence",
    "force_unlock",
    "lease_info",
    "migrate",
    "open_store",
    "schema_version",
]
