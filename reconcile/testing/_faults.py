"""Fault injection: a wrapper around any provider that adds latency, errors and a simulated crash."""

from __future__ import annotations

import asyncio
import enum
import inspect
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._apply import Context, Provider, list_method
from .._model import Address, address_of, as_address
from ..errors import TransientError
from ._errors import HarnessError

R = TypeVar("R")
T = TypeVar("T")

METHODS = ("list", "read", "create", "update", "delete")


class SimulatedCrash(BaseException):
    """The process running the apply "died": raised by a :class:`FaultInjector` after its ``crash_after``-th call.

    It derives from ``BaseException``, not ``Exception``, so ``apply`` does not
    record it as an ordinary step failure: it unwinds out of the apply the way a
    killed process would stop it, leaving the world half changed. Once crashed, an
    injector answers every later call with another ``SimulatedCrash`` without
    touching the world, until ``crashed`` is set back to ``False``.

    Attributes:
        call: the number of the call after which the process crashed.
        method: the provider method of the call that raised this.
        address: the address of that call (``None`` for ``list``).
    """

    def __init__(self, call: int, method: str, address: Address | None) -> None:
        self.call = call
        self.method = method
        self.address = address
        where = f" {address}" if address is not None else ""
        super().__init__(f"simulated crash after call {call} ({method}{where})")


class InjectedError(Exception):
    """Base of the errors a :class:`FaultInjector` raises in place of a provider's answer.

    Attributes:
        method: the provider method that was called.
        address: the address of the call (``None`` for ``list``).
    """

    def __init__(self, message: str, method: str, address: Address | None) -> None:
        self.method = method
        self.address = address
        super().__init__(message)


class InjectedTransientError(InjectedError, TransientError):
    """An injected error that a retry may cure; the wrapped provider was not called.

    It is a :class:`reconcile.TransientError`, so executors retry it by default.
    """


class InjectedPermanentError(InjectedError):
    """An injected error for an address chosen to always fail; the wrapped provider was not called."""


class FaultEffect(enum.Enum):
    """What an injected fault did to a call."""

    LATENCY = "latency"
    """The call was delayed (then went on)."""
    TRANSIENT = "transient"
    """The call raised a transient error instead of reaching the provider."""
    PERMANENT = "permanent"
    """The call raised :class:`InjectedPermanentError` (its address always fails)."""
    CRASH = "crash"
    """The call reached the provider, then the process "died" (:class:`SimulatedCrash`)."""


@attrs.frozen
class Fault:
    """One fault a :class:`FaultInjector` injected.

    Attributes:
        call: the number of the intercepted call (1 for the first).
        method: the provider method.
        address: the address of the call (``None`` for ``list``).
        effect: what the fault did (formerly the string ``kind``).
        delay: the latency added, in seconds (``0.0`` for other effects).
    """

    call: int
    method: str
    address: Address | None
    effect: FaultEffect
    delay: float = 0.0


def _check_latency(_: Any, __: Any, value: float | tuple[float, float]) -> None:
    if isinstance(value, tuple):
        ok = len(value) == 2 and all(isinstance(v, (int, float)) for v in value) and 0 <= value[0] <= value[1]
    else:
        ok = isinstance(value, (int, float)) and value >= 0
    if not ok:
        raise HarnessError(f"FaultInjector latency must be seconds >= 0 or a (low, high) range, got {value!r}")


def _check_rate(_: Any, __: Any, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise HarnessError(f"FaultInjector transient_rate must be between 0 and 1, got {value!r}")


def _check_crash_after(_: Any, __: Any, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise HarnessError(f"FaultInjector crash_after must be a call number >= 1 or None, got {value!r}")


def _check_methods(_: Any, __: Any, value: frozenset[str]) -> None:
    unknown = sorted(value - set(METHODS))
    if unknown:
        raise HarnessError(f"FaultInjector methods: unknown provider method(s) {unknown}; choose from {list(METHODS)}")


def _to_addresses(value: Iterable[Address | str]) -> frozenset[Address]:
    if isinstance(value, (str, Address)):
        value = (value,)
    return frozenset(as_address(v) for v in value)


def _to_methods(value: Iterable[str]) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


@attrs.define(eq=False)
class FaultInjector:
    """Decides, deterministically for a seed, which faults hit the calls of the providers it wraps.

    One injector is shared by every provider it wraps, as one process serves
    every kind: calls are counted across all of them, and a crash stops them all.
    Per call, in order: the latency is slept, a permanent failure is raised for a
    chosen address, a transient error is raised at ``transient_rate``; otherwise
    the wrapped provider is called. If this was call number ``crash_after``, a
    :class:`SimulatedCrash` is raised once the call has had its effect (the world
    changed, the caller never heard back).

    Random choices are drawn from the seed, the method, the address and how many
    times that method was called for that address, so they do not depend on the
    order in which concurrent calls arrive. Attributes may be changed between
    calls; they are validated on assignment.

    Args:
        seed: the seed for every random choice.
        latency: seconds added to each call, or a ``(low, high)`` range drawn uniformly.
        transient_rate: the probability that a call fails with a transient error.
        fail: addresses whose calls always fail with :class:`InjectedPermanentError`.
        crash_after: crash after this call (1 for the first), or never.
        methods: the provider methods faults apply to; other calls pass through
            uncounted. Default: the writes, ``create``, ``update`` and ``delete``.
        sleep: how latency is waited for by sync providers (replace it to record
            latency without waiting); async providers use ``asyncio.sleep``.
        transient: builds the transient error from the method and address (to
            raise your engine's retryable error type); default
            :class:`InjectedTransientError`.

    Raises:
        HarnessError: an argument is out of range.
    """

    seed: int = 0
    latency: float | tuple[float, float] = attrs.field(default=0.0, kw_only=True, validator=_check_latency)
    transient_rate: float = attrs.field(default=0.0, kw_only=True, validator=_check_rate)
    fail: frozenset[Address] = attrs.field(default=frozenset(), kw_only=True, converter=_to_addresses)
    crash_after: int | None = attrs.field(default=None, kw_only=True, validator=_check_crash_after)
    methods: frozenset[str] = attrs.field(
        default=frozenset({"create", "update", "delete"}), kw_only=True, converter=_to_methods, validator=_check_methods
    )
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, kw_only=True, repr=False)
    transient: Callable[[str, Address | None], BaseException] | None = attrs.field(
        default=None, kw_only=True, repr=False
    )
    calls: int = attrs.field(default=0, init=False)
    """How many calls were intercepted."""
    crashed: bool = attrs.field(default=False, init=False)
    """Whether the simulated crash has happened."""
    log: list[Fault] = attrs.field(factory=list, init=False, repr=False)
    """Every fault injected, in order."""
    _per_call: dict[tuple[str, Address | None], int] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def wrap(self, provider: Provider[R]) -> FaultyProvider[R]:
        """Wrap one provider.

        Raises:
            HarnessError: the provider's methods are ``async def``; use :meth:`wrap_async`.
        """
        if inspect.iscoroutinefunction(getattr(provider, "create", None)):
            raise HarnessError(f"{provider!r} is an async provider; wrap it with FaultInjector.wrap_async")
        return FaultyProvider(provider, self)

    def wrap_async(self, provider: Any) -> AsyncFaultyProvider[Any]:
        """Wrap one provider whose methods are ``async def``; the wrapper's methods are too."""
        return AsyncFaultyProvider(provider, self)

    def wrap_all(self, providers: Mapping[str, Any]) -> dict[str, Any]:
        """Wrap every provider of a ``{kind: provider}`` mapping, each with :meth:`wrap` or :meth:`wrap_async`."""
        return {
            kind: self.wrap_async(p) if inspect.iscoroutinefunction(getattr(p, "create", None)) else self.wrap(p)
            for kind, p in providers.items()
        }

    def faults(self, effect: FaultEffect | str | None = None) -> list[Fault]:
        """The injected faults, in order; only those with ``effect`` if given (a ``FaultEffect`` or its value).

        Raises:
            HarnessError: ``effect`` is no ``FaultEffect`` nor the value of one.
        """
        if effect is None:
            return list(self.log)
        try:
            wanted = FaultEffect(effect)
        except (ValueError, TypeError):
            choices = ", ".join(repr(e.value) for e in FaultEffect)
            raise HarnessError(f"FaultInjector.faults: unknown effect {effect!r}; choose from {choices}") from None
        return [f for f in self.log if f.effect is wanted]

    def _decide(self, method: str, address: Address | None) -> tuple[int, float, BaseException | None]:
        """Count the call; return its number, the latency to add and the error to raise instead, if any."""
        with self._lock:
            if self.crashed:
                raise SimulatedCrash(self.calls, method, address)
            self.calls += 1
            number = self.calls
            key = (method, address)
            nth = self._per_call[key] = self._per_call.get(key, 0) + 1
        rng = random.Random(f"{self.seed}:{method}:{address}:{nth}")
        latency = self.latency
        delay = rng.uniform(*latency) if isinstance(latency, tuple) else float(latency)
        if delay:
            self._note(Fault(number, method, address, FaultEffect.LATENCY, delay))
        error: BaseException | None = None
        if address in self.fail:
            self._note(Fault(number, method, address, FaultEffect.PERMANENT))
            error = InjectedPermanentError(f"injected permanent failure: {method} {address}", method, address)
        elif self.transient_rate and rng.random() < self.transient_rate:
            self._note(Fault(number, method, address, FaultEffect.TRANSIENT))
            if self.transient is not None:
                error = self.transient(method, address)
            else:
                error = InjectedTransientError(f"injected transient error: {method} {address}", method, address)
        return number, delay, error

    def _note(self, fault: Fault) -> None:
        with self._lock:
            self.log.append(fault)

    def _end(self, number: int, method: str, address: Address | None) -> None:
        """Crash if this was the ``crash_after``-th call."""
        if number == self.crash_after:
            with self._lock:
                self.crashed = True
            self._note(Fault(number, method, address, FaultEffect.CRASH))
            raise SimulatedCrash(number, method, address)

    def _call(self, method: str, address: Address | None, fn: Callable[..., T], *args: Any) -> T:
        if method not in self.methods:
            return fn(*args)
        number, delay, error = self._decide(method, address)
        try:
            if delay:
                self.sleep(delay)
            if error is not None:
                raise error
            return fn(*args)
        finally:
            self._end(number, method, address)

    async def _acall(self, method: str, address: Address | None, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        if method not in self.methods:
            return await fn(*args)
        number, delay, error = self._decide(method, address)
        try:
            if delay:
                await asyncio.sleep(delay)
            if error is not None:
                raise error
            return await fn(*args)
        finally:
            self._end(number, method, address)


class FaultyProvider(Generic[R]):
    """A provider that passes every call to ``inner`` through a :class:`FaultInjector`.

    Build it with :meth:`FaultInjector.wrap`. Injected errors are raised before
    ``inner`` is called, so they leave the world untouched; a crash is raised
    after it, so the call has had its effect.

    Attributes:
        inner: the wrapped provider.
        injector: the injector deciding the faults.
    """

    def __init__(self, inner: Provider[R], injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector

    def list(self) -> Iterable[R]:
        """``inner.list()`` (or ``inner.list_all()``), through the injector."""
        return self.injector._call("list", None, list_method(self.inner))

    def read(self, address: Address) -> R | None:
        """``inner.read(address)``, through the injector."""
        return self.injector._call("read", address, self.inner.read, address)

    def create(self, desired: R, ctx: Context) -> R:
        """``inner.create(desired, ctx)``, through the injector."""
        return self.injector._call("create", address_of(desired), self.inner.create, desired, ctx)

    def update(self, actual: R, desired: R, ctx: Context) -> R:
        """``inner.update(actual, desired, ctx)``, through the injector."""
        return self.injector._call("update", address_of(desired), self.inner.update, actual, desired, ctx)

    def delete(self, actual: R, ctx: Context) -> None:
        """``inner.delete(actual, ctx)``, through the injector."""
        self.injector._call("delete", address_of(actual), self.inner.delete, actual, ctx)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.inner!r}>"


class AsyncFaultyProvider(Generic[R]):
    """The :class:`FaultyProvider` of a provider whose methods are ``async def``; its methods are too.

    Attributes:
        inner: the wrapped provider.
        injector: the injector deciding the faults.
    """

    def __init__(self, inner: Any, injector: FaultInjector) -> None:
        self.inner = inner
        self.injector = injector

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.inner!r}>"

    async def list(self) -> Iterable[R]:
        """``await inner.list()`` (or ``inner.list_all()``), through the injector."""
        return await self.injector._acall("list", None, list_method(self.inner))

    async def read(self, address: Address) -> R | None:
        """``await inner.read(address)``, through the injector."""
        return await self.injector._acall("read", address, self.inner.read, address)

    async def create(self, desired: R, ctx: Context) -> R:
        """``await inner.create(desired, ctx)``, through the injector."""
        return await self.injector._acall("create", address_of(desired), self.inner.create, desired, ctx)

    async def update(self, actual: R, desired: R, ctx: Context) -> R:
        """``await inner.update(actual, desired, ctx)``, through the injector."""
        return await self.injector._acall("update", address_of(desired), self.inner.update, actual, desired, ctx)

    async def delete(self, actual: R, ctx: Context) -> None:
        """``await inner.delete(actual, ctx)``, through the injector."""
        await self.injector._acall("delete", address_of(actual), self.inner.delete, actual, ctx)
