"""``StoreRolloutRecords``: staged rollouts and their per-cell progress in the fleet's store, shared by replicas."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ...storage import Tx
from ..rollout import ACTIVE, CellProgress, Rollout, RolloutChangedError, RolloutWork, StagePolicy
from .backend import BackendFleetStore, audit_in, set_target_in
from .locks import FLAGS_LOCK

_HEADER = (
    "id, release, track, state, stages, stage_index, halt, started_at, next_batch_at, auto_rollback, batches, version"
)
_CELLS = "cell_id, stage, state, generation, since, reason, previous, batch"
_ACTIVE = "(" + ", ".join(f"'{s}'" for s in ACTIVE) + ")"


def _stages_json(stages: tuple[StagePolicy, ...]) -> str:
    return json.dumps([[s.name, s.batch, s.bake_time, s.min_wait] for s in stages])


def _load(tx: Tx, rollout_id: str, lock: bool = False) -> Rollout | None:
    suffix = tx.locking("update") if lock else ""
    row = tx.one(f"SELECT {_HEADER} FROM fleet_rollouts WHERE id = ?{suffix}", (rollout_id,))
    if row is None:
        return None
    rows = tx.query(f"SELECT {_CELLS} FROM fleet_rollout_cells WHERE rollout_id = ? ORDER BY position", (rollout_id,))
    cells = {r[0]: CellProgress(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5], r[6], int(r[7])) for r in rows}
    stages = tuple(StagePolicy(n, b, float(t), float(w)) for n, b, t, w in json.loads(row[4]))
    return Rollout(
        row[0],
        row[1],
        row[2],
        stages,
        row[3],
        cells,
        stage_index=int(row[5]),
        halt=row[6],
        started_at=float(row[7]),
        next_batch_at=float(row[8]),
        auto_rollback=bool(row[9]),
        batches=int(row[10]),
        version=int(row[11]),
    )


def _cell_rows(rollout: Rollout, which: list[str]) -> list[tuple[Any, ...]]:
    order = {cid: i for i, cid in enumerate(rollout.cells)}
    return [
        (
            rollout.id,
            c.cell_id,
            order[c.cell_id],
            c.stage,
            c.state,
            c.generation,
            c.since,
            c.reason,
            c.previous,
            c.batch,
        )
        for c in (rollout.cells[cid] for cid in which)
    ]


_UPSERT_CELL = (
    "INSERT INTO fleet_rollout_cells (rollout_id, cell_id, position, stage, state, generation, since, reason,"
    " previous, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rollout_id, cell_id) DO UPDATE SET"
    " position = excluded.position, stage = excluded.stage, state = excluded.state,"
    " generation = excluded.generation, since = excluded.since, reason = excluded.reason,"
    " previous = excluded.previous, batch = excluded.batch"
)


def _update_header(tx: Tx, rollout: Rollout) -> bool:
    """Write the rollout's own fields if its stored version is ``rollout.version``; whether it was."""
    changed = tx.execute(
        "UPDATE fleet_rollouts SET state = ?, stage_index = ?, halt = ?, next_batch_at = ?, batches = ?,"
        " version = version + 1 WHERE id = ? AND version = ?",
        (rollout.state, rollout.stage_index, rollout.halt, rollout.next_batch_at, rollout.batches,
         rollout.id, rollout.version),
    )  # fmt: skip
    return changed == 1


def _commit_work(tx: Tx, work: RolloutWork) -> None:
    for cell_id, version, then in work.targets:
        spec = set_target_in(tx, cell_id, version)
        if then is not None:
            then(spec)
    for at, actor, action, target, detail in work.audits:
        audit_in(tx, at, actor, action, target, detail)


class StoreRolloutRecords:
    """``RolloutRecords`` in a ``BackendFleetStore``'s tables (component ``fleet.rollouts``).

    Every replica over the same store sees the same rollouts; each write is
    one transaction of the store, and a step whose rollout changed since it was
    read is refused whole (``RolloutChangedError``).

    Args:
        store: the fleet's store (its schema includes the rollout tables).
    """

    def __init__(self, store: BackendFleetStore) -> None:
        self.store = store

    def fenced(self, fence: Callable[[Tx], None]) -> StoreRolloutRecords:
        """These records with every write first running ``fence(tx)``."""
        return StoreRolloutRecords(self.store.fenced(fence))

    def get(self, rollout_id: str) -> Rollout | None:
        return self.store.backend.read(lambda tx: _load(tx, rollout_id))

    def all(self) -> list[Rollout]:
        def op(tx: Tx) -> list[Rollout]:
            ids = [r[0] for r in tx.query("SELECT id FROM fleet_rollouts ORDER BY seq")]
            return [r for r in (_load(tx, i) for i in ids) if r is not None]

        return self.store.backend.read(op)

    def active(self) -> list[str]:
        sql = f"SELECT id FROM fleet_rollouts WHERE state IN {_ACTIVE} ORDER BY seq"
        return [r[0] for r in self.store.backend.read(lambda tx: tx.query(sql))]

    def create(self, rollout: Rollout, work: RolloutWork, admit: Callable[[Rollout, Rollout | None], None]) -> Rollout:
        def op(tx: Tx) -> Rollout:
            seq_row = tx.one("SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_rollouts")
            assert seq_row is not None
            seq = int(seq_row[0])
            rollout.id = f"r{seq}"
            row = tx.one(
                f"SELECT id FROM fleet_rollouts WHERE track = ? AND state IN {_ACTIVE} ORDER BY seq DESC LIMIT 1",
                (rollout.track,),
            )
            current = None if row is None else _load(tx, row[0], lock=True)
            admit(rollout, current)
            if current is not None and not _update_header(tx, current):
                raise RolloutChangedError(f"rollout {current.id} changed while being superseded")
            tx.execute(
                "INSERT INTO fleet_rollouts (id, seq, release, track, state, stages, stage_index, halt, started_at,"
                " next_batch_at, auto_rollback, batches, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rollout.id, seq, rollout.release, rollout.track, rollout.state, _stages_json(rollout.stages),
                 rollout.stage_index, rollout.halt, rollout.started_at, rollout.next_batch_at,
                 int(rollout.auto_rollback), rollout.batches, 1),
            )  # fmt: skip
            tx.executemany(_UPSERT_CELL, _cell_rows(rollout, list(rollout.cells)))
            _commit_work(tx, work)
            return rollout

        # Lock order (locks.py): FLAGS_LOCK from the transaction's start (one start at a time across replicas,
        # and the targets re-evaluate flags), then the superseded rollout's row, then the cells' rows.
        created = self.store.backend.write(op, locks=(FLAGS_LOCK,))
        created.version = 1
        return created

    def save(self, rollout: Rollout, before: Mapping[str, CellProgress], work: RolloutWork) -> None:
        def op(tx: Tx) -> None:
            if not _update_header(tx, rollout):
                raise RolloutChangedError(f"rollout {rollout.id} changed since it was read; nothing was written")
            _commit_work(tx, work)  # sets targets; their generations land in the cells written next
            changed = [cid for cid, p in rollout.cells.items() if before.get(cid) != p]
            if changed:
                tx.executemany(_UPSERT_CELL, _cell_rows(rollout, changed))

        # Lock order (locks.py): FLAGS_LOCK from the transaction's start (the targets re-evaluate flags), then
        # the rollout's row, then the cells' rows.
        self.store.backend.write(op, locks=(FLAGS_LOCK,))
        rollout.version += 1
