"""The provider protocol, the per-step ``Context``, and ``observe``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._errors import ProviderContractError
from ._resource import Address, Ref, as_address, resource_type
from ._state import State

R = TypeVar("R")


class Context:
    """What a provider call knows about the apply it runs in.

    Attributes:
        step: the step being run (``Step``: address and op).
        attempt: 1 for the first try, more on retries.
    """

    __slots__ = ("_lookup", "attempt", "step")

    def __init__(self, step: Any, lookup: Callable[[Address], Any], attempt: int = 1) -> None:
        self.step = step
        self.attempt = attempt
        self._lookup = lookup

    @property
    def address(self) -> Address:
        """The address the step acts on."""
        return self.step.address  # type: ignore[no-any-return]

    def resolve(self, ref: Ref[R] | Address | str) -> R:
        """The actual resource a ref points to, as of this apply (computed fields filled).

        Raises:
            UnresolvedRefError: nothing exists at that address in this apply.
        """
        return self._lookup(as_address(ref))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<Context {self.step} attempt={self.attempt}>"


@runtime_checkable
class Provider(Protocol[R]):
    """Talks to the real world for one kind.

    Providers may be called concurrently for different addresses, never for the
    same address at the same time.
    """

    def list(self) -> Iterable[R]:
        """Everything of this kind that exists."""
        ...

    def read(self, address: Address) -> R | None:
        """The resource at ``address``, or ``None`` if it does not exist."""
        ...

    def create(self, desired: R, ctx: Context) -> R:
        """Create ``desired``; return the actual resource, computed fields filled."""
        ...

    def update(self, actual: R, desired: R, ctx: Context) -> R:
        """Change ``actual`` to match ``desired``; return the new actual resource."""
        ...

    def delete(self, actual: R, ctx: Context) -> None:
        """Delete ``actual``."""
        ...


def observe(providers: Mapping[str, Provider[Any]]) -> State:
    """The actual state: every resource each provider's ``list()`` returns.

    Refs to addresses that no provider lists are allowed (the world may hold
    them); they add no dependency edge.

    Raises:
        ProviderContractError: a provider listed a non-resource or a resource of another kind.
        InvalidStateError: the listed resources are invalid (duplicates, wrong types, cycles).
    """
    found: list[Any] = []
    for kind, provider in providers.items():
        for obj in provider.list():
            rt = getattr(obj, "__reconcile__", None)
            if rt is None or rt.kind != kind:
                raise ProviderContractError(
                    f"provider for kind {kind!r} listed {obj!r}, which is "
                    + (f"of kind {rt.kind!r}" if rt is not None else "not a resource")
                )
            found.append(obj)
    return State(found, allow_dangling=True)


def check_result(step: Any, value: Any) -> Any:
    """Check a create/update return value against the contract; return it.

    Raises:
        ProviderContractError: not a resource of the step's kind, or at another address.
    """
    if getattr(value, "__reconcile__", None) is None:
        raise ProviderContractError(
            f"{step}: provider returned {type(value).__name__} {value!r}, "
            f"expected a resource of kind {step.address.kind!r}"
        )
    got = resource_type(value).address(value)
    if got != step.address:
        raise ProviderContractError(f"{step}: provider returned a resource at {got}, expected {step.address}")
    return value
