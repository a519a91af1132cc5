"""The versioned infrastructure template: a JSON document of resources with parameters, turned into a ``State``.

A template is untrusted input: :func:`load_template` and
:meth:`InfraTemplate.state` check everything (the document's shape, each
parameter given, every resource's kind, fields and types, refs) and raise one
:class:`TemplateError` listing every problem with its path. The format is in
docs/aws.md.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Mapping
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import attrs

import reconcile as rc

from .access import closed_trust
from .errors import TemplateError
from .resources import KINDS

FORMAT = "reconcile.cell-infra"
"""The ``format`` every template document names."""

PARAMETER_TYPES = ("string", "secret", "boolean", "integer", "cidr")

# The value each field of each kind takes in a template: a scalar type, a ref (by name) to a kind, or a list of them.
FIELD_TYPES: dict[str, dict[str, str]] = {
    "vpc": {"name": "string", "cidr": "cidr", "tags": "tags"},
    "subnet": {"name": "string", "vpc": "ref:vpc", "cidr": "cidr", "zone": "string"},
    "route-table": {"name": "string", "vpc": "ref:vpc", "subnets": "refs:subnet"},
    "security-group": {"name": "string", "vpc": "ref:vpc", "description": "string", "ingress": "rules"},
    "bucket": {"name": "string", "versioning": "boolean", "encryption": "encryption", "tags": "tags"},
    "iam-role": {
        "name": "string",
        "trust_policy": "object",
        "managed_policies": "strings",
        "description": "string",
        "tags": "tags",
    },
    "ssm-parameter": {"name": "string", "value": "string", "description": "string"},
    "ssm-secret": {"name": "string", "value": "string", "description": "string"},
}
# Keys any resource entry may carry besides its fields.
ENTRY_KEYS = ("kind", "when", "protect", "debug_access")

# What ``${p}`` stands for while parameter p has no value: its problem is reported once, at the parameter.
_MISSING = object()

_REF = re.compile(r"\$\{([^}]*)\}")
_CIDRSUBNET = re.compile(r"^cidrsubnet\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$")
_RULE = re.compile(r"^(tcp|udp|icmp|-1):\d{1,5}:[0-9./]+$")


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", str: "string", list: "list", dict: "object"}.get(type(value), "null")


def _check_value(kind: str, value: Any) -> str | None:
    """What is wrong with ``value`` as a template value of type ``kind``, or ``None``."""
    if kind in ("string", "cidr") or kind.startswith("ref:"):
        if not isinstance(value, str):
            return f"expected a string, got {_type_name(value)} {value!r}"
        if kind == "cidr":
            try:
                ipaddress.ip_network(value)
            except ValueError:
                return f"expected a CIDR block such as 10.0.0.0/16, got {value!r}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected true or false, got {_type_name(value)} {value!r}"
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {_type_name(value)} {value!r}"
    if kind == "encryption":
        return None if value in ("AES256", "aws:kms", "none") else f"expected AES256, aws:kms or none, got {value!r}"
    if kind == "object":
        return None if isinstance(value, dict) else f"expected an object, got {_type_name(value)}"
    if kind == "tags":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return "expected an object of strings"
        return None
    if kind in ("strings", "rules") or kind.startswith("refs:"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"expected a list of strings, got {_type_name(value)}"
        if kind == "rules":
            bad = [v for v in value if not _RULE.match(v)]
            if bad:
                return f"expected rules as PROTOCOL:PORT:CIDR (tcp:443:0.0.0.0/0), got {bad[0]!r}"
        return None
    raise AssertionError(f"unknown field type {kind}")


@attrs.frozen
class TemplateParameter:
    """A parameter a template declares.

    Attributes:
        name: how ``${name}`` refers to it.
        type: ``string``, ``secret`` (a string never shown), ``boolean``, ``integer`` or ``cidr``.
        default: the value when none is given; ``None`` makes it required.
        pattern: a regular expression a string value must match in full.
        description: what it is for.
    """

    name: str
    type: str
    default: Any = None
    pattern: str | None = None
    description: str = ""


@attrs.frozen
class InfraTemplate:
    """A validated infrastructure template document, ready to be given parameters.

    Attributes:
        version: the infrastructure version it describes (what the agent reports).
        description: what it is.
        parameters: the parameters it declares, by name.
        resources: its resource entries, as written.
        outputs: output name to ``kind/name.field`` of a resource, written after each apply.
        source: where it was read from.
    """

    version: int
    description: str
    parameters: Mapping[str, TemplateParameter]
    resources: tuple[Mapping[str, Any], ...]
    outputs: Mapping[str, str]
    source: str = "<template>"

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value: ``given`` (strings from a command line are converted) over the defaults.

        Raises:
            TemplateError: a parameter is unknown, missing or of the wrong type (all listed).
        """
        problems: list[tuple[str, str]] = []
        values = self._values(given, problems)
        if problems:
            raise TemplateError(self.source, problems)
        return values

    def _values(self, given: Mapping[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in sorted(set(given) - set(self.parameters)):
            known = ", ".join(sorted(self.parameters)) or "none"
            problems.append((f"parameters.{name}", f"unknown parameter (this template takes: {known})"))
        for name, p in self.parameters.items():
            path = f"parameters.{name}"
            if name not in given:
                if p.default is None:
                    problems.append((path, f"missing: give it as --param {name}=VALUE"))
                else:
                    values[name] = p.default
                continue
            value = _convert(p, given[name])
            wrong = _check_value("string" if p.type == "secret" else p.type, value)
            if wrong is None and p.pattern is not None and not re.fullmatch(p.pattern, str(value)):
                wrong = f"{'the value' if p.type == 'secret' else repr(value)} does not match {p.pattern!r}"
            if wrong is not None:
                problems.append((path, "(sensitive) has the wrong type" if p.type == "secret" else wrong))
            else:
                values[name] = value
        return values

    def secrets(self, values: Mapping[str, Any]) -> list[str]:
        """The values of the secret parameters, to keep out of anything shown."""
        return [str(values[n]) for n, p in self.parameters.items() if p.type == "secret" and values.get(n)]

    def state(self, given: Mapping[str, Any], *, account_id: str = "000000000000", region: str = "") -> rc.State:
        """The desired ``State`` for parameters ``given``; ``${aws:account_id}``, ``${aws:region}`` as given.

        Raises:
            TemplateError: every problem with the parameters or the resources, with its path.
        """
        problems: list[tuple[str, str]] = []
        values = self._values(given, problems)
        builtins = {"aws:account_id": account_id, "aws:region": region or str(values.get("region", ""))}
        built: list[Any] = []
        entries: list[tuple[str, Mapping[str, Any]]] = []
        for i, entry in enumerate(self.resources):
            path = f"resources[{i}]"
            when = entry.get("when")
            if when is not None:
                if not isinstance(when, str) or when not in self.parameters:
                    problems.append((f"{path}.when", f"expected the name of a parameter, got {when!r}"))
                    continue
                if when in values and not values[when]:
                    continue
            entries.append((path, _substitute(entry, values, builtins, path, problems, set(self.parameters))))
        names = {(e.get("kind"), e.get("name")) for _, e in entries}
        for path, entry in entries:
            obj = _build(entry, path, names, account_id, problems)
            if obj is not None:
                built.append(obj)
        seen: dict[str, str] = {}
        for path, entry in entries:
            key = f"{entry.get('kind')}/{entry.get('name')}"
            if entry.get("name") is _MISSING:
                continue
            if key in seen:
                problems.append((f"{path}.name", f"{key} is declared twice (first at {seen[key]})"))
            seen.setdefault(key, path)
        if problems:
            raise TemplateError(self.source, problems)
        return rc.State(built)

    def resolve_outputs(
        self, given: Mapping[str, Any], actual: rc.State, *, account_id: str = "000000000000", region: str = ""
    ) -> dict[str, Any]:
        """Each output's value in ``actual`` (``None`` for a resource or field it does not hold).

        Raises:
            TemplateError: as :meth:`values`.
        """
        values = self.values(given)
        builtins = {"aws:account_id": account_id, "aws:region": region or str(values.get("region", ""))}
        problems: list[tuple[str, str]] = []
        out: dict[str, Any] = {}
        for name, target in self.outputs.items():
            text = _substitute(target, values, builtins, f"outputs.{name}", problems, set(self.parameters))
            if text is _MISSING:
                out[name] = None
                continue
            where, _, field = str(text).rpartition(".")
            kind, _, key = where.partition("/")
            obj = actual.get(rc.Address(kind, (key,)))
            out[name] = getattr(obj, field, None) if obj is not None else None
        return out


def _convert(p: TemplateParameter, value: Any) -> Any:
    """A command line's string as the parameter's type (left as is when it does not convert: the check says so)."""
    if not isinstance(value, str):
        return value
    if p.type == "boolean" and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    if p.type == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _substitute(
    value: Any,
    values: Mapping[str, Any],
    builtins: Mapping[str, str],
    path: str,
    problems: list[tuple[str, str]],
    declared: set[str],
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, values, builtins, f"{path}.{k}", problems, declared) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, builtins, f"{path}[{i}]", problems, declared) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def lookup(expr: str) -> Any:
        expr = expr.strip()
        if expr in builtins:
            return builtins[expr]
        m = _CIDRSUBNET.match(expr)
        if m is not None:
            base, bits, number = m.group(1), int(m.group(2)), int(m.group(3))
            network = lookup(base)
            if network is _MISSING:
                return _MISSING
            try:
                net = ipaddress.ip_network(str(network))
                if not 0 < bits <= net.max_prefixlen - net.prefixlen or number >= 2**bits:
                    raise ValueError(f"{net} has no subnet {number} of {bits} more bits")
                return str(next(itertools.islice(net.subnets(prefixlen_diff=bits), number, None)))
            except ValueError as exc:
                problems.append((path, f"cidrsubnet: {exc}"))
                return _MISSING
        if expr not in declared:
            problems.append((path, f"${{{expr}}} names no parameter of this template"))
            return _MISSING
        return values.get(expr, _MISSING)

    whole = _REF.fullmatch(value)
    if whole is not None:
        return lookup(whole.group(1))
    parts = {m.group(0): lookup(m.group(1)) for m in _REF.finditer(value)}
    if any(v is _MISSING or v is None for v in parts.values()):
        return _MISSING
    return _REF.sub(lambda m: str(parts[m.group(0)]), value)


def _holds_missing(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_missing(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_missing(v) for v in value)
    return value is _MISSING


def _build(
    entry: Mapping[str, Any],
    path: str,
    names: set[tuple[Any, Any]],
    account_id: str,
    problems: list[tuple[str, str]],
) -> Any:
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        problems.append((f"{path}.kind", f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})"))
        return None
    cls = KINDS[kind]
    types = FIELD_TYPES[kind]
    start = len(problems)
    for key in sorted(set(entry) - set(types) - set(ENTRY_KEYS)):
        problems.append((f"{path}.{key}", f"unknown field of {kind} (fields: {', '.join(types)})"))
    debug = entry.get("debug_access", False)
    if debug not in (True, False) or (debug and kind != "iam-role"):
        problems.append((f"{path}.debug_access", "only an iam-role may be the debug-access role (true or false)"))
        debug = False
    protect = entry.get("protect", False)
    if protect not in (True, False):
        problems.append((f"{path}.protect", f"expected true or false, got {protect!r}"))
    fields: dict[str, Any] = {}
    required = {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING and f.name in types}
    if debug:
        if "trust_policy" in entry:
            problems.append(
                (f"{path}.trust_policy", "the debug-access role's trust is managed by grants: leave it out")
            )
        fields["trust_policy"] = closed_trust(account_id)
        required.discard("trust_policy")
    for name in sorted(required - set(entry)):
        problems.append((f"{path}.{name}", f"missing (a {kind} needs {', '.join(sorted(required))})"))
    incomplete = False
    for name, value in entry.items():
        if _holds_missing(value):
            incomplete = True  # its parameter's problem is reported already
            continue
        if name not in types:
            continue
        wrong = _check_value(types[name], value)
        if wrong is not None:
            problems.append((f"{path}.{name}", wrong))
            continue
        field_type = types[name]
        if field_type.startswith(("ref:", "refs:")):
            target = field_type.split(":", 1)[1]
            for i, ref_name in enumerate([value] if isinstance(value, str) else value):
                if (target, ref_name) not in names:
                    where = f"{path}.{name}" + ("" if isinstance(value, str) else f"[{i}]")
                    problems.append((where, f"no {target} named {ref_name!r} in this template"))
            target_cls = KINDS[target]
            value = rc.ref(target_cls, value) if isinstance(value, str) else [rc.ref(target_cls, v) for v in value]
        fields[name] = value
    if incomplete or len(problems) > start:
        return None
    lifecycle = rc.Lifecycle(protect=True if protect else None, ignore=("trust_policy",) if debug else ())
    try:
        return cls(**fields, lifecycle=lifecycle)
    except rc.ReconcileError as exc:
        problems.append((path, str(exc)))
        return None


def load_template(source: str | Path | Mapping[str, Any], *, name: str | None = None) -> InfraTemplate:
    """Read and check a template: a path to a JSON file, a JSON text, or a parsed document.

    Raises:
        TemplateError: the file cannot be read or parsed (with its line and column), or the
            document is malformed (every problem, with its path).
    """
    where = name or (str(source) if isinstance(source, Path) else "<template>")
    if isinstance(source, Path):
        try:
            source = source.read_text()
        except OSError as exc:
            raise TemplateError(where, [("", f"cannot read: {exc.strerror}")]) from None
    if isinstance(source, str):
        try:
            document = json.loads(source)
        except json.JSONDecodeError as exc:
            raise TemplateError(where, [(f"line {exc.lineno}, column {exc.colno}", exc.msg)]) from None
    else:
        document = source
    return _parse(document, where)


def _parse(document: Any, where: str) -> InfraTemplate:
    problems: list[tuple[str, str]] = []
    if not isinstance(document, dict):
        raise TemplateError(where, [("", f"expected a JSON object, got {_type_name(document)}")])
    if document.get("format") != FORMAT:
        problems.append(("format", f"expected {FORMAT!r}, got {document.get('format')!r}"))
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(("version", f"expected a positive integer, got {version!r}"))
    for key in sorted(set(document) - {"format", "version", "description", "parameters", "resources", "outputs"}):
        problems.append((key, "unknown key"))
    parameters: dict[str, TemplateParameter] = {}
    raw_params = document.get("parameters", {})
    if not isinstance(raw_params, dict):
        problems.append(("parameters", "expected an object"))
        raw_params = {}
    for pname, spec in raw_params.items():
        path = f"parameters.{pname}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pname):
            problems.append((path, "a parameter name is letters, digits and _"))
        if not isinstance(spec, dict):
            problems.append((path, "expected an object with a type"))
            continue
        ptype = spec.get("type")
        if ptype not in PARAMETER_TYPES:
            problems.append((f"{path}.type", f"expected one of {', '.join(PARAMETER_TYPES)}, got {ptype!r}"))
            continue
        for key in sorted(set(spec) - {"type", "default", "pattern", "description"}):
            problems.append((f"{path}.{key}", "unknown key"))
        default = spec.get("default")
        if default is not None:
            wrong = _check_value("string" if ptype == "secret" else ptype, default)
            if wrong is not None:
                problems.append((f"{path}.default", wrong))
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                problems.append((f"{path}.pattern", f"not a regular expression: {exc}"))
        parameters[pname] = TemplateParameter(pname, ptype, default, pattern, str(spec.get("description", "")))
    raw_resources = document.get("resources")
    if not isinstance(raw_resources, list):
        problems.append(("resources", "expected a list of resources"))
        raw_resources = []
    for i, entry in enumerate(raw_resources):
        if not isinstance(entry, dict):
            problems.append((f"resources[{i}]", f"expected an object, got {_type_name(entry)}"))
        elif entry.get("kind") not in KINDS:
            problems.append(
                (f"resources[{i}].kind", f"unknown kind {entry.get('kind')!r} (known: {', '.join(sorted(KINDS))})")
            )
    outputs = document.get("outputs", {})
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        problems.append(("outputs", 'expected an object of output name to "kind/name.field"'))
        outputs = {}
    for oname, target in outputs.items():
        if not re.fullmatch(r"[^/]+/[^.]+\.[A-Za-z_]+", target):
            problems.append((f"outputs.{oname}", f'expected "kind/name.field", got {target!r}'))
    if problems:
        raise TemplateError(where, problems)
    return InfraTemplate(
        version if isinstance(version, int) else 0,
        str(document.get("description", "")),
        parameters,
        tuple(e for e in raw_resources if isinstance(e, dict)),
        dict(outputs),
        where,
    )


def builtin_template(version: int) -> InfraTemplate:
    """The cell infrastructure template shipped with reconcile, ``cell-infra-v<version>.json``.

    Raises:
        TemplateError: no such version is shipped.
    """
    name = f"cell-infra-v{version}.json"
    path = package_files.files(__package__).joinpath("templates", name)
    if not path.is_file():
        raise TemplateError(name, [("", f"no built-in template {name}")])
    return load_template(path.read_text(), name=name)


__all__ = ["FORMAT", "PARAMETER_TYPES", "InfraTemplate", "TemplateParameter", "builtin_template", "load_template"]
