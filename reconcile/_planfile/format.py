"""The plan file format: ``dumps`` and ``loads`` of versioned, checksummed, optionally signed JSON; fingerprints."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import cattrs

from .._model import Address, External, resource_type, show_address, type_of
from .._plan import Action, Change, Origin, Plan, Step, plan_with_edges
from .._state import State
from ..errors import PlanFileError, ReconcileError, ResourceDefinitionError
from .converter import Unsaveable, WrongType, default_converter, describe
from .jsontext import Path, canonical, check_depth, difference, parse, path_text

PLAN_FORMAT = "reconcile.plan"


PLAN_FORMAT_VERSION = 1


"""The plan file layout this version writes and reads (see docs/saved-plans.md)."""

STATE_FORMAT = "reconcile.state"

STATE_FORMAT_VERSION = 1
"""The state file layout this version writes and reads (see docs/saved-plans.md, "Saved states")."""

_SIGNATURE = "hmac-sha256:"


def _field_type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


def _unsaveable(converter: cattrs.Converter, obj: Any) -> PlanFileError:
    """The error naming the field of ``obj`` that cannot be written (slow path, only after a failure)."""
    hints = _field_type_hints(type(obj))
    problem = "a value has no JSON form"
    for field in type(obj).__attrs_attrs__:
        try:
            canonical(converter.unstructure(getattr(obj, field.name), hints.get(field.name, Any)))
        except (TypeError, ValueError, Unsaveable) as exc:
            if isinstance(exc, ValueError) and "Out of range float" in str(exc):
                exc = ValueError("a hook wrote a non-finite float, which standard JSON cannot hold")
            problem = f"field {field.name!r}: {exc}"
            break
        except RecursionError:
            problem = f"field {field.name!r}: nested too deeply"
            break
    return PlanFileError(f"cannot save {type_of(type(obj)).display_address(obj)}: {problem}")


def _write_resource(converter: cattrs.Converter, obj: Any) -> dict[str, Any]:
    try:
        fields = converter.unstructure(obj, type(obj))
    except Unsaveable:
        raise _unsaveable(converter, obj) from None
    return {"kind": type_of(type(obj)).kind, "fields": fields}


def _external_values(plan: Plan) -> list[Any]:
    return [e.value for state in (plan.desired, plan.actual) for e in state.externals.values() if e.value is not None]


def _find_unsaveable(converter: cattrs.Converter, plan: Plan) -> PlanFileError:
    changed = (c.after for c in plan.changes.values() if c.after is not None)
    for obj in (*plan.desired, *plan.actual, *changed, *_external_values(plan)):
        try:
            canonical(converter.unstructure(obj, type(obj)))
        except (TypeError, ValueError, Unsaveable, RecursionError):
            return _unsaveable(converter, obj)
    return PlanFileError("cannot save the plan: a value has no JSON form")


def _fingerprint(converter: cattrs.Converter, objects: Mapping[Address, Any]) -> str:
    digest = hashlib.sha256()
    for address in sorted(objects, key=str):
        obj = objects[address]
        entry = [str(address), None if obj is None else converter.unstructure(obj, type(obj))]
        # Through JSON once, so the digest is the same whether keys were ints (in memory) or strings (read back).
        entry = json.loads(canonical(entry))
        digest.update(json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def touched(plan: Plan) -> list[Address]:
    """The addresses a plan's steps act on, each once, in step order, then the external objects it reads."""
    return list(dict.fromkeys([*(s.address for s in plan.steps), *plan.desired.externals]))


def fingerprint(plan: Plan, converter: cattrs.Converter | None = None) -> str:
    """A digest of the actual resources ``plan`` touches and reads, as it was planned against (absent ones included).

    Two plans made against the same actual resources (at the addresses they
    touch) have the same fingerprint.
    """
    conv = converter or default_converter()
    return _fingerprint(conv, {a: plan.actual.lookup(a) for a in touched(plan)})


def _sealed_text(body: Mapping[str, Any]) -> bytes:
    """What the checksum and the signature cover: every key but those two, sorted, compact, ASCII."""
    content = {k: v for k, v in body.items() if k not in ("checksum", "signature")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _checksum(body: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_sealed_text(body)).hexdigest()


def _signature(body: Mapping[str, Any], key: bytes) -> str:
    return _SIGNATURE + hmac.new(key, _sealed_text(body), hashlib.sha256).hexdigest()


def _key_bytes(key: Any) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise PlanFileError(f"key= takes the signing key as bytes or str, got {type(key).__name__}")
    if not key:
        raise PlanFileError("key= is empty: an empty key signs nothing (use 32 random bytes)")
    return key


def _write_change(converter: cattrs.Converter, change: Change, desired: State) -> dict[str, Any]:
    after: Any = None
    if change.after is not None:
        after = "desired" if change.after == desired.get(change.address) else _write_resource(converter, change.after)
    entry = {
        "address": str(change.address),
        "action": change.action.value,
        "before": None if change.before is None else "actual",
        "after": after,
        "changed_fields": list(change.changed_fields),
        "replace_fields": list(change.replace_fields),
        "replaced_refs": [str(a) for a in change.replaced_refs],
        "create_before_delete": change.create_before_delete,
        "forced_by": None if change.forced_by is None else str(change.forced_by),
        "triggered_by": [str(a) for a in change.triggered_by],
    }
    # Only for a plan made with last_applied, so files of plans made without it keep their layout.
    if change.origin is not None:
        entry["origin"] = change.origin.value
    return entry


def _write_externals(converter: cattrs.Converter, state: State) -> list[dict[str, Any]]:
    return [
        {"address": str(a), "value": None if e.value is None else _write_resource(converter, e.value)}
        for a, e in state.externals.items()
    ]


def _write_steps(plan: Plan) -> list[Any]:
    return [[str(s.address), s.op.value] for s in plan.steps]


def _write_edges(plan: Plan) -> list[Any]:
    ids = {s: i for i, s in enumerate(plan.steps)}
    return [[ids[s], [ids[p] for p in preds]] for s, preds in plan.predecessors.items() if preds]


def _converter(converter: Any) -> cattrs.Converter:
    if converter is None:
        return default_converter()
    if not isinstance(converter, cattrs.Converter):
        raise PlanFileError(
            f"converter= takes a cattrs converter (see make_converter()), got {type(converter).__name__}"
        )
    return converter


def dumps(plan: Plan | State, *, converter: cattrs.Converter | None = None, key: bytes | str | None = None) -> str:
    """Save ``plan`` (or a ``State``) as JSON text; :func:`loads` gives back an equal plan.

    Given a ``State`` (the desired state just applied, say), writes a state
    file by the same rules, which :func:`loads_state` reads back (see
    docs/saved-plans.md, "Saved states").

    The text is standard JSON (no ``NaN`` or ``Infinity`` tokens: non-finite
    floats are written ``{"$float": "inf"}``). It records the format version, a
    checksum of its content (so a truncated or accidentally damaged file is
    refused), and the fingerprint of the actual resources the plan touches (so
    applying it after the world moved is refused). The checksum does not stop
    someone who edits the file on purpose: give a ``key`` to sign it
    (HMAC-SHA256), and the same key to :func:`loads`.

    The file holds sensitive values in the clear, as the plan needs them to be
    applied: store it like a secret (see docs/saved-plans.md). Every rendering
    (``render``) redacts them.

    Args:
        plan: the plan (or state) to save.
        converter: a cattrs converter from :func:`make_converter` with hooks for
            your own field types; the default knows attrs classes, enums,
            datetimes, ``Ref``, ``Address`` and the builtin containers.
        key: a secret (bytes, or str taken as UTF-8) to sign the file with.

    Raises:
        PlanFileError: a field value has no JSON form (naming resource and field),
            values nest deeper than ``loads`` reads, or ``key``/``converter`` is not
            of the right type.
    """
    if isinstance(plan, State):
        return _dumps_state(plan, _converter(converter), _key_bytes(key))
    if not isinstance(plan, Plan):
        raise PlanFileError(f"dumps() takes a Plan or a State, got {type(plan).__name__}")
    conv = _converter(converter)
    secret = _key_bytes(key)
    try:
        body: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "version": PLAN_FORMAT_VERSION,
            "fingerprint": fingerprint(plan, conv),
            "unchanged": plan.unchanged,
            "desired": [_write_resource(conv, obj) for obj in plan.desired],
            "actual": [_write_resource(conv, obj) for obj in plan.actual],
            "changes": [_write_change(conv, c, plan.desired) for c in plan.changes.values()],
            "deferred": [_write_change(conv, c, plan.desired) for c in plan.deferred.values()],
            "steps": _write_steps(plan),
            "after": _write_edges(plan),
        }
        if plan.last_applied_edges:
            # Only for a plan whose deletes the last applied state ordered: the reader plans with them again.
            body["last_applied_edges"] = [[str(b), str(a)] for b, a in plan.last_applied_edges]
        if plan.desired.externals or plan.actual.externals:
            # Only when there are any, so plans without externals keep the layout older readers know.
            body["externals"] = {
                "desired": _write_externals(conv, plan.desired),
                "actual": _write_externals(conv, plan.actual),
            }
        # Through JSON once: the checksum must be the one loads computes from the text (int keys become strings).
        body = json.loads(canonical(body))
    except (TypeError, ValueError, Unsaveable, RecursionError):
        # A typed field held a value cattrs passed through as is (no hook for its type), or a hook wrote NaN.
        raise _find_unsaveable(conv, plan) from None
    check_depth(body, "cannot save the plan")
    body["checksum"] = _checksum(body)
    if secret is not None:
        body["signature"] = _signature(body, secret)
    return canonical(body) + "\n"


def _classes(types: Any) -> dict[str, type]:
    if isinstance(types, Mapping):
        items = list(types.items())
    elif isinstance(types, Iterable) and not isinstance(types, (str, bytes)):
        items = [(None, cls) for cls in types]
    else:
        raise ResourceDefinitionError(
            "loads() takes the plan's resource classes (an iterable of classes, or a mapping kind -> class), "
            f"got {type(types).__name__}"
        )
    by_kind: dict[str, type] = {}
    for kind, cls in items:
        rt = resource_type(cls)
        if not isinstance(cls, type):
            raise ResourceDefinitionError(
                f"loads() takes resource classes, got an instance of {type(cls).__qualname__}"
            )
        if kind is not None and kind != rt.kind:
            raise ResourceDefinitionError(
                f"loads() got {cls.__qualname__} for kind {kind!r}, but its kind is {rt.kind!r}"
            )
        if by_kind.get(rt.kind, cls) is not cls:
            raise ResourceDefinitionError(
                f"loads() got two classes for kind {rt.kind!r}: {by_kind[rt.kind].__qualname__} and {cls.__qualname__}"
            )
        by_kind[rt.kind] = cls
    return by_kind


def _problem(exc: BaseException, annotation: Any) -> str:
    if isinstance(exc, WrongType):
        return str(exc)
    if isinstance(exc, KeyError):
        return "missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return "unknown key(s) " + ", ".join(json.dumps(k[:40]) for k in sorted(exc.extra_fields)[:5])
    if isinstance(exc, (ValueError, TypeError, ReconcileError)) and annotation is not None:
        name = getattr(annotation, "__name__", None) or repr(annotation)
        return f"not a valid {name[:60]}"
    return f"cannot be read ({type(exc).__name__})"


def _structure_problems(exc: BaseException, path: list[str | int]) -> list[tuple[list[str | int], str]]:
    """Each failure inside a cattrs validation error, with its path in the value (never the value)."""
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        out: list[tuple[list[str | int], str]] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            step = note.name if isinstance(note, cattrs.AttributeValidationNote) else note.index
            sub = [*path, step if isinstance(step, (str, int)) else repr(step)]
            if isinstance(inner, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
                out += _structure_problems(inner, sub)
            else:
                out.append((sub, _problem(inner, note.type)))
        out += [(path, _problem(inner, None)) for inner in without]
        return out
    return [(path, _problem(exc, None))]


_RESOURCE_KEYS = ("kind", "fields")
_CHANGE_KEYS = (
    "address",
    "action",
    "before",
    "after",
    "changed_fields",
    "replace_fields",
    "replaced_refs",
    "create_before_delete",
    "forced_by",
    "triggered_by",
)
_TOP_KEYS = (
    *("format", "version", "checksum", "fingerprint", "unchanged"),
    *("desired", "actual", "changes", "deferred", "steps", "after"),
)
_ACTIONS = {a.value: a for a in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.ADOPT)}
_EXTERNAL_KEYS = ("address", "value")


def _redacted(problem: str) -> str:
    """A problem inside a sensitive field, without the key names it may quote."""
    if problem.startswith(("unknown key", "missing key")):
        problem = "not the form dumps writes"
    return problem + " (in a sensitive field)"


def _fail(where: str, problem: str) -> PlanFileError:
    return PlanFileError(f"plan file: {where}: {problem}" if where else f"plan file: {problem}")


def _an(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _check_keys(data: Any, where: str, keys: tuple[str, ...], what: str) -> None:
    if type(data) is not dict:
        raise _fail(where, f"expected {what} (an object), got {describe(data)}")
    for k in data:
        if k not in keys:
            raise _fail(where, f"unknown key {k[:40]!r} in {what}")
    for k in keys:
        if k not in data:
            raise _fail(where, f"missing key {k!r} in {what}")


class _Reader:
    """Reads a checked plan-file body back into a ``Plan``; every problem becomes ``PlanFileError``."""

    def __init__(self, converter: cattrs.Converter, classes: Mapping[str, type]) -> None:
        self.converter = converter
        self.classes = classes

    def resource(self, data: Any, where: str) -> Any:
        """The resource ``data`` describes, refused unless ``data`` is exactly what ``dumps`` writes for it."""
        _check_keys(data, where, _RESOURCE_KEYS, "a resource")
        kind, fields = data["kind"], data["fields"]
        if type(kind) is not str:
            raise _fail(where + ".kind", f"expected a string, got {describe(kind)}")
        cls = self.classes.get(kind)
        if cls is None:
            raise _fail(
                where,
                f"no class given for kind {kind[:40]!r}; pass every resource class of the plan to loads()",
            )
        if type(fields) is not dict:
            raise _fail(where + ".fields", f"expected an object, got {describe(fields)}")
        sensitive = type_of(cls).sensitive
        try:
            obj: Any = self.converter.structure(fields, cls)
        except Exception as exc:
            problems = _structure_problems(exc, [])
            shown = "; ".join(self.shown(where, path, problem, sensitive) for path, problem in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise _fail(where, f"cannot rebuild a {cls.__qualname__}: {shown}{more}") from None
        if type(obj) is not cls:
            raise _fail(where, f"the converter made a {type(obj).__qualname__}, not a {cls.__qualname__}")
        # Read back only what writes back the same: a coerced, defaulted, dropped or reordered value is refused.
        try:
            written = canonical(self.converter.unstructure(obj, cls))
        except Exception:
            raise _fail(where, f"the {cls.__qualname__} it describes cannot be written back") from None
        if written != canonical(fields):
            found = difference(fields, json.loads(written), "not the form dumps writes for this value")
            if found is not None:
                raise PlanFileError("plan file: " + self.shown(where, *found, sensitive))
        return obj

    @staticmethod
    def shown(where: str, path: Path, problem: str, sensitive: frozenset[str]) -> str:
        """``where.fields.path: problem``, the path stopped at a sensitive field (its keys may be secrets)."""
        if path and path[0] in sensitive:
            path, problem = path[:1], _redacted(problem)
        return f"{path_text(where + '.fields', path)}: {problem}"

    def address(self, text: Any, where: str) -> Address:
        if type(text) is not str:
            raise _fail(where, f"expected an address string, got {describe(text)}")
        try:
            address = Address.parse(text)
        except ReconcileError:
            raise _fail(where, "not a valid address") from None
        if str(address) != text:
            raise _fail(where, "not an address as dumps writes it")
        return address

    def change(self, data: Any, where: str, desired: State, actual: State) -> tuple[Address, Action]:
        """Check the parts of a change its own states decide alone; the rest is compared with a replan."""
        optional = ("origin",) if type(data) is dict and "origin" in data else ()
        _check_keys(data, where, (*_CHANGE_KEYS, *optional), "a change")
        address = self.address(data["address"], where + ".address")
        text = data["action"]
        if type(text) is not str or text not in _ACTIONS:
            if text == "noop":
                raise _fail(where + ".action", "'noop' is not a change: unchanged addresses are only counted")
            raise _fail(where + ".action", "expected one of 'create', 'update', 'replace', 'delete', 'adopt'")
        action = _ACTIONS[text]
        shown = show_address(address)
        held_actual, held_desired = address in actual.by_address, address in desired.by_address
        if action is Action.ADOPT and held_actual:
            raise _fail(where + ".action", f"an adopt of {shown}, which its actual state already manages")
        found = actual.externals.get(address)
        if action is Action.ADOPT and (found is None or found.value is None):
            raise _fail(where + ".action", f"an adopt of {shown}, which its actual state holds no found object for")
        held_actual = held_actual or action is Action.ADOPT
        if action is Action.CREATE and held_actual:
            raise _fail(where + ".action", f"a create of {shown}, which its actual state already holds")
        if action is Action.DELETE and held_desired:
            raise _fail(where + ".action", f"a delete of {shown}, which its desired state still holds")
        if action is not Action.CREATE and not held_actual:
            raise _fail(where + ".action", f"{_an(text)} of {shown}, which its actual state does not hold")
        if action is not Action.DELETE and not held_desired:
            raise _fail(where + ".action", f"{_an(text)} of {shown}, which its desired state does not hold")
        before, after = data["before"], data["after"]
        if action is Action.CREATE and before is not None:
            raise _fail(where + ".before", f"a create has before null, got {describe(before)}")
        if action is not Action.CREATE and before != "actual":
            raise _fail(where + ".before", f'{_an(text)} has before "actual", got {describe(before)}')
        if action is Action.DELETE and after is not None:
            raise _fail(where + ".after", f"a delete has after null, got {describe(after)}")
        if action is not Action.DELETE and after != "desired":
            if type(after) is not dict:
                raise _fail(where + ".after", f'expected "desired" or a resource, got {describe(after)}')
            obj = self.resource(after, where + ".after")
            at = type_of(type(obj)).address(obj)
            if at != address:
                raise _fail(
                    where + ".after",
                    f"a resource at {type_of(type(obj)).display_address(obj)}, not at {shown}",
                )
        return address, action

    def externals(self, data: Any, where: str) -> list[External[Any]]:
        """The ``External`` entries of one state, each exactly as ``dumps`` writes it."""
        if type(data) is not list:
            raise _fail(where, f"expected a list, got {describe(data)}")
        out = []
        for i, item in enumerate(data):
            at = f"{where}[{i}]"
            _check_keys(item, at, _EXTERNAL_KEYS, "an external")
            address = self.address(item["address"], at + ".address")
            if address.kind not in self.classes:
                raise _fail(
                    at,
                    f"no class given for kind {address.kind[:40]!r}; pass every resource class of the plan to loads()",
                )
            value = None if item["value"] is None else self.resource(item["value"], at + ".value")
            if value is not None and type_of(type(value)).address(value) != address:
                at_value = show_address(type_of(type(value)).address(value))
                raise _fail(at + ".value", f"a resource at {at_value}, not at {show_address(address)}")
            out.append(External(address, value))
        return out


def _opened(text: Any, secret: bytes | None, expected: str, reader: str) -> dict[str, Any]:
    """The checked top of a saved file of format ``expected``: format, version, signature and checksum."""
    label, other = ("plan", "state") if expected == PLAN_FORMAT else ("state", "plan")
    if not isinstance(text, str):
        raise PlanFileError(f"{reader}() takes the text dumps() wrote, got {type(text).__name__}")
    doc = parse(text)
    if type(doc) is dict and doc.get("format") == (STATE_FORMAT if expected == PLAN_FORMAT else PLAN_FORMAT):
        raise PlanFileError(
            f"this is a saved {other}, not a {label}: read it with {'loads_state' if other == 'state' else 'loads'}()"
        )
    if type(doc) is not dict or doc.get("format") != expected:
        raise PlanFileError(f'not a reconcile {label} file (expected "format": {expected!r})')
    version = doc.get("version")
    supported = PLAN_FORMAT_VERSION if expected == PLAN_FORMAT else STATE_FORMAT_VERSION
    if type(version) is not int:
        raise PlanFileError(f"{label} file: version: expected an integer, got {describe(version)}")
    if version != supported:
        again = "plan again" if label == "plan" else "save the state again"
        raise PlanFileError(
            f"{label} file format version {version} is not supported: this reconcile reads version "
            f"{supported}; {again} with this version"
        )
    signature = doc.get("signature")
    if secret is not None:
        if signature is None:
            raise PlanFileError(
                f"{label} file is not signed, but {reader}() was given a key: refusing it (anyone could have edited it)"
            )
        expected_signature = _signature(doc, secret).encode()
        given = signature.encode() if type(signature) is str and signature.isascii() else b""
        if not hmac.compare_digest(expected_signature, given):
            raise PlanFileError(
                f"{label} file signature does not match: the file was edited, or signed with another key"
            )
    elif "signature" in doc:
        raise PlanFileError(
            f"{label} file is signed, but {reader}() was given no key: pass key=... to check the signature "
            "(a signed file is only read with its key)"
        )
    if doc.get("checksum") != _checksum(doc):
        raise PlanFileError(f"{label} file checksum does not match its content: the file was modified or corrupted")
    return doc


def _parse(text: Any, secret: bytes | None) -> dict[str, Any]:
    doc = _opened(text, secret, PLAN_FORMAT, "loads")
    keys = (*_TOP_KEYS, "signature") if secret is not None else _TOP_KEYS
    if "externals" in doc:
        keys = (*keys, "externals")
        _check_keys(doc["externals"], "externals", ("desired", "actual"), "the externals of both states")
        if not doc["externals"]["desired"] and not doc["externals"]["actual"]:
            raise PlanFileError("plan file: externals: empty, which dumps never writes (it leaves the key out)")
    if "last_applied_edges" in doc:
        keys = (*keys, "last_applied_edges")
        if type(doc["last_applied_edges"]) is not list or not doc["last_applied_edges"]:
            raise PlanFileError(
                "plan file: last_applied_edges: expected a non-empty list (dumps leaves the key out without edges)"
            )
    _check_keys(doc, "", keys, "a plan file")
    for section in ("desired", "actual", "changes", "deferred", "steps", "after"):
        if type(doc[section]) is not list:
            raise PlanFileError(f"plan file: {section}: expected a list, got {describe(doc[section])}")
    unchanged = doc["unchanged"]
    if type(unchanged) is not int or unchanged < 0:
        raise PlanFileError("plan file: unchanged: expected a non-negative integer")
    if type(doc["fingerprint"]) is not str:
        raise PlanFileError(f"plan file: fingerprint: expected a string, got {describe(doc['fingerprint'])}")
    return doc


def loads(
    text: str,
    types: Iterable[type] | Mapping[str, type],
    *,
    converter: cattrs.Converter | None = None,
    key: bytes | str | None = None,
) -> Plan:
    """Read a plan saved by :func:`dumps`, validating it as untrusted input.

    The whole file is checked before a ``Plan`` is returned: standard JSON
    without duplicate keys, format, version, signature (with ``key``), checksum,
    every value exactly as ``dumps`` writes it for its field's type, both states
    as ``State`` checks them, and every change, step and step edge against the
    plan the planner makes from the file's own states. A plan read back
    remembers the fingerprint it was saved with, and :func:`reconcile.apply`
    refuses it (``StalePlanError``) if the resources it touches changed since.

    Args:
        text: what :func:`dumps` wrote.
        types: the resource classes of the plan (or a mapping kind -> class).
        converter: the converter given to :func:`dumps`, if any.
        key: the key given to :func:`dumps`. With a key, an unsigned file or a
            wrong signature is refused; without one, a signed file is refused.

    Raises:
        PlanFileError: the text is truncated, modified, of another format version,
            holds a kind none of ``types`` serves, does not describe the plan its
            own states give, or is signed and ``key`` does not match. The message
            names the place in the file (``changes[3].after.fields.mtu``).
        ResourceDefinitionError: ``types`` holds a non-resource or two classes for one kind.
    """
    classes = _classes(types)
    conv = _converter(converter)
    doc = _parse(text, _key_bytes(key))
    reader = _Reader(conv, classes)
    try:
        return _read(reader, doc)
    except RecursionError:
        raise PlanFileError("plan file: values nest too deeply to be read") from None


def _last_applied_edges(reader: _Reader, doc: dict[str, Any]) -> list[tuple[Address, Address]]:
    """The ``(dependent, dependency)`` pairs of ``Plan.last_applied_edges``, each two address strings."""
    edges = []
    for i, pair in enumerate(doc["last_applied_edges"]):
        where = f"last_applied_edges[{i}]"
        if type(pair) is not list or len(pair) != 2:
            raise _fail(where, f"expected [dependent, dependency], got {describe(pair)}")
        edges.append((reader.address(pair[0], f"{where}[0]"), reader.address(pair[1], f"{where}[1]")))
    return edges


def _read(reader: _Reader, doc: dict[str, Any]) -> Plan:
    desired_objs = [reader.resource(d, f"desired[{i}]") for i, d in enumerate(doc["desired"])]
    actual_objs = [reader.resource(d, f"actual[{i}]") for i, d in enumerate(doc["actual"])]
    if "externals" in doc:
        desired_objs += reader.externals(doc["externals"]["desired"], "externals.desired")
        actual_objs += reader.externals(doc["externals"]["actual"], "externals.actual")
    try:
        desired = State(desired_objs)
    except ReconcileError as exc:
        raise PlanFileError(f"plan file: desired: not a valid state: {exc}") from None
    try:
        actual = State(actual_objs, allow_dangling=True)
    except ReconcileError as exc:
        raise PlanFileError(f"plan file: actual: not a valid state: {exc}") from None
    seen: dict[Address, str] = {}
    sections: dict[str, list[Address]] = {"changes": [], "deferred": []}
    origins: dict[Address, Origin] = {}
    for section, found in sections.items():
        for i, data in enumerate(doc[section]):
            where = f"{section}[{i}]"
            address, _action = reader.change(data, where, desired, actual)
            if address in seen:
                raise _fail(where, f"{show_address(address)} is also in {seen[address]}")
            seen[address] = where
            found.append(address)
            origin = _origin(data, where)
            if origin is not None:
                origins[address] = origin
    if origins and len(origins) != len(seen):
        raise _fail("changes", "some changes have an origin and some do not; dumps writes it on all or none")
    # Objects found but not managed, at addresses the desired state manages, can only have been adopted.
    adopted = [a for a in desired.by_address if a in actual.externals]
    edges = _last_applied_edges(reader, doc) if "last_applied_edges" in doc else None
    try:
        expected = plan_with_edges(desired, actual, sections["changes"], None, None, None, adopted, edges)
    except ReconcileError as exc:
        raise PlanFileError(f"plan file: its own states do not give a plan: {exc}") from None
    if edges is not None and list(expected.last_applied_edges) != edges:
        raise _fail(
            "last_applied_edges",
            "not the edges dumps writes: each joins two addresses the plan deletes or replaces, is no edge of "
            "the actual state, and closes no cycle with its edges",
        )
    if origins:
        # The drift/intent marks came from a last applied state the file does
        # not hold: taken from the (checksummed) file, as the review showed them.
        expected = attrs.evolve(
            expected,
            changes={a: attrs.evolve(c, origin=origins.get(a)) for a, c in expected.changes.items()},
            deferred={a: attrs.evolve(c, origin=origins.get(a)) for a, c in expected.deferred.items()},
        )
    _compare(reader.converter, doc, sections, expected)
    return attrs.evolve(expected, fingerprint=doc["fingerprint"])


def _origin(data: dict[str, Any], where: str) -> Origin | None:
    """The drift/intent mark of a change entry (checked by ``_Reader.change`` to be an object), if any."""
    if "origin" not in data:
        return None
    text = data["origin"]
    for origin in Origin:
        if text == origin.value:
            return origin
    raise _fail(where + ".origin", "expected one of " + ", ".join(repr(o.value) for o in Origin))


def _compare(
    converter: cattrs.Converter, doc: dict[str, Any], sections: dict[str, list[Address]], expected: Plan
) -> None:
    """Refuse a file whose changes, steps, edges or counts differ from the plan its own states give."""
    desired = expected.desired

    def shown(address: Address) -> str:
        return show_address(address)

    for i, address in enumerate(sections["changes"]):
        if address not in expected.changes:
            raise _fail(f"changes[{i}]", f"its own states need no change at {shown(address)}")
    for i, address in enumerate(sections["deferred"]):
        if address in expected.changes:
            raise _fail(f"deferred[{i}]", f"{shown(address)} cannot be deferred while a planned change needs it")
        if address not in expected.deferred:
            raise _fail(f"deferred[{i}]", f"its own states need no change at {shown(address)}")
    listed = {*sections["changes"], *sections["deferred"]}
    for address, change in (*expected.changes.items(), *expected.deferred.items()):
        if address not in listed:
            raise _fail(
                "changes",
                f"its own states give {_an(change.action.value)} of {shown(address)}, "
                "which the file neither plans nor defers",
            )
    for section, want in (("changes", expected.changes), ("deferred", expected.deferred)):
        for i, (address, wanted) in enumerate(zip(sections[section], want, strict=True)):
            if address != wanted:
                raise _fail(f"{section}[{i}]", f"out of apply order: its own states put {shown(wanted)} here")
        written = json.loads(canonical([_write_change(converter, c, desired) for c in want.values()]))
        if canonical(doc[section]) == canonical(written):
            continue
        for i, (given, change, obj) in enumerate(zip(doc[section], written, want.values(), strict=True)):
            for name in _CHANGE_KEYS:
                if canonical(given[name]) != canonical(change[name]):
                    path, problem = _contradiction(name, given[name], change[name], obj, expected)
                    raise _fail(path_text(f"{section}[{i}].{name}", path), problem)
    steps = json.loads(canonical(_write_steps(expected)))
    if canonical(doc["steps"]) != canonical(steps):
        raise _steps_differ(doc["steps"], expected)
    edges = json.loads(canonical(_write_edges(expected)))
    if canonical(doc["after"]) != canonical(edges):
        raise _edges_differ(doc["after"], expected)
    if doc["unchanged"] != expected.unchanged:
        raise _fail(
            "unchanged", f"the file says {doc['unchanged']}, its own states leave {expected.unchanged} unchanged"
        )
    if doc["fingerprint"] != fingerprint(expected, converter):
        raise PlanFileError("plan file: its fingerprint does not match the actual resources it records")


def _contradiction(name: str, given: Any, want: Any, change: Change, expected: Plan) -> tuple[Path, str]:
    """Where under ``name`` and how a change's entry differs from the one its states give (no secret shown)."""

    def addresses(value: Any) -> str:
        items = value if isinstance(value, list) else [] if value is None else [value]
        return "[" + ", ".join(show_address(Address.parse(a)) for a in items) + "]"

    if name in ("changed_fields", "replace_fields"):
        if isinstance(given, list) and all(type(f) is str for f in given):
            return [], f"{[f[:40] for f in given[:10]]} contradicts its own states, which give {want}"
        return [], f"expected a list of field names, its own states give {want}"
    if name in ("replaced_refs", "triggered_by", "forced_by"):
        return [], f"contradicts its own states, which give {addresses(want)}"
    if name == "after" and isinstance(given, dict) and isinstance(want, dict):
        found = difference(given, want, "not the value its own states give")
        if found is not None:
            path, problem = found
            sensitive = type_of(type(change.after)).sensitive
            if len(path) > 1 and path[0] == "fields" and path[1] in sensitive:
                path, problem = path[:2], _redacted(problem)
            return path, problem
    if name == "after" and isinstance(want, dict):
        return [], "its own states give a resource carrying ignored actual values here, not the desired one"
    return [], f"the file says {_short(given)}, its own states give {_short(want)}"


def _short(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return describe(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _step_text(step: Step, expected: Plan) -> str:
    return f"{step.op.value} {show_address(step.address)}"


def _steps_differ(given: list[Any], expected: Plan) -> PlanFileError:
    want = _write_steps(expected)
    for i, (g, w) in enumerate(zip(given, want, strict=False)):
        if canonical(g) != canonical(w):
            step = _step_text(expected.steps[i], expected)
            return _fail(f"steps[{i}]", f"its own states give the step '{step}' here")
    if len(given) > len(want):
        return _fail(f"steps[{len(want)}]", f"a step its own states do not give (they give {len(want)})")
    step = _step_text(expected.steps[len(given)], expected)
    return _fail("steps", f"its own states give {len(want)} steps, the file lists {len(given)} (missing '{step}')")


def _edges_differ(given: list[Any], expected: Plan) -> PlanFileError:
    steps = expected.steps
    edges: set[tuple[int, int]] = set()
    for i, item in enumerate(given):
        ok = (
            type(item) is list
            and len(item) == 2
            and type(item[0]) is int
            and type(item[1]) is list
            and all(type(p) is int for p in item[1])
        )
        if not ok or not 0 <= item[0] < len(steps) or not all(0 <= p < len(steps) for p in item[1]):
            return _fail(f"after[{i}]", "expected [step index, [indices of the steps it runs after]]")
        edges.update((item[0], p) for p in item[1])
    ids = {s: i for i, s in enumerate(steps)}
    want = {(ids[s], ids[p]) for s, preds in expected.predecessors.items() for p in preds}

    def edge(pair: tuple[int, int]) -> str:
        s, p = pair
        return f"step {s} ({_step_text(steps[s], expected)}) runs after step {p} ({_step_text(steps[p], expected)})"

    missing, extra = sorted(want - edges), sorted(edges - want)
    if missing:
        more = f" ({len(missing)} edges missing)" if len(missing) > 1 else ""
        return _fail("after", f"{edge(missing[0])} by its own states, an edge the file leaves out{more}")
    if extra:
        return _fail("after", f"{edge(extra[0])} in the file, an edge its own states do not give")
    return _fail("after", "the edges are not listed as dumps writes them (one entry per step, in order)")


_STATE_KEYS = ("format", "version", "checksum", "resources")


def _dumps_state(state: State, conv: cattrs.Converter, secret: bytes | None) -> str:
    # In address order, so equal states give the same file whatever order they were built in.
    objects = [state.by_address[a] for a in sorted(state.addresses, key=str)]
    try:
        body: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_FORMAT_VERSION,
            "resources": [_write_resource(conv, obj) for obj in objects],
        }
        if state.externals:
            # Only when there are any, so states without externals keep the layout older readers know.
            body["externals"] = sorted(_write_externals(conv, state), key=lambda e: e["address"])
        body = json.loads(canonical(body))
    except (TypeError, ValueError, Unsaveable, RecursionError):
        for obj in (*objects, *(e.value for e in state.externals.values() if e.value is not None)):
            try:
                canonical(conv.unstructure(obj, type(obj)))
            except (TypeError, ValueError, Unsaveable, RecursionError):
                raise _unsaveable(conv, obj) from None
        raise PlanFileError("cannot save the state: a value has no JSON form") from None
    check_depth(body, "cannot save the state")
    body["checksum"] = _checksum(body)
    if secret is not None:
        body["signature"] = _signature(body, secret)
    return canonical(body) + "\n"


def loads_state(
    text: str,
    types: Iterable[type] | Mapping[str, type],
    *,
    converter: cattrs.Converter | None = None,
    key: bytes | str | None = None,
    allow_dangling: bool = False,
) -> State:
    """Read a state saved by ``dumps(state)``, validating it as untrusted input (as :func:`loads` does a plan).

    The whole file is checked before the ``State`` is returned: standard JSON
    without duplicate keys, format, version, signature (with ``key``),
    checksum, every resource exactly as ``dumps`` writes it for its field
    types, in address order, and the resources together as ``State`` checks
    them (no duplicate, no cycle; no dangling ref unless ``allow_dangling``).

    Args:
        text: what ``dumps(state)`` wrote.
        types: the state's resource classes (or a mapping kind -> class).
        converter: the converter given to ``dumps``, if any.
        key: the key given to ``dumps``. With a key, an unsigned file or a
            wrong signature is refused; without one, a signed file is refused.
        allow_dangling: accept refs to addresses outside the state, as
            ``State(..., allow_dangling=True)`` does (for a saved observed state).

    Raises:
        PlanFileError: the text is truncated, modified, a plan file, of another
            format version, holds a kind none of ``types`` serves, or is not a
            valid state; the message names the place (``resources[2].fields.mtu``).
        ResourceDefinitionError: ``types`` holds a non-resource or two classes for one kind.
    """
    classes = _classes(types)
    conv = _converter(converter)
    if type(allow_dangling) is not bool:
        raise PlanFileError(f"allow_dangling must be True or False, got {type(allow_dangling).__name__}")
    try:
        doc = _opened(text, _key_bytes(key), STATE_FORMAT, "loads_state")
        keys = (*_STATE_KEYS, "signature") if key is not None else _STATE_KEYS
        _check_keys(doc, "", (*keys, "externals") if "externals" in doc else keys, "a state file")
        if type(doc["resources"]) is not list:
            raise _fail("resources", f"expected a list, got {describe(doc['resources'])}")
        reader = _Reader(conv, classes)
        objects = [reader.resource(d, f"resources[{i}]") for i, d in enumerate(doc["resources"])]
        externals = reader.externals(doc["externals"], "externals") if "externals" in doc else []
        if "externals" in doc and not externals:
            raise _fail("externals", "empty, which dumps never writes (it leaves the key out)")
        ext_names = [str(e.address) for e in externals]
        if ext_names != sorted(ext_names):
            raise _fail("externals", "not in address order, as dumps writes them")
    except PlanFileError as exc:
        # The readers shared with plan files word their problems for a "plan file".
        text_ = str(exc)
        raise PlanFileError("state file" + text_[9:] if text_.startswith("plan file") else text_) from None
    except RecursionError:
        raise PlanFileError("state file: values nest too deeply to be read") from None
    try:
        state = State([*externals, *objects], allow_dangling=allow_dangling)
    except ReconcileError as exc:
        raise PlanFileError(f"state file: not a valid state: {exc}") from None
    names = [str(type_of(type(o)).address(o)) for o in objects]
    for i, (name, following) in enumerate(itertools.pairwise(names)):
        if following <= name:
            shown = type_of(type(objects[i + 1])).display_address(objects[i + 1])
            raise PlanFileError(f"state file: resources[{i + 1}]: {shown} is out of address order")
    return state
