"""Staged rollouts: a release reaches the fleet's stages in order, batch by batch, and halts on the first failure.

The logic is pure: a ``Rollouts`` manager reads cells and their status from a
store, sets cells' target release through it (each a new spec generation),
and is advanced by ``tick()`` against an injectable clock, so tests, the demo
and a ``reconcile.controller`` controller all drive it the same way.

Rollouts and their per-cell progress live in ``RolloutRecords``: in this
process (``MemoryRolloutRecords``) or in the fleet's store
(``reconcile.fleet.store.StoreRolloutRecords``), where every replica reads and
changes them. Each step reads a rollout, decides, then commits its progress,
the targets it sets and its audit entries in one transaction that is refused if
the rollout changed meanwhile (a pause, an abort, a supersede made through
another replica): no cell gets a target its rollout no longer allows.
"""

from __future__ import annotations

import copy
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

from .errors import ConflictError, FleetError, InvalidInputError, NotFoundError
from .labels import check_labels, selector_skip_reason
from .model import STAGES, Cell, CellStatus, DesiredSpec, Release

DEFAULT_BAKE_TIME = 300.0
"""Seconds a batch's cells must stay healthy on the target generation before they count as updated."""

DEFAULT_APPLY_TIMEOUT = 900.0
"""Seconds a cell has to report a healthy status of the target generation before it counts as failed."""

DEFAULT_UNREACHABLE_AFTER = 300.0
"""A cell whose last status is older than this (seconds) is unreachable, and skipped when its batch comes."""

_RETRIES = 5

ACTIVE = ("running", "paused", "halted")
"""The states of a rollout that still holds its track."""


class RolloutStateError(FleetError):
    """The operation does not apply to the rollout in its current state (pausing a completed rollout)."""


class RolloutConflictError(ConflictError):
    """A rollout is already active on the track; start with ``supersede=True`` to replace it."""


class RolloutChangedError(ConflictError):
    """The rollout changed (through another replica, or an operator) since it was read; nothing was written."""


class RolloutFleet(Protocol):
    """What a rollout needs of the fleet's store (``FleetStore`` provides it)."""

    def list_cells(self) -> list[Cell]:
        """Every cell."""
        ...

    def get_release(self, version: str) -> Release | None:
        """The release, or ``None``."""
        ...

    def get_status(self, cell_id: str) -> CellStatus | None:
        """The cell's latest status."""
        ...

    def get_spec(self, cell_id: str) -> DesiredSpec | None:
        """The cell's desired spec."""
        ...

    def set_target(self, cell_id: str, version: str | None) -> DesiredSpec:
        """Pin the cell to a release; the generation grows if the spec changed."""
        ...

    def audit(self, at: float, actor: str, action: str, target: str, detail: str = "") -> None:
        """Record an audit entry."""
        ...


def _batch(value: Any, where: str) -> int | str:
    if isinstance(value, bool):
        raise InvalidInputError(f"{where}: expected a count or a percentage like '25%', got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise InvalidInputError(f"{where}: a batch count must be at least 1, got {value}")
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = float(value[:-1])
        except ValueError:
            pct = -1.0
        if 0 < pct <= 100:
            return value
    raise InvalidInputError(f"{where}: expected a count or a percentage like '25%' (0-100], got {value!r}")


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 30 * 24 * 3600:
        raise InvalidInputError(f"{where}: expected seconds between 0 and 30 days, got {value!r}")
    return float(value)


@attrs.frozen
class StagePolicy:
    """How a rollout goes through one stage.

    Attributes:
        name: the stage (a cell's ``stage``).
        batch: cells per batch, a count (``2``) or a percentage of the stage's cells (``"25%"``, rounded up).
        bake_time: seconds a batch's cells stay healthy on the target generation before they count as updated.
        min_wait: seconds between a batch being updated and the next batch starting.
    """

    name: str
    batch: int | str = 1
    bake_time: float = DEFAULT_BAKE_TIME
    min_wait: float = 0.0

    def __attrs_post_init__(self) -> None:
        where = f"stage {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"stage: expected a stage name, got {self.name!r}")
        _batch(self.batch, f"{where}.batch")
        _seconds(self.bake_time, f"{where}.bake_time")
        _seconds(self.min_wait, f"{where}.min_wait")

    def batch_size(self, total: int) -> int:
        """Cells per batch in a stage of ``total`` cells (at least 1)."""
        if isinstance(self.batch, int):
            return self.batch
        return max(1, math.ceil(total * float(self.batch[:-1]) / 100))


DEFAULT_STAGES: tuple[StagePolicy, ...] = tuple(StagePolicy(s) for s in STAGES)
"""``staging`` → ``saas`` → ``dedicated``, one cell per batch, the default bake time, no wait."""


@attrs.frozen
class CellProgress:
    """Where one cell stands in a rollout.

    Attributes:
        cell_id: the cell.
        stage: its stage.
        state: ``pending``, ``applying``, ``baking``, ``updated``, ``failed``, ``skipped`` or ``rolled_back``.
        generation: the spec generation the rollout set (0 before).
        since: when the state began (for ``baking``: when the healthy target status was first seen).
        reason: why it failed, was skipped or rolled back.
        previous: the release the cell's spec named before the rollout set it.
        batch: the number of the batch that set it (1, 2, ...; 0 before).
    """

    cell_id: str
    stage: str
    state: str = "pending"
    generation: int = 0
    since: float = 0.0
    reason: str = ""
    previous: str | None = None
    batch: int = 0

    def to_json(self) -> dict[str, Any]:
        """This progress as plain JSON values."""
        return attrs.asdict(self)


@attrs.define
class Rollout:
    """One release going through the stages; mutated only by ``Rollouts``.

    Attributes:
        id: ``r1``, ``r2``, ...
        release: the target release's version.
        track: the release track (one active rollout per track).
        stages: the stage policies, in order.
        state: ``running``, ``paused``, ``halted``, ``completed``, ``aborted`` or ``superseded``.
        cells: each cell's progress, in stage then id order; cells of other stages are listed as skipped.
        stage_index: the stage now rolling out (``len(stages)`` once all completed).
        halt: why the rollout halted (names the cell), or ``""``.
        started_at: when it started.
        next_batch_at: the earliest time the next batch may start.
        auto_rollback: on a halt, put the halted batch's cells back on their previous release.
        batches: how many batches have started.
        version: how many times it was written (a write carrying an older version is refused).
    """

    id: str
    release: str
    track: str
    stages: tuple[StagePolicy, ...]
    state: str
    cells: dict[str, CellProgress]
    stage_index: int = 0
    halt: str = ""
    started_at: float = 0.0
    next_batch_at: float = 0.0
    auto_rollback: bool = False
    batches: int = 0
    version: int = 0

    @property
    def active(self) -> bool:
        """Whether the rollout still holds its track."""
        return self.state in ACTIVE

    def view(self, now: float) -> dict[str, Any]:
        """The rollout as operators see it: per stage, cells, updated, baking, failed, skipped, time left."""
        stages = []
        names = {s.name for s in self.stages}
        for i, policy in enumerate(self.stages):
            mine = [c for c in self.cells.values() if c.stage == policy.name]
            kinds = ("updated", "baking", "applying", "failed", "rolled_back")
            count = {s: sum(1 for c in mine if c.state == s) for s in kinds}
            baking_left = [max(0.0, c.since + policy.bake_time - now) for c in mine if c.state == "baking"]
            stages.append(
                {
                    "stage": policy.name,
                    "status": "completed" if i < self.stage_index else "active" if i == self.stage_index else "waiting",
                    "cells": len(mine),
                    **count,
                    "pending": sum(1 for c in mine if c.state == "pending"),
                    "skipped": [{"cell": c.cell_id, "reason": c.reason} for c in mine if c.state == "skipped"],
                    "failed_cells": [{"cell": c.cell_id, "reason": c.reason} for c in mine if c.state == "failed"],
                    "time_left": max(baking_left) if baking_left else None,
                }
            )
        return {
            "id": self.id,
            "release": self.release,
            "track": self.track,
            "state": self.state,
            "halt": self.halt,
            "started_at": self.started_at,
            "stages": stages,
            "outside": [{"cell": c.cell_id, "reason": c.reason} for c in self.cells.values() if c.stage not in names],
        }


def _healthy_on(status: CellStatus | None, progress: CellProgress, release: str) -> tuple[bool, str]:
    """(healthy, failure) for the target generation: failure is non-empty when the cell failed it."""
    if status is None or status.observed_generation < progress.generation:
        return False, ""  # an older generation never counts, for or against
    degraded = status.condition("Degraded")
    if degraded is not None and degraded.status and degraded.observed_generation >= progress.generation:
        return False, f"Degraded: {degraded.reason}: {degraded.message}".rstrip(": ")
    progressing = status.condition("Progressing")
    if progressing is not None and progressing.status:
        return False, ""
    unhealthy = [c.name for c in status.components if c.health != "healthy"]
    if status.release == release and status.ready and not unhealthy:
        return True, ""
    if unhealthy:
        return (
            False,
            f"component {unhealthy[0]} is {next(c.health for c in status.components if c.name == unhealthy[0])}",
        )
    return False, ""


@attrs.define
class RolloutWork:
    """What one step of a rollout writes besides its progress: targets and audit entries, committed with it.

    Attributes:
        targets: ``(cell_id, version, then)``: set the cell's target, then call ``then(spec)`` with its new spec.
        audits: ``(at, actor, action, target, detail)`` entries.
    """

    targets: list[tuple[str, str | None, Callable[[DesiredSpec], None] | None]] = attrs.Factory(list)
    audits: list[tuple[float, str, str, str, str]] = attrs.Factory(list)

    def target(self, cell_id: str, version: str | None, then: Callable[[DesiredSpec], None] | None = None) -> None:
        """Set ``cell_id``'s target release when the step commits."""
        self.targets.append((cell_id, version, then))

    def audit(self, at: float, action: str, target: str, detail: str = "") -> None:
        """Record an audit entry (actor ``rollouts``) when the step commits."""
        self.audits.append((at, "rollouts", action, target, detail))


class RolloutRecords(Protocol):
    """Where rollouts and their per-cell progress are kept; each method is one transaction."""

    def get(self, rollout_id: str) -> Rollout | None:
        """The rollout as stored, or ``None``."""
        ...

    def all(self) -> list[Rollout]:
        """Every rollout, oldest first."""
        ...

    def active(self) -> list[str]:
        """The ids of the rollouts still holding their track, oldest first."""
        ...

    def create(
        self, rollout: Rollout, work: RolloutWork, admit: Callable[[Rollout, Rollout | None], None]
    ) -> Rollout:
        """Store a new rollout and ``work``: its id is assigned, then ``admit(rollout, current)`` runs.

        ``current`` is the rollout active on the track, if any; ``admit`` raises
        to refuse, or marks ``current`` superseded (stored too) and adds audit
        entries to ``work``. All of it lands in one transaction, or nothing does.
        """
        ...

    def save(self, rollout: Rollout, before: Mapping[str, CellProgress], work: RolloutWork) -> None:
        """Store ``rollout``'s changes (cells differing from ``before``) and ``work`` in one transaction.

        Raises:
            RolloutChangedError: the stored rollout's version is not ``rollout.version`` (nothing written).
        """
        ...


class MemoryRolloutRecords:
    """Rollouts kept in this process (one control plane, tests); the rollouts handed out are the stored objects.

    Args:
        fleet: the store targets and audit entries go to.
    """

    def __init__(self, fleet: RolloutFleet) -> None:
        self.fleet = fleet
        self._rollouts: dict[str, Rollout] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    def get(self, rollout_id: str) -> Rollout | None:
        return self._rollouts.get(rollout_id)

    def all(self) -> list[Rollout]:
        return list(self._rollouts.values())

    def active(self) -> list[str]:
        return [r.id for r in list(self._rollouts.values()) if r.active]

    def create(
        self, rollout: Rollout, work: RolloutWork, admit: Callable[[Rollout, Rollout | None], None]
    ) -> Rollout:
        with self._lock:
            rollout.id = f"r{next(self._ids)}"
            current = next((r for r in self._rollouts.values() if r.track == rollout.track and r.active), None)
            admit(rollout, current)
            self._rollouts[rollout.id] = rollout
            self._commit(work)
            return rollout

    def save(self, rollout: Rollout, before: Mapping[str, CellProgress], work: RolloutWork) -> None:
        with self._lock:
            stored = self._rollouts.get(rollout.id)
            if stored is not None and stored is not rollout and stored.version != rollout.version:
                raise RolloutChangedError(f"rollout {rollout.id} changed since it was read")
            self._commit(work)
            rollout.version += 1
            self._rollouts[rollout.id] = rollout

    def _commit(self, work: RolloutWork) -> None:
        for cell_id, version, then in work.targets:
            spec = self.fleet.set_target(cell_id, version)
            if then is not None:
                then(spec)
        for at, actor, action, target, detail in work.audits:
            self.fleet.audit(at, actor, action, target, detail)


class Rollouts:
    """The staged rollouts of a fleet: start, tick, pause, resume, abort, view.

    Args:
        fleet: the store (a ``FleetStore``): cells, statuses, targets, audit.
        clock: seconds since the epoch (injectable for tests and the demo).
        skip_check: returns why a cell must be skipped (out of SLA, ...), or ``None``; checked when its
            batch comes.
        unreachable_after: a cell whose last status is older than this is skipped as unreachable.
        apply_timeout: seconds a cell has to report a healthy status of the target generation.
        records: where rollouts are kept; in this process by default.
    """

    def __init__(
        self,
        fleet: RolloutFleet,
        *,
        clock: Callable[[], float] = time.time,
        skip_check: Callable[[Cell], str | None] | None = None,
        unreachable_after: float = DEFAULT_UNREACHABLE_AFTER,
        apply_timeout: float = DEFAULT_APPLY_TIMEOUT,
        records: RolloutRecords | None = None,
    ) -> None:
        self.fleet = fleet
        self.records: RolloutRecords = records if records is not None else MemoryRolloutRecords(fleet)
        self.clock = clock
        self.skip_check = skip_check
        self.unreachable_after = unreachable_after
        self.apply_timeout = apply_timeout
        # The controller's thread ticks while the API's worker threads start, pause, resume and abort.
        self._lock = threading.RLock()

    # -- operator-facing ---------------------------------------------------

    def start(
        self,
        release: str,
        *,
        track: str = "default",
        stages: tuple[StagePolicy, ...] = DEFAULT_STAGES,
        exclude: Mapping[str, str] | frozenset[str] = frozenset(),
        supersede: bool = False,
        auto_rollback: bool = False,
        match: Mapping[str, str] | None = None,
        exclude_labels: Mapping[str, str] | None = None,
    ) -> Rollout:
        """Start rolling ``release`` out; nothing is set until the first ``tick``.

        Args:
            release: the version to roll out (it must be published).
            track: the release track; at most one active rollout per track.
            stages: the stages in order, with their policies.
            exclude: cell ids to leave out, or a mapping of cell ids to the reason; listed as skipped.
            supersede: replace the track's active rollout (it ends as ``superseded``).
            auto_rollback: on a halt, put the halted batch's cells back on the release each had before.
            match: only cells carrying every one of these labels take part; the others are listed as skipped.
            exclude_labels: cells carrying any one of these labels are listed as skipped, with the label.

        Raises:
            NotFoundError: no such release.
            InvalidInputError: no stages, or a stage twice.
            RolloutConflictError: a rollout is active on the track and ``supersede`` is false.
        """
        selector = (dict(match or {}), dict(exclude_labels or {}))
        with self._lock:
            return self._start(release, track, stages, exclude, supersede, auto_rollback, selector)

    def _start(
        self,
        release: str,
        track: str,
        stages: tuple[StagePolicy, ...],
        exclude: Mapping[str, str] | frozenset[str],
        supersede: bool,
        auto_rollback: bool,
        selector: tuple[dict[str, str], dict[str, str]] = ({}, {}),
    ) -> Rollout:
        if self.fleet.get_release(release) is None:
            raise NotFoundError(f"rollout.release: no release {release!r}")
        names = [s.name for s in stages]
        if not names or len(set(names)) != len(names):
            raise InvalidInputError(f"rollout.stages: expected distinct stages, got {names!r}")
        now = self.clock()
        work = RolloutWork()

        def admit(new: Rollout, current: Rollout | None) -> None:
            if current is not None:
                if not supersede:
                    raise RolloutConflictError(
                        f"rollout {current.id} of {current.release} is {current.state} on track {track!r}; "
                        "abort it or start with supersede"
                    )
                current.state = "superseded"
                work.audit(now, "rollout.superseded", current.id, f"by release {release}")
            work.audit(now, "rollout.start", new.id, f"release {release} track {track}")

        excluded = exclude if isinstance(exclude, Mapping) else {c: "excluded" for c in exclude}
        cells: dict[str, CellProgress] = {}
        for policy in stages:
            for cell in sorted((c for c in self.fleet.list_cells() if c.stage == policy.name), key=lambda c: c.id):
                unselected = selector_skip_reason(cell.labels, *selector)
                if cell.id in excluded:
                    cells[cell.id] = CellProgress(cell.id, cell.stage, "skipped", 0, now, excluded[cell.id])
                elif unselected:
                    cells[cell.id] = CellProgress(cell.id, cell.stage, "skipped", 0, now, unselected)
                else:
                    cells[cell.id] = CellProgress(cell.id, cell.stage)
        staged = {s.name for s in stages}
        for cell in sorted((c for c in self.fleet.list_cells() if c.stage not in staged), key=lambda c: c.id):
            reason = f"stage {cell.stage!r} is not one of the rollout's stages"
            cells[cell.id] = CellProgress(cell.id, cell.stage, "skipped", 0, now, reason)
        rollout = Rollout(
            "",
            release,
            track,
            tuple(stages),
            "running",
            cells,
            started_at=now,
            auto_rollback=auto_rollback,
        )
        return self.records.create(rollout, work, admit)

    def start_json(self, body: Any) -> Rollout:
        """``start`` from an untrusted JSON request (what the operator API will take).

        Args:
            body: ``{"release", "track"?, "stages"?: [{"name", "batch"?, "bake_time"?, "min_wait"?}],
                "exclude"?: [cell ids], "supersede"?, "auto_rollback"?, "match"?: {label: value},
                "exclude_labels"?: {label: value}}``.

        Raises:
            InvalidInputError: the body is malformed (the message names the field).
        """
        if not isinstance(body, dict):
            raise InvalidInputError("rollout: expected an object")
        allowed = {"release", "track", "stages", "exclude", "supersede", "auto_rollback", "match", "exclude_labels"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidInputError(f"rollout: unknown field {unknown[0]!r}")
        release = body.get("release")
        if not isinstance(release, str):
            raise InvalidInputError("rollout.release: expected a version")
        track = body.get("track", "default")
        if not isinstance(track, str) or not 0 < len(track) <= 64:
            raise InvalidInputError("rollout.track: expected a name of 1 to 64 characters")
        supersede = body.get("supersede", False)
        if not isinstance(supersede, bool):
            raise InvalidInputError("rollout.supersede: expected a boolean")
        auto_rollback = body.get("auto_rollback", False)
        if not isinstance(auto_rollback, bool):
            raise InvalidInputError("rollout.auto_rollback: expected a boolean")
        exclude = body.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(c, str) for c in exclude):
            raise InvalidInputError("rollout.exclude: expected a list of cell ids")
        stages = DEFAULT_STAGES
        if "stages" in body:
            raw = body["stages"]
            if not isinstance(raw, list) or not 0 < len(raw) <= 16:
                raise InvalidInputError("rollout.stages: expected a list of 1 to 16 stages")
            parsed = []
            for i, item in enumerate(raw):
                where = f"rollout.stages[{i}]"
                if not isinstance(item, dict):
                    raise InvalidInputError(f"{where}: expected an object")
                extra = sorted(set(item) - {"name", "batch", "bake_time", "min_wait"})
                if extra:
                    raise InvalidInputError(f"{where}: unknown field {extra[0]!r}")
                name = item.get("name")
                if not isinstance(name, str) or not 0 < len(name) <= 64:
                    raise InvalidInputError(f"{where}.name: expected a stage name")
                fields = {k: item[k] for k in ("batch", "bake_time", "min_wait") if k in item}
                parsed.append(StagePolicy(name, **fields))
            stages = tuple(parsed)
        return self.start(
            release,
            track=track,
            stages=stages,
            exclude=frozenset(exclude),
            supersede=supersede,
            auto_rollback=auto_rollback,
            match=check_labels(body.get("match", {}), "rollout.match"),
            exclude_labels=check_labels(body.get("exclude_labels", {}), "rollout.exclude_labels"),
        )

    def get(self, rollout_id: str) -> Rollout:
        """The rollout.

        Raises:
            NotFoundError: no such rollout.
        """
        found = self.records.get(rollout_id)
        if found is None:
            raise NotFoundError(f"no rollout {rollout_id!r}")
        return found

    def all(self) -> list[Rollout]:
        """Every rollout, oldest first."""
        return self.records.all()

    def fenced(self, fence: Callable[[Any], None]) -> Rollouts:
        """These rollouts with every write first running ``fence(tx)`` (the leader's controller, on a store).

        Raises:
            FleetError: the store or the records cannot fence (``BackendFleetStore`` and
                ``StoreRolloutRecords`` can).
        """
        fence_fleet = getattr(self.fleet, "fenced", None)
        fence_records = getattr(self.records, "fenced", None)
        if not callable(fence_fleet) or not callable(fence_records):
            raise FleetError("fenced rollouts need a store that fences its writes (BackendFleetStore)")
        view = copy.copy(self)
        view.fleet = fence_fleet(fence)
        view.records = fence_records(fence)
        return view

    def _transition(self, rollout_id: str, allowed: tuple[str, ...], to: str, action: str) -> Rollout:
        with self._lock:
            # A controller's tick may commit between our read and our write: read again and retry.
            for _ in range(_RETRIES - 1):
                try:
                    return self._transition_locked(rollout_id, allowed, to, action)
                except RolloutChangedError:
                    time.sleep(0.01)
            return self._transition_locked(rollout_id, allowed, to, action)

    def _transition_locked(self, rollout_id: str, allowed: tuple[str, ...], to: str, action: str) -> Rollout:
        rollout = self.get(rollout_id)
        before = dict(rollout.cells)
        if rollout.state not in allowed:
            raise RolloutStateError(f"rollout {rollout_id} is {rollout.state}; cannot {action} it")
        rollout.state = to
        if to == "running":
            rollout.halt = ""
            # rolled-back cells get the release again; failed cells stay failed
            for cid, progress in list(rollout.cells.items()):
                if progress.state == "rolled_back":
                    rollout.cells[cid] = attrs.evolve(progress, state="pending", reason="")
        work = RolloutWork()
        work.audit(self.clock(), f"rollout.{action}", rollout_id, rollout.release)
        self.records.save(rollout, before, work)
        return rollout

    def pause(self, rollout_id: str) -> Rollout:
        """Start no further batch (cells already applying go on being watched)."""
        return self._transition(rollout_id, ("running",), "paused", "pause")

    def resume(self, rollout_id: str) -> Rollout:
        """Continue a paused or halted rollout (failed cells stay failed and listed; rolled-back ones are retried)."""
        return self._transition(rollout_id, ("paused", "halted"), "running", "resume")

    def abort(self, rollout_id: str) -> Rollout:
        """Stop for good: no further cell gets the release; the track is free again."""
        return self._transition(rollout_id, ACTIVE, "aborted", "abort")

    # -- the controller's step ----------------------------------------------

    def tick(self) -> float | None:
        """Advance every active rollout once; seconds until a tick is next useful, or ``None`` if none is active."""
        waits = [w for rid in self.records.active() for w in [self.tick_one(rid)] if w is not None]
        return min(waits) if waits else None

    def tick_one(self, rollout_id: str) -> float | None:
        """Advance one rollout (level-triggered: it reads statuses, never events); seconds to the next useful tick.

        The step commits as one transaction; if the rollout changed since it was
        read (an operator's pause or abort through another replica), nothing is
        written and the next tick is due at once.
        """
        with self._lock:
            rollout = self.get(rollout_id)
            if not rollout.active:
                return None
            snapshot = attrs.evolve(rollout, cells=dict(rollout.cells))
            work = RolloutWork()
            left = self._tick_one(rollout, work)
            if work.targets or work.audits or rollout != snapshot:
                try:
                    self.records.save(rollout, snapshot.cells, work)
                except RolloutChangedError:
                    return 0.001
            return left

    def _tick_one(self, rollout: Rollout, work: RolloutWork) -> float | None:
        now = self.clock()
        while rollout.stage_index < len(rollout.stages):
            policy = rollout.stages[rollout.stage_index]
            mine = [c for c in rollout.cells.values() if c.stage == policy.name]
            self._observe(rollout, policy, mine, now, work)
            mine = [rollout.cells[c.cell_id] for c in mine]
            if rollout.state != "running":
                return 1.0 if rollout.state == "paused" else None
            in_flight = [c for c in mine if c.state in ("applying", "baking")]
            if in_flight:
                left = [c.since + policy.bake_time - now for c in in_flight if c.state == "baking"]
                return max(0.001, min(left)) if left else 1.0
            pending = [c for c in mine if c.state == "pending"]
            if not pending:
                rollout.stage_index += 1
                work.audit(now, "rollout.stage", rollout.id, f"stage {policy.name} completed")
                continue
            if now < rollout.next_batch_at:
                return rollout.next_batch_at - now
            self._start_batch(rollout, policy, mine, pending, now, work)
            if not any(rollout.cells[c.cell_id].state == "applying" for c in mine):
                continue  # the whole batch was skipped: look again at once
            return 1.0
        rollout.state = "completed"
        work.audit(now, "rollout.completed", rollout.id, rollout.release)
        return None

    def _observe(
        self, rollout: Rollout, policy: StagePolicy, mine: list[CellProgress], now: float, work: RolloutWork
    ) -> None:
        batch_done = False
        halted_before = rollout.state == "halted"
        for progress in mine:
            if progress.state not in ("applying", "baking"):
                continue
            healthy, failure = _healthy_on(self.fleet.get_status(progress.cell_id), progress, rollout.release)
            if not failure and not healthy and progress.state == "baking":
                failure = "not healthy during bake"
            if not failure and progress.state == "applying" and now - progress.since > self.apply_timeout:
                failure = f"no healthy status of generation {progress.generation} within {self.apply_timeout:g}s"
            if failure:
                self._set(rollout, progress, "failed", now, failure)
                if rollout.state in ("running", "paused"):
                    rollout.state = "halted"
                    rollout.halt = f"cell {progress.cell_id}: {failure}"
                    work.audit(now, "rollout.halt", rollout.id, rollout.halt)
            elif healthy and progress.state == "applying":
                self._set(rollout, progress, "baking", now)
            elif healthy and now - progress.since >= policy.bake_time:
                self._set(rollout, progress, "updated", now)
                batch_done = True
        if batch_done and not any(rollout.cells[c.cell_id].state in ("applying", "baking") for c in mine):
            rollout.next_batch_at = now + policy.min_wait
        if rollout.state == "halted" and not halted_before and rollout.auto_rollback:
            self._roll_back(rollout, now, work)

    def _roll_back(self, rollout: Rollout, now: float, work: RolloutWork) -> None:
        """Put the halted batch's cells back on the release each had before (none had: left as they are)."""
        for cid, progress in list(rollout.cells.items()):
            if progress.batch != rollout.batches or progress.state not in ("applying", "baking", "updated", "failed"):
                continue
            if progress.previous is None:
                continue
            work.target(cid, progress.previous)
            note = f"rolled back to {progress.previous}"
            work.audit(now, "cell.rollback", cid, f"rollout {rollout.id} {note}")
            if progress.state == "failed":
                rollout.cells[cid] = attrs.evolve(progress, reason=f"{progress.reason}; {note}")
            else:
                rollout.cells[cid] = attrs.evolve(
                    progress, state="rolled_back", since=now, reason=f"{note}: {rollout.halt}"
                )

    def _start_batch(
        self,
        rollout: Rollout,
        policy: StagePolicy,
        mine: list[CellProgress],
        pending: list[CellProgress],
        now: float,
        work: RolloutWork,
    ) -> None:
        size = policy.batch_size(len(mine))
        cells = {c.id: c for c in self.fleet.list_cells()}
        rollout.batches += 1
        for progress in pending[:size]:
            reason = self._skip_reason(cells.get(progress.cell_id), now)
            if reason:
                self._set(rollout, progress, "skipped", now, reason)
                continue
            before = self.fleet.get_spec(progress.cell_id)
            previous = None if before is None or before.release is None else before.release.version
            rollout.cells[progress.cell_id] = attrs.evolve(
                progress, state="applying", since=now, previous=previous, batch=rollout.batches
            )

            def targeted(spec: DesiredSpec, cid: str = progress.cell_id) -> None:
                # The generation is known only once the target is set, inside the step's commit.
                rollout.cells[cid] = attrs.evolve(rollout.cells[cid], generation=spec.generation)
                detail = f"rollout {rollout.id} release {rollout.release} generation {spec.generation}"
                work.audit(now, "cell.target", cid, detail)

            work.target(progress.cell_id, rollout.release, targeted)

    def _skip_reason(self, cell: Cell | None, now: float) -> str:
        if cell is None:
            return "deleted"
        if self.skip_check is not None:
            reason = self.skip_check(cell)
            if reason:
                return reason
        status = self.fleet.get_status(cell.id)
        if not cell.registered or status is None:
            return "unreachable: never reported a status"
        if now - status.reported_at > self.unreachable_after:
            return f"unreachable: no status for {now - status.reported_at:.0f}s"
        return ""

    @staticmethod
    def _set(rollout: Rollout, progress: CellProgress, state: str, now: float, reason: str = "") -> None:
        rollout.cells[progress.cell_id] = attrs.evolve(progress, state=state, since=now, reason=reason)


__all__ = [
    "DEFAULT_APPLY_TIMEOUT",
    "DEFAULT_BAKE_TIME",
    "DEFAULT_STAGES",
    "DEFAULT_UNREACHABLE_AFTER",
    "CellProgress",
    "Rollout",
    "MemoryRolloutRecords",
    "RolloutChangedError",
    "RolloutConflictError",
    "RolloutFleet",
    "RolloutRecords",
    "RolloutStateError",
    "RolloutWork",
    "Rollouts",
    "StagePolicy",
]
