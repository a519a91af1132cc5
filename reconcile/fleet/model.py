"""The fleet's data model: cells, releases, a cell's desired spec (with its generation) and its reported status.

Every type converts to and from plain JSON values (``to_json`` / ``from_json``);
``from_json`` treats its input as untrusted and raises ``InvalidInputError``
naming the first bad field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from .debug.grants import DebugAccessStatus
from .errors import InvalidInputError
from .labels import check_labels

STAGES: tuple[str, ...] = ("staging", "saas", "dedicated")
"""The rollout stages, in the order a release reaches them."""

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_TEXT_MAX = 1024

DEFAULT_MAINTENANCE_DURATION = 600.0
"""Seconds maintenance is expected to last for a component that requires it, unless the release says: 10 minutes."""

MAX_MAINTENANCE_DURATION = 24 * 3600.0
"""The longest expected maintenance a release may name: one day (a window ends by itself at its end time)."""

T = TypeVar("T")


def check_name(value: Any, where: str) -> str:
    """``value`` if it is a valid cell or component name (lower-case letters, digits, inner dashes; 1-63 chars)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInputError(f"{where}: expected a name of lower-case letters, digits and dashes, got {value!r}")
    return value


def check_version(value: Any, where: str) -> str:
    """``value`` if it is a valid version string (letters, digits, ``._+-``; 1-64 chars)."""
    if not isinstance(value, str) or not _VERSION.match(value):
        raise InvalidInputError(f"{where}: expected a version (letters, digits, '._+-'), got {value!r}")
    return value


def check_digest(value: Any, where: str) -> str:
    """``value`` if it is a sha256 hex digest (64 lower-case hex digits)."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise InvalidInputError(f"{where}: expected a sha256 hex digest, got {value!r}")
    return value


def _get(data: Mapping[str, Any], key: str, typ: type[T] | tuple[type, ...], where: str, default: Any = ...) -> T:
    if key not in data:
        if default is ...:
            raise InvalidInputError(f"{where}: missing field {key!r}")
        return default  # type: ignore[no-any-return]
    value = data[key]
    if value is None and default is None:
        return None  # type: ignore[return-value]
    # bool is an int in Python; a JSON true is never a number here.
    if not isinstance(value, typ) or (isinstance(value, bool) and bool not in _as_tuple(typ)):
        raise InvalidInputError(f"{where}.{key}: expected {_type_name(typ)}, got {type(value).__name__}")
    if isinstance(value, str) and len(value) > _TEXT_MAX:
        raise InvalidInputError(f"{where}.{key}: longer than {_TEXT_MAX} characters")
    return value  # type: ignore[return-value]


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _type_name(typ: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number"}
    names[bool] = "a boolean"
    return " or ".join(names.get(t, t.__name__) for t in _as_tuple(typ))


def _object(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidInputError(f"{where}: unknown field {unknown[0]!r}")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 256:
        raise InvalidInputError(f"{where}: expected an object of at most 256 strings")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str) or len(k) > 128 or len(v) > _TEXT_MAX:
            raise InvalidInputError(f"{where}[{k!r}]: expected a short string key and string value")
    return dict(value)


FLAG_REASONS: tuple[str, ...] = ("STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "STALE", "ERROR")
"""Why a flag has its value in a cell, in the OpenFeature style (see ``reconcile.fleet.flags``)."""


def check_flag_values(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """``value`` if it is a mapping of flag keys to ``{"value", "variant", "reason", "error"?}`` (untrusted JSON).

    Raises:
        InvalidInputError: naming the bad flag and field.
    """
    if not isinstance(value, dict) or len(value) > 256:
        raise InvalidInputError(f"{where}: expected an object of at most 256 flags")
    out = {}
    for key, entry in value.items():
        at = f"{where}[{key!r}]"
        if not isinstance(key, str) or not 0 < len(key) <= 128:
            raise InvalidInputError(f"{at}: expected a flag key of 1 to 128 characters")
        e = _object(entry, at, {"value", "variant", "reason", "error"})
        val = e.get("value")
        if val is not None and not isinstance(val, (bool, int, float, str)):
            raise InvalidInputError(f"{at}.value: expected a boolean, string, number or null")
        if isinstance(val, str) and len(val) > _TEXT_MAX:
            raise InvalidInputError(f"{at}.value: longer than {_TEXT_MAX} characters")
        reason = _get(e, "reason", str, at)
        if reason not in FLAG_REASONS:
            raise InvalidInputError(f"{at}.reason: expected one of {', '.join(FLAG_REASONS)}, got {reason!r}")
        item = {"value": val, "variant": _get(e, "variant", str, at, ""), "reason": reason}
        if "error" in e:
            item["error"] = _get(e, "error", str, at)
        out[key] = item
    return out


@attrs.frozen
class ReleaseComponent:
    """One component of a release, pinned by the sha256 digest of its artifact.

    Attributes:
        name: the component's name (``workspaces``).
        version: its version, as its ``component.json`` says.
        digest: the sha256 hex digest of its artifact (a tar.gz).
        config: settings passed to the component (not secret: they reach status and logs).
        requires_maintenance: the cell enters maintenance mode while an update of this component is applied.
        maintenance_duration: seconds that update is expected to take: the window's end time is
            ``start + maintenance_duration`` (it ends by itself then, even if the agent died).
    """

    name: str
    version: str
    digest: str
    config: Mapping[str, str] = attrs.field(factory=dict)
    requires_maintenance: bool = False
    maintenance_duration: float = DEFAULT_MAINTENANCE_DURATION

    def to_json(self) -> dict[str, Any]:
        """This component as plain JSON values (the maintenance fields only when it requires maintenance)."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "config": dict(self.config),
        }
        if self.requires_maintenance:
            out["requires_maintenance"] = True
            out["maintenance_duration"] = self.maintenance_duration
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "component") -> ReleaseComponent:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        allowed = {"name", "version", "digest", "config", "requires_maintenance", "maintenance_duration"}
        d = _object(data, where, allowed)
        requires = _get(d, "requires_maintenance", bool, where, False)
        duration: float | None = _get(d, "maintenance_duration", (int, float), where, None)
        if duration is not None and not requires:
            raise InvalidInputError(f"{where}.maintenance_duration: given, but requires_maintenance is not true")
        if duration is not None and not 0 < duration <= MAX_MAINTENANCE_DURATION:
            raise InvalidInputError(
                f"{where}.maintenance_duration: expected seconds, more than 0 and at most"
                f" {MAX_MAINTENANCE_DURATION:g}, got {duration!r}"
            )
        return cls(
            name=check_name(_get(d, "name", str, where), f"{where}.name"),
            version=check_version(_get(d, "version", str, where), f"{where}.version"),
            digest=check_digest(_get(d, "digest", str, where), f"{where}.digest"),
            config=_str_map(_get(d, "config", dict, where, {}), f"{where}.config"),
            requires_maintenance=requires,
            maintenance_duration=DEFAULT_MAINTENANCE_DURATION if duration is None else float(duration),
        )


@attrs.frozen
class Release:
    """A version of the product: its components, each an artifact pinned by digest.

    Attributes:
        version: the release's version (``2026.12.1``).
        components: its components, sorted by name, names unique.
        published_at: when it was published (seconds since the epoch).
    """

    version: str
    components: tuple[ReleaseComponent, ...]
    published_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """This release as plain JSON values."""
        return {
            "version": self.version,
            "components": [c.to_json() for c in self.components],
            "published_at": self.published_at,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "release") -> Release:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _object(data, where, {"version", "components", "published_at"})
        raw = _get(d, "components", list, where)
        if not raw or len(raw) > 64:
            raise InvalidInputError(f"{where}.components: expected 1 to 64 components")
        comps = [ReleaseComponent.from_json(c, f"{where}.components[{i}]") for i, c in enumerate(raw)]
        names = [c.name for c in comps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidInputError(f"{where}.components: component {dupes[0]!r} appears twice")
        return cls(
            version=check_version(_get(d, "version", str, where), f"{where}.version"),
            components=tuple(sorted(comps, key=lambda c: c.name)),
            published_at=float(_get(d, "published_at", (int, float), where, 0.0)),
        )


def _cell_labels(value: Any) -> dict[str, str]:
    return check_labels(value, "cell.labels")


@attrs.frozen
class Cell:
    """A managed instance of the product, as the control plane records it.

    Attributes:
        id: the cell's name, unique in the fleet.
        stage: ``staging``, ``saas`` or ``dedicated``.
        customer: who the cell belongs to.
        region: where it runs.
        created_at: when it was created (seconds since the epoch).
        registered: whether an agent has registered for it.
        target_release: the release it is pinned to, or ``None`` to follow the newest.
        labels: ``key: value`` labels (Kubernetes rules), for flag rules and rollout selectors.
    """

    id: str
    stage: str
    customer: str = ""
    region: str = ""
    created_at: float = 0.0
    registered: bool = False
    target_release: str | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_cell_labels)

    def to_json(self) -> dict[str, Any]:
        """This cell as plain JSON values."""
        return attrs.asdict(self)


@attrs.frozen
class DesiredSpec:
    """What a cell should run. ``generation`` grows by one on every change.

    Attributes:
        cell_id: the cell.
        generation: 0 before anything was asked of the cell, then 1, 2, ...
        release: the target release, or ``None`` (nothing to run yet).
        flags: the feature flags' values for this cell: key -> ``{"value", "variant", "reason"}``.
        infrastructure: the infrastructure version the cell must have, if any.
        debug_grants: never honoured: only the customer grants debug access, in the cell (an agent
            receiving a spec that carries any audits it as ``ignored``).
    """

    cell_id: str
    generation: int
    release: Release | None = None
    flags: Mapping[str, Any] = attrs.field(factory=dict)
    infrastructure: str | None = None
    debug_grants: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """This spec as plain JSON values."""
        return {
            "cell_id": self.cell_id,
            "generation": self.generation,
            "release": None if self.release is None else self.release.to_json(),
            "flags": dict(self.flags),
            "infrastructure": self.infrastructure,
            "debug_grants": [dict(g) for g in self.debug_grants],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "spec") -> DesiredSpec:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _object(data, where, {"cell_id", "generation", "release", "flags", "infrastructure", "debug_grants"})
        raw_release = d.get("release")
        generation = _get(d, "generation", int, where)
        if generation < 0:
            raise InvalidInputError(f"{where}.generation: must be >= 0, got {generation}")
        return cls(
            cell_id=check_name(_get(d, "cell_id", str, where), f"{where}.cell_id"),
            generation=generation,
            release=None if raw_release is None else Release.from_json(raw_release, f"{where}.release"),
            flags=check_flag_values(_get(d, "flags", dict, where, {}), f"{where}.flags"),
            infrastructure=_get(d, "infrastructure", str, where, None),
            debug_grants=tuple(_get(d, "debug_grants", list, where, [])),
        )


CONDITION_TYPES: tuple[str, ...] = ("Ready", "Progressing", "Degraded")
"""The condition types a cell reports."""


@attrs.frozen
class Condition:
    """A typed status entry with the generation it was judged at.

    Attributes:
        type: ``Ready``, ``Progressing`` or ``Degraded``.
        status: whether the condition holds.
        reason: a CamelCase word (``Applied``, ``ApplyFailed``, ``DigestMismatch``).
        message: one sentence for people (sanitised: never holds secrets).
        observed_generation: the spec generation this was judged against.
        last_transition: when ``status`` last changed (seconds since the epoch).
    """

    type: str
    status: bool
    reason: str
    message: str = ""
    observed_generation: int = 0
    last_transition: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """This condition as plain JSON values."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "condition") -> Condition:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _object(data, where, {f.name for f in attrs.fields(cls)})
        kind = _get(d, "type", str, where)
        if kind not in CONDITION_TYPES:
            raise InvalidInputError(f"{where}.type: expected one of {', '.join(CONDITION_TYPES)}, got {kind!r}")
        return cls(
            type=kind,
            status=_get(d, "status", bool, where),
            reason=_get(d, "reason", str, where),
            message=_get(d, "message", str, where, ""),
            observed_generation=_get(d, "observed_generation", int, where, 0),
            last_transition=float(_get(d, "last_transition", (int, float), where, 0.0)),
        )


HEALTH: tuple[str, ...] = ("healthy", "unhealthy", "missing")
"""The health a component can report."""


@attrs.frozen
class ComponentStatus:
    """What runs of one component in a cell.

    Attributes:
        name: the component.
        version: the version running, or ``""`` if none runs.
        digest: the digest of the running artifact, or ``""``.
        health: ``healthy``, ``unhealthy`` or ``missing``.
    """

    name: str
    version: str
    digest: str
    health: str

    def to_json(self) -> dict[str, Any]:
        """This component status as plain JSON values."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "component") -> ComponentStatus:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _object(data, where, {"name", "version", "digest", "health"})
        health = _get(d, "health", str, where)
        if health not in HEALTH:
            raise InvalidInputError(f"{where}.health: expected one of {', '.join(HEALTH)}, got {health!r}")
        version = _get(d, "version", str, where)
        digest = _get(d, "digest", str, where)
        return cls(
            name=check_name(_get(d, "name", str, where), f"{where}.name"),
            version=version and check_version(version, f"{where}.version"),
            digest=digest and check_digest(digest, f"{where}.digest"),
            health=health,
        )


@attrs.frozen
class Maintenance:
    """A maintenance window of a cell, as its agent reports it.

    Attributes:
        since: when it began (seconds since the epoch, the cell's clock).
        until: when it ends by itself (``enabled_until``), if nobody ends it before.
        reason: why (``update of workspaces 2.0.0 -> 3.0.0``).
    """

    since: float
    until: float
    reason: str = ""

    def active(self, now: float) -> bool:
        """Whether the window is on at ``now`` (on while ``now < until``)."""
        return now < self.until

    def to_json(self) -> dict[str, Any]:
        """This window as plain JSON values."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "maintenance") -> Maintenance:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _object(data, where, {"since", "until", "reason"})
        since = float(_get(d, "since", (int, float), where))
        until = float(_get(d, "until", (int, float), where))
        if not since <= until:
            raise InvalidInputError(f"{where}.until: expected an end at or after the start")
        return cls(since=since, until=until, reason=_get(d, "reason", str, where, ""))


@attrs.frozen
class CellStatus:
    """What a cell's agent reports.

    Attributes:
        observed_generation: the spec generation this status describes.
        release: the release version the cell last applied completely, or ``None``.
        components: what runs, per component.
        conditions: ``Ready``, ``Progressing``, ``Degraded``.
        last_apply: a summary of the last apply (counts and outcome, no values).
        agent_version: the agent's version.
        infrastructure_version: the cell's infrastructure version, if known.
        reported_at: when the control plane received it (set by the control plane).
        maintenance: the cell's maintenance window while one is on, else ``None``.
        flags: the flag values the cell holds: key -> ``{"value", "variant", "reason"}`` (``STALE`` while
            the control plane is unreachable).
        debug_access: the cell's debug grants and audit events (``DebugAccessStatus``), if it reports them.
    """

    observed_generation: int
    release: str | None = None
    components: tuple[ComponentStatus, ...] = ()
    conditions: tuple[Condition, ...] = ()
    last_apply: Mapping[str, Any] = attrs.field(factory=dict)
    agent_version: str = ""
    infrastructure_version: str | None = None
    reported_at: float = 0.0
    maintenance: Maintenance | None = None
    flags: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    debug_access: DebugAccessStatus | None = None

    def condition(self, kind: str) -> Condition | None:
        """The condition of type ``kind``, if reported."""
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def ready(self) -> bool:
        """Whether the ``Ready`` condition holds."""
        c = self.condition("Ready")
        return c is not None and c.status

    def to_json(self) -> dict[str, Any]:
        """This status as plain JSON values."""
        return {
            "observed_generation": self.observed_generation,
            "release": self.release,
            "components": [c.to_json() for c in self.components],
            "conditions": [c.to_json() for c in self.conditions],
            "last_apply": dict(self.last_apply),
            "agent_version": self.agent_version,
            "infrastructure_version": self.infrastructure_version,
            "reported_at": self.reported_at,
            "maintenance": None if self.maintenance is None else self.maintenance.to_json(),
            "flags": {k: dict(v) for k, v in self.flags.items()},
            "debug_access": None if self.debug_access is None else self.debug_access.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "status") -> CellStatus:
        """Parse untrusted JSON; raise ``InvalidInputError`` naming the bad field."""
        d = _object(data, where, {f.name for f in attrs.fields(cls)})
        comps = _get(d, "components", list, where, [])
        conds = _get(d, "conditions", list, where, [])
        if len(comps) > 64 or len(conds) > 16:
            raise InvalidInputError(f"{where}: too many components or conditions")
        last_apply = _get(d, "last_apply", dict, where, {})
        for k, v in last_apply.items():
            if not isinstance(v, (int, float, str, bool)) or (isinstance(v, str) and len(v) > _TEXT_MAX):
                raise InvalidInputError(f"{where}.last_apply.{k}: expected a number, boolean or short string")
        release = _get(d, "release", str, where, None)
        generation = _get(d, "observed_generation", int, where)
        if generation < 0:
            raise InvalidInputError(f"{where}.observed_generation: must be >= 0, got {generation}")
        return cls(
            observed_generation=generation,
            release=None if release is None else check_version(release, f"{where}.release"),
            components=tuple(ComponentStatus.from_json(c, f"{where}.components[{i}]") for i, c in enumerate(comps)),
            conditions=tuple(Condition.from_json(c, f"{where}.conditions[{i}]") for i, c in enumerate(conds)),
            last_apply=dict(last_apply),
            agent_version=_get(d, "agent_version", str, where, ""),
            infrastructure_version=_get(d, "infrastructure_version", str, where, None),
            reported_at=float(_get(d, "reported_at", (int, float), where, 0.0)),
            maintenance=None
            if d.get("maintenance") is None
            else Maintenance.from_json(d["maintenance"], f"{where}.maintenance"),
            flags=check_flag_values(_get(d, "flags", dict, where, {}), f"{where}.flags"),
            debug_access=None
            if d.get("debug_access") is None
            else DebugAccessStatus.from_json(d["debug_access"], f"{where}.debug_access"),
        )


@attrs.frozen
class AuditEntry:
    """One audited action on the control plane.

    Attributes:
        id: its sequence number.
        at: when (seconds since the epoch).
        actor: ``admin`` or ``cell:<id>``.
        action: what was done (``cell.create``, ``cell.register``, ``release.publish``, ...).
        target: what it was done to.
        detail: non-secret details.
    """

    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """This entry as plain JSON values."""
        return attrs.asdict(self)
