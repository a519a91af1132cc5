"""Durable applies: a write-ahead journal of provider calls, leases with fencing, crash recovery and history.

Layer 6: built on the engine (``reconcile``) and ``reconcile.storage``; the
engine never imports it (``apply`` calls it through the ``journal=`` hook).
"""

from ..storage import Lease, LeaseInfo
from ..storage.errors import (
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
from ._journal import ApplyLog, Journal
from ._records import ApplyRecord, RecoveredStep, RecoveryReport, StepRecord
from .errors import JournalCorruptError, JournalError, JournalOptionError, RecoveryError, UnknownKindError

__all__ = [
    "ApplyLog",
    "ApplyRecord",
    "CorruptStoreError",
    "FencedError",
    "Journal",
    "JournalCorruptError",
    "JournalError",
    "JournalOptionError",
    "Lease",
    "LeaseError",
    "LeaseHeldError",
    "LeaseInfo",
    "LeaseNotFoundError",
    "LeaseOptionError",
    "RecoveredStep",
    "RecoveryError",
    "RecoveryReport",
    "SchemaVersionError",
    "StepRecord",
    "StorageError",
    "StorageURLError",
    "UnknownKindError",
]
