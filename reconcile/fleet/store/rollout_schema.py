"""The tables of staged rollouts and their per-cell progress: the ``fleet.rollouts`` schema component."""

from __future__ import annotations

from ...storage import Migration, Tx


def _rollouts_v1(tx: Tx) -> None:
    real = "DOUBLE PRECISION" if tx.dialect == "postgresql" else "REAL"
    tx.execute(
        "CREATE TABLE fleet_rollouts (id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE, release TEXT NOT NULL,"
        " track TEXT NOT NULL, state TEXT NOT NULL, stages TEXT NOT NULL, stage_index BIGINT NOT NULL,"
        f" halt TEXT NOT NULL, started_at {real} NOT NULL, next_batch_at {real} NOT NULL,"
        " auto_rollback BIGINT NOT NULL, batches BIGINT NOT NULL, version BIGINT NOT NULL)"
    )
    tx.execute("CREATE INDEX fleet_rollouts_track ON fleet_rollouts (track, state)")
    tx.execute(
        "CREATE TABLE fleet_rollout_cells (rollout_id TEXT NOT NULL, cell_id TEXT NOT NULL,"
        " position BIGINT NOT NULL, stage TEXT NOT NULL, state TEXT NOT NULL, generation BIGINT NOT NULL,"
        f" since {real} NOT NULL, reason TEXT NOT NULL, previous TEXT, batch BIGINT NOT NULL,"
        " PRIMARY KEY (rollout_id, cell_id))"
    )


ROLLOUT_MIGRATIONS = [Migration(1, "rollouts and their per-cell progress", _rollouts_v1)]
"""The ``fleet.rollouts`` component's schema (migrated by ``BackendFleetStore`` on open)."""
