"""The ``Journal``: intents and outcomes of provider calls, recovery of a dead apply's, leases, and history."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from .. import (
    Action,
    Address,
    Plan,
    PlanFileError,
    ProviderContractError,
    StalePlanError,
    State,
    Step,
    dumps,
    is_resource,
    loads_state,
    resource_type,
)
from .._model import show_address, show_error
from ..storage import Backend, Lease, LeaseInfo, Tx, acquire, force_unlock, migrate, open_store
from ..storage.errors import FencedError
from ..storage.leases import ensure_schema
from ._codec import Codec, summary_text
from ._records import ApplyRecord, RecoveredStep, RecoveryReport, StepRecord
from ._schema import APPLIES, KEYS, KNOWN, LAST_APPLIED, MIGRATIONS, OPS
from .errors import JournalCorruptError, JournalError, JournalOptionError, RecoveryError, UnknownKindError

_OP_COLUMNS = (
    "apply_id, seq, address, kind, op, attempt, idem_key, desired, epoch, started, digest, "
    "status, finished, actual, error, outcome_digest"
)


def _new_id(now: float) -> str:
    # Sortable by time at a glance, unique by the random tail.
    return f"{int(now * 1000):013d}-{uuid.uuid4().hex[:12]}"


def _read(provider: Any, address: Address) -> Any:
    value = provider.read(address)
    if inspect.isawaitable(value):
        value = asyncio.run(_await(value))
    return value


async def _await(value: Any) -> Any:
    return await value


class Journal:
    """A durable log of the intents and outcomes of an apply's provider calls, with leases and recovery.

    Open one with ``Journal.open(url)``; pass it to ``reconcile.apply(plan,
    providers, journal=journal, lease=lease)``. Before each provider call the
    apply writes an intent and waits until it is durable; after the call it
    queues the outcome, which the next commit (group commit) makes durable.
    Thread-safe.

    Attributes:
        backend: the store (``reconcile.storage.Backend``).
        url: the store's URL, without any password.
    """

    def __init__(
        self, backend: Backend, *, types: Iterable[type] = (), key: bytes | str | None = None, converter: Any = None
    ) -> None:
        if isinstance(key, str):
            key = key.encode()
        if key is not None and (not isinstance(key, bytes) or not key):
            raise JournalOptionError("journal key must be non-empty bytes or str")
        self.backend = backend
        self.url = backend.url
        self._codec = Codec(key, converter)
        for cls in types:
            self._codec.learn(cls)
        ensure_schema(backend)
        migrate(backend, "journal", MIGRATIONS)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        types: Iterable[type] = (),
        key: bytes | str | None = None,
        clock: Any = None,
        converter: Any = None,
    ) -> Journal:
        """Open (creating or upgrading) the journal at ``url``.

        Args:
            url: ``sqlite:///path/journal.db`` (relative), ``sqlite:////abs/path.db`` or
                ``postgresql://user@host:port/db`` (extra ``postgres``).
            types: resource classes, to decode stored values (``last_known``); classes
                of plans applied through this journal are learned by themselves.
            key: signs every record (keyed BLAKE2b, a MAC) so edits are detected;
                without one, records carry a BLAKE2b digest that detects damage.
            clock: a ``time.time``-like clock for leases and timestamps.
            converter: the cattrs converter given to ``reconcile.dumps``, if any.

        Raises:
            StorageURLError: an unknown URL.
            CorruptStoreError: the file is not a database.
            SchemaVersionError: the journal was written by a newer reconcile.
        """
        backend = open_store(url, clock=clock)
        try:
            return cls(backend, types=types, key=key, converter=converter)
        except BaseException:
            backend.close()
            raise

    def close(self) -> None:
        """Make everything queued durable and close the store."""
        self.backend.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Journal {self.url}>"

    # ------------------------------------------------------------ leases

    def lease(self, name: str, owner: str, ttl: float = 30.0, *, wait: float = 0.0) -> Lease:
        """Take lease ``name``: one applier at a time per name; renewed in the background while held.

        Use it as a context manager and pass it to ``apply(..., lease=)``: every
        journal write of that apply is refused once a newer holder exists.

        Args:
            name: the lease name.
            owner: who takes it (shown to the others).
            ttl: seconds it lasts past each renewal.
            wait: seconds to keep trying while another holder has it.

        Raises:
            LeaseHeldError: another holder has it (naming who, since when, until when).
        """
        return acquire(self.backend, name, owner, ttl, wait=wait)

    def force_unlock(self, name: str, lease_id: str) -> LeaseInfo:
        """Free lease ``name`` held under ``lease_id`` (from ``LeaseHeldError``); return the holder freed.

        Raises:
            LeaseNotFoundError: nobody holds it under that id.
        """
        return force_unlock(self.backend, name, lease_id)

    def _check_lease(self, lease: Any) -> Lease:
        if not isinstance(lease, Lease):
            raise JournalOptionError(f"lease must be a Lease from journal.lease(), got {type(lease).__name__}")
        if lease.backend is not self.backend:
            raise JournalOptionError(f"lease {lease.name!r} was taken on another store than this journal's")
        lease.check()
        return lease

    # ------------------------------------------------------------ the apply hook

    def begin(self, plan: Plan, providers: Mapping[str, Any], *, lease: Any = None) -> ApplyLog:
        """Start journaling an apply of ``plan`` (``reconcile.apply`` calls this when given ``journal=``).

        First resolves any intent a dead apply left without outcome (``recover``);
        if that changes what the plan was made against, nothing runs.

        Raises:
            RecoveryError: pending intents could not be resolved.
            StalePlanError: recovery found the world differs from the plan's actual state where it acts.
            FencedError: the lease is no longer held.
        """
        held = None if lease is None else self._check_lease(lease)
        for cls in {type(o) for o in itertools.chain(plan.desired, plan.actual)}:
            self._codec.learn(cls)
        report = self.recover(providers, lease=held)
        touched = {s[0] for s in plan.steps}
        differences: list[tuple[Address, str]] = []
        for entry in report.steps:
            if entry.address in touched and entry.found != plan.actual.get(entry.address):
                before = plan.actual.get(entry.address)
                what = "created" if before is None else "deleted" if entry.found is None else "changed"
                differences.append((entry.address, f"{what} by an interrupted apply"))
        if differences:
            differences = list({a: (a, w) for a, w in differences}.values())
            raise StalePlanError(differences, [show_address(a) for a, _ in differences])
        now = self.backend.clock()
        apply_id = _new_id(now)
        name, epoch, owner = (held.name, held.epoch, held.owner) if held is not None else (None, None, None)
        digest = self._codec.digest(apply_id, name, epoch, owner, now, len(plan.steps))

        def start(tx: Tx) -> dict[Address, str]:
            if held is not None:
                held.fence(tx)
            tx.execute(
                f"INSERT INTO {APPLIES} (id, lease, epoch, owner, started, status, steps, digest) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (apply_id, name, epoch, owner, now, len(plan.steps), digest),
            )
            return {Address.parse(a): k for a, k in tx.query(f"SELECT address, idem_key FROM {KEYS}")}

        open_keys = self.backend.write(start)
        return ApplyLog(self, apply_id, plan, held, open_keys)

    # ------------------------------------------------------------ recovery

    def _pending_rows(self, lease: Lease | None) -> list[tuple[Any, ...]]:
        where = "o.status = 'pending'"
        params: tuple[Any, ...] = ()
        if lease is not None:
            where += " AND (a.lease = ? OR a.lease IS NULL)"
            params = (lease.name,)
        columns = ", ".join("o." + c.strip() for c in _OP_COLUMNS.split(","))
        return self.backend.read(
            lambda tx: tx.query(
                f"SELECT {columns} FROM {OPS} o JOIN {APPLIES} a ON a.id = o.apply_id WHERE {where} "
                "ORDER BY o.apply_id, o.seq",
                params,
            )
        )

    def pending(self) -> list[StepRecord]:
        """Every intent without an outcome (a dead apply's, or a running one's), oldest first."""
        return [self._step(row) for row in self._pending_rows(None)]

    def recover(self, providers: Mapping[str, Any], *, lease: Any = None) -> RecoveryReport:
        """Resolve every intent without outcome by reading its address, and record what was found.

        A pending create found is adopted (its actual value recorded), one not
        found is not done (its idempotency key stays for the next create); a
        pending delete not found is done, one found is not done; a pending
        update records the value read. Call it while holding the lease the
        dead apply held (``apply(..., journal=)`` does it by itself): intents of
        a live apply would be resolved too early.

        Args:
            providers: providers keyed by kind (only ``read`` is used).
            lease: the held lease: only intents of applies under its name (or
                under no lease) are resolved, and the writes are fenced by it.

        Returns:
            The report of what was pending and what was found.

        Raises:
            RecoveryError: some intents could not be resolved (they stay pending;
                the others are recorded).
            FencedError: the lease is no longer held.
            JournalCorruptError: a pending record fails its check.
        """
        held = None if lease is None else self._check_lease(lease)
        records = [self._step(row) for row in self._pending_rows(held)]
        if not records:
            return RecoveryReport()
        by_address: dict[Address, list[StepRecord]] = {}
        for record in records:
            by_address.setdefault(record.address, []).append(record)
        entries: list[RecoveredStep] = []
        found_at: dict[Address, Any] = {}
        for address, pending in by_address.items():
            provider = providers.get(address.kind)
            error = None
            found = None
            if provider is None:
                error = f"no provider for kind {address.kind!r}"
            else:
                try:
                    found = _read(provider, address)
                    if found is not None and resource_type(found).address(found) != address:
                        got = resource_type(found).address(found)
                        error = f"read({show_address(address)}) returned a resource at {show_address(got)}"
                except Exception as exc:
                    error = f"read failed: {show_error(exc)}"
            if error is None:
                found_at[address] = found
            for record in pending:
                if error is not None:
                    resolution = "unresolved"
                elif record.op is Action.CREATE:
                    resolution = "adopted" if found is not None else "not_done"
                elif record.op is Action.DELETE:
                    resolution = "done" if found is None else "not_done"
                else:
                    resolution = "reread"
                entries.append(
                    RecoveredStep(
                        record.apply_id,
                        record.seq,
                        address,
                        record.op,
                        record.idempotency_key,
                        resolution,
                        None if error else found,
                        error,
                    )
                )
        now = self.backend.clock()
        codec = self._codec
        texts = {a: codec.encode(v) for a, v in found_at.items()}
        updates = []
        for e in entries:
            if e.resolution == "unresolved":
                continue
            text = texts[e.address]
            updates.append(
                (
                    e.resolution,
                    text,
                    now,
                    codec.digest(e.apply_id, e.seq, e.resolution, text, None, now),
                    e.apply_id,
                    e.seq,
                )
            )
        known = [(str(a), a.kind, t, now, codec.digest(str(a), t, now)) for a, t in texts.items()]
        closed = [(str(e.address),) for e in entries if e.resolution in ("adopted", "done")]
        opened = [
            (str(e.address), e.idempotency_key) for e in entries if e.resolution == "not_done" and e.op is Action.CREATE
        ]

        def resolve(tx: Tx) -> None:
            if held is not None:
                held.fence(tx)
            tx.executemany(
                f"UPDATE {OPS} SET status = ?, actual = ?, finished = ?, outcome_digest = ? "
                "WHERE apply_id = ? AND seq = ? AND status = 'pending'",
                updates,
            )
            tx.executemany(_UPSERT_KNOWN, known)
            tx.executemany(f"DELETE FROM {KEYS} WHERE address = ?", closed)
            tx.executemany(_UPSERT_KEY, opened)

        self.backend.write(resolve)
        report = RecoveryReport(tuple(entries))
        if report.unresolved:
            raise RecoveryError(report)
        return report

    # ------------------------------------------------------------ history

    def _step(self, row: Sequence[Any]) -> StepRecord:
        (
            apply_id,
            seq,
            address,
            _kind,
            op,
            attempt,
            key,
            desired,
            epoch,
            started,
            digest,
            status,
            finished,
            actual,
            error,
            outcome_digest,
        ) = row
        where = f"journal record {apply_id}#{seq}"
        self._codec.verify(digest, where, apply_id, seq, address, op, attempt, key, desired, epoch, started)
        if status != "pending":
            self._codec.verify(outcome_digest, where + " (outcome)", apply_id, seq, status, actual, error, finished)
        try:
            parsed = Address.parse(address)
            action = Action(op)
        except Exception as exc:
            raise JournalCorruptError(f"{where}: {exc}") from None
        return StepRecord(
            apply_id,
            int(seq),
            parsed,
            action,
            int(attempt),
            key,
            status,
            started,
            finished,
            Codec.data(desired, where),
            Codec.data(actual, where),
            error,
            None if epoch is None else int(epoch),
        )

    def applies(self, limit: int | None = None) -> list[ApplyRecord]:
        """The applies recorded, newest first (at most ``limit``)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise JournalOptionError(f"limit must be an int >= 0 or None, got {limit!r}")
        sql = (
            f"SELECT id, lease, epoch, owner, started, finished, status, steps, summary, digest FROM {APPLIES} "
            "ORDER BY started DESC, id DESC"
        )
        rows = self.backend.read(lambda tx: tx.query(sql + ("" if limit is None else f" LIMIT {int(limit)}")))
        out = []
        for apply_id, lease, epoch, owner, started, finished, status, steps, summary, digest in rows:
            self._codec.verify(digest, f"journal apply {apply_id}", apply_id, lease, epoch, owner, started, steps)
            data = Codec.data(summary, f"journal apply {apply_id}") or {}
            out.append(
                ApplyRecord(
                    apply_id,
                    lease,
                    None if epoch is None else int(epoch),
                    owner,
                    started,
                    finished,
                    status,
                    int(steps),
                    data,
                )
            )
        return out

    def steps(self, apply_id: str) -> list[StepRecord]:
        """Every provider call of apply ``apply_id``, in the order the intents were written.

        Raises:
            JournalOptionError: no apply has that id.
        """

        def query(tx: Tx) -> tuple[Any, list[tuple[Any, ...]]]:
            found = tx.one(f"SELECT id FROM {APPLIES} WHERE id = ?", (apply_id,))
            return found, tx.query(f"SELECT {_OP_COLUMNS} FROM {OPS} WHERE apply_id = ? ORDER BY seq", (apply_id,))

        found, rows = self.backend.read(query)
        if found is None:
            raise JournalOptionError(f"the journal has no apply with id {apply_id!r}")
        return [self._step(row) for row in rows]

    def last_known(self, address: Address | str) -> Any:
        """The last actual value recorded at ``address`` (``None`` if deleted or never seen).

        Providers that cannot ``list`` can observe from it (see ``observe``).

        Raises:
            UnknownKindError: no class is known for the address's kind (pass ``types=``).
        """
        addr = address if isinstance(address, Address) else Address.parse(address)
        row = self.backend.read(
            lambda tx: tx.one(f"SELECT kind, value, updated, digest FROM {KNOWN} WHERE address = ?", (str(addr),))
        )
        if row is None:
            return None
        kind, value, updated, digest = row
        where = f"journal value of {addr}"
        self._codec.verify(digest, where, str(addr), value, updated)
        return self._codec.decode(kind, value, where)

    def known_addresses(self) -> list[Address]:
        """Every address whose last recorded value exists (not deleted)."""
        rows = self.backend.read(lambda tx: tx.query(f"SELECT address FROM {KNOWN} WHERE value IS NOT NULL"))
        return [Address.parse(r[0]) for r in rows]

    def observe(self, providers: Mapping[str, Any], addresses: Iterable[Address] = ()) -> State:
        """The actual state: ``list()`` where a provider can list, else ``read`` of every address the journal knows.

        A provider cannot list when it has no ``list`` or its ``list`` raises
        ``NotImplementedError``; its kind is observed by reading each address the
        journal last saw existing, each pending intent's address, and ``addresses``.

        Raises:
            ProviderContractError, InvalidStateError: as ``reconcile.observe``.
        """
        wanted: dict[str, set[Address]] = {}
        for a in itertools.chain(self.known_addresses(), (r.address for r in self.pending()), addresses):
            wanted.setdefault(a.kind, set()).add(a)
        found: list[Any] = []
        for kind, provider in providers.items():
            listed = None
            # ``list_all`` first, as ``reconcile.observe`` does (rc.ListAllProvider).
            lister = getattr(provider, "list_all", None)
            if not callable(lister):
                lister = getattr(provider, "list", None)
            if callable(lister):
                try:
                    listed = list(lister())
                except NotImplementedError:
                    listed = None
            if listed is None:
                listed = [_read(provider, a) for a in sorted(wanted.get(kind, ()), key=str)]
            for obj in listed:
                if obj is None:
                    continue
                if not is_resource(obj) or resource_type(obj).kind != kind:
                    raise ProviderContractError(
                        f"provider for kind {kind!r} returned {type(obj).__name__}, not a resource of that kind"
                    )
                found.append(obj)
        return State(found, allow_dangling=True)

    # ------------------------------------------------------------ last applied states

    def record_last_applied(self, name: str, state: State, *, lease: Any = None) -> None:
        """Durably record ``state`` as the last applied desired state under ``name``, replacing the one before.

        ``reconcile.plan(..., last_applied=)`` orders deletes by that state's
        edges (``depends_on``, which no world reports); kept here, it outlives
        the process, so a restarted or newly elected applier still has it
        (``StateController`` names its records ``"<controller>/<key!r>"``).
        The state is stored as ``reconcile.dumps`` writes it, signed with the
        journal's key if it has one. Durable when it returns.

        Args:
            name: the record's name (a non-empty string).
            state: the desired state last applied; an empty one deletes the record.
            lease: a held ``Lease`` from this journal's store: the write is
                refused once a newer holder exists, as an apply's writes are.

        Raises:
            JournalOptionError: ``name`` is not a non-empty string, ``state`` is not
                a ``State``, or ``lease`` is not a lease of this store.
            JournalError: a value of ``state`` has no JSON form (the message names it).
            FencedError: the lease is no longer held (nothing was written).
        """
        where = self._last_applied_name(name)
        if not isinstance(state, State):
            raise JournalOptionError(f"{where}: state must be a reconcile.State, got {type(state).__name__}")
        held = None if lease is None else self._check_lease(lease)
        text = None
        if len(state) or state.externals:
            codec = self._codec
            try:
                text = dumps(state, converter=codec.converter, key=codec.key)
            except PlanFileError as exc:
                raise JournalError(f"cannot record {where}: {exc}") from None
        now = self.backend.clock()
        digest = None if text is None else self._codec.digest(name, text, now)

        def write(tx: Tx) -> None:
            if held is not None:
                held.fence(tx)
            if text is None:
                tx.execute(f"DELETE FROM {LAST_APPLIED} WHERE name = ?", (name,))
            else:
                tx.execute(_UPSERT_LAST_APPLIED, (name, text, now, digest))

        self.backend.write(write)

    def last_applied(self, name: str, types: Iterable[type]) -> State | None:
        """The last applied desired state recorded under ``name`` (``record_last_applied``), or ``None``.

        The record is checked (its digest, or signature with a key, binds the
        text to ``name``) and read as the untrusted input it is
        (``reconcile.loads_state``), refs to addresses outside it allowed.

        Args:
            name: the record's name.
            types: the resource classes of the state; the classes given to
                ``Journal.open(types=)`` and those of plans applied through this
                journal are known too.

        Raises:
            JournalOptionError: ``name`` is not a non-empty string, or ``types`` is not an iterable of classes.
            UnknownKindError: the record holds kinds no known class serves (the message names them).
            JournalCorruptError: the record fails its check (modified, damaged, or written
                with another key) or is not a valid state.
        """
        where = self._last_applied_name(name)
        if isinstance(types, (str, bytes)) or not isinstance(types, Iterable):
            raise JournalOptionError(f"{where}: types must be an iterable of resource classes, got {types!r}")
        classes = dict(self._codec.types)
        for cls in types:
            if not isinstance(cls, type) or not is_resource(cls):
                raise JournalOptionError(f"{where}: types must be resource classes, got {cls!r}")
            classes[resource_type(cls).kind] = cls
        row = self.backend.read(
            lambda tx: tx.one(f"SELECT state, recorded, digest FROM {LAST_APPLIED} WHERE name = ?", (name,))
        )
        if row is None:
            return None
        text, recorded, digest = row
        self._codec.verify(digest, where, name, text, recorded)
        missing = sorted(_state_kinds(text, where) - classes.keys())
        if missing:
            raise UnknownKindError(
                f"{where}: no resource class known for kind{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; pass {'them' if len(missing) > 1 else 'it'} in types"
            )
        try:
            return loads_state(text, classes, converter=self._codec.converter, key=self._codec.key, allow_dangling=True)
        except PlanFileError as exc:
            raise JournalCorruptError(f"{where} cannot be read: {exc}") from None

    @staticmethod
    def _last_applied_name(name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise JournalOptionError(f"a last applied state's name must be a non-empty string, got {name!r}")
        return f"journal last applied state {name!r}"

    # ------------------------------------------------------------ for ApplyLog

    @property
    def codec(self) -> Codec:
        """The record codec (for ``ApplyLog``)."""
        return self._codec


_UPSERT_KEY = (
    f"INSERT INTO {KEYS} (address, idem_key) VALUES (?, ?) "
    "ON CONFLICT (address) DO UPDATE SET idem_key = excluded.idem_key"
)

_UPSERT_LAST_APPLIED = (
    f"INSERT INTO {LAST_APPLIED} (name, state, recorded, digest) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET state = excluded.state, recorded = excluded.recorded, digest = excluded.digest"
)


def _state_kinds(text: str, where: str) -> set[str]:
    """The kinds a stored state names (its resources' and its externals' values'), read before the state is."""
    data = Codec.data(text, where)
    try:
        entries = [*data["resources"], *(e["value"] for e in data.get("externals", ()) if e["value"] is not None)]
        kinds = {e["kind"] for e in entries}
    except (KeyError, TypeError, AttributeError):
        raise JournalCorruptError(f"{where} is not a state file") from None
    if not all(isinstance(k, str) for k in kinds):
        raise JournalCorruptError(f"{where} is not a state file")
    return kinds


_UPSERT_KNOWN = (
    f"INSERT INTO {KNOWN} (address, kind, value, updated, digest) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, value = excluded.value, "
    "updated = excluded.updated, digest = excluded.digest"
)


class _Written:
    """Whether a write of intents ahead is durable: settled once its commit is (or failed)."""

    __slots__ = ("error", "event", "skipped")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: BaseException | None = None
        # Steps of the batch left out of the write (their own intent call writes them, or says why not).
        self.skipped: set[Step] = set()

    def settle(self, error: BaseException | None) -> None:
        self.error = error
        self.event.set()

    def wait(self) -> BaseException | None:
        """Block until settled; the write's error, or ``None`` once it is durable."""
        if not self.event.is_set():
            self.event.wait()
        return self.error

    def landed(self, step: Step) -> bool:
        """Whether ``step``'s intent in this write is durable (settled without an error, not left out)."""
        return self.event.is_set() and self.error is None and step not in self.skipped


class ApplyLog:
    """The journal of one apply: what ``reconcile.apply`` calls around each provider call.

    ``intent`` before the call (durable when it returns; gives the idempotency
    key), ``outcome`` or ``failure`` after it (queued: durable with the next
    commit), ``finish`` at the end (durable when it returns).

    Outcomes wait (up to ``outcome_delay`` seconds, or until ``outcome_batch``
    of them, or the next intent write) and are written together; a crash
    loses at most those, which recovery finds again by reading.

    Intents are written ahead: the commit that makes one step's intent durable
    also carries the intents of up to ``ahead`` steps that are ready to run
    (every step they run after succeeded), so those steps start without waiting
    for a commit of their own. An intent written ahead whose step never ran is
    marked ``not_started`` by ``finish``; after a crash, recovery reads its
    address like any other pending intent.

    Attributes:
        apply_id: the apply's id in the journal's history.
        ahead: the most intents written ahead per commit.
        window: the most intents written ahead and not yet claimed.
        outcome_batch: outcomes waiting that make a write of their own at once.
        outcome_delay: seconds fewer outcomes wait (unless an intent write takes them first).
    """

    ahead = 256
    window = 2048
    outcome_batch = 64
    outcome_delay = 0.02

    def __init__(
        self, journal: Journal, apply_id: str, plan: Plan, lease: Lease | None, open_keys: Mapping[Address, str]
    ) -> None:
        self.journal = journal
        self.apply_id = apply_id
        self.plan = plan
        self.lease = lease
        self._open_keys = dict(open_keys)
        self._keys: dict[Step, str] = {}
        self._key_prefix = uuid.uuid4().hex[:24]
        self._key_counter = itertools.count(1)
        self._seq = itertools.count(1)
        self._open: dict[tuple[Step, int], int] = {}
        self._created: set[Address] = set()
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._backend = journal.backend
        self._codec = journal.codec
        self._epoch = None if lease is None else lease.epoch
        # Readiness, to know which intents can be written ahead.
        self._waiting: dict[Step, int] = {}
        self._dependents: dict[Step, list[Step]] = {}
        for step, before in plan.predecessors.items():
            if before:
                self._waiting[step] = len(before)
                for b in before:
                    self._dependents.setdefault(b, []).append(step)
        self._ready: collections.deque[Step] = collections.deque(s for s in plan.steps if s not in self._waiting)
        self._started: set[Step] = set()
        self._ahead: dict[Step, tuple[str, int, _Written]] = {}
        # Outcomes waiting for the next write.
        self._updates: list[tuple[Any, ...]] = []
        self._known: list[tuple[Any, ...]] = []
        self._keys_changed: list[tuple[str, str | None]] = []
        # Addresses with an open create key in the store (from earlier applies or failed creates here).
        self._keyed: set[Address] = set(open_keys)
        self._drain_queued = False
        # One flusher thread for the apply (started with its first outcome) writes outcomes that waited
        # ``outcome_delay``; a timer thread per batch would cost a thread start, under the lock, each time.
        self._flush_wake = threading.Condition(self._lock)
        self._flusher: threading.Thread | None = None
        self._first_waiting = 0.0
        self._closing = False

    def key(self, step: Step) -> str:
        """The idempotency key of ``step``: one per step for the whole apply, and for a create
        of an address whose earlier create had no outcome, that create's key."""
        key = self._keys.get(step)
        if key is None:
            key = self._open_keys.get(step[0]) if step[1] is Action.CREATE else None
            if key is None:
                # Unique per apply (its random prefix) and per step (the counter); cheaper than a uuid4 per step.
                key = f"{self._key_prefix}{next(self._key_counter):08x}"
            self._keys[step] = key
        return key

    def _row(self, step: Step, attempt: int, key: str, seq: int, now: float) -> tuple[Any, ...]:
        address, op = step[0], step[1]
        desired = self._codec.encode(self.plan.changes[address].after) if op is not Action.DELETE else None
        text = str(address)
        epoch = self._epoch
        digest = self._codec.intent_digest(self.apply_id, seq, text, op.value, attempt, key, desired, epoch, now)
        return (self.apply_id, seq, text, address.kind, op.value, attempt, key, desired, epoch, now, digest)

    def intent(self, step: Step, attempt: int) -> str:
        """Durably record that ``step`` is about to be called (attempt ``attempt``); return its idempotency key.

        Raises:
            FencedError: a newer lease holder exists (nothing was recorded; do not call the provider).
            StorageError: the store failed.
        """
        refill: list[tuple[Step, int, str, int]] = []
        with self._lock:
            self._started.add(step)
            written = self._ahead.pop(step, None) if attempt == 1 else None
            if written is None:
                batch = [(step, attempt, self.key(step), next(self._seq)), *self._take_ahead()]
                done = _Written()
                for s, _a, k, q in batch[1:]:
                    self._ahead[s] = (k, q, done)
            elif len(self._ahead) < self.window // 2:
                # Keep the window full, so the steps that follow do not wait either.
                refill = self._take_ahead()
                refilled = _Written()
                for s, _a, k, q in refill:
                    self._ahead[s] = (k, q, refilled)
        if refill:
            self._write_async(refill, refilled)
        if written is not None:
            key, seq, done = written
            if done.wait() is not None or step in done.skipped:
                # The write ahead failed (a fenced batch) or left this intent out (its value has no JSON
                # form): write it by itself, which reports why.
                return self._write_alone(step, attempt)
            self._open[(step, 1)] = seq
            return key
        try:
            self._write(batch, done)
        except BaseException as exc:
            done.settle(exc)
            raise
        done.settle(None)
        _step, _attempt, key, seq = batch[0]
        self._open[(step, attempt)] = seq
        return key

    def _take_ahead(self) -> list[tuple[Step, int, str, int]]:
        """Ready steps whose intents can be written ahead (under the lock)."""
        taken = []
        room = min(self.ahead, self.window - len(self._ahead))
        while room > 0 and self._ready:
            s = self._ready.popleft()
            if s in self._started or s in self._ahead:
                continue
            taken.append((s, 1, self.key(s), next(self._seq)))
            room -= 1
        return taken

    def _write_async(self, batch: list[tuple[Step, int, str, int]], done: _Written) -> None:
        try:
            op = self._write_op(batch, done, own=False)
        except BaseException as exc:
            done.settle(exc)
            raise
        future = self._backend.submit(op)
        future.add_done_callback(lambda f: done.settle(f.exception()))

    def _write_alone(self, step: Step, attempt: int) -> str:
        with self._lock:
            batch = [(step, attempt, self.key(step), next(self._seq))]
        self._write(batch)
        self._open[(step, attempt)] = batch[0][3]
        return batch[0][2]

    def _write(self, batch: list[tuple[Step, int, str, int]], ahead: _Written | None = None) -> None:
        self._backend.write(self._write_op(batch, ahead))

    def _write_op(self, batch: list[tuple[Step, int, str, int]], ahead: _Written | None, own: bool = True) -> Any:
        """The op writing ``batch``'s intents: the caller's own first (when ``own``), then those written ahead.

        An intent written ahead whose value cannot be recorded is left out
        (``ahead.skipped``), so it fails its own step, not the one that wrote it ahead.
        """
        now = self._backend.clock()
        row = self._row
        rows = []
        for i, (s, a, k, q) in enumerate(batch):
            if ahead is None or (own and i == 0):
                rows.append(row(s, a, k, q, now))
                continue
            try:
                rows.append(row(s, a, k, q, now))
            except JournalError:
                ahead.skipped.add(s)
        lease = self.lease

        def write(tx: Tx) -> None:
            if lease is not None:
                lease.fence(tx)
            tx.executemany(
                f"INSERT INTO {OPS} (apply_id, seq, address, kind, op, attempt, idem_key, desired, epoch, started, "
                "digest, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                rows,
            )
            # Outcomes waiting for a write ride along with this one.
            self._drain(tx)

        return write

    def _queue(self, op: Any) -> None:
        future: Future[None] = self._backend.submit(op)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        error = future.exception()
        if error is not None:
            with self._lock:
                self._errors.append(error)

    def _enqueue(
        self,
        update: tuple[Any, ...],
        known: tuple[Any, ...] | None = None,
        close_key: str | None = None,
        open_key: tuple[str, str] | None = None,
        succeeded: Step | None = None,
    ) -> None:
        """Add one outcome to the next write; outcomes that arrive while it waits share it.

        ``succeeded`` is the step that succeeded, if so: the steps waiting for it may become
        ready (to have their intents written ahead), in the same hold of the lock.
        """
        with self._lock:
            if succeeded is not None:
                waiting = self._waiting
                for d in self._dependents.get(succeeded, ()):
                    waiting[d] -= 1
                    if not waiting[d]:
                        self._ready.append(d)
            self._updates.append(update)
            if known is not None:
                self._known.append(known)
            if close_key is not None:
                self._keys_changed.append((close_key, None))
            if open_key is not None:
                self._keys_changed.append(open_key)
            if self._drain_queued:
                return
            if len(self._updates) < self.outcome_batch:
                # Wait a little for more outcomes (or an intent write that takes them along).
                if len(self._updates) == 1:
                    self._first_waiting = time.monotonic()
                    if self._flusher is not None:
                        self._flush_wake.notify()
                        return
                    start = True
                else:
                    return
            else:
                self._drain_queued = True
                start = False
        if start:
            self._start_flusher()
        else:
            self._queue(self._drain)

    def _start_flusher(self) -> None:
        flusher = threading.Thread(target=self._flush_loop, name=f"reconcile-journal-flush {self.apply_id}")
        flusher.daemon = True
        with self._lock:
            if self._flusher is not None or self._closing:
                return
            self._flusher = flusher
        flusher.start()

    def _flush_loop(self) -> None:
        """Queue a write of the outcomes waiting once the first of them waited ``outcome_delay``.

        Ends with the apply (``finish``), or after a second with nothing to write (the next outcome
        starts another), so an apply that is never finished leaves no thread behind.
        """
        with self._lock:
            while not self._closing:
                if not self._updates or self._drain_queued:
                    if not self._flush_wake.wait(1.0) and not self._updates and not self._drain_queued:
                        break
                    continue
                left = self._first_waiting + self.outcome_delay - time.monotonic()
                if left > 0:
                    self._flush_wake.wait(left)
                    continue
                self._drain_queued = True
                self._queue(self._drain)
            self._flusher = None

    def _flush_outcomes(self) -> None:
        """Queue a write of the outcomes waiting, if any and if none is queued."""
        with self._lock:
            if self._drain_queued or not self._updates:
                return
            self._drain_queued = True
        self._queue(self._drain)

    def _drain(self, tx: Tx) -> None:
        with self._lock:
            updates, known, keys = self._updates, self._known, self._keys_changed
            self._updates, self._known, self._keys_changed = [], [], []
            self._drain_queued = False
        if self.lease is not None:
            self.lease.fence(tx)
        tx.executemany(
            f"UPDATE {OPS} SET status = ?, actual = ?, error = ?, finished = ?, outcome_digest = ? "
            "WHERE apply_id = ? AND seq = ?",
            updates,
        )
        if known:
            tx.executemany(_UPSERT_KNOWN, known)
        for address, key in keys:
            if key is None:
                tx.execute(f"DELETE FROM {KEYS} WHERE address = ?", (address,))
            else:
                tx.execute(_UPSERT_KEY, (address, key))

    def outcome(self, step: Step, attempt: int, value: Any) -> None:
        """Record that attempt ``attempt`` of ``step`` returned ``value`` (``None`` for a delete)."""
        seq = self._open.pop((step, attempt), None)
        if seq is None:
            return
        address, op = step[0], step[1]
        text = str(address)
        actual = self._codec.encode(value) if op is not Action.DELETE else None
        now = self._backend.clock()
        digest = self._codec.outcome_digest(self.apply_id, seq, "succeeded", actual, None, now)
        # A create-before-delete replacement deletes the old object after the new one
        # exists at the same address: the address still holds the new one.
        keeps_new = (
            op is Action.DELETE and self.plan.changes[address].action is Action.REPLACE and address in self._created
        )
        if op is Action.CREATE:
            self._created.add(address)
        known = None if keeps_new else (text, address.kind, actual, now, self._codec.known_digest(text, actual, now))
        update = ("succeeded", actual, None, now, digest, self.apply_id, seq)
        # The key of an unfinished create closes once the address is created or deleted for sure.
        close = not keeps_new and address in self._keyed
        if close:
            self._keyed.discard(address)
        self._enqueue(update, known, text if close else None, succeeded=step)

    def failure(self, step: Step, attempt: int, error: BaseException) -> None:
        """Record that attempt ``attempt`` of ``step`` raised ``error``.

        A failed create keeps its idempotency key open: it may have happened.
        """
        seq = self._open.pop((step, attempt), None)
        if seq is None:
            return
        message = show_error(error)
        now = self._backend.clock()
        digest = self._codec.outcome_digest(self.apply_id, seq, "failed", None, message, now)
        open_key = None
        if step[1] is Action.CREATE:
            # The create may have happened: its key is kept for the next create of the address.
            self._keyed.add(step[0])
            open_key = (str(step[0]), self.key(step))
        self._enqueue(("failed", None, message, now, digest, self.apply_id, seq), open_key=open_key)

    def finish(self, result: Any) -> None:
        """Record how the apply ended (``result`` is the ``ApplyResult``, or ``None`` if it raised).

        Outcomes the apply saw but this log did not (steps run in another
        process) are recorded from ``result``; calls cut short stay pending for
        recovery. Durable when it returns.

        Raises:
            JournalError: some outcomes could not be recorded (a store failure);
                ``result`` is on the error as ``.result``.
        """
        outcomes = getattr(result, "outcomes", {})
        for (step, attempt), _seq in list(self._open.items()):
            outcome = outcomes.get(step)
            if outcome is None or outcome.attempts != attempt:
                continue
            if outcome.status.value == "succeeded":
                self.outcome(step, attempt, outcome.value)
            elif outcome.error is not None:
                self.failure(step, attempt, outcome.error)
        with self._lock:
            unclaimed = [(step, seq, done) for step, (_key, seq, done) in self._ahead.items()]
            self._ahead.clear()
            self._closing = True
            flusher = self._flusher
            self._flush_wake.notify()
        if flusher is not None:
            flusher.join()
        self._flush_outcomes()
        now = self._backend.clock()
        marks = []
        for step, seq, done in unclaimed:
            if done.landed(step):
                marks.append(
                    (now, self._codec.digest(self.apply_id, seq, "not_started", None, None, now), self.apply_id, seq)
                )
        if marks:
            lease_ = self.lease

            def mark(tx: Tx) -> None:
                if lease_ is not None:
                    lease_.fence(tx)
                tx.executemany(
                    f"UPDATE {OPS} SET status = 'not_started', finished = ?, outcome_digest = ? "
                    "WHERE apply_id = ? AND seq = ? AND status = 'pending'",
                    marks,
                )

            self._queue(mark)
        summary: dict[str, int] = {}
        for outcome in outcomes.values():
            summary[outcome.status.value] = summary.get(outcome.status.value, 0) + 1
        if result is None:
            status = "aborted"
        elif getattr(result, "interrupted", False):
            status = "interrupted"
        else:
            status = "succeeded" if result.ok else "failed"
        now = self._backend.clock()
        lease = self.lease
        apply_id = self.apply_id
        text = summary_text(summary)

        def write(tx: Tx) -> None:
            if lease is not None:
                lease.fence(tx)
            tx.execute(
                f"UPDATE {APPLIES} SET finished = ?, status = ?, summary = ? WHERE id = ?",
                (now, status, text, apply_id),
            )

        with contextlib.suppress(FencedError):
            self._backend.write(write)
        with self._lock:
            errors = [e for e in self._errors if not isinstance(e, FencedError)]
        if errors:
            error = JournalError(f"the journal could not record {len(errors)} outcome(s): {errors[0]}")
            error.result = result  # type: ignore[attr-defined]
            raise error from errors[0]
