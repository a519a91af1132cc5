"""The provider protocols (sync and async), the per-step ``Context``, and ``observe``."""

from __future__ import annotations

import asyncio
import inspect
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

from .._model import Address, External, Ref, as_address, is_resource, resource_type, show_address
from .._plan import Plan
from .._state import State
from .._typecheck import compiled
from ..errors import (
    ApplyOptionError,
    FieldTypeError,
    InvalidStateError,
    MissingProviderError,
    ProviderContractError,
)

R = TypeVar("R")


class Context:
    """What a provider call knows about the apply it runs in.

    Attributes:
        step: the step being run (``Step``: address and op).
        attempt: 1 for the first try, more on retries.
        deadline: when the step's time budget runs out, as a ``time.time()``
            timestamp (comparable across machines), or ``None`` without a timeout.
        idempotency_key: the same for every attempt of the step; with a journal,
            also for the next create of an address whose create was left without
            outcome by a crash. Pass it to APIs that deduplicate requests (an EC2
            ``ClientToken``), so a retried or recovered create makes no second object.
    """

    __slots__ = ("_lookup", "attempt", "deadline", "idempotency_key", "step")

    def __init__(
        self,
        step: Any,
        lookup: Callable[[Address], Any],
        attempt: int = 1,
        deadline: float | None = None,
        idempotency_key: str = "",
    ) -> None:
        self.step = step
        self.attempt = attempt
        self.deadline = deadline
        self.idempotency_key = idempotency_key
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


@runtime_checkable
class ListAllProvider(Protocol[R]):
    """``Provider`` with ``list_all`` in place of ``list``: the same contract, a name that shadows no builtin.

    Inside a class body, a method named ``list`` hides the builtin from every
    annotation after it (``def read(...) -> list[str]`` then fails mypy, and
    raises at import without ``from __future__ import annotations``).
    ``observe``, the harness and every other caller of ``list()`` call
    ``list_all()`` instead when a provider has it.
    """

    def list_all(self) -> Iterable[R]:
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
class AsyncListAllProvider(Protocol[R]):
    """The async twin of ``ListAllProvider``."""

    async def list_all(self) -> Iterable[R]:
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


Providers: TypeAlias = Mapping[
    str, "Provider[Any] | AsyncProvider[Any] | ListAllProvider[Any] | AsyncListAllProvider[Any]"
]
"""Providers keyed by kind; sync and async ones may be mixed (``observe`` refuses async ones when called)."""

LIST_ALIAS = "list_all"
"""The name a provider may give its ``list`` method instead (see ``ListAllProvider``)."""


def list_name(provider: Any) -> str:
    """The name of ``provider``'s listing method: ``list_all`` when it has one, else ``list``."""
    return LIST_ALIAS if callable(getattr(provider, LIST_ALIAS, None)) else "list"


def list_method(provider: Any) -> Callable[[], Any]:
    """``provider``'s listing method, ``list_all`` preferred to ``list`` (``ProviderContractError`` if neither)."""
    method = getattr(provider, list_name(provider), None)
    if not callable(method):
        raise ProviderContractError(f"the provider {type(provider).__name__} has no list() or list_all() method")
    return method  # type: ignore[no-any-return]


def is_async_method(provider: Any, name: str) -> bool:
    """Whether ``provider.name`` is a coroutine function (to be awaited, not called in a thread)."""
    return inspect.iscoroutinefunction(getattr(provider, name, None))


def _what(value: Any) -> str:
    """What a provider returned, for a contract error: a type and an address, never the raw record.

    A record a provider got from its API is anything but vetted: it may hold
    secrets, be huge or carry control characters, so only its type is named.
    """
    if value is None:
        return "None"
    if is_resource(value) and not isinstance(value, type):
        rt = resource_type(value)
        return f"a {type(value).__qualname__} at {show_address(rt.address(value))}"
    return f"a {type(value).__qualname__}, which is not a resource"


def _providers_mapping(providers: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(providers, Mapping):
        raise ApplyOptionError(
            f"{where}: providers must be a mapping of kind to provider, got {type(providers).__name__}"
        )
    for kind, provider in providers.items():
        if provider is None:
            raise ProviderContractError(f"{where}: the provider for kind {kind!r} is None")
        if not callable(getattr(provider, list_name(provider), None)):
            raise ProviderContractError(
                f"{where}: the provider for kind {kind!r} ({type(provider).__name__}) has no list() method "
                "(nor list_all())"
            )
    return providers


def _listing(kind: str, listed: Any) -> Iterable[Any]:
    """``listed`` as an iterable; a provider whose ``list()`` returned ``None`` or a non-iterable is refused."""
    if listed is None or isinstance(listed, (str, bytes)) or not hasattr(listed, "__iter__"):
        raise ProviderContractError(
            f"provider for kind {kind!r}: list() returned {type(listed).__name__}, "
            "expected an iterable of resources (an empty list when nothing exists)"
        )
    return listed  # type: ignore[no-any-return]


def _collect(kind: str, listed: Iterable[Any], found: list[Any]) -> None:
    # A provider lists objects of one class, as a rule: once a class is known to
    # be a resource class of this kind, its instances need no other check.
    good: type | None = None
    add = found.append
    for obj in _listing(kind, listed):
        if type(obj) is good:
            add(obj)
            continue
        rt = resource_type(obj) if is_resource(obj) and not isinstance(obj, type) else None
        if rt is None or rt.kind != kind:
            other = f", which is of kind {rt.kind!r}" if rt is not None else ""
            raise ProviderContractError(f"provider for kind {kind!r} listed {_what(obj)}{other}")
        good = type(obj)
        add(obj)


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
    """The actual state: every resource each provider's ``list()`` (or ``list_all()``) returns.

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
        ApplyOptionError: ``providers`` is not a mapping.
        ProviderContractError: a provider is ``None`` or has no ``list()``, its ``list()`` returned
            something that is not an iterable (``None``), listed a non-resource
            or a resource of another kind, or is async (use ``observe_async``);
            or its ``read()`` returned something else than the resource at the
            address, or is async.
        MissingProviderError: an address to read is of a kind without a provider.
        InvalidStateError: the listed resources are invalid (duplicates, wrong types, cycles).
    """
    found: list[Any] = []
    providers = _providers_mapping(providers, "observe")
    for kind, provider in providers.items():
        if is_async_method(provider, list_name(provider)):
            raise ProviderContractError(
                f"provider for kind {kind!r} has an async {list_name(provider)}(); "
                "use 'await reconcile.observe_async(providers)'"
            )
        # Not a coroutine: async listing methods were refused just above.
        _collect(kind, typing.cast(Iterable[Any], list_method(provider)()), found)
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
        ApplyOptionError: ``providers`` is not a mapping.
        ProviderContractError: a provider is ``None`` or has no ``list()``, its
            ``list()`` returned something that is not an iterable, or listed a non-resource or a
            resource of another kind; or its ``read()`` returned something else
            than the resource at the address.
        MissingProviderError: an address to read is of a kind without a provider.
        InvalidStateError: the listed resources are invalid (duplicates, wrong types, cycles).
    """

    async def listing(kind: str, provider: Any) -> list[Any]:
        method = list_method(provider)
        if is_async_method(provider, list_name(provider)):
            return list(_listing(kind, await method()))
        return await asyncio.to_thread(lambda: list(_listing(kind, method())))

    providers = _providers_mapping(providers, "observe_async")
    kinds = list(providers)
    listed = await asyncio.gather(*(listing(k, providers[k]) for k in kinds))
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


def check_providers(plan: Any, providers: Any, where: str = "apply") -> None:
    """Refuse a plan and providers that cannot run together, before any provider is called.

    Every kind with a step needs a provider, and that provider needs the methods
    of its steps (``create``, ``update``, ``delete``; ``read`` too for a plan
    read back with :func:`reconcile.loads`, whose freshness is checked first).
    ``adopt`` is optional: without it an ADOPT step calls nothing.

    Raises:
        ApplyOptionError: ``plan`` is not a ``Plan``, or ``providers`` is not a mapping.
        MissingProviderError: kinds with steps have no provider.
        ProviderContractError: a provider is ``None`` or lacks a method the plan
            needs; the message names every such kind and method.
    """
    if not isinstance(plan, Plan):
        raise ApplyOptionError(f"{where}: plan must be a Plan (from plan() or loads()), got {type(plan).__name__}")
    if not isinstance(providers, Mapping):
        raise ApplyOptionError(
            f"{where}: providers must be a mapping of kind to provider, got {type(providers).__name__}"
        )
    needed: dict[str, dict[str, int]] = {}
    for step in plan.steps:
        methods = needed.setdefault(step[0].kind, {})
        if step[1].value != "adopt":  # an optional hook
            methods[step[1].value] = methods.get(step[1].value, 0) + 1
    missing = sorted(kind for kind in needed if kind not in providers)
    if missing:
        raise MissingProviderError(missing)
    problems: list[str] = []
    for kind in sorted(needed):
        provider = providers[kind]
        if provider is None:
            problems.append(f"the provider for kind {kind!r} is None")
            continue
        methods = dict(needed[kind])
        if plan.fingerprint is not None:
            methods.setdefault("read", 0)
        for method in sorted(methods):
            if not callable(getattr(provider, method, None)):
                count = methods[method]
                why = f"for {count} step{'s' if count != 1 else ''}" if count else "to check the saved plan is fresh"
                problems.append(
                    f"the provider for kind {kind!r} ({type(provider).__name__}) has no {method}() method, "
                    f"which the plan needs {why}"
                )
    if problems:
        raise ProviderContractError(f"{where}: nothing was applied: " + "; ".join(problems))


def check_result(step: Any, value: Any) -> Any:
    """Check a create/update return value against the contract; return it.

    Raises:
        ProviderContractError: not a resource of the step's kind, at another
            address, or with a field value that does not fit its annotation.
    """
    if not is_resource(value) or isinstance(value, type):
        raise ProviderContractError(
            f"{step}: provider returned {_what(value)} (expected a resource of kind {step.address.kind!r})"
        )
    try:
        got, explicit = compiled(resource_type(value)).check(value)
    except Exception:  # an identity value that cannot even make an address (unhashable, say)
        got, explicit = None, None
    if explicit is None:
        _raise_wrong_types(step, value)
    if got != step.address:
        raise ProviderContractError(
            f"{step}: provider returned {_what(value)}, expected the resource at {show_address(step.address)}"
        )
    return value


def _raise_wrong_types(step: Any, value: Any) -> None:
    """The generated check refused ``value``: let ``State`` word each problem, and blame the provider."""
    try:
        State([value], allow_dangling=True)
    except InvalidStateError as exc:
        fields = [p for p in exc.exceptions if isinstance(p, FieldTypeError)]
        if fields:
            listed = "; ".join(f"field {p.field!r} expects {p.expected}" for p in fields)
            raise ProviderContractError(
                f"{step}: provider returned a resource whose values do not fit its annotations: {listed}"
            ) from exc
        raise ProviderContractError(f"{step}: provider returned an invalid resource: {exc}") from exc
