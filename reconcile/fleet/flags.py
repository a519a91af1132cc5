"""Feature flags: typed flags with ordered targeting rules, evaluated per cell in the OpenFeature style.

A ``Flag`` has a key, a type (``bool``, ``string``, ``number``), a default and
ordered rules. The first rule whose ``match`` holds for a cell gives its value;
a rule with a ``percentage`` below 100 gives it only to the matching cells
whose stable bucket (a hash of the flag key and the cell id) falls under the
percentage, and the others go on to the next rule. Evaluation is pure: the
control plane runs it whenever a flag or a cell changes and puts the results
in each cell's spec.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import InvalidInputError
from .labels import check_label_key, check_label_value
from .model import FLAG_REASONS, Cell

FLAG_TYPES: tuple[str, ...] = ("bool", "string", "number")
"""The types a flag's values can have."""

STATIC, DEFAULT, TARGETING_MATCH, SPLIT, STALE, ERROR = FLAG_REASONS
DEFAULT_VARIANT = "default"
"""The variant name of a flag's default value."""

MAX_RULES = 64
FLAGS_FILE = "flags.json"
"""Where in a cell's state directory the agent hands the flag values to the components."""
_MAX_LIST = 256
_TEXT_MAX = 1024
_KEY = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_VARIANT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")

FlagValue = bool | str | int | float


class FlagDefinitionError(InvalidInputError):
    """A flag definition is malformed.

    Attributes:
        path: where in the definition (``flag.rules[1].match.release``).
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


# -- versions -----------------------------------------------------------------

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@attrs.frozen(order=False)
class SemVer:
    """A version compared by semantic-versioning precedence (build metadata ignored).

    Attributes:
        major: the first number.
        minor: the second (0 if absent, so ``2026.12`` is ``2026.12.0``).
        patch: the third (0 if absent).
        prerelease: the pre-release identifiers (``1.0.0-rc.1``: ``("rc", "1")``); a pre-release sorts
            before its release.
    """

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer | None:
        """``text`` as a version (``1.2.3``, ``v1.2``, ``2026.12.1``, ``1.0.0-rc.1+b5``), or ``None``."""
        m = _SEMVER.match(text)
        if m is None:
            return None
        pre = tuple(m.group(4).split(".")) if m.group(4) else ()
        if any(p.isdigit() and len(p) > 1 and p.startswith("0") for p in pre):
            return None  # semver forbids leading zeros in numeric pre-release identifiers
        return cls(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), pre)

    def key(self) -> tuple[Any, ...]:
        """A sort key giving semver precedence."""
        # A release sorts after its pre-releases; numeric identifiers before alphanumeric ones.
        pre: tuple[Any, ...] = (1,) if not self.prerelease else (
            0,
            tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease),
        )  # fmt: skip
        return (self.major, self.minor, self.patch, pre)

    def __lt__(self, other: SemVer) -> bool:
        return self.key() < other.key()

    def __le__(self, other: SemVer) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: SemVer) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: SemVer) -> bool:
        return self.key() >= other.key()

    def same(self, other: SemVer) -> bool:
        """Equal precedence (``1.2`` and ``1.2.0`` are the same)."""
        return self.key() == other.key()

    def __str__(self) -> str:
        pre = "-" + ".".join(self.prerelease) if self.prerelease else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"


_OPS = (">=", "<=", "!=", "==", "=", ">", "<", "^", "~")


@attrs.frozen
class VersionConstraint:
    """One comparison of a release version: ``>=2026.12.2``, ``<2.0.0``, ``^1.4``, ``~1.4.2``, ``=1.0.0``.

    ``^V`` is ``>=V`` below the next major (below the next minor when the major is 0); ``~V`` is ``>=V``
    below the next minor.
    """

    op: str
    version: SemVer

    @classmethod
    def parse(cls, text: str, where: str) -> VersionConstraint:
        """One constraint; a ``FlagDefinitionError`` at ``where`` if it is not one."""
        op = next((o for o in _OPS if text.startswith(o)), "=")
        rest = text[len(op) :] if text.startswith(op) else text
        version = SemVer.parse(rest.strip())
        if version is None:
            raise FlagDefinitionError(
                where, f"{text!r} is not a version constraint: expected an operator ({', '.join(_OPS)}) and a "
                "semantic version like 2026.12.1 or 1.4.0-rc.1"
            )  # fmt: skip
        return cls("=" if op == "==" else op, version)

    def holds(self, v: SemVer) -> bool:
        """Whether version ``v`` satisfies this constraint."""
        c = self.version
        if self.op == "=":
            return v.same(c)
        if self.op == "!=":
            return not v.same(c)
        if self.op == ">":
            return v > c
        if self.op == ">=":
            return v >= c
        if self.op == "<":
            return v < c
        if self.op == "<=":
            return v <= c
        if self.op == "~":
            return v >= c and v < SemVer(c.major, c.minor + 1, 0, ("0",))
        upper = SemVer(c.major + 1, 0, 0, ("0",)) if c.major > 0 else SemVer(0, c.minor + 1, 0, ("0",))
        return v >= c and v < upper  # "^"

    def __str__(self) -> str:
        return f"{self.op}{self.version}"


def parse_constraints(text: Any, where: str) -> tuple[VersionConstraint, ...]:
    """Space-separated constraints that must all hold (``">=1.2.0 <2.0.0"``)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 256:
        raise FlagDefinitionError(where, f"expected version constraints like '>=2026.12.1 <2027.1.0', got {text!r}")
    # "<= 2.0" is one constraint: glue a lone operator to the version after it.
    tokens = re.sub(r"(>=|<=|!=|==|=|>|<|\^|~)\s+", r"\1", text.strip()).split()
    return tuple(VersionConstraint.parse(t, where) for t in tokens)


# -- context and matching -----------------------------------------------------


@attrs.frozen
class FlagContext:
    """The cell attributes a rule can match on.

    Attributes:
        cell_id: the cell's id.
        stage: its stage.
        customer: its customer.
        region: its region.
        labels: its labels.
        release: the version of the release its spec names, or ``None``.
    """

    cell_id: str
    stage: str = ""
    customer: str = ""
    region: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    release: str | None = None

    @classmethod
    def of(cls, cell: Cell, release: str | None) -> FlagContext:
        """The context of ``cell`` whose spec names ``release``."""
        return cls(cell.id, cell.stage, cell.customer, cell.region, dict(cell.labels), release)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not 0 < len(items) <= _MAX_LIST:
        raise FlagDefinitionError(where, f"expected a string or a list of 1 to {_MAX_LIST} strings")
    for i, item in enumerate(items):
        if not isinstance(item, str) or len(item) > 128:
            raise FlagDefinitionError(f"{where}[{i}]", "expected a string of at most 128 characters")
    return tuple(items)


def _json_strings(values: tuple[str, ...]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


_MATCH_FIELDS = ("cell", "stage", "customer", "region", "labels", "release")


@attrs.frozen
class Match:
    """What a rule asks of a cell: every given attribute must hold; a list means any one of its values.

    Attributes:
        cell: cell ids.
        stage: stages.
        customer: customers.
        region: regions.
        labels: per label key, the values accepted (the cell must carry the label).
        release: version constraints the cell's release must all satisfy (a cell with no release, or a
            release that is not a semantic version, does not match).
    """

    cell: tuple[str, ...] = ()
    stage: tuple[str, ...] = ()
    customer: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    labels: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    release: tuple[VersionConstraint, ...] = ()

    def holds(self, ctx: FlagContext) -> bool:
        """Whether ``ctx`` matches."""
        for wanted, have in (
            (self.cell, ctx.cell_id),
            (self.stage, ctx.stage),
            (self.customer, ctx.customer),
            (self.region, ctx.region),
        ):
            if wanted and have not in wanted:
                return False
        for key, values in self.labels.items():
            if ctx.labels.get(key) not in values:
                return False
        if self.release:
            version = None if ctx.release is None else SemVer.parse(ctx.release)
            if version is None or not all(c.holds(version) for c in self.release):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        """This match as plain JSON values (only the attributes given)."""
        out: dict[str, Any] = {}
        for field in ("cell", "stage", "customer", "region"):
            values = getattr(self, field)
            if values:
                out[field] = _json_strings(values)
        if self.labels:
            out["labels"] = {k: _json_strings(v) for k, v in self.labels.items()}
        if self.release:
            out["release"] = " ".join(str(c) for c in self.release)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> Match:
        """Parse untrusted JSON; ``FlagDefinitionError`` naming the bad part."""
        if not isinstance(data, dict):
            raise FlagDefinitionError(where, f"expected an object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_MATCH_FIELDS))
        if unknown:
            raise FlagDefinitionError(
                f"{where}.{unknown[0]}", f"unknown attribute; a rule matches on {', '.join(_MATCH_FIELDS)}"
            )
        fields: dict[str, Any] = {
            f: _strings(data[f], f"{where}.{f}") for f in ("cell", "stage", "customer", "region") if f in data
        }
        if "labels" in data:
            raw = data["labels"]
            if not isinstance(raw, dict) or not 0 < len(raw) <= _MAX_LIST:
                raise FlagDefinitionError(f"{where}.labels", "expected an object of label keys to values")
            labels = {}
            for key, values in raw.items():
                at = f"{where}.labels[{key!r}]"
                try:
                    check_label_key(key, at)
                    labels[key] = tuple(check_label_value(v, at) for v in _strings(values, at))
                except FlagDefinitionError:
                    raise
                except InvalidInputError as exc:
                    raise FlagDefinitionError(at, str(exc).removeprefix(f"{at}: ")) from None
            fields["labels"] = labels
        if "release" in data:
            fields["release"] = parse_constraints(data["release"], f"{where}.release")
        return cls(**fields)


# -- values -------------------------------------------------------------------


def check_value(kind: str, value: Any, where: str) -> FlagValue:
    """``value`` if it fits a flag of type ``kind``; ``FlagDefinitionError`` at ``where`` otherwise."""
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str) and len(value) <= _TEXT_MAX
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        shown = repr(value) if len(repr(value)) <= 80 else type(value).__name__
        raise FlagDefinitionError(where, f"expected a {kind} value for a {kind} flag, got {shown}")
    result: FlagValue = value
    return result


def bucket(flag_key: str, cell_id: str) -> float:
    """The cell's stable place in ``[0, 100)`` for this flag: a rule at ``percentage`` p takes the cells below p.

    It depends on the flag key and the cell id only, so raising a percentage only adds cells, and
    different flags spread their percentages over different cells.
    """
    digest = hashlib.sha256(f"{flag_key}\x00{cell_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


@attrs.frozen
class FlagEvaluation:
    """A flag's value for one cell, with its variant and why (OpenFeature's resolution details).

    Attributes:
        value: the value (``None`` only with reason ``ERROR`` when there is no usable default).
        variant: the name of the rule that gave it, or ``"default"``.
        reason: ``STATIC`` (no rules), ``DEFAULT`` (no rule matched), ``TARGETING_MATCH`` (a rule matched),
            ``SPLIT`` (a rule's percentage took the cell), ``STALE`` (the cell's last value while the control
            plane is away) or ``ERROR``.
        error: what went wrong, with reason ``ERROR``.
    """

    value: FlagValue | None
    variant: str
    reason: str
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """This evaluation as plain JSON values."""
        out: dict[str, Any] = {"value": self.value, "variant": self.variant, "reason": self.reason}
        if self.error:
            out["error"] = self.error
        return out


@attrs.frozen
class FlagRule:
    """One targeting rule of a flag.

    Attributes:
        name: the rule's name, reported as the variant (``rule-1``, ``rule-2``, ... if not given).
        match: what a cell must be.
        value: the value the rule gives.
        percentage: the share of matching cells that get it (0-100; 100: all of them).
    """

    name: str
    match: Match
    value: FlagValue
    percentage: float = 100.0

    def to_json(self) -> dict[str, Any]:
        """This rule as plain JSON values."""
        out: dict[str, Any] = {"name": self.name, "match": self.match.to_json(), "value": self.value}
        if self.percentage < 100:
            out["percentage"] = self.percentage
        return out


@attrs.frozen
class Flag:
    """A feature flag: key, type, default and ordered rules.

    Attributes:
        key: the flag's key (``workspace-usage``: lower-case letters, digits, ``.``, ``_``, ``-``).
        type: ``bool``, ``string`` or ``number``.
        default: the value when no rule gives one.
        rules: tried in order; the first that takes the cell gives its value.
        description: for people.
    """

    key: str
    type: str
    default: FlagValue
    rules: tuple[FlagRule, ...] = ()
    description: str = ""

    def evaluate(self, ctx: FlagContext) -> FlagEvaluation:
        """The flag's value for the cell described by ``ctx``."""
        if not self.rules:
            return FlagEvaluation(self.default, DEFAULT_VARIANT, STATIC)
        for rule in self.rules:
            if not rule.match.holds(ctx):
                continue
            if rule.percentage >= 100:
                return FlagEvaluation(rule.value, rule.name, TARGETING_MATCH)
            if bucket(self.key, ctx.cell_id) < rule.percentage:
                return FlagEvaluation(rule.value, rule.name, SPLIT)
        return FlagEvaluation(self.default, DEFAULT_VARIANT, DEFAULT)

    def to_json(self) -> dict[str, Any]:
        """This flag as plain JSON values (what ``from_json`` reads back)."""
        return {
            "key": self.key,
            "type": self.type,
            "default": self.default,
            "description": self.description,
            "rules": [r.to_json() for r in self.rules],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "flag") -> Flag:
        """Parse an untrusted flag definition.

        Raises:
            FlagDefinitionError: naming the bad part (``flag.rules[0].value: expected a bool value ...``).
        """
        if not isinstance(data, dict):
            raise FlagDefinitionError(where, f"expected an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"key", "type", "default", "description", "rules"})
        if unknown:
            raise FlagDefinitionError(f"{where}.{unknown[0]}", "unknown field")
        key = check_flag_key(data.get("key"), f"{where}.key")
        kind = data.get("type")
        if kind not in FLAG_TYPES:
            raise FlagDefinitionError(f"{where}.type", f"expected one of {', '.join(FLAG_TYPES)}, got {kind!r}")
        if "default" not in data:
            raise FlagDefinitionError(f"{where}.default", "missing: every flag needs a default value")
        default = check_value(kind, data["default"], f"{where}.default")
        description = data.get("description", "")
        if not isinstance(description, str) or len(description) > _TEXT_MAX:
            raise FlagDefinitionError(f"{where}.description", f"expected a string of at most {_TEXT_MAX} characters")
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list) or len(raw_rules) > MAX_RULES:
            raise FlagDefinitionError(f"{where}.rules", f"expected a list of at most {MAX_RULES} rules")
        rules = [_rule(kind, raw, i, f"{where}.rules[{i}]") for i, raw in enumerate(raw_rules)]
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            if rule.name in seen:
                raise FlagDefinitionError(f"{where}.rules[{i}].name", f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return cls(key, kind, default, tuple(rules), description)


def check_flag_key(value: Any, where: str = "flag.key") -> str:
    """``value`` if it is a valid flag key; ``FlagDefinitionError`` otherwise."""
    if not isinstance(value, str) or not _KEY.match(value):
        raise FlagDefinitionError(
            where, f"expected a flag key of 1-64 lower-case letters, digits, '.', '_' or '-', got {value!r}"
        )
    return value


def _rule(kind: str, raw: Any, index: int, where: str) -> FlagRule:
    if not isinstance(raw, dict):
        raise FlagDefinitionError(where, f"expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"name", "match", "value", "percentage"})
    if unknown:
        raise FlagDefinitionError(f"{where}.{unknown[0]}", "unknown field")
    name = raw.get("name", f"rule-{index + 1}")
    if not isinstance(name, str) or not _VARIANT.match(name) or name == DEFAULT_VARIANT:
        raise FlagDefinitionError(
            f"{where}.name", f"expected a name of 1-64 letters, digits, '.', '_' or '-' (not 'default'), got {name!r}"
        )
    if "value" not in raw:
        raise FlagDefinitionError(f"{where}.value", "missing: a rule gives a value")
    value = check_value(kind, raw["value"], f"{where}.value")
    percentage = raw.get("percentage", 100)
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)) or not 0 <= percentage <= 100:
        raise FlagDefinitionError(f"{where}.percentage", f"expected a number from 0 to 100, got {percentage!r}")
    return FlagRule(name, Match.from_json(raw.get("match", {}), f"{where}.match"), value, float(percentage))


def evaluate_flags(flags: Iterable[Flag], ctx: FlagContext) -> dict[str, dict[str, Any]]:
    """Every flag's evaluation for one cell, as the JSON its spec carries (key -> value, variant, reason)."""
    return {f.key: f.evaluate(ctx).to_json() for f in sorted(flags, key=lambda f: f.key)}


def stale(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same values with reason ``STALE``: what a cell holds while it cannot reach the control plane."""
    return {k: {**dict(v), "reason": STALE} for k, v in values.items()}


__all__ = [
    "DEFAULT_VARIANT",
    "FLAGS_FILE",
    "FLAG_TYPES",
    "MAX_RULES",
    "Flag",
    "FlagContext",
    "FlagDefinitionError",
    "FlagEvaluation",
    "FlagRule",
    "FlagValue",
    "Match",
    "SemVer",
    "VersionConstraint",
    "bucket",
    "check_flag_key",
    "check_value",
    "evaluate_flags",
    "parse_constraints",
    "stale",
]
