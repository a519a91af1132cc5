"""The plan file format: ``dumps`` and ``loads`` of versioned, checksummed JSON, and state fingerprints."""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import cattrs

from .._model import Address, resource_type, type_of
from .._plan import Action, Change, Plan, Step
from .._state import State
from ..errors import InvalidStateError, PlanFileError, ReconcileError, ResourceDefinitionError
from .converter import Unsaveable, default_converter

PLAN_FORMAT = "reconcile.plan"


PLAN_FORMAT_VERSION = 1


"""The plan file layout this version writes and reads (see docs/saved-plans.md)."""


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
            json.dumps(converter.unstructure(getattr(obj, field.name), hints.get(field.name, Any)))
        except (TypeError, ValueError, Unsaveable) as exc:
            problem = f"field {field.name!r}: {exc}"
            break
    return PlanFileError(f"cannot save {type_of(type(obj)).display_address(obj)}: {problem}")


def _write_resource(converter: cattrs.Converter, obj: Any) -> dict[str, Any]:
    try:
        fields = converter.unstructure(obj, type(obj))
    except Unsaveable:
        raise _unsaveable(converter, obj) from None
    return {"kind": type_of(type(obj)).kind, "fields": fields}


def _find_unsaveable(converter: cattrs.Converter, plan: Plan) -> PlanFileError:
    for obj in (*plan.desired, *plan.actual, *(c.after for c in plan.changes.values() if c.after is not None)):
        try:
            json.dumps(converter.unstructure(obj, type(obj)))
        except (TypeError, ValueError, Unsaveable):
            return _unsaveable(converter, obj)
    return PlanFileError("cannot save the plan: a value has no JSON form")


def _fingerprint(converter: cattrs.Converter, objects: Mapping[Address, Any]) -> str:
    digest = hashlib.sha256()
    for address in sorted(objects, key=str):
        obj = objects[address]
        entry = [str(address), None if obj is None else converter.unstructure(obj, type(obj))]
        digest.update(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def touched(plan: Plan) -> list[Address]:
    """The addresses a plan's steps act on, each once, in step order."""
    return list(dict.fromkeys(s.address for s in plan.steps))


def fingerprint(plan: Plan, converter: cattrs.Converter | None = None) -> str:
    """A digest of the actual resources ``plan`` touches, as it was planned against (absent ones included).

    Two plans made against the same actual resources (at the addresses they
    touch) have the same fingerprint.
    """
    conv = converter or default_converter()
    return _fingerprint(conv, {a: plan.actual.get(a) for a in touched(plan)})


def _checksum(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _write_change(converter: cattrs.Converter, change: Change, desired: State) -> dict[str, Any]:
    after: Any = None
    if change.after is not None:
        after = "desired" if change.after == desired.get(change.address) else _write_resource(converter, change.after)
    return {
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


def dumps(plan: Plan, *, converter: cattrs.Converter | None = None) -> str:
    """Save ``plan`` as JSON text; :func:`loads` gives back an equal plan.

    The text records the format version, a checksum of its content (so a
    truncated or edited file is refused), and the fingerprint of the actual
    resources the plan touches (so applying it after the world moved is refused).

    The file holds sensitive values in the clear, as the plan needs them to be
    applied: store it like a secret (see docs/saved-plans.md). Every rendering
    (``render``) redacts them.

    Args:
        plan: the plan to save.
        converter: a cattrs converter from :func:`make_converter` with hooks for
            your own field types; the default knows attrs classes, enums,
            datetimes, ``Ref``, ``Address`` and the builtin containers.

    Raises:
        PlanFileError: a field value has no JSON form (naming resource and field).
    """
    conv = converter or default_converter()
    ids = {s: i for i, s in enumerate(plan.steps)}
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
            "steps": [[str(s.address), s.op.value] for s in plan.steps],
            "after": [[ids[s], [ids[p] for p in preds]] for s, preds in plan.predecessors.items() if preds],
        }
        body["checksum"] = _checksum(body)
    except (TypeError, ValueError, Unsaveable):
        # A typed field held a value cattrs passed through as is (no hook for its type).
        raise _find_unsaveable(conv, plan) from None
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"


def _classes(types: Iterable[type] | Mapping[str, type]) -> dict[str, type]:
    items = types.values() if isinstance(types, Mapping) else types
    by_kind: dict[str, type] = {}
    for cls in items:
        rt = resource_type(cls)
        if not isinstance(cls, type):
            raise ResourceDefinitionError(f"loads() takes resource classes, got an instance {cls!r}")
        if by_kind.get(rt.kind, cls) is not cls:
            raise ResourceDefinitionError(
                f"loads() got two classes for kind {rt.kind!r}: {by_kind[rt.kind].__qualname__} and {cls.__qualname__}"
            )
        by_kind[rt.kind] = cls
    return by_kind


class _Reader:
    """Turns a checked plan-file body back into a ``Plan``; every problem becomes ``PlanFileError``."""

    def __init__(self, converter: cattrs.Converter, classes: Mapping[str, type]) -> None:
        self.converter = converter
        self.classes = classes

    def fail(self, where: str, problem: str) -> PlanFileError:
        return PlanFileError(f"plan file: {where}: {problem}")

    def resource(self, data: Any, where: str) -> Any:
        if not isinstance(data, dict) or set(data) != {"kind", "fields"}:
            raise self.fail(where, "expected {'kind': ..., 'fields': {...}}")
        cls = self.classes.get(data["kind"])
        if cls is None:
            raise self.fail(
                where,
                f"no class given for kind {data['kind']!r}; pass every resource class of the plan to loads()",
            )
        try:
            return self.converter.structure(data["fields"], cls)
        except Exception as exc:
            details = "; ".join(cattrs.transform_error(exc)) if isinstance(exc, cattrs.BaseValidationError) else exc
            raise self.fail(where, f"cannot rebuild a {cls.__qualname__}: {details}") from None

    def address(self, text: Any, where: str) -> Address:
        try:
            return Address.parse(text)
        except ReconcileError as exc:
            raise self.fail(where, str(exc)) from None

    def change(self, data: Any, where: str, desired: State, actual: State) -> Change:
        keys = {
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
        }
        if not isinstance(data, dict) or set(data) != keys:
            raise self.fail(where, f"expected an object with keys {sorted(keys)}")
        address = self.address(data["address"], where)
        try:
            action = Action(data["action"])
        except ValueError:
            raise self.fail(where, f"unknown action {data['action']!r}") from None
        before = actual.get(address) if data["before"] == "actual" else None
        if data["before"] not in ("actual", None) or (data["before"] == "actual" and before is None):
            raise self.fail(where, f"'before' of {address} must name its actual resource")
        after_data = data["after"]
        after = desired.get(address) if after_data == "desired" else after_data
        if isinstance(after_data, dict):
            after = self.resource(after_data, where + ".after")
        if after_data == "desired" and after is None:
            raise self.fail(where, f"'after' of {address} names a desired resource that is not in the file")
        if (before is None) != (action is Action.CREATE) or (after is None) != (action is Action.DELETE):
            raise self.fail(where, f"a {action.value} of {address} cannot have before={data['before']!r}")
        for name in ("changed_fields", "replace_fields", "replaced_refs", "triggered_by"):
            if not isinstance(data[name], list) or not all(isinstance(x, str) for x in data[name]):
                raise self.fail(where, f"{name!r} must be a list of strings")
        if not isinstance(data["create_before_delete"], bool):
            raise self.fail(where, "'create_before_delete' must be true or false")
        forced = data["forced_by"]
        return Change(
            address,
            action,
            before,
            after,
            tuple(data["changed_fields"]),
            tuple(data["replace_fields"]),
            tuple(self.address(a, where) for a in data["replaced_refs"]),
            data["create_before_delete"],
            None if forced is None else self.address(forced, where),
            tuple(self.address(a, where) for a in data["triggered_by"]),
        )


_KEYS = {"format", "version", "fingerprint", "unchanged", "desired", "actual", "changes", "deferred", "steps", "after"}


_EXPECTED_OPS = {
    Action.CREATE: (Action.CREATE,),
    Action.UPDATE: (Action.UPDATE,),
    Action.DELETE: (Action.DELETE,),
    Action.REPLACE: (Action.CREATE, Action.DELETE),
}


def _parse(text: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise PlanFileError(f"loads() takes the text dumps() wrote, got {type(text).__name__}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"plan file is not valid JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanFileError(f'not a reconcile plan file (expected "format": {PLAN_FORMAT!r})')
    version = doc.get("version")
    if version != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"plan file format version {version!r} is not supported: this reconcile reads version "
            f"{PLAN_FORMAT_VERSION}; plan again with this version"
        )
    checksum = doc.pop("checksum", None)
    if checksum != _checksum(doc):
        raise PlanFileError("plan file checksum does not match its content: the file was modified or corrupted")
    if set(doc) != _KEYS:
        raise PlanFileError(f"plan file has keys {sorted(doc)}, expected {sorted(_KEYS)}")
    return doc


def loads(text: str, types: Iterable[type] | Mapping[str, type], *, converter: cattrs.Converter | None = None) -> Plan:
    """Read a plan saved by :func:`dumps`.

    The whole file is checked before a ``Plan`` is returned: format, version,
    checksum, every resource, every change and step. A plan read back remembers
    the fingerprint it was saved with, and :func:`reconcile.apply` refuses it
    (``StalePlanError``) if the resources it touches changed since.

    Args:
        text: what :func:`dumps` wrote.
        types: the resource classes of the plan (or a mapping kind -> class).
        converter: the converter given to :func:`dumps`, if any.

    Raises:
        PlanFileError: the text is truncated, modified, of another format version,
            holds a kind none of ``types`` serves, or does not describe a valid plan.
        ResourceDefinitionError: ``types`` holds a non-resource or two classes for one kind.
    """
    classes = _classes(types)
    doc = _parse(text)
    reader = _Reader(converter or default_converter(), classes)
    for section in ("desired", "actual", "changes", "deferred", "steps", "after"):
        if not isinstance(doc[section], list):
            raise PlanFileError(f"plan file: {section!r} must be a list")
    desired_objs = [reader.resource(d, f"desired[{i}]") for i, d in enumerate(doc["desired"])]
    actual_objs = [reader.resource(d, f"actual[{i}]") for i, d in enumerate(doc["actual"])]
    try:
        desired = State(desired_objs)
        actual = State(actual_objs, allow_dangling=True)
    except InvalidStateError as exc:
        raise PlanFileError(f"plan file holds an invalid state: {exc}") from None
    changes = {}
    for i, d in enumerate(doc["changes"]):
        change = reader.change(d, f"changes[{i}]", desired, actual)
        changes[change.address] = change
    deferred = {}
    for i, d in enumerate(doc["deferred"]):
        change = reader.change(d, f"deferred[{i}]", desired, actual)
        deferred[change.address] = change
    steps = _read_steps(doc["steps"], changes)
    after = _read_after(doc["after"], steps)
    unchanged = doc["unchanged"]
    if type(unchanged) is not int or unchanged < 0:
        raise PlanFileError("plan file: 'unchanged' must be a non-negative integer")
    plan = Plan(desired, actual, changes, steps, after, unchanged, deferred, doc["fingerprint"])
    if doc["fingerprint"] != fingerprint(plan, reader.converter):
        raise PlanFileError("plan file: its fingerprint does not match the actual resources it records")
    return plan


def _read_steps(data: list[Any], changes: Mapping[Address, Change]) -> tuple[Step, ...]:
    steps = []
    for i, item in enumerate(data):
        where = f"plan file: steps[{i}]"
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise PlanFileError(f"{where}: expected [address, op]")
        try:
            step = Step(Address.parse(item[0]), Action(item[1]))
        except (ReconcileError, ValueError) as exc:
            raise PlanFileError(f"{where}: {exc}") from None
        steps.append(step)
    seen: dict[Address, list[Action]] = {}
    for step in steps:
        if step.address not in changes:
            raise PlanFileError(f"plan file: step {step} acts on an address with no change")
        seen.setdefault(step.address, []).append(step.op)
    for address, change in changes.items():
        if sorted(a.value for a in seen.get(address, ())) != sorted(a.value for a in _EXPECTED_OPS[change.action]):
            raise PlanFileError(f"plan file: the steps of {address} do not match its {change.action.value}")
    return tuple(steps)


def _read_after(data: list[Any], steps: tuple[Step, ...]) -> dict[Step, tuple[Step, ...]]:
    after: dict[Step, tuple[Step, ...]] = {}
    for i, item in enumerate(data):
        ok = (
            isinstance(item, list)
            and len(item) == 2
            and type(item[0]) is int
            and isinstance(item[1], list)
            and all(type(p) is int for p in item[1])
        )
        # Steps are stored in a topological order, so a step only runs after earlier ones.
        if not ok or not 0 <= item[0] < len(steps) or not all(0 <= p < item[0] for p in item[1]):
            raise PlanFileError(f"plan file: after[{i}] is not [step, [earlier steps]]")
        after[steps[item[0]]] = tuple(steps[p] for p in item[1])
    return after
