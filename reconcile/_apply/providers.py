"""The provider protocols (sync and async), the per-step ``Context``, and ``observe``."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._model import Address, Ref, as_address, is_resource, resource_type
from .._state import State
from ..errors import ProviderContractError

R = TypeVar("R")


class Context:
    """What a provider call knows about the apply it runs in.

    Attributes:
        step: the step being run (``Step``: address and op).
        attempt: 1 for the first try, more on retries.
        deadline: when the step's time budget runs out, as a ``time.time()``
            timestamp (comparable across machines), or ``None`` without a timeout.
    """

    __slots__ = ("_lookup", "attempt", "deadline", "step")

    def __init__(
        self, step: Any, lookup: Callable[[Address], Any], attempt: int = 1, deadline: float | None = None
    ) -> None:
        self.step = step
        self.attempt = attempt
        self.deadline = deadline
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

    def time_left(self) -> float | None:
        """Seconds until ``deadline`` (negative once it has passed), or ``None`` without a timeout.

        A sync provider cannot be interrupted; pass this to the timeouts of the
        calls it makes so a step ends near its budget.
        """
        return None if self.deadline is None else self.deadline - time.time()

    def __repr__(self) -> str:
        return f"<Context {self.step} attempt={self.attempt}>"


@runtime_checkable
class Provider(Protocol[R]):
    """Talks to the real world for one kind.

    Providers may be called concurrently (from several threads) for different
    addresses, never for the same address at the same time. A provider raises
    ``TransientError`` to ask for a retry; any other exception fails the step.
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


@runtime_checkable
class AsyncProvider(Protocol[R]):
    """The async twin of ``Provider``: the same methods, as coroutines.

    ``AsyncExecutor`` awaits them (and runs sync providers in threads, so one
    plan may mix both); ``observe_async`` awaits ``list()``. The same rule
    holds: concurrent calls for different addresses, never for the same one.
    """

    async def list(self) -> Iterable[R]:
        """Everything of this kind that exists."""
        ...

    async def read(self, address: Address) -> R | None:
        """The resource at ``address``, or ``None`` if it does not exist."""
        ...

    async def create(self, desired: R, ctx: Context) -> R:
        """Create ``desired``; return the actual resource, computed fields filled."""
        ...

    async def update(self, actual: R, desired: R, ctx: Context) -> R:
        """Change ``actual`` to match ``desired``; return the new actual resource."""
        ...

    async def delete(self, actual: R, ctx: Context) -> None:
        """Delete ``actual``."""
        ...


def is_async_method(provider: Any, name: str) -> bool:
    """Whether ``provider.name`` is a coroutine function (to be awaited, not called in a thread)."""
    return inspect.iscoroutinefunction(getattr(provider, name, None))


def _collect(kind: str, listed: Iterable[Any], found: list[Any]) -> None:
    for obj in listed:
        rt = resource_type(obj) if is_resource(obj) else None
        if rt is None or rt.kind != kind:
            raise ProviderContractError(
                f"provider for kind {kind!r} listed {obj!r}, which is "
                + (f"of kind {rt.kind!r}" if rt is not None else "not a resource")
            )
        found.append(obj)


def observe(providers: Mapping[str, Provider[Any]]) -> State:
    """The actual state: every resource each provider's ``list()`` returns.

    Refs to addresses that no provider lists are allowed (the world may hold
    them); they add no dependency edge.

    Raises:
        ProviderContractError: a provider listed a non-resource or a resource of
            another kind, or its ``list()`` is async (use ``observe_async``).
        InvalidStateError: the listed resources are invalid (duplicates, wrong types, cycles).
    """
    found: list[Any] = []
    for kind, provider in providers.items():
        if is_async_method(provider, "list"):
            raise ProviderContractError(
                f"provider for kind {kind!r} has an async list(); use 'await reconcile.observe_async(providers)'"
            )
        _collect(kind, provider.list(), found)
    return State(found, allow_dangling=True)


async def observe_async(providers: Mapping[str, Provider[Any] | AsyncProvider[Any]]) -> State:
    """``observe`` for a mix of async and sync providers: async ``list()`` calls run concurrently.

    Sync ``list()`` calls run in threads so they do not block the event loop.

    Raises:
        ProviderContractError: a provider listed a non-resource or a resource of another kind.
        InvalidStateError: the listed resources are invalid (duplicates, wrong types, cycles).
    """

    async def listing(provider: Any) -> list[Any]:
        if is_async_method(provider, "list"):
            return list(await provider.list())
        return await asyncio.to_thread(lambda: list(provider.list()))

    kinds = list(providers)
    listed = await asyncio.gather(*(listing(providers[k]) for k in kinds))
    found: list[Any] = []
    for kind, objs in zip(kinds, listed, strict=True):
        _collect(kind, objs, found)
    return State(found, allow_dangling=True)


def check_result(step: Any, value: Any) -> Any:
    """Check a create/update return value against the contract; return it.

    Raises:
        ProviderContractError: not a resource of the step's kind, or at another address.
    """
    if not is_resource(value) or isinstance(value, type):
        raise ProviderContractError(
            f"{step}: provider returned {type(value).__name__} {value!r}, "
            f"expected a resource of kind {step.address.kind!r}"
        )
    got = resource_type(value).address(value)
    if got != step.address:
        raise ProviderContractError(f"{step}: provider returned a resource at {got}, expected {step.address}")
    return value
