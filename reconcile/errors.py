"""The error hierarchy: one root, ``ReconcileError``, and one class per failure users handle.

This module is below the display (``reconcile._model.display``), so it cannot
redact or escape by itself: errors that name addresses or values take the text
to show as ``shown``, made by the code that raises them, and keep the raw
values in their attributes for programs.
"""

from __future__ import annotations

import warnings
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

    Args:
        shown: the address, the first and the second resource as the message
            shows them (redacted, escaped, bounded); by default their plain forms.

    Attributes:
        address: the shared address.
        first: the resource seen first.
        second: the resource seen later.
    """

    def __init__(self, address: Any, first: Any, second: Any, *, shown: Sequence[str] | None = None) -> None:
        self.address = address
        self.first = first
        self.second = second
        name, a, b = shown if shown is not None else (str(address), repr(first), repr(second))
        super().__init__(f"duplicate address {name}: {a} and {b}")


class DanglingRefError(StateProblem):
    """A resource refers to an address that is not in the state.

    Args:
        shown: the address, the field path and the target as the message shows
            them; by default their plain forms. For a ref in a sensitive field
            the path is the field's name and the target reads ``(sensitive)``.

    Attributes:
        address: the resource holding the reference.
        field: the field path holding it (``"depends_on"`` for explicit edges).
        target: the address that is missing.
    """

    def __init__(self, address: Any, field: str, target: Any, *, shown: Sequence[str] | None = None) -> None:
        self.address = address
        self.field = field
        self.target = target
        name, path, missing = shown if shown is not None else (str(address), field, str(target))
        super().__init__(f"{name}: field {path!r} refers to {missing}, which is not in the state")


class CycleError(StateProblem):
    """The dependency graph has a cycle.

    Args:
        shown: the addresses as the message shows them; by default their string forms.

    Attributes:
        cycle: the addresses on the cycle, in order; each depends on the next and
            the last depends on the first.
    """

    def __init__(self, cycle: Sequence[Any], *, shown: Sequence[str] | None = None) -> None:
        self.cycle = tuple(cycle)
        names = tuple(shown) if shown is not None else tuple(str(a) for a in self.cycle)
        path = " -> ".join((*names, names[0])) if names else ""
        super().__init__(f"dependency cycle: {path}")


class FieldTypeError(StateProblem, TypeError):
    """A field holds a value of the wrong type for its annotation.

    Args:
        shown: the address and the value as the message shows them; by default
            their plain forms.

    Attributes:
        address: the resource.
        field: the field path (``tags['env']`` for nested values); for a
            sensitive field, only the field's name (its keys may be secrets too).
        expected: the expected type, as written.
        value: the offending value (``(sensitive)`` if the field is sensitive).
    """

    def __init__(
        self, address: Any, field: str, expected: str, value: Any, *, shown: Sequence[str] | None = None
    ) -> None:
        self.address = address
        self.field = field
        self.expected = expected
        self.value = value
        name, text = shown if shown is not None else (str(address), repr(value))
        super().__init__(
            f"{name}: field {field!r} expects {expected}, got {type(value).__name__} {text}"
            if value != "(sensitive)"
            else f"{name}: field {field!r} expects {expected}, got a value of another type (sensitive)"
        )


class NestingError(FieldTypeError):
    """A field holds a value nested deeper than the limit, or one that contains itself.

    Raised (inside ``InvalidStateError``) for fields whose annotation does not
    bound the nesting (``Any``, a bare ``list``): no such value can be
    compared, shown or saved without exhausting the stack. The value is not
    shown (only its type).

    Args:
        shown: the address as the message shows it; by default its plain form.

    Attributes:
        address: the resource.
        field: the field name.
        limit: the deepest nesting allowed.
        value: the offending value (``(sensitive)`` if the field is sensitive).
        contains_itself: the value contains itself (rather than nesting too deep).
    """

    def __init__(
        self,
        address: Any,
        field: str,
        limit: int,
        value: Any,
        *,
        contains_itself: bool = False,
        shown: Sequence[str] | None = None,
    ) -> None:
        self.address = address
        self.field = field
        self.limit = limit
        self.expected = f"a value nested at most {limit} levels deep"
        self.value = value
        self.contains_itself = contains_itself
        what = "a value" if value == "(sensitive)" else f"a {type(value).__name__}"
        problem = "that contains itself" if contains_itself else f"nested deeper than {limit} levels"
        (name,) = shown if shown is not None else (str(address),)
        StateProblem.__init__(self, f"{name}: field {field!r} holds {what} {problem}")


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


class MissingExternalError(ReconcileError, LookupError):
    """An external object the desired state declares does not exist; raised by ``plan()`` before anything runs.

    Attributes:
        addresses: every declared external address with nothing found at it.
    """

    def __init__(self, addresses: Sequence[Any], shown: Sequence[str]) -> None:
        self.addresses = tuple(addresses)
        super().__init__(
            f"external object(s) not found: {', '.join(shown)}. They are declared with external() and never "
            "created: make them exist, or read them with observe(providers, desired), which asks each "
            "provider's read()"
        )


class NothingToAdoptError(ReconcileError, LookupError):
    """``plan(adopt=...)`` names addresses where nothing was found to adopt.

    Attributes:
        addresses: every address to adopt that the actual state does not hold.
    """

    def __init__(self, addresses: Sequence[Any], shown: Sequence[str]) -> None:
        self.addresses = tuple(addresses)
        super().__init__(
            f"nothing to adopt at {', '.join(shown)}: no object was found there. "
            "observe(providers, desired, adopt=[...]) reads them with each provider's read(); "
            "leave them out of adopt= to create them"
        )


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


class ApplyOptionError(ReconcileError, ValueError):
    """An option of ``apply``, an executor or a ``RetryPolicy`` is invalid, or the executor cannot call a provider.

    Raised before any step runs, except for a ``TransientError`` given a
    ``retry_after`` that is not a number, which is raised where the provider
    builds it (and so fails that step). Formerly ``ExecutorError``, which remains
    a deprecated alias of this class.
    """


class TransientError(ReconcileError):
    """Raised by a provider to ask for the step to be tried again later.

    The executor waits (exponential backoff with jitter, or ``retry_after`` when
    given) and calls the provider again, up to the retry policy's
    ``max_attempts`` and within its ``timeout``.

    Args:
        message: what went wrong.
        retry_after: seconds to wait before the next attempt (for example an
            API's ``Retry-After``), instead of the computed backoff. The wait is
            at most the policy's ``max_delay`` (so ``float("inf")`` waits
            ``max_delay``); a negative value (a reset time already past) retries
            at once; NaN is no hint at all (the computed backoff is used).

    Attributes:
        retry_after: as given.

    Raises:
        ApplyOptionError: ``retry_after`` is neither ``None`` nor a number.
    """

    def __init__(self, message: str = "transient failure", *, retry_after: float | None = None) -> None:
        if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, (int, float))):
            raise ApplyOptionError(
                f"TransientError: retry_after must be a number of seconds or None, got {retry_after!r}"
            )
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


# Old names kept for a while (see CHANGELOG): each is the same class as its new
# name, and warns when used.
DEPRECATED: dict[str, tuple[str, type[ReconcileError]]] = {"ExecutorError": ("ApplyOptionError", ApplyOptionError)}


def deprecated(name: str, module: str = "reconcile") -> type[ReconcileError]:
    """The class a deprecated error name stands for, with a ``DeprecationWarning`` for the caller's caller.

    Raises:
        AttributeError: ``name`` is not a deprecated name.
    """
    entry = DEPRECATED.get(name)
    if entry is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_name, value = entry
    warnings.warn(f"reconcile.{name} is deprecated; use reconcile.{new_name}", DeprecationWarning, stacklevel=3)
    return value


def __getattr__(name: str) -> type[ReconcileError]:
    return deprecated(name, __name__)
