"""Mandatory infrastructure updates: published template versions, each cell's support status, and the release freeze.

An operator publishes infrastructure template versions to the control plane
(``reconcile-fleet templates publish``), each with its release time and, if
mandatory, a window to apply it in (14 days by default). Every cell's support
status follows from the versions published, the infrastructure version its
agent reports and the clock: ``in_sla``, ``grace`` (a mandatory version is due,
with the deadline) or ``out_of_sla`` (a deadline passed, with the reasons).
:class:`Support` computes it (the support controller runs
:meth:`Support.reconcile_cell`), stores it, audits every change, and keeps an
``out_of_sla`` cell's release frozen: a publish moves it no further (the store
leaves out :data:`FROZEN_CELLS`), rollouts skip it, an operator cannot retarget
it. Once it reports the required version it is back in SLA and catches up.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..storage import Backend, Migration, Tx, migrate
from .errors import ConflictError, FleetError, InvalidInputError, NotFoundError
from .model import Cell, CellStatus

log = logging.getLogger("reconcile.fleet.support")

if TYPE_CHECKING:
    from .rollout import Rollouts
    from .store.base import FleetStore

DEFAULT_WINDOW = 14 * 24 * 3600.0
"""Seconds a cell has to apply a mandatory infrastructure version: 14 days."""

MAX_WINDOW = 365 * 24 * 3600.0
"""The longest window a mandatory version may give: a year."""

SUPPORT_STATES: tuple[str, ...] = ("in_sla", "grace", "out_of_sla")
"""A cell's support states."""

SKIP_PREFIX = "out of SLA"
"""How a rollout's reason for skipping a cell out of SLA begins."""

FROZEN_CELLS = "SELECT cell_id FROM fleet_support WHERE state = 'out_of_sla'"
"""SQL selecting the ids of the cells whose releases are frozen (the store's publish leaves them out)."""

SUPPORT_CHANNEL = "reconcile_fleet_support"
"""The store's notification channel of what a cell's support status follows from: its payload is a cell whose
reported infrastructure version changed, which was created or deleted; ``""`` after a template is published
(every cell). The support controller judges the cells it names (``reconcile.fleet.controllers``)."""

RESYNC_PAGE = 256
"""Cells the support controller's resync judges per read (``Support.resync_page``)."""


def reported_infrastructure(dialect: str, body: str = "s.body") -> str:
    """SQL for the infrastructure version a stored cell status reports, read from its JSON column ``body``."""
    if dialect == "postgresql":
        return f"({body}::json ->> 'infrastructure_version')"
    return f"json_extract({body}, '$.infrastructure_version')"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:Z|\+00:00)?$")


class SupportFreezeError(ConflictError):
    """The cell is out of SLA: its releases are frozen until it reports the required infrastructure version."""


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``value``: a number of seconds, or a string such as ``14d``, ``36h``, ``90m``, ``2w``.

    Raises:
        InvalidInputError: anything else, or not more than 0 and at most a year (naming ``where``).
    """
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m is not None:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None or not math.isfinite(seconds) or not 0 < seconds <= MAX_WINDOW:
        raise InvalidInputError(
            f"{where}: expected a duration of more than 0 and at most 365d (14d, 36h, 90m or seconds), got {value!r}"
        )
    return seconds


def parse_time(value: Any, where: str) -> float:
    """Seconds since the epoch from a UTC date (``2026-12-20``: its midnight), time (``2026-12-20T12:00Z``) or number.

    Raises:
        InvalidInputError: anything else (naming ``where``).
    """
    problem = f"{where}: expected a date (2026-12-20), a UTC time (2026-12-20T12:00:00Z) or seconds since the epoch"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{problem}, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"{problem}, got {value!r}")
    text = value.strip()
    try:
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if _DATE.match(text):
            return float(calendar.timegm(time.strptime(text, "%Y-%m-%d")))
        m = _DATETIME.match(text)
        if m is not None:
            day = time.strptime(m.group(1), "%Y-%m-%d")
            hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
            if hour > 23 or minute > 59 or second > 59:
                raise ValueError(text)
            return float(calendar.timegm(day) + hour * 3600 + minute * 60 + second)
    except ValueError:
        pass
    raise InvalidInputError(f"{problem}, got {value!r}")


def format_time(at: float) -> str:
    """``at`` as people read it in reasons and tables: ``2026-12-15 12:00 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


@attrs.frozen
class TemplateVersion:
    """One published infrastructure template version.

    Attributes:
        version: the template's version (its document's ``version``).
        released_at: when it was released (seconds since the epoch); a mandatory version's window starts here.
        mandatory: whether every cell must apply it within ``window``.
        window: seconds a cell has to apply it, from its release (or the cell's creation, if later).
        description: the template's description.
        digest: the sha256 of its document (canonical JSON).
        published_at: when it was published to the control plane.
    """

    version: int
    released_at: float
    mandatory: bool = False
    window: float = DEFAULT_WINDOW
    description: str = ""
    digest: str = ""
    published_at: float = 0.0

    def due(self, cell: Cell) -> float:
        """When ``cell`` must run this version at the latest (a cell created after the release gets a full window)."""
        return max(self.released_at, cell.created_at) + self.window

    def to_json(self) -> dict[str, Any]:
        """This version as plain JSON values."""
        return attrs.asdict(self)


@attrs.frozen
class SupportStatus:
    """A cell's support status.

    Attributes:
        cell_id: the cell.
        state: ``in_sla``, ``grace`` or ``out_of_sla``.
        deadline: in ``grace``, when the earliest mandatory version it lacks is due; in ``out_of_sla``, the
            deadline it missed first; ``None`` in SLA.
        reasons: for ``grace`` and ``out_of_sla``, one sentence per mandatory version it lacks.
        required: the newest mandatory infrastructure version (what the cell's spec asks for), or ``None``.
        running: the infrastructure version the cell reports, or ``None``.
        since: when the cell entered ``state``.
    """

    cell_id: str
    state: str
    deadline: float | None = None
    reasons: tuple[str, ...] = ()
    required: str | None = None
    running: str | None = None
    since: float = 0.0

    @property
    def frozen(self) -> bool:
        """Whether the cell's releases are frozen (it is out of SLA)."""
        return self.state == "out_of_sla"

    def same(self, other: SupportStatus | None) -> bool:
        """Whether ``other`` says the same thing (``since`` aside)."""
        return other is not None and attrs.evolve(other, since=self.since) == self

    def to_json(self) -> dict[str, Any]:
        """This status as plain JSON values."""
        data = attrs.asdict(self)
        data["reasons"] = list(self.reasons)
        data["frozen"] = self.frozen
        return data


def _running(status: CellStatus | None) -> tuple[int | None, str]:
    """The infrastructure version a status reports, as a number if it is one, and how to name it in a reason."""
    if status is None or status.infrastructure_version is None:
        return None, "reports no infrastructure version"
    text = status.infrastructure_version
    if not re.fullmatch(r"\d{1,9}", text):
        return None, f"reports infrastructure version {text[:64]!r}, which is not a template version"
    return int(text), f"runs infrastructure version {int(text)}"


def evaluate(cell: Cell, status: CellStatus | None, templates: list[TemplateVersion], now: float) -> SupportStatus:
    """``cell``'s support status at ``now`` (its ``since`` is ``now``: the caller keeps an earlier one).

    A cell meets a mandatory version when the version it reports is at least
    that one; a version it does not meet is due at :meth:`TemplateVersion.due`.
    Any due date passed puts the cell out of SLA; otherwise, one pending
    puts it in grace until the earliest.

    Args:
        cell: the cell.
        status: its latest status (``None``: it never reported, so it meets nothing).
        templates: every published version.
        now: the time to judge at.
    """
    mandatory = sorted((t for t in templates if t.mandatory), key=lambda t: t.version)
    required = str(mandatory[-1].version) if mandatory else None
    number, described = _running(status)
    running = None if status is None else status.infrastructure_version
    unmet = [t for t in mandatory if number is None or number < t.version]
    if not unmet:
        return SupportStatus(cell.id, "in_sla", None, (), required, running, now)
    overdue = [t for t in unmet if now >= t.due(cell)]
    if overdue:
        reasons = tuple(
            f"mandatory infrastructure version {t.version} (released {format_time(t.released_at)}) was due by "
            f"{format_time(t.due(cell))}; the cell {described}"
            for t in overdue
        )
        return SupportStatus(cell.id, "out_of_sla", min(t.due(cell) for t in overdue), reasons, required, running, now)
    reasons = tuple(
        f"mandatory infrastructure version {t.version} (released {format_time(t.released_at)}) is due by "
        f"{format_time(t.due(cell))}; the cell {described}"
        for t in unmet
    )
    return SupportStatus(cell.id, "grace", min(t.due(cell) for t in unmet), reasons, required, running, now)


# -- the records -------------------------------------------------------------------------------------------------


def _schema_v1(tx: Tx) -> None:
    real = "DOUBLE PRECISION" if tx.dialect == "postgresql" else "REAL"
    tx.execute(
        f"CREATE TABLE fleet_templates (version BIGINT PRIMARY KEY, released_at {real} NOT NULL,"
        f" mandatory BOOLEAN NOT NULL, win {real} NOT NULL, description TEXT NOT NULL, digest TEXT NOT NULL,"
        f" published_at {real} NOT NULL, document TEXT NOT NULL)"
    )
    tx.execute(
        f"CREATE TABLE fleet_support (cell_id TEXT PRIMARY KEY, state TEXT NOT NULL, deadline {real},"
        f" reasons TEXT NOT NULL, required TEXT, running TEXT, since {real} NOT NULL)"
    )


MIGRATIONS = [Migration(1, "infrastructure template versions, cells' support status", _schema_v1)]
"""The schema of the ``fleet.support`` component."""


def migrate_support(backend: Backend) -> None:
    """Create or upgrade the support tables (the ``fleet.support`` migration component) in ``backend``."""
    migrate(backend, "fleet.support", MIGRATIONS)


_TEMPLATE = "version, released_at, mandatory, win, description, digest, published_at"
_SUPPORT = "cell_id, state, deadline, reasons, required, running, since"


def _template(row: tuple[Any, ...]) -> TemplateVersion:
    return TemplateVersion(int(row[0]), float(row[1]), bool(row[2]), float(row[3]), row[4], row[5], float(row[6]))


def _support(row: tuple[Any, ...]) -> SupportStatus:
    deadline = None if row[2] is None else float(row[2])
    return SupportStatus(row[0], row[1], deadline, tuple(json.loads(row[3])), row[4], row[5], float(row[6]))


class SupportRecords:
    """The support tables on a ``reconcile.storage`` backend: template versions and each cell's support status.

    Args:
        backend: an open backend whose ``fleet.support`` schema is migrated (``migrate_support``).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def publish_template(self, template: TemplateVersion, document: Mapping[str, Any]) -> None:
        """Add a template version (newer than every one published).

        Raises:
            ConflictError: that version, or a newer one, is published.
        """

        def op(tx: Tx) -> None:
            newest = tx.one("SELECT MAX(version) FROM fleet_templates")
            if newest is not None and newest[0] is not None and int(newest[0]) >= template.version:
                word = "is published already" if int(newest[0]) == template.version else "is older than the newest"
                raise ConflictError(
                    f"template version {template.version} {word} (newest: {int(newest[0])}); versions only grow"
                )
            # Another replica may insert this version between the read above and this insert (PostgreSQL
            # runs both transactions at once): it then wins, and this one is the conflict, not a key error.
            inserted = tx.execute(
                f"INSERT INTO fleet_templates ({_TEMPLATE}, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (version) DO NOTHING",
                (template.version, template.released_at, template.mandatory, template.window, template.description,
                 template.digest, template.published_at, json.dumps(document, sort_keys=True)),
            )  # fmt: skip
            if inserted != 1:
                raise ConflictError(f"template version {template.version} is published already (by another replica)")
            # Every cell is judged against it: the support controller's leader, on whichever replica, resyncs.
            tx.notify(SUPPORT_CHANNEL, "")

        self.backend.write(op)

    def templates(self) -> list[TemplateVersion]:
        """Every published version, oldest first."""
        rows = self.backend.read(lambda tx: tx.query(f"SELECT {_TEMPLATE} FROM fleet_templates ORDER BY version"))
        return [_template(r) for r in rows]

    def template(self, version: int) -> tuple[TemplateVersion, dict[str, Any]] | None:
        """A published version and its document, or ``None``."""
        sql = f"SELECT {_TEMPLATE}, document FROM fleet_templates WHERE version = ?"
        row = self.backend.read(lambda tx: tx.one(sql, (version,)))
        return None if row is None else (_template(row), json.loads(row[7]))

    def get(self, cell_id: str) -> SupportStatus | None:
        """The cell's stored support status, or ``None``."""
        row = self.backend.read(
            lambda tx: tx.one(f"SELECT {_SUPPORT} FROM fleet_support WHERE cell_id = ?", (cell_id,))
        )
        return None if row is None else _support(row)

    def all(self) -> dict[str, SupportStatus]:
        """Every stored support status, by cell."""
        rows = self.backend.read(lambda tx: tx.query(f"SELECT {_SUPPORT} FROM fleet_support ORDER BY cell_id"))
        return {r[0]: _support(r) for r in rows}

    def inputs_page(self, after: str, limit: int) -> list[tuple[Cell, str | None, str | None, SupportStatus | None]]:
        """Up to ``limit`` cells after the id ``after``, in id order, with what judging them needs, in one read.

        Each is ``(cell, the infrastructure version its spec requires, the one its status reports, its
        stored support status)``; the reported version is extracted by the database from the stored status,
        and the cell's labels are left out (support does not look at them).
        """

        def op(tx: Tx) -> list[tuple[Any, ...]]:
            reported = reported_infrastructure(tx.dialect)
            record = ", ".join(f"p.{column.strip()}" for column in _SUPPORT.split(","))
            return tx.query(
                "SELECT c.id, c.stage, c.customer, c.region, c.created_at, c.credential_hash IS NOT NULL,"
                f" c.target_release, c.infrastructure, {reported}, {record} FROM fleet_cells c"
                " LEFT JOIN fleet_status s ON s.cell_id = c.id LEFT JOIN fleet_support p ON p.cell_id = c.id"
                " WHERE c.id > ? ORDER BY c.id LIMIT ?",
                (after, limit),
            )

        out = []
        for r in self.backend.read(op):
            cell = Cell(r[0], r[1], r[2], r[3], float(r[4]), bool(r[5]), r[6])
            stored = None if r[9] is None else _support(r[9:])
            out.append((cell, r[7], None if r[8] is None else str(r[8]), stored))
        return out

    def orphans(self) -> list[str]:
        """The cells with a stored support status but no longer a cell (deleted since they were judged)."""
        sql = "SELECT cell_id FROM fleet_support WHERE cell_id NOT IN (SELECT id FROM fleet_cells) ORDER BY cell_id"
        return [r[0] for r in self.backend.read(lambda tx: tx.query(sql))]

    def transition(
        self,
        cell_id: str,
        expected: SupportStatus | None,
        new: SupportStatus | None,
        audit: tuple[float, str, str, str] | None = None,
    ) -> bool:
        """Replace the cell's status by ``new`` (``None``: forget it) if it still is ``expected``; whether it was.

        A compare-and-set in one transaction, so two replicas judging a cell at
        once record (and audit) its change once. ``audit`` (at, actor, action,
        detail) is appended to the fleet's audit log in that same transaction:
        a change is never recorded without its audit entry.
        """

        def op(tx: Tx) -> bool:
            sql = f"SELECT {_SUPPORT} FROM fleet_support WHERE cell_id = ?{tx.locking('update')}"
            row = tx.one(sql, (cell_id,))
            if (None if row is None else _support(row)) != expected:
                return False
            tx.execute("DELETE FROM fleet_support WHERE cell_id = ?", (cell_id,))
            if new is not None:
                tx.execute(
                    f"INSERT INTO fleet_support ({_SUPPORT}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (cell_id, new.state, new.deadline, json.dumps(list(new.reasons)), new.required, new.running,
                     new.since),
                )  # fmt: skip
            if audit is not None:
                at, actor, action, detail = audit
                tx.execute(
                    "INSERT INTO fleet_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                    (at, actor, action, cell_id, detail),
                )
            return True

        return self.backend.write(op)


# -- the policy --------------------------------------------------------------------------------------------------


def _document_digest(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _change(before: SupportStatus | None, after: SupportStatus) -> str:
    """The audit detail of a support status change."""
    if before is not None and before.state == after.state:
        detail = f"{after.state}: " + ("; ".join(after.reasons) or f"infrastructure {after.running}")
    else:
        detail = f"{'new' if before is None else before.state} -> {after.state}"
        if after.state == "grace" and after.deadline is not None:
            detail += f" until {format_time(after.deadline)}"
        if after.frozen:
            detail += ", releases frozen"
        if after.reasons:
            detail += ": " + "; ".join(after.reasons)
        elif after.running is not None:
            detail += f": runs infrastructure {after.running}"
    return detail[:1000]


class Support:
    """The support deadlines of a fleet: template versions, each cell's support status, the freeze and catch-up.

    Args:
        store: the fleet's store (a ``BackendFleetStore``: its backend holds the support tables).
        clock: seconds since the epoch (injectable: tests and the demo let weeks pass in a moment).
        rollouts: the fleet's rollouts, to catch a cell up on the release a rollout skipped it for
            (set by ``ControlPlane`` after it made them).

    Raises:
        FleetError: ``store`` is not on a ``reconcile.storage`` backend.
    """

    def __init__(
        self, store: FleetStore, *, clock: Callable[[], float] = time.time, rollouts: Rollouts | None = None
    ) -> None:
        backend = getattr(store, "backend", None)
        if backend is None:
            raise FleetError("support deadlines need a store on a reconcile.storage backend (BackendFleetStore)")
        self.store = store
        self.records = SupportRecords(backend)
        self.clock = clock
        self.rollouts = rollouts
        # The controller's thread and the API's workers (publishes, rollouts' skip checks) judge cells alike.
        self._lock = threading.RLock()

    # -- templates -------------------------------------------------------------------------------------------

    def publish(self, body: Any) -> dict[str, Any]:
        """Publish a template version from an untrusted request, then judge every cell against it.

        Args:
            body: ``{"document": {template}, "mandatory"?: bool, "window"?: "14d" or seconds,
                "released_at"?: a time (``parse_time``; default now)}``. The document is checked with
                the AWS room's template parser (no AWS call, no boto3).

        Returns:
            ``{"template": the version, "cells": {cell id: support status}}``.

        Raises:
            InvalidInputError: a malformed field; ``TemplateError`` (one) lists every problem of the document.
            ConflictError: that version, or a newer one, is published.
        """
        from .aws.template import load_template

        if not isinstance(body, dict):
            raise InvalidInputError("template: expected an object")
        unknown = sorted(set(body) - {"document", "mandatory", "window", "released_at"})
        if unknown:
            raise InvalidInputError(f"template: unknown field {unknown[0]!r}")
        if "document" not in body:
            raise InvalidInputError("template: missing field 'document' (the template, as JSON)")
        document = body["document"]
        if not isinstance(document, dict):
            raise InvalidInputError("template.document: expected the template as a JSON object")
        parsed = load_template(document, name="template.document")
        mandatory = body.get("mandatory", False)
        if not isinstance(mandatory, bool):
            raise InvalidInputError(f"template.mandatory: expected a boolean, got {mandatory!r}")
        window = parse_duration(body.get("window", DEFAULT_WINDOW), "template.window")
        now = self.clock()
        released = now if body.get("released_at") is None else parse_time(body["released_at"], "template.released_at")
        template = TemplateVersion(
            parsed.version, released, mandatory, window, parsed.description[:1024], _document_digest(document), now
        )
        self.records.publish_template(template, document)
        kind = f"mandatory within {window / 86400:g} days" if mandatory else "optional"
        self.store.audit(now, "admin", "template.publish", f"infrastructure {template.version}", kind)
        return {"template": template.to_json(), "cells": {k: v.to_json() for k, v in self.reconcile_all().items()}}

    def templates(self) -> list[TemplateVersion]:
        """Every published template version, oldest first."""
        return self.records.templates()

    def template(self, version: Any) -> dict[str, Any]:
        """A published version with its document.

        Raises:
            InvalidInputError: ``version`` is not a positive integer.
            NotFoundError: it is not published.
        """
        text = str(version)
        if not re.fullmatch(r"\d{1,9}", text):
            raise InvalidInputError(f"template version: expected a positive integer, got {text[:64]!r}")
        found = self.records.template(int(text))
        if found is None:
            raise NotFoundError(f"no template version {int(text)}")
        return {**found[0].to_json(), "document": found[1]}

    # -- judging ---------------------------------------------------------------------------------------------

    def evaluate(self, cell: Cell, at: float | None = None) -> SupportStatus:
        """``cell``'s support status at ``at`` (default: now) from what is stored; nothing is written."""
        now = self.clock() if at is None else at
        return evaluate(cell, self.store.get_status(cell.id), self.records.templates(), now)

    def preview(self, at: float) -> dict[str, SupportStatus]:
        """Every cell's support status as it would be at ``at`` if no cell changed its infrastructure until then."""
        templates = self.records.templates()
        return {c.id: evaluate(c, self.store.get_status(c.id), templates, at) for c in self.store.list_cells()}

    def status(self, cell_id: str) -> SupportStatus | None:
        """The cell's stored support status (what freezes it), or ``None`` before it was first judged."""
        return self.records.get(cell_id)

    def resync_page(self, after: str, limit: int = RESYNC_PAGE) -> tuple[list[str], dict[str, float], str | None]:
        """One page of the support controller's resync: judge ``limit`` cells after the id ``after`` in one read.

        Nothing is written. A cell needs a reconcile when its judgement now
        differs from its stored support status (or it has none) or its spec
        lags the required infrastructure version: exactly when
        ``reconcile_cell`` would write something. Cells that need none but
        wait in grace are returned with their deadline, for the controller to
        look again then. The last page (fewer than ``limit`` cells) adds the
        stored statuses whose cell is gone.

        Returns:
            (the cells needing a reconcile, the grace deadlines of the others by cell, the cursor of the next
            page or ``None`` after the last).
        """
        templates = self.records.templates()
        page = self.records.inputs_page(after, limit)
        now = self.clock()
        stale: list[str] = []
        deadlines: dict[str, float] = {}
        for cell, required, reported, stored in page:
            # Only the reported version is judged, as in ``reconcile_cell``'s read of the status.
            judged = evaluate(cell, CellStatus(0, infrastructure_version=reported), templates, now)
            if stored is not None and stored.state == judged.state:
                judged = attrs.evolve(judged, since=stored.since)
            if not judged.same(stored) or required != judged.required:
                stale.append(cell.id)
            elif judged.state == "grace" and judged.deadline is not None:
                deadlines[cell.id] = judged.deadline
        if len(page) < limit:
            stale.extend(self.records.orphans())
            return stale, deadlines, None
        return stale, deadlines, page[-1][0].id

    def reconcile_all(self) -> dict[str, SupportStatus]:
        """Judge every cell now; their support statuses.

        The fleet is judged page by page (``resync_page``: one read per page),
        and ``reconcile_cell`` runs for just the cells whose status or spec it
        changes, instead of the reads of a whole reconcile for every cell.
        """
        after: str | None = ""
        while after is not None:
            stale, _, after = self.resync_page(after)
            for cell_id in stale:
                self.reconcile_cell(cell_id)
        return self.records.all()

    def fenced(self, fence: Callable[[Tx], None]) -> Support:
        """This support with every write first running ``fence(tx)`` (the support controller's leader writes).

        The store must offer ``fenced`` (``BackendFleetStore`` does); the lock is shared, so the fenced view
        and this one never judge a cell at once in one process.
        """
        view = copy.copy(self)
        view.store = self.store.fenced(fence)  # type: ignore[attr-defined]
        view.records = SupportRecords(view.store.backend)  # type: ignore[attr-defined]
        return view

    def reconcile_cell(self, cell_id: str) -> float | None:
        """Judge one cell and act on it; seconds until its next deadline, if it has one ahead.

        Level-triggered and idempotent (what the support controller runs): it
        reads the cell, its status and the templates; records a changed support
        status (with an audit event ``cell.support``); sets the spec's
        ``infrastructure`` to the required version; and, when the cell leaves
        ``out_of_sla``, catches its release up (audited ``cell.catch_up``).
        """
        with self._lock:
            return self._reconcile_cell(cell_id)

    def _reconcile_cell(self, cell_id: str) -> float | None:
        cell = self.store.get_cell(cell_id)
        before = self.records.get(cell_id)
        if cell is None:
            if before is not None:
                self.records.transition(cell_id, before, None)
            return None
        now = self.clock()
        judged = self.evaluate(cell, now)
        if before is not None and before.state == judged.state:
            judged = attrs.evolve(judged, since=before.since)
        if not judged.same(before):
            thawing = before is not None and before.frozen and not judged.frozen
            if thawing:
                # Caught up before the record says thawed, so a crash in between catches up again next time ...
                self._catch_up(cell, now)
            audit = (now, "support", "cell.support", _change(before, judged))
            if self.records.transition(cell_id, before, judged, audit):
                log.info("support %s %s", cell_id, audit[3])
                if thawing:
                    # ... and once more after, for a release published while the record still said frozen.
                    self._catch_up(cell, now, only_if_changed=True)
        spec = self.store.get_spec(cell_id)
        if spec is not None and spec.infrastructure != judged.required:
            updated = self.store.set_infrastructure(cell_id, judged.required)
            self.store.audit(
                now,
                "support",
                "cell.infrastructure",
                cell_id,
                f"requires infrastructure {judged.required or 'any'} generation {updated.generation}",
            )
        if judged.state == "grace" and judged.deadline is not None:
            return max(judged.deadline - now, 0.001)
        return None

    def _catch_up(self, cell: Cell, now: float, *, only_if_changed: bool = False) -> None:
        """Give a cell back in SLA what it missed: a rollout's release that skipped it, or its own target."""
        target, why = cell.target_release, "its own target" if cell.target_release else "the newest release"
        for rollout in reversed(self.rollouts.all() if self.rollouts is not None else []):
            progress = rollout.cells.get(cell.id)
            if progress is None or progress.state != "skipped":
                continue
            if progress.reason.startswith(SKIP_PREFIX) and rollout.state in ("running", "paused", "completed"):
                target, why = rollout.release, f"the release of rollout {rollout.id}, which skipped it"
            break
        before = self.store.get_spec(cell.id)
        try:
            spec = self.store.set_target(cell.id, target)
        except NotFoundError:
            return  # deleted meanwhile
        if only_if_changed and before is not None and before.generation == spec.generation:
            return
        release = "none" if spec.release is None else spec.release.version
        self.store.audit(
            now, "support", "cell.catch_up", cell.id, f"release {release} ({why}) generation {spec.generation}"
        )

    # -- the freeze ------------------------------------------------------------------------------------------

    def skip_reason(self, cell: Cell) -> str | None:
        """Why a rollout must skip ``cell`` (it is out of SLA, judged now), or ``None`` (``Rollouts.skip_check``)."""
        self.reconcile_cell(cell.id)
        record = self.records.get(cell.id)
        if record is None or not record.frozen:
            return None
        return f"{SKIP_PREFIX}: " + "; ".join(record.reasons)

    def check_unfrozen(self, cell_id: str) -> None:
        """Refuse a release change for a cell out of SLA (an operator's retarget).

        Raises:
            SupportFreezeError: the cell is out of SLA; the message says what it must do.
        """
        self.reconcile_cell(cell_id)
        record = self.records.get(cell_id)
        if record is not None and record.frozen:
            raise SupportFreezeError(
                f"cell {cell_id!r} is out of SLA, so its release is frozen until it reports infrastructure "
                f"version {record.required}: " + "; ".join(record.reasons)
            )


__all__ = [
    "DEFAULT_WINDOW",
    "FROZEN_CELLS",
    "MAX_WINDOW",
    "RESYNC_PAGE",
    "SKIP_PREFIX",
    "SUPPORT_CHANNEL",
    "SUPPORT_STATES",
    "Support",
    "SupportFreezeError",
    "SupportRecords",
    "SupportStatus",
    "TemplateVersion",
    "evaluate",
    "format_time",
    "migrate_support",
    "parse_duration",
    "parse_time",
    "reported_infrastructure",
]
