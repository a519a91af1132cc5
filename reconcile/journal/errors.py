"""The errors the journal raises, beside the storage errors it passes on (held leases, fencing, schema versions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._model import show_address
from ..storage.errors import CorruptStoreError, StorageError

if TYPE_CHECKING:
    from ._records import RecoveryReport


class JournalError(StorageError):
    """A journal operation failed."""


class JournalCorruptError(JournalError, CorruptStoreError):
    """A journal record fails its checksum or signature, or cannot be decoded: the store was modified or damaged.

    Nothing was applied or recovered from it.
    """


class JournalOptionError(JournalError, ValueError):
    """An argument given to the journal is invalid (the message names it)."""


class UnknownKindError(JournalError, LookupError):
    """A record's kind has no resource class the journal knows; pass the classes as ``Journal.open(types=...)``."""


class RecoveryError(JournalError):
    """Some pending intents could not be resolved (a missing provider, a failing ``read``).

    What could be resolved was recorded; the rest stays pending. Nothing is applied while they remain.

    Attributes:
        report: the ``RecoveryReport``, with the unresolved steps and their errors.
    """

    def __init__(self, report: RecoveryReport) -> None:
        self.report = report
        lines = [f"{len(report.unresolved)} pending intent(s) could not be resolved:"]
        lines += [f"  - {r.op.value} {show_address(r.address)}: {r.error}" for r in report.unresolved[:10]]
        if len(report.unresolved) > 10:
            lines.append(f"  ... and {len(report.unresolved) - 10} more")
        super().__init__("\n".join(lines))
