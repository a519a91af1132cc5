"""The error hierarchy: one root, ``ReconcileError``, and one class per failure users handle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ReconcileError(Exception):
    """Root of every error raised by ``reconcile``.

    Catch this to handle anything the library reports; catch a subclass to handle
    one kind of failure.
    """


class ResourceDefinitionError(ReconcileError, TypeError):
    """A class given to ``@resource`` (or a field on it) is declared wrongly."""


class AddressError(ReconcileError, ValueError):
    """An address string cannot be parsed, or an address does not fit its kind."""


class StateProblem(ReconcileError):
    """One problem found while validating a ``State``; collected into ``InvalidStateError``."""


class DuplicateAddressError(StateProblem):
    """Two resources in one state share an address.

    Attributes:
        address: the shared address.
        first: the resource seen first.
        second: the resource seen later.
    """

    def __init__(self, address: Any, first: Any, second: Any) -> None:
        self.address = address
        self.first = first
        self.second = second
        super().__init__(f"duplicate address {address}: {first!r} and {second!r}")


class DanglingRefError(StateProblem):
    """A resource refers to an address that is not in the state.

    Attributes:
        address: the resource holding the reference.
        field: the field path holding it (``"depends_on"`` for explicit edges).
        target: the address that is missing.
    """

    def __init__(self, address: Any, field: str, target: Any) -> None:
        self.address = address
        self.field = field
        self.target = target
        super().__init__(f"{address}: field {field!r} refers to {target}, which is not in the state")


class CycleError(StateProblem):
    """The dependency graph has a cycle.

    Attributes:
        cycle: the addresses on the cycle, in order; each depends on the next and
            the last depends on the first.
    """

    def __init__(self, cycle: Sequence[Any]) -> None:
        self.cycle = tuple(cycle)
        path = " -> ".join(str(a) for a in (*self.cycle, self.cycle[0])) if self.cycle else ""
        super().__init__(f"dependency cycle: {path}")


class FieldTypeError(StateProblem, TypeError):
    """A field holds a value of the wrong type for its annotation.

    Attributes:
        address: the resource.
        field: the field path (``tags['env']`` for nested values).
        expected: the expected type, as written.
        value: the offending value (``(sensitive)`` if the field is sensitive).
    """

    def __init__(self, address: Any, field: str, expected: str, value: Any) -> None:
        self.address = address
        self.field = field
        self.expected = expected
        self.value = value
        super().__init__(
            f"{address}: field {field!r} expects {expected}, got {type(value).__name__} {value!r}"
            if value != "(sensitive)"
            else f"{address}: field {field!r} expects {expected}, got a value of another type (sensitive)"
        )


class InvalidStateError(ExceptionGroup[StateProblem], ReconcileError):
    """A ``State`` failed validation; ``exceptions`` holds every problem found.

    It is an ``ExceptionGroup``, so ``except* DanglingRefError`` picks one kind of
    problem out. ``str()`` lists all of them.
    """

    def __new__(cls, message: str, problems: Sequence[StateProblem]) -> InvalidStateError:
        # The message carries every problem so tools that show only the message
        # (pytest's match=, logging) still name them all.
        n = len(problems)
        lines = [f"{message} ({n} problem{'s' if n != 1 else ''}):", *(f"  - {p}" for p in problems)]
        return super().__new__(cls, "\n".join(lines), list(problems))

    def __init__(self, message: str, problems: Sequence[StateProblem]) -> None:
        super().__init__(self.message, list(problems))

    def __str__(self) -> str:
        return self.message


class MissingProviderError(ReconcileError, LookupError):
    """No provider is registered for a kind the plan needs; raised before any step runs.

    Attributes:
        kinds: the kinds without a provider.
    """

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        super().__init__(f"no provider for kind(s): {', '.join(self.kinds)}")


class ProviderContractError(ReconcileError):
    """A provider returned something that breaks the provider contract (wrong type or address)."""


class UnresolvedRefError(ReconcileError, LookupError):
    """``Context.resolve`` was asked for an address that has no actual resource in this apply."""
