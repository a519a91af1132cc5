"""The store's part for cell labels and feature flags: their tables (migration components ``fleet.labels`` and
``fleet.flags``) and the re-evaluation that writes each cell's flag values into its spec.

Every function here runs inside a transaction of ``BackendFleetStore``, so a
change (a flag, a label, a release) and the flag values it leads to land in
one commit, and in one spec generation.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

import attrs

from ...storage import Backend, Migration, Tx, migrate
from ..flags import ERROR, Flag, FlagContext, evaluate_flags
from ..model import Cell
from .base import SPEC_CHANNEL
from .locks import FLAGS_LOCK, require_lock

_FEW = 32


def _labels_v1(tx: Tx) -> None:
    tx.execute(
        "CREATE TABLE fleet_cell_labels (cell_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY (cell_id, key))"
    )


def _flags_v1(tx: Tx) -> None:
    real = "DOUBLE PRECISION" if tx.dialect == "postgresql" else "REAL"
    tx.execute(
        f"CREATE TABLE fleet_flags (key TEXT PRIMARY KEY, revision BIGINT NOT NULL, updated_at {real} NOT NULL,"
        " body TEXT NOT NULL)"
    )


LABEL_MIGRATIONS = [Migration(1, "cell labels", _labels_v1)]
FLAG_MIGRATIONS = [Migration(1, "feature flags", _flags_v1)]


def migrate_flags(backend: Backend) -> None:
    """Create or upgrade the label and flag tables (after the ``fleet`` component's own)."""
    migrate(backend, "fleet.labels", LABEL_MIGRATIONS)
    migrate(backend, "fleet.flags", FLAG_MIGRATIONS)


# -- labels -------------------------------------------------------------------


def read_labels(tx: Tx, cell_id: str) -> dict[str, str]:
    """The cell's labels."""
    rows = tx.query("SELECT key, value FROM fleet_cell_labels WHERE cell_id = ? ORDER BY key", (cell_id,))
    return {r[0]: r[1] for r in rows}


def read_all_labels(tx: Tx) -> dict[str, dict[str, str]]:
    """Every cell's labels, by cell id (cells without labels are absent)."""
    out: dict[str, dict[str, str]] = {}
    for cell_id, key, value in tx.query("SELECT cell_id, key, value FROM fleet_cell_labels ORDER BY cell_id, key"):
        out.setdefault(cell_id, {})[key] = value
    return out


def write_labels(tx: Tx, cell_id: str, labels: dict[str, str]) -> None:
    """Replace the cell's labels."""
    tx.execute("DELETE FROM fleet_cell_labels WHERE cell_id = ?", (cell_id,))
    for key, value in sorted(labels.items()):
        tx.execute("INSERT INTO fleet_cell_labels (cell_id, key, value) VALUES (?, ?, ?)", (cell_id, key, value))


# -- flags --------------------------------------------------------------------


def read_flag(tx: Tx, key: str) -> tuple[dict[str, Any], int, float] | None:
    """A stored flag's definition (JSON), revision and update time, or ``None``."""
    row = tx.one("SELECT body, revision, updated_at FROM fleet_flags WHERE key = ?", (key,))
    return None if row is None else (json.loads(row[0]), int(row[1]), float(row[2]))


def read_flags(tx: Tx) -> list[tuple[dict[str, Any], int, float]]:
    """Every stored flag (definition, revision, update time), by key."""
    rows = tx.query("SELECT body, revision, updated_at FROM fleet_flags ORDER BY key")
    return [(json.loads(r[0]), int(r[1]), float(r[2])) for r in rows]


def write_flag(tx: Tx, flag: Flag, now: float) -> int:
    """Insert or replace a flag; its new revision (1, 2, ...)."""
    row = tx.one(f"SELECT revision FROM fleet_flags WHERE key = ?{tx.locking('update')}", (flag.key,))
    body = json.dumps(flag.to_json(), sort_keys=True)
    if row is None:
        tx.execute(
            "INSERT INTO fleet_flags (key, revision, updated_at, body) VALUES (?, 1, ?, ?)", (flag.key, now, body)
        )
        return 1
    revision = int(row[0]) + 1
    tx.execute(
        "UPDATE fleet_flags SET revision = ?, updated_at = ?, body = ? WHERE key = ?", (revision, now, body, flag.key)
    )
    return revision


def _values(flags: list[Flag | tuple[str, str]], ctx: FlagContext) -> dict[str, dict[str, Any]]:
    values = evaluate_flags([f for f in flags if isinstance(f, Flag)], ctx)
    for item in flags:
        if not isinstance(item, Flag):
            key, problem = item
            values[key] = {"value": None, "variant": "", "reason": ERROR, "error": problem}
    return dict(sorted(values.items()))


def _stored_flags(tx: Tx) -> list[Flag | tuple[str, str]]:
    """The stored flags; one that no longer parses (a newer writer's format) is ``(key, problem)``."""
    out: list[Flag | tuple[str, str]] = []
    for key, body in tx.query("SELECT key, body FROM fleet_flags ORDER BY key"):
        try:
            out.append(Flag.from_json(json.loads(body)))
        except ValueError as exc:
            out.append((key, f"stored definition unreadable: {exc}"[:300]))
    return out


def refresh_flags(tx: Tx, cell_ids: Iterable[str] | None = None, bumped: Collection[str] = ()) -> list[str]:
    """Evaluate every flag for the cells (all if ``None``) and store the values in their specs.

    A cell whose values changed gets a new generation, unless it is in
    ``bumped`` (its generation already grew in this transaction: one change,
    one generation).

    The write must hold ``FLAGS_LOCK`` from its start (``locks=(FLAGS_LOCK,)``), so two replicas changing a
    flag and a label at once cannot each compute values from the other's old state, and so the lock comes
    before the cell rows this locks (the lock order: reconcile/fleet/store/locks.py).

    Returns:
        the ids of the cells whose values changed.

    Raises:
        StorageError: on PostgreSQL, the transaction does not hold ``FLAGS_LOCK``.
    """
    require_lock(tx, FLAGS_LOCK, "re-evaluating flags")
    flags = _stored_flags(tx)
    wanted = None if cell_ids is None else sorted(set(cell_ids))
    columns = "id, stage, customer, region, spec_release, flags"
    if wanted is not None and len(wanted) <= _FEW:
        # One cell (a pin, a relabel) reads only its own rows, not the fleet's.
        rows = [r for c in wanted for r in tx.query(f"SELECT {columns} FROM fleet_cells WHERE id = ?", (c,))]
        labels = {c: read_labels(tx, c) for c in wanted}
    else:
        keep = None if wanted is None else set(wanted)
        rows = [r for r in tx.query(f"SELECT {columns} FROM fleet_cells ORDER BY id") if keep is None or r[0] in keep]
        labels = read_all_labels(tx)
    changed = []
    for cell_id, stage, customer, region, release, stored in rows:
        ctx = FlagContext(cell_id, stage, customer, region, labels.get(cell_id, {}), release)
        values = _values(flags, ctx)
        if values == json.loads(stored):
            continue
        tx.execute(
            "UPDATE fleet_cells SET flags = ?, generation = generation + ? WHERE id = ?",
            (json.dumps(values, sort_keys=True), 0 if cell_id in bumped else 1, cell_id),
        )
        tx.notify(SPEC_CHANNEL, cell_id)  # wakes this cell's long polls on every replica
        changed.append(cell_id)
    return changed


def with_labels(cell: Cell, labels: dict[str, str]) -> Cell:
    """``cell`` carrying ``labels``."""
    return attrs.evolve(cell, labels=labels)
