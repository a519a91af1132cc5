"""Debug grants in a cell: the customer's time-limited grants, their credentials (hashes only) and the audit trail.

Everything lives in the cell's ``state-dir/debug/`` (mode 0700): ``grants.json``
(mode 0600: the grants, each with the sha256 of its bearer credential, never
the credential) and ``audit.jsonl`` (mode 0600, append-only: one JSON line
per event, each carrying the sha256 of the previous line's hash and its own
content, so a rewritten or deleted line breaks the chain). ``DebugAccess``
keeps both on an injectable clock: a grant is valid while ``now`` is before
its ``expires_at``, whether or not anybody swept it yet.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pathlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .. import credentials as tokens
from ..errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from ..files import write_json
from .errors import DebugAuditError

DEFAULT_DEBUG_DURATION = 3600.0
"""Seconds a grant lasts when no duration is given: one hour."""

MIN_DEBUG_DURATION = 60.0
"""The shortest grant, in seconds: one minute."""

MAX_DEBUG_DURATION = 24 * 3600.0
"""The longest grant, in seconds: 24 hours (grant again to go on; every grant is audited)."""

MAX_ACTIVE_GRANTS = 5
"""How many grants may be active at once in a cell."""

TOKEN_PREFIX = "rd"
"""Debug credentials read ``rd.<grant id>.<random>`` (256 random bits)."""

EVENTS: tuple[str, ...] = ("grant", "use", "refused", "expire", "revoke", "ignored")
"""What the audit trail records: a grant, a use of the debug endpoint, a refused use or request,
an expiry, a revocation, and debug grants the control plane's spec carried (ignored)."""

RECENT_EVENTS = 10
"""A cell's status always carries at least its newest 10 audit events."""

MAX_REPORTED_EVENTS = 25
"""At most 25 audit events go with one status report (the rest follow in the next ones), so that debug access
takes less than half of the control plane's 64 KiB limit on a status report."""

_REASON_MAX = 500
_DETAIL_MAX = 600
_ENDED_KEPT = 20
_ACTOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_GRANT_ID = re.compile(r"dg[1-9][0-9]{0,9}")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PRINCIPAL = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@/:_-]{1,200}")


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def format_duration(seconds: float) -> str:
    """``seconds`` the way ``--duration`` takes them (``2h``, ``1h30m``, ``90s``)."""
    left = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0s"


def parse_duration(
    value: Any,
    option: str = "--duration",
    *,
    minimum: float = MIN_DEBUG_DURATION,
    maximum: float = MAX_DEBUG_DURATION,
) -> float:
    """Seconds from ``2h``, ``30m``, ``90s``, ``1h30m``, ``1d`` or a number of seconds, within the limits.

    Raises:
        InvalidInputError: not a duration, or outside ``minimum``..``maximum``; the message names ``option``.
    """
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        match = _DURATION.fullmatch(text)
        if text and match is not None and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            seconds = float(d * 86400 + h * 3600 + m * 60 + s)
        elif re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
    if seconds is None or seconds != seconds:
        raise InvalidInputError(f"{option}: expected a duration such as 90s, 30m, 2h or 1h30m, got {value!r}")
    if seconds < minimum:
        raise InvalidInputError(
            f"{option}: {format_duration(seconds)} is shorter than the minimum of {format_duration(minimum)}"
        )
    if seconds > maximum:
        raise InvalidInputError(
            f"{option}: {format_duration(seconds)} is longer than the maximum of {format_duration(maximum)}"
        )
    return seconds


def check_reason(value: Any, option: str = "--reason") -> str:
    """A grant's reason: required, one line of at most 500 characters.

    Raises:
        InvalidInputError: empty, too long, or with control characters; the message names ``option``.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{option}: required: say why the access is needed")
    if len(value) > _REASON_MAX:
        raise InvalidInputError(f"{option}: longer than {_REASON_MAX} characters")
    if _CONTROL.search(value):
        raise InvalidInputError(f"{option}: one line of text, without control characters")
    return value.strip()


def check_actor(value: Any, option: str = "--by") -> str:
    """Who acts (the customer's name for the audit trail): letters, digits and ``._@+-``, at most 64.

    Raises:
        InvalidInputError: anything else; the message names ``option``.
    """
    if not isinstance(value, str) or not _ACTOR.fullmatch(value):
        raise InvalidInputError(
            f"{option}: expected who acts, a name of letters, digits and ._@+- (at most 64), got {value!r}"
        )
    return value


def check_principal(value: Any, option: str = "--aws-principal") -> str:
    """An IAM principal's ARN (``arn:aws:iam::123456789012:user/alice``) that a grant also lets assume the AWS role.

    Raises:
        InvalidInputError: not such an ARN; the message names ``option``.
    """
    if not isinstance(value, str) or not _PRINCIPAL.fullmatch(value):
        raise InvalidInputError(f"{option}: expected an IAM ARN such as arn:aws:iam::123456789012:user/alice")
    return value


def check_grant_id(value: Any, option: str = "GRANT_ID") -> str:
    """A grant id (``dg1``, ``dg2``, ...).

    Raises:
        InvalidInputError: anything else; the message names ``option``.
    """
    if not isinstance(value, str) or not _GRANT_ID.fullmatch(value):
        raise InvalidInputError(f"{option}: expected a debug grant id such as dg1, got {value!r}")
    return value


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInputError(f"{where}: expected a string of at most {limit} characters")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{where}: expected a number")
    return float(value)


def _fields(data: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: expected an object, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInputError(f"{where}: unknown field {unknown[0]!r}")
    return data


@attrs.frozen
class DebugGrant:
    """One debug grant, as the cell shows it: nothing secret (its credential's hash is kept apart).

    Attributes:
        id: ``dg1``, ``dg2``, ... in the order granted.
        by: who granted it (the customer's ``--by``).
        reason: why (``--reason``).
        granted_at: when (seconds since the epoch, by the agent's clock).
        expires_at: when it ends by itself.
        ended: ``""`` while not ended, then ``revoked`` or ``expired``.
        ended_at: when it ended, if it did (a revocation's time, or ``expires_at``).
        ended_by: who revoked it.
        aws_principal: the IAM principal the customer also let assume the cell's AWS
            debug-access role for the grant's time (``reconcile.fleet.aws.grant_debug_access``), if any.
    """

    id: str
    by: str
    reason: str
    granted_at: float
    expires_at: float
    ended: str = ""
    ended_at: float | None = None
    ended_by: str = ""
    aws_principal: str = ""

    def state(self, now: float) -> str:
        """``active``, ``expired`` or ``revoked`` at ``now``."""
        if self.ended:
            return self.ended
        return "expired" if now >= self.expires_at else "active"

    def to_json(self) -> dict[str, Any]:
        """This grant as plain JSON values."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "grant") -> DebugGrant:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _fields(data, where, {f.name for f in attrs.fields(cls)})
        ended = d.get("ended", "")
        if ended not in ("", "revoked", "expired"):
            raise InvalidInputError(f"{where}.ended: expected '', 'revoked' or 'expired', got {ended!r}")
        ended_at = d.get("ended_at")
        return cls(
            id=check_grant_id(d.get("id"), f"{where}.id"),
            by=check_actor(d.get("by"), f"{where}.by"),
            reason=_text(d.get("reason"), f"{where}.reason", _REASON_MAX),
            granted_at=_number(d.get("granted_at"), f"{where}.granted_at"),
            expires_at=_number(d.get("expires_at"), f"{where}.expires_at"),
            ended=ended,
            ended_at=None if ended_at is None else _number(ended_at, f"{where}.ended_at"),
            ended_by=_text(d.get("ended_by", ""), f"{where}.ended_by", 64),
            aws_principal=""
            if not d.get("aws_principal")
            else check_principal(d["aws_principal"], f"{where}.aws_principal"),
        )


@attrs.frozen
class DebugEvent:
    """One line of a cell's debug audit trail.

    Attributes:
        seq: its number in the trail (1, 2, ...; no gaps).
        at: when (by the agent's clock).
        event: one of ``EVENTS``.
        grant: the grant concerned, if any.
        by: who acted: the customer for ``grant`` and ``revoke``, the grant's
            grantor for a ``use`` (the bearer acts on their grant), ``""`` otherwise.
        detail: what happened, for people (never a secret).
        hash: sha256 of the previous line's hash and this line's content (the chain).
    """

    seq: int
    at: float
    event: str
    grant: str = ""
    by: str = ""
    detail: str = ""
    hash: str = ""

    def to_json(self) -> dict[str, Any]:
        """This event as plain JSON values."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "event") -> DebugEvent:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _fields(data, where, {f.name for f in attrs.fields(cls)})
        seq = d.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise InvalidInputError(f"{where}.seq: expected an integer >= 1")
        event = d.get("event")
        if event not in EVENTS:
            raise InvalidInputError(f"{where}.event: expected one of {', '.join(EVENTS)}, got {event!r}")
        digest = _text(d.get("hash", ""), f"{where}.hash", 64)
        if digest and not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidInputError(f"{where}.hash: expected a sha256 hex digest")
        return cls(
            seq=seq,
            at=_number(d.get("at"), f"{where}.at"),
            event=event,
            grant=_text(d.get("grant", ""), f"{where}.grant", 16),
            by=_text(d.get("by", ""), f"{where}.by", 64),
            detail=_text(d.get("detail", ""), f"{where}.detail", _DETAIL_MAX),
            hash=digest,
        )


@attrs.frozen
class DebugAccessStatus:
    """What a cell reports about debug access in its status (``CellStatus.debug_access``): nothing secret.

    Attributes:
        open: whether the debug endpoint listens now.
        grants: the active grants.
        events: audit events the control plane has not acknowledged yet and at
            least the newest ``RECENT_EVENTS``, oldest first, at most
            ``MAX_REPORTED_EVENTS``.
    """

    open: bool = False
    grants: tuple[DebugGrant, ...] = ()
    events: tuple[DebugEvent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """This status as plain JSON values."""
        return {
            "open": self.open,
            "grants": [g.to_json() for g in self.grants],
            "events": [e.to_json() for e in self.events],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "debug_access") -> DebugAccessStatus:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _fields(data, where, {"open", "grants", "events"})
        opened = d.get("open", False)
        grants = d.get("grants", [])
        events = d.get("events", [])
        if not isinstance(opened, bool):
            raise InvalidInputError(f"{where}.open: expected a boolean")
        if not isinstance(grants, list) or len(grants) > 4 * MAX_ACTIVE_GRANTS:
            raise InvalidInputError(f"{where}.grants: expected a list of at most {4 * MAX_ACTIVE_GRANTS} grants")
        if not isinstance(events, list) or len(events) > MAX_REPORTED_EVENTS:
            raise InvalidInputError(f"{where}.events: expected a list of at most {MAX_REPORTED_EVENTS} events")
        return cls(
            open=opened,
            grants=tuple(DebugGrant.from_json(g, f"{where}.grants[{i}]") for i, g in enumerate(grants)),
            events=tuple(DebugEvent.from_json(e, f"{where}.events[{i}]") for i, e in enumerate(events)),
        )




def _chain(previous: str, body: Mapping[str, Any]) -> str:
    canonical = json.dumps(dict(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((previous + canonical).encode()).hexdigest()


def read_audit(directory: str | os.PathLike[str], *, verify: bool = True) -> list[DebugEvent]:
    """Every event of the audit trail in ``directory`` (a cell's ``state-dir/debug``), oldest first.

    Args:
        directory: the debug directory.
        verify: check the chain (numbers without gaps, each hash over the previous one).

    Raises:
        DebugAuditError: a line is not an event, or (with ``verify``) the chain is broken, naming the line.
    """
    path = pathlib.Path(directory) / "audit.jsonl"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    events, previous = [], ""
    for number, line in enumerate(lines, 1):
        try:
            event = DebugEvent.from_json(json.loads(line))
        except (ValueError, InvalidInputError) as exc:
            raise DebugAuditError(f"{path}:{number}: not an audit event ({exc})") from None
        if verify:
            body = {k: v for k, v in event.to_json().items() if k != "hash"}
            if event.seq != number or event.hash != _chain(previous, body):
                raise DebugAuditError(f"{path}:{number}: the audit chain is broken (a line was changed or removed)")
            previous = event.hash
        events.append(event)
    return events


class DebugAccess:
    """A cell's debug grants and audit trail, kept in ``directory`` on an injectable clock; thread-safe.

    Args:
        directory: where ``grants.json`` and ``audit.jsonl`` are (created, mode 0700).
        clock: seconds since the epoch (the agent's clock).
        max_duration: the longest grant, in seconds.
        max_active: how many grants may be active at once.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        max_duration: float = MAX_DEBUG_DURATION,
        max_active: int = MAX_ACTIVE_GRANTS,
    ) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self.clock = clock
        self.max_duration = max_duration
        self.max_active = max_active
        self._lock = threading.RLock()
        self._grants: dict[str, DebugGrant] = {}
        self._hashes: dict[str, str] = {}
        self._next = 1
        self._reported = 0
        self._ignored_generation: int | None = None
        self._recent: collections.deque[DebugEvent] = collections.deque(maxlen=2 * MAX_REPORTED_EVENTS)
        self._load()

    @property
    def grants_path(self) -> pathlib.Path:
        """The grants file (mode 0600)."""
        return self.directory / "grants.json"

    @property
    def audit_path(self) -> pathlib.Path:
        """The append-only audit trail (mode 0600)."""
        return self.directory / "audit.jsonl"

    def _load(self) -> None:
        try:
            saved = json.loads(self.grants_path.read_text())
        except FileNotFoundError:
            saved = {}
        except ValueError as exc:
            raise DebugAuditError(f"{self.grants_path}: not valid JSON ({exc})") from None
        try:
            for raw in saved.get("grants", []):
                grant = DebugGrant.from_json(raw["grant"], str(self.grants_path))
                self._grants[grant.id] = grant
                self._hashes[grant.id] = str(raw["token_hash"])
            self._next = int(saved.get("next", 1))
            self._reported = int(saved.get("reported", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DebugAuditError(f"{self.grants_path}: not a grants file ({type(exc).__name__}: {exc})") from None
        self._recent.extend(read_audit(self.directory))

    def _save(self) -> None:
        ended = sorted((g for g in self._grants.values() if g.ended), key=lambda g: g.ended_at or 0.0)
        for old in ended[:-_ENDED_KEPT]:
            del self._grants[old.id]
            del self._hashes[old.id]
        write_json(
            self.grants_path,
            {
                "next": self._next,
                "reported": self._reported,
                "grants": [{"grant": g.to_json(), "token_hash": self._hashes[g.id]} for g in self._grants.values()],
            },
            pretty=True,
        )

    # -- the audit trail ---------------------------------------------------

    def record(self, event: str, grant: str = "", by: str = "", detail: str = "") -> DebugEvent:
        """Append an event to the audit trail (durably, before anything else is answered)."""
        if event not in EVENTS:
            raise InvalidInputError(f"audit event: expected one of {', '.join(EVENTS)}, got {event!r}")
        with self._lock:
            last = self._recent[-1] if self._recent else None
            seq = 1 if last is None else last.seq + 1
            body = {
                "seq": seq,
                "at": self.clock(),
                "event": event,
                "grant": grant,
                "by": by,
                "detail": _CONTROL.sub(" ", detail)[:_DETAIL_MAX],
            }
            entry = DebugEvent(**body, hash=_chain("" if last is None else last.hash, body))  # type: ignore[arg-type]
            fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(entry.to_json(), sort_keys=True) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self._recent.append(entry)
            return entry

    def events(self, after: int = 0, limit: int | None = None) -> list[DebugEvent]:
        """The audit events numbered above ``after``, oldest first (at most ``limit``)."""
        with self._lock:
            if not self._recent or after >= self._recent[0].seq - 1:
                # The newest events are in memory (all of them, if there are few).
                found = [e for e in self._recent if e.seq > after]
            else:
                found = [e for e in read_audit(self.directory, verify=False) if e.seq > after]
        return found if limit is None else found[:limit]

    # -- grants ------------------------------------------------------------

    def sweep(self) -> list[DebugGrant]:
        """End every grant whose time is up (audited as ``expire``); the grants it ended."""
        with self._lock:
            now = self.clock()
            ended = []
            for grant in list(self._grants.values()):
                if not grant.ended and now >= grant.expires_at:
                    done = attrs.evolve(grant, ended="expired", ended_at=grant.expires_at)
                    self._grants[grant.id] = done
                    ended.append(done)
            if ended:
                self._save()
                for grant in ended:
                    self.record("expire", grant.id, "", f"expired at {_iso(grant.expires_at)}")
            return ended

    def grants(self) -> list[DebugGrant]:
        """Every grant kept (the active ones and the last ended ones), in the order granted."""
        with self._lock:
            self.sweep()
            return sorted(self._grants.values(), key=lambda g: int(g.id[2:]))

    def active(self) -> list[DebugGrant]:
        """The grants valid now."""
        now = self.clock()
        return [g for g in self.grants() if g.state(now) == "active"]

    def grant(self, duration: Any, reason: Any, by: Any, aws_principal: Any = "") -> tuple[DebugGrant, str]:
        """Open a grant for ``duration`` seconds (or ``2h``...); the grant and its credential, shown this once.

        ``aws_principal`` only records (and audits) that the customer also lets that
        IAM principal assume the cell's AWS debug role; the customer's command does that.

        Raises:
            InvalidInputError: a bad duration, reason or actor (the message names the option).
            ConflictError: ``max_active`` grants are active already.
        """
        seconds = parse_duration(duration, maximum=self.max_duration)
        reason, by = check_reason(reason), check_actor(by)
        principal = "" if not aws_principal else check_principal(aws_principal)
        with self._lock:
            if len(self.active()) >= self.max_active:
                raise ConflictError(f"at most {self.max_active} debug grants may be active at once; revoke one first")
            now = self.clock()
            grant = DebugGrant(f"dg{self._next}", by, reason, now, now + seconds, aws_principal=principal)
            token = tokens.new_secret(TOKEN_PREFIX, grant.id)
            self._next += 1
            self._grants[grant.id] = grant
            self._hashes[grant.id] = tokens.hash_secret(token)
            self._save()
            aws = f" (and the AWS debug role for {principal})" if principal else ""
            self.record(
                "grant", grant.id, by, f"for {format_duration(seconds)} until {_iso(grant.expires_at)}{aws}: {reason}"
            )
            return grant, token

    def revoke(self, grant_id: str | None, by: Any, reason: str = "") -> list[DebugGrant]:
        """End grant ``grant_id`` (every active grant when ``None``) at once; the grants revoked.

        Raises:
            InvalidInputError: a bad grant id or actor.
            NotFoundError: no such grant.
            ConflictError: the grant already ended.
        """
        by = check_actor(by)
        if reason:
            reason = check_reason(reason)
        with self._lock:
            self.sweep()
            now = self.clock()
            if grant_id is None:
                targets = [g for g in self._grants.values() if g.state(now) == "active"]
            else:
                found = self._grants.get(check_grant_id(grant_id))
                if found is None:
                    raise NotFoundError(f"GRANT_ID: no debug grant {grant_id!r} in this cell")
                if found.state(now) != "active":
                    raise ConflictError(f"debug grant {grant_id} has {found.state(now)} already")
                targets = [found]
            done = [attrs.evolve(g, ended="revoked", ended_at=now, ended_by=by) for g in targets]
            for grant in done:
                self._grants[grant.id] = grant
            if done:
                self._save()
            for grant in done:
                self.record("revoke", grant.id, by, f"revoked{': ' + reason if reason else ''}")
            return done

    def authenticate(self, token: str | None, what: str, *, refusal: str | None = None) -> DebugGrant:
        """The active grant ``token`` belongs to; the use (or refusal) is audited either way.

        Args:
            token: the bearer credential presented.
            what: what is asked (``GET /debug/v1/status``), for the audit trail.
            refusal: a reason to refuse even a valid credential (``read_only``).

        Raises:
            AuthenticationError: missing (``missing_credential``), wrong (``invalid_credential``)
                or ended (``grant_expired``, ``grant_revoked``) credential, or a ``refusal``
                (the code is the refusal). The message never repeats the credential.
        """
        with self._lock:
            self.sweep()
            if not token:
                self.record("refused", "", "", f"{what}: missing_credential")
                raise AuthenticationError("missing_credential", "a debug credential is required (Bearer)")
            parts = token.split(".")
            grant_id = parts[1] if len(parts) == 3 and parts[0] == TOKEN_PREFIX else ""
            grant = self._grants.get(grant_id)
            if grant is None or not tokens.matches(token, self._hashes.get(grant_id)):
                self.record("refused", "", "", f"{what}: invalid_credential")
                raise AuthenticationError("invalid_credential", "the debug credential is not valid")
            state = grant.state(self.clock())
            if state != "active":
                self.record("refused", grant.id, grant.by, f"{what}: grant_{state}")
                when = _iso(grant.ended_at or grant.expires_at)
                raise AuthenticationError(f"grant_{state}", f"debug grant {grant.id} {state} at {when}")
            if refusal is not None:
                self.record("refused", grant.id, grant.by, f"{what}: {refusal}")
                raise AuthenticationError(refusal, f"refused: {refusal.replace('_', ' ')}")
            self.record("use", grant.id, grant.by, what)
            return grant

    def ignore_spec_grants(self, generation: int, grants: Sequence[Any]) -> None:
        """Audit (once per generation) debug grants a spec from the control plane carried: never honoured."""
        with self._lock:
            if grants and generation != self._ignored_generation:
                self._ignored_generation = generation
                self.record(
                    "ignored",
                    "",
                    "",
                    f"spec generation {generation} carried {len(grants)} debug grant(s) from the control plane:"
                    " ignored, only the customer grants debug access",
                )

    # -- status ------------------------------------------------------------

    def status(self, open: bool) -> DebugAccessStatus:
        """What the cell reports: the active grants and the events to send (see ``DebugAccessStatus``)."""
        with self._lock:
            active = tuple(self.active())
            last = self._recent[-1].seq if self._recent else 0
            start = max(0, min(self._reported, last - RECENT_EVENTS))
            events = tuple(self.events(start, MAX_REPORTED_EVENTS))
        return DebugAccessStatus(open, active, events)

    def acknowledge(self, events: Iterable[DebugEvent]) -> None:
        """The control plane took a status with these events: later reports need not repeat them."""
        highest = max((e.seq for e in events), default=0)
        with self._lock:
            if highest > self._reported:
                self._reported = highest
                self._save()


__all__ = [
    "DEFAULT_DEBUG_DURATION",
    "EVENTS",
    "MAX_ACTIVE_GRANTS",
    "MAX_DEBUG_DURATION",
    "MAX_REPORTED_EVENTS",
    "MIN_DEBUG_DURATION",
    "RECENT_EVENTS",
    "TOKEN_PREFIX",
    "DebugAccess",
    "DebugAccessStatus",
    "DebugEvent",
    "DebugGrant",
    "check_actor",
    "check_grant_id",
    "check_principal",
    "check_reason",
    "format_duration",
    "parse_duration",
    "read_audit",
]
