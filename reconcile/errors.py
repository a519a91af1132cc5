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


class NestingError(FieldTypeError):
    """A field holds a value nested deeper than the limit, or one that contains itself.

    Raised (inside ``InvalidStateError``) for fields whose annotation does not
    bound the nesting (``Any``, a bare ``list``): no such value can be
    compared, shown or saved without exhausting the stack. The value is not
    shown.

    Attributes:
        address: the resource.
        field: the field name.
        limit: the deepest nesting allowed.
        value: the offending value (``(sensitive)`` if the field is sensitive).
        contains_itself: the value contains itself (rather than nesting too deep).
    """

    def __init__(self, address: Any, field: str, limit: int, value: Any, *, contains_itself: bool = False) -> None:
        self.address = address
        self.field = field
        self.limit = limit
        self.expected = f"a value nested at most {limit} levels deep"
        self.value = value
        self.contains_itself = contains_itself
        what = "a value" if value == "(sensitive)" else f"a {type(value).__name__}"
        problem = "that contains itself" if contains_itself else f"nested deeper than {limit} levels"
        StateProblem.__init__(self, f"{address}: field {field!r} holds {what} {problem}")


class StateInputError(ReconcileError, TypeError):
    """Something that is not a ``State`` or not resources was given as one: ``State(None)``, ``plan(desired, "x")``."""


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


class LifecycleError(ReconcileError, ValueError):
    """A lifecycle option is invalid: a malformed field path, a path naming no field, or a trigger to nowhere."""


class PlanOptionError(ReconcileError, ValueError):
    """An option given to ``plan()`` is invalid: a target naming no resource, a negative budget."""


class ProtectedResourceError(ReconcileError):
    """The plan would delete or replace protected resources; raised by ``plan()`` with every violation.

    Attributes:
        violations: ``(address, action, reason)`` for each protected resource the
            plan would delete or replace, in plan order.
    """

    def __init__(self, violations: Sequence[tuple[Any, Any, str]], shown: Sequence[str]) -> None:
        self.violations = tuple(violations)
        n = len(self.violations)
        lines = [f"plan would delete or replace {n} protected resource{'s' if n != 1 else ''}:"]
        for name, (_address, action, reason) in zip(shown, self.violations, strict=True):
            lines.append(f"  - {name}: {action.value} ({reason})")
        lines.append("Unprotect them (protect=False) or change the desired state so they are kept.")
        super().__init__("\n".join(lines))

    @property
    def addresses(self) -> tuple[Any, ...]:
        """The protected addresses the plan would delete or replace."""
        return tuple(v[0] for v in self.violations)


class PlanBudgetError(ReconcileError):
    """The plan deletes more resources than ``max_deletes`` allows (a replacement deletes one too).

    Attributes:
        count: how many resources the plan would delete or replace.
        limit: the budget.
        addresses: every address that would be deleted or replaced, in plan order.
    """

    SHOWN = 10

    def __init__(self, count: int, limit: int, addresses: Sequence[Any], shown: Sequence[str]) -> None:
        self.count = count
        self.limit = limit
        self.addresses = tuple(addresses)
        listed = ", ".join(shown[: self.SHOWN])
        more = f" and {count - self.SHOWN} more" if count > self.SHOWN else ""
        super().__init__(
            f"plan deletes or replaces {count} resource{'s' if count != 1 else ''}, more than max_deletes={limit}: "
            f"{listed}{more}"
        )


class StalePlanError(ReconcileError):
    """A saved plan no longer matches the world: something it touches changed since it was made.

    Nothing was applied. Plan again from a fresh observation.

    Attributes:
        differences: ``(address, what)`` for every touched address whose actual
            resource differs from the one planned against; ``what`` is
            ``"created"``, ``"deleted"`` or ``"changed: field, field"`` (field names
            only, never values).
    """

    def __init__(self, differences: Sequence[tuple[Any, str]], shown: Sequence[str]) -> None:
        self.differences = tuple(differences)
        n = len(self.differences)
        listed = "; ".join(f"{name} ({what})" for name, (_a, what) in zip(shown, differences, strict=True))
        super().__init__(
            f"saved plan is stale: {n} address{'es' if n != 1 else ''} it touches changed since it was made: "
            f"{listed}. Nothing was applied; plan again."
        )


class PlanFileError(ReconcileError, ValueError):
    """A saved plan cannot be read: truncated, modified, of another format version, or of unknown kinds."""


class RenderError(ReconcileError, ValueError):
    """``render()`` was asked for a format it does not know, or given something it cannot render."""


class ExecutorError(ReconcileError, ValueError):
    """An option of an executor, of ``apply`` or of a retry is invalid, or an executor cannot call a provider.

    Raised before any step runs, except for a bad ``TransientError.retry_after``,
    which is raised where the provider builds it (and so fails that step).
    """


class TransientError(ReconcileError):
    """Raised by a provider to ask for the step to be tried again later.

    The executor waits (exponential backoff with jitter, or ``retry_after`` when
    given) and calls the provider again, up to the retry policy's
    ``max_attempts`` and within its ``timeout``.

    Args:
        message: what went wrong.
        retry_after: seconds to wait before the next attempt (for example an
            API's ``Retry-After``), instead of the computed backoff.

    Attributes:
        retry_after: as given.
    """

    def __init__(self, message: str = "transient failure", *, retry_after: float | None = None) -> None:
        if retry_after is not None and not retry_after >= 0:
            raise ExecutorError(f"TransientError: retry_after must be a number >= 0, got {retry_after!r}")
        self.retry_after = retry_after
        super().__init__(message)


class StepTimeoutError(ReconcileError, TimeoutError):
    """A step ran out of its time budget (the retry policy's ``timeout``).

    Attributes:
        step: the step.
        timeout: the budget, in seconds.
        attempts: how many provider calls were made.
    """

    def __init__(self, step: Any, timeout: float, attempts: int) -> None:
        self.step = step
        self.timeout = timeout
        self.attempts = attempts
        super().__init__(f"{step}: timed out after {timeout:g}s ({attempts} attempt{'s' if attempts != 1 else ''})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.step, self.timeout, self.attempts))
