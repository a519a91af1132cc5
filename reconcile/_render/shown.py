"""How values and addresses of a plan or state are shown in renderings, sensitive ones redacted."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import attrs

from .._model import Address, Ref, type_of
from .._state import State

KNOWN_AFTER_APPLY = "(known after apply)"


class Shown:
    """Formats addresses and values for people, redacting sensitive values and sensitive identities."""

    def __init__(self, *states: State) -> None:
        self._states = states

    def address(self, address: Address) -> str:
        for state in self._states:
            obj = state.by_address.get(address)
            if obj is not None:
                return type_of(type(obj)).display_address(obj)
        return str(address)

    def text(self, value: Any) -> str:
        """``repr``-like text of a field value; refs read ``ref('kind/key')`` with redacted identities."""
        if isinstance(value, Ref):
            return f"ref({self.address(value.address)!r})"
        if isinstance(value, Address):
            return repr(self.address(value))
        if isinstance(value, list):
            return "[" + ", ".join(self.text(v) for v in value) + "]"
        if isinstance(value, tuple) and type(value) is tuple:
            inner = ", ".join(self.text(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, (set, frozenset)):
            if not value:
                return repr(value)
            items = "{" + ", ".join(sorted(self.text(v) for v in value)) + "}"
            return items if type(value) is set else f"frozenset({items})"
        if isinstance(value, dict) and type(value) is dict:
            return "{" + ", ".join(f"{self.text(k)}: {self.text(v)}" for k, v in value.items()) + "}"
        return repr(value)

    def json(self, value: Any) -> Any:
        """A JSON value for a field value (see docs/rendering.md for the mapping)."""
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else repr(value)
        if isinstance(value, Ref):
            return {"ref": self.address(value.address)}
        if isinstance(value, Address):
            return self.address(value)
        if isinstance(value, enum.Enum):
            return self.json(value.value)
        if isinstance(value, (list, tuple)):
            return [self.json(v) for v in value]
        if isinstance(value, (set, frozenset)):
            return sorted((self.json(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        if isinstance(value, dict):
            return {str(k): self.json(v) for k, v in value.items()}
        if attrs.has(type(value)):
            return {f.name: self.json(getattr(value, f.name)) for f in attrs.fields(type(value))}
        return repr(value)
