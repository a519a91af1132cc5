"""``FleetStore``: the small interface the control plane keeps its records behind (cells, releases, specs, status)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from ..debug import DebugEvent
from ..flags import Flag
from ..model import AuditEntry, Cell, CellStatus, DesiredSpec, Release

SPEC_CHANNEL = "reconcile_fleet_spec"
"""The store's notification channel of spec changes (``Tx.notify``): the cell's id, or ``""`` for every cell.

A write that changes a cell's generation notifies it in the same transaction,
so long polls on every replica wake at once (see "Running at scale").
"""


@attrs.frozen
class Registration:
    """A cell's pending one-time registration token, as stored (only its hash).

    Attributes:
        cell_id: the cell.
        token_hash: sha256 of the token, or ``None`` once the token expired unused (purged).
        expires_at: when it stops being accepted.
        used_at: when it was used, or ``None``.
    """

    cell_id: str
    token_hash: str | None
    expires_at: float
    used_at: float | None


@attrs.frozen
class StoredFlag:
    """A feature flag as stored.

    Attributes:
        flag: its definition.
        revision: 1 when created, then one more on every change.
        updated_at: when it last changed.
    """

    flag: Flag
    revision: int
    updated_at: float


class FleetStore(Protocol):
    """Where the control plane keeps its records. Every method is one transaction.

    Implementations must be safe to call from several threads. Secrets are
    never handed to a store: only their hashes.
    """

    def create_cell(self, cell: Cell, token_hash: str, expires_at: float) -> DesiredSpec:
        """Add a cell with its registration token's hash; its first spec targets the newest release.

        Raises:
            ConflictError: a cell with that id exists.
        """
        ...

    def get_cell(self, cell_id: str) -> Cell | None:
        """The cell, or ``None``."""
        ...

    def list_cells(self) -> list[Cell]:
        """Every cell, by id."""
        ...

    def delete_cell(self, cell_id: str) -> bool:
        """Remove a cell and everything about it; whether it existed."""
        ...

    def reissue_token(self, cell_id: str, token_hash: str, expires_at: float) -> bool:
        """Replace the cell's registration token (a new one-time token); whether the cell exists."""
        ...

    def registration(self, cell_id: str) -> Registration | None:
        """The cell's registration token record, or ``None``."""
        ...

    def complete_registration(self, cell_id: str, token_hash: str, credential_hash: str, now: float) -> bool:
        """Mark the token used and store the credential's hash, if the token is still unused; whether it was."""
        ...

    def pending_registrations(self) -> list[Registration]:
        """Every cell whose registration token is stored and unused, by id."""
        ...

    def expire_registration(self, cell_id: str, now: float) -> bool:
        """Purge the cell's token hash if the token is unused and expired at ``now``; whether it was."""
        ...

    def credential_hash(self, cell_id: str) -> str | None:
        """The hash of the cell's credential, or ``None`` before registration."""
        ...

    def publish_release(self, release: Release) -> list[str]:
        """Add a release; every cell following the newest release gets a new spec. Returns those cells' ids.

        Raises:
            ConflictError: a release with that version exists.
        """
        ...

    def get_release(self, version: str) -> Release | None:
        """The release, or ``None``."""
        ...

    def list_releases(self) -> list[Release]:
        """Every release, oldest first."""
        ...

    def set_target(self, cell_id: str, version: str | None) -> DesiredSpec:
        """Pin the cell to a release (``None``: follow the newest); the generation grows if the spec changed.

        Raises:
            NotFoundError: no such cell or release.
        """
        ...

    def get_spec(self, cell_id: str) -> DesiredSpec | None:
        """The cell's desired spec, or ``None`` if no such cell."""
        ...

    def set_infrastructure(self, cell_id: str, version: str | None) -> DesiredSpec:
        """Set the infrastructure version the cell's spec requires; the generation grows if it changed.

        Raises:
            NotFoundError: no such cell.
        """
        ...

    def generation(self, cell_id: str) -> int | None:
        """The cell's spec generation (a cheap read for long polls), or ``None`` if no such cell."""
        ...

    def check_in(self, cell_id: str) -> tuple[str | None, int] | None:
        """The cell's credential hash (``None`` before registration) and spec generation in one read, or ``None``.

        A check-in needs both; one read instead of two halves its cost.
        """
        ...

    def generations(self, cell_ids: list[str]) -> dict[str, int]:
        """The spec generations of those cells that exist, in one read (the long polls' batched look)."""
        ...

    def put_status(self, cell_id: str, status: CellStatus) -> None:
        """Record the cell's latest status."""
        ...

    def get_status(self, cell_id: str) -> CellStatus | None:
        """The cell's latest status, or ``None`` if it never reported."""
        ...

    def audit(self, at: float, actor: str, action: str, target: str, detail: str = "") -> None:
        """Append an audit entry (never with secrets in it)."""
        ...

    def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, oldest of them first."""
        ...

    def record_debug_events(self, cell_id: str, events: Sequence[DebugEvent], received_at: float) -> list[DebugEvent]:
        """Keep the debug audit events a cell reported that are not kept yet (by sequence number); the new ones."""
        ...

    def debug_audit(self, cell_id: str, limit: int = 100) -> list[DebugEvent]:
        """The newest debug audit events kept for a cell, oldest of them first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def update_labels(self, cell_id: str, to_set: dict[str, str], to_remove: list[str]) -> tuple[Cell, DesiredSpec]:
        """Set and remove labels of a cell; its flags are evaluated again (a new generation if they changed).

        Raises:
            NotFoundError: no such cell.
            InvalidInputError: the cell would carry too many labels.
        """
        ...

    def put_flag(self, flag: Flag, now: float) -> tuple[int, list[str]]:
        """Create or replace a flag and evaluate it for every cell; its revision and the cells whose values changed.

        Only a cell whose flag values changed gets a new spec generation.
        """
        ...

    def get_flag(self, key: str) -> StoredFlag | None:
        """The flag, or ``None``."""
        ...

    def list_flags(self) -> list[StoredFlag]:
        """Every flag, by key."""
        ...
