"""How values and addresses are shown in renderings: the display's forms, sensitive parts redacted, unbounded."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import attrs

from .._model import REDACTED, Address, Ref, is_resource, redacted_address, show_address, show_value, type_of

KNOWN_AFTER_APPLY = "(known after apply)"


def address_text(address: Address) -> str:
    """An address in a text or graph rendering: redacted and escaped (``show_address``), never cut short.

    A review shows everything it is asked to review, so renderings lift the
    length bound that messages and logs keep.
    """
    return show_address(address, limit=None)


def value_text(value: Any, sensitive: bool = False) -> str:
    """A field value in the text review: ``repr``-like (``show_value``), never cut short."""
    return show_value(value, sensitive=sensitive, limit=None)


def address_json(address: Address) -> str:
    """An address in a JSON document: redacted, not escaped (JSON's own escaping is for programs)."""
    return redacted_address(address, limit=None)


def value_json(value: Any, sensitive: bool = False) -> Any:
    """A JSON value for a field value (see docs/rendering.md for the mapping); ``(sensitive)`` when sensitive."""
    if sensitive:
        return REDACTED
    if isinstance(value, Address):
        # Before str (an Address is one): its sensitive key parts are redacted.
        return address_json(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Ref):
        return {"ref": address_json(value.address)}
    if isinstance(value, enum.Enum):
        return value_json(value.value)
    if isinstance(value, (list, tuple)):
        return [value_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((value_json(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {str(k): value_json(v) for k, v in value.items()}
    if attrs.has(type(value)):
        hidden = type_of(type(value)).sensitive if is_resource(value) else frozenset()
        return {f.name: value_json(getattr(value, f.name), f.name in hidden) for f in attrs.fields(type(value))}
    return repr(value)
