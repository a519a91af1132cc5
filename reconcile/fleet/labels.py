"""Cell labels: validated like Kubernetes labels, changed by ``k=v`` / ``k-`` edits, and matched by selectors.

A key is an optional DNS-subdomain prefix and a slash, then a name of at most
63 characters (letters, digits, ``-``, ``_``, ``.``; starting and ending with
a letter or digit). A value is empty or follows the same rule as a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidInputError

MAX_LABELS = 64
"""The most labels a cell may carry."""

_LABEL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def check_label_key(value: Any, where: str) -> str:
    """``value`` if it is a valid label key (``[prefix/]name``), else ``InvalidInputError`` naming ``where``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: expected a label key (a string), got {type(value).__name__}")
    prefix, slash, name = value.rpartition("/")
    if slash:
        parts = prefix.split(".")
        if not prefix or len(prefix) > 253 or not all(_DNS_LABEL.match(p) for p in parts):
            raise InvalidInputError(
                f"{where}: label key prefix {prefix!r} is not a DNS subdomain (lower-case, dots, at most 253)"
            )
    if not _LABEL_NAME.match(name):
        raise InvalidInputError(
            f"{where}: label key {value!r}: the name must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def check_label_value(value: Any, where: str) -> str:
    """``value`` if it is a valid label value (empty, or like a label name), else ``InvalidInputError``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: expected a label value (a string), got {type(value).__name__}")
    if value and not _LABEL_NAME.match(value):
        raise InvalidInputError(
            f"{where}: label value {value!r} must be empty or 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def check_labels(value: Any, where: str = "labels") -> dict[str, str]:
    """A copy of ``value`` if it is a mapping of valid label keys to valid values (at most ``MAX_LABELS``).

    Raises:
        InvalidInputError: naming the bad key or value (``cell.labels['tier']: label value ...``).
    """
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{where}: expected an object of label keys to values, got {type(value).__name__}")
    if len(value) > MAX_LABELS:
        raise InvalidInputError(f"{where}: at most {MAX_LABELS} labels, got {len(value)}")
    out = {}
    for key, val in value.items():
        check_label_key(key, f"{where}[{key!r}]")
        out[key] = check_label_value(val, f"{where}[{key!r}]")
    return dict(sorted(out.items()))


def parse_label_edits(args: Iterable[str], where: str = "labels") -> tuple[dict[str, str], list[str]]:
    """``k=v`` (set) and ``k-`` (remove) arguments, as in ``kubectl label``: (to set, to remove).

    Raises:
        InvalidInputError: an argument of neither form, a bad key or value, or a key both set and removed.
    """
    to_set: dict[str, str] = {}
    to_remove: list[str] = []
    for arg in args:
        if "=" in arg:
            key, _, val = arg.partition("=")
            to_set[check_label_key(key, f"{where} {arg!r}")] = check_label_value(val, f"{where} {arg!r}")
        elif arg.endswith("-") and len(arg) > 1:
            to_remove.append(check_label_key(arg[:-1], f"{where} {arg!r}"))
        else:
            raise InvalidInputError(f"{where} {arg!r}: expected KEY=VALUE to set a label or KEY- to remove it")
    both = sorted(set(to_set) & set(to_remove))
    if both:
        raise InvalidInputError(f"{where}: label {both[0]!r} is both set and removed")
    return to_set, to_remove


def selector_skip_reason(
    labels: Mapping[str, str], match: Mapping[str, str] | None, exclude: Mapping[str, str] | None
) -> str:
    """Why a cell with ``labels`` is left out by a selector, or ``""`` if it is in.

    Args:
        labels: the cell's labels.
        match: every one of these ``key: value`` pairs must be on the cell.
        exclude: a cell carrying any one of these pairs is left out.
    """
    for key, val in sorted((exclude or {}).items()):
        if labels.get(key) == val:
            return f"excluded by label {key}={val}"
    for key, val in sorted((match or {}).items()):
        if labels.get(key) != val:
            have = "no such label" if key not in labels else f"it has {key}={labels[key]}"
            return f"label {key}={val} does not match ({have})"
    return ""


__all__ = [
    "MAX_LABELS",
    "check_label_key",
    "check_label_value",
    "check_labels",
    "parse_label_edits",
    "selector_skip_reason",
]
