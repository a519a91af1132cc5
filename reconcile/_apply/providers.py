"""The provider protocols (sync and async), the per-step ``Context``, and ``observe``."""

from __future__ import annotations

import asyncio
import inspect
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from .._model import Address, External, Ref, as_address, is_resource, resource_type
from .._state import State
from ..errors import MissingProviderError, ProviderContractError

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

    ``read`` answers whether an object exists at an address, managed or not:
    ``observe`` uses it for external objects and for objects to adopt, which
    ``list()`` (often scoped to what the provider owns, by a tag) does not show.

    An optional method, ``adopt(found, desired, ctx) -> actual``, takes over an
    object found at an address (``plan(adopt=...)``), for example by tagging it
    so ``list()`` shows it from then on; it returns the object as now managed.
    Without it, adopting calls nothing (docs/externals-and-adoption.md).
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


Providers: TypeAlias = Mapping[str, "Provider[Any] | AsyncProvider[Any]"]
"""Providers keyed by kind; sync and async ones may be mixed (``observe`` refuses async ones when called)."""


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


def _to_read(
    providers: Providers, found: list[Any], desired: State | None, adopt: Iterable[Address | str | Ref[Any]]
) -> list[Address]:
    """The externals of ``desired`` and the addresses to adopt that no provider listed, each once."""
    if isinstance(adopt, (str, Address, Ref)):
        adopt = (adopt,)
    wanted = [*(desired.externals if desired is not None else ()), *(as_address(a) for a in adopt)]
    if not wanted:
        return []
    listed = {resource_type(obj).address(obj) for obj in found}
    out = [a for a in dict.fromkeys(wanted) if a not in listed]
    missing = sorted({a.kind for a in out} - set(providers))
    if missing:
        raise MissingProviderError(missing)
    return out


def _read_value(address: Address, value: Any) -> External[Any] | None:
    if value is None:
        return None
    if not is_resource(value) or isinstance(value, type) or resource_type(value).address(value) != address:
        raise ProviderContractError(
            f"provider for kind {address.kind!r}: read({address}) returned {type(value).__name__} {value!r}, "
            f"expected the resource at {address} or None"
        )
    return External(address, value)


def observe(
    providers: Providers, desired: State | None = None, *, adopt: Iterable[Address | str | Ref[Any]] = ()
) -> State:
    """The actual state: every resource each provider's ``list()`` returns.

    Refs to addresses that no provider lists are allowed (the world may hold
    them); they add no dependency edge.

    With ``desired``, each external object it declares that no provider lists
    is read with its provider's ``read()``; so is each address in ``adopt``.
    What is found is kept in the state's ``externals`` (known, not managed);
    what is not found is left out, and ``plan`` reports it.

    Args:
        providers: providers keyed by kind.
        desired: the desired state whose externals to read.
        adopt: addresses to read for ``plan(adopt=...)``.

    Raises:
        ProviderContractError: a provider listed a non-resource or a resource of
            another kind, its ``read()`` returned something else than the
            resource at the address, or its ``list()``/``read()`` is async (use
            ``observe_async``).
        MissingProviderError: an address to read is of a kind without a provider.
        InvalidStateError: the listed resources are invalid (duplicates, wrong types, cycles).
    """
    found: list[Any] = []
    for kind, provider in providers.items():
        if is_async_method(provider, "list"):
            raise ProviderContractError(
                f"provider for kind {kind!r} has an async list(); use 'await reconcile.observe_async(providers)'"
            )
        # Not a coroutine: async list() methods were refused just above.
        _collect(kind, typing.cast(Iterable[Any], provider.list()), found)
    externals: list[Any] = []
    for address in _to_read(providers, found, desired, adopt):
        provider = providers[address.kind]
        if is_async_method(provider, "read"):
            raise ProviderContractError(
                f"provider for kind {address.kind!r} has an async read(); use 'await reconcile.observe_async(...)'"
            )
        ext = _read_value(address, provider.read(address))
        if ext is not None:
            externals.append(ext)
    return State([*externals, *found], allow_dangling=True)


async def observe_async(
    providers: Providers, desired: State | None = None, *, adopt: Iterable[Address | str | Ref[Any]] = ()
) -> State:
    """``observe`` for a mix of async and sync providers: async ``list()`` and ``read()`` calls run concurrently.

    Sync calls run in threads so they do not block the event loop.

    Raises:
        ProviderContractError: a provider listed a non-resource or a resource of another kind,
            or its ``read()`` returned something else than the resource at the address.
        MissingProviderError: an address to read is of a kind without a provider.
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

    async def reading(address: Address) -> Any:
        provider = providers[address.kind]
        if is_async_method(provider, "read"):
            return await typing.cast(Awaitable[Any], provider.read(address))
        return await asyncio.to_thread(provider.read, address)

    addresses = _to_read(providers, found, desired, adopt)
    values = await asyncio.gather(*(reading(a) for a in addresses))
    externals = [e for a, v in zip(addresses, values, strict=True) if (e := _read_value(a, v)) is not None]
    return State([*externals, *found], allow_dangling=True)


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
