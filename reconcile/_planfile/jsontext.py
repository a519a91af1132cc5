"""Strict JSON for plan files: standard tokens only, no duplicate keys, bounded nesting, and paths naming a place."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from .._typecheck import MAX_DEPTH as VALUE_DEPTH
from ..errors import PlanFileError
from .converter import describe

# Every value a State accepts must fit: a tagged level (``{"$dict": [[k, v]]}``)
# takes up to three JSON levels, and the file's own structure a few more.
MAX_DEPTH = 3 * VALUE_DEPTH + 16
"""How deeply a plan file may nest arrays and objects; ``dumps`` refuses to write deeper, ``loads`` to read it."""

Path = Sequence[str | int]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SHOWN_KEY = 40


def path_text(root: str, path: Path) -> str:
    """``root`` followed by ``.key`` / ``[index]`` steps; odd keys JSON-quoted (escaped) and cut short."""
    out = [root]
    for step in path:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _NAME.fullmatch(step):
            out.append(f".{step}" if out[-1] else step)
        else:
            cut = step[:_SHOWN_KEY]
            # ensure_ascii escapes control characters, ANSI escapes and bidi overrides alike.
            out.append(f"[{json.dumps(cut)}{'…' if len(cut) < len(step) else ''}]")
    return "".join(out)


class _DuplicateKey(Exception):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


class _Marked(dict[str, Any]):
    """An object that held a key twice (only built to find where, once a duplicate was seen)."""

    duplicate: str = ""


def _mark(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = _Marked(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                out.duplicate = k
                break
            seen.add(k)
    return out


def _no_constant(name: str) -> Any:
    raise PlanFileError(
        f'plan file holds {name}, which is not standard JSON (non-finite floats are written {{"$float": ...}})'
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PlanFileError("plan file holds a number too large for a float")
    return value


def parse(text: str) -> Any:
    """The JSON value of ``text``, refusing what ``dumps`` never writes; every problem is a ``PlanFileError``."""
    try:
        try:
            doc = json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant, parse_float=_finite)
        except _DuplicateKey:
            # Parsed again to find where; a syntax error later in the text is reported first (as json would).
            marked = json.loads(text, object_pairs_hook=_mark, parse_constant=_no_constant, parse_float=_finite)
            where, key = _find_duplicate(marked)
            raise PlanFileError(
                f"plan file: {path_text('', where) or 'the top level'}: key {_key(key)} appears twice"
            ) from None
    except PlanFileError:
        raise
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"plan file is not valid JSON (truncated?): {exc}") from None
    except RecursionError:
        raise PlanFileError(f"plan file nests arrays and objects more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits (sys.get_int_max_str_digits()).
        raise PlanFileError(f"plan file holds a number Python does not read: {exc}") from None
    check_depth(doc)
    return doc


def _key(key: str) -> str:
    cut = key[:_SHOWN_KEY]
    return json.dumps(cut) + ("…" if len(cut) < len(key) else "")


def _find_duplicate(doc: Any) -> tuple[list[str | int], str]:
    work: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while work:
        value, where = work.pop()
        if isinstance(value, _Marked) and value.duplicate:
            return where, value.duplicate
        if isinstance(value, dict):
            work += ((v, [*where, k]) for k, v in value.items())
        elif isinstance(value, list):
            work += ((v, [*where, i]) for i, v in enumerate(value))
    raise AssertionError("a duplicate key was seen but not found again")  # pragma: no cover


def check_depth(doc: Any, what: str = "plan file") -> None:
    """Refuse ``doc`` if its arrays and objects nest more than :data:`MAX_DEPTH` levels deep, naming the place."""
    level = [doc] if type(doc) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise PlanFileError(
                f"{what}: {path_text('', _deep_path(doc)) or 'the top level'}: arrays and objects nest more than "
                f"{MAX_DEPTH} levels deep"
            )
        below: list[Any] = []
        for value in level:
            below.extend(value.values() if type(value) is dict else value)
        level = [v for v in below if type(v) is dict or type(v) is list]


def _deep_path(doc: Any) -> list[str | int]:
    """The path to the first container at depth MAX_DEPTH (only called once nesting is known to exceed it)."""
    work: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while work:
        value, where = work.pop()
        if len(where) >= MAX_DEPTH:
            return where
        if type(value) is dict:
            work += ((v, [*where, k]) for k, v in value.items() if type(v) in (dict, list))
        elif type(value) is list:
            work += ((v, [*where, i]) for i, v in enumerate(value) if type(v) in (dict, list))
    return []  # pragma: no cover


def canonical(value: Any) -> str:
    """The compact JSON text of ``value`` (standard tokens only), as ``dumps`` writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def difference(given: Any, expected: Any, mismatch: str = "another value") -> tuple[list[str | int], str] | None:
    """The first place where JSON value ``given`` differs from ``expected``, and what differs; ``None`` if equal.

    Values are compared with their JSON types (``1``, ``1.0`` and ``true`` differ);
    object key order does not matter. The problem named never shows a value:
    two scalars of one type that differ are ``mismatch``.
    """
    if type(given) is not type(expected):
        return [], f"expected {describe(expected)}, got {describe(given)}"
    if type(given) is dict:
        for key in given:
            if key not in expected:
                return [], f"unknown key {_key(key)}"
        for key, value in expected.items():
            if key not in given:
                return [], f"missing key {_key(key)}"
            found = difference(given[key], value, mismatch)
            if found is not None:
                return [key, *found[0]], found[1]
        return None
    if type(given) is list:
        for i, (g, e) in enumerate(zip(given, expected, strict=False)):
            found = difference(g, e, mismatch)
            if found is not None:
                return [i, *found[0]], found[1]
        if len(given) != len(expected):
            return [], f"expected {len(expected)} items, got {len(given)}"
        return None
    if given != expected:
        return [], mismatch
    return None
