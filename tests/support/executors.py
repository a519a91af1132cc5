"""Instrumented providers and an executor factory shared by the executor tests."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import reconcile as rc
from reconcile.testing import InMemoryProvider

# Latch waits are bounded so a broken executor fails a test instead of hanging it.
LATCH_TIMEOUT = 10.0


class Probe:
    """What the providers of one test saw: a shared sequence clock, calls in flight, scripted behaviour.

    ``tick()`` hands out increasing numbers; providers and listeners both take
    them, so "A happened before B" is a comparison of ticks, not of times.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._clock = itertools.count()
        self.running: Counter[str] = Counter()
        self.max_running: Counter[str] = Counter()
        self.running_total = 0
        self.max_total = 0
        self.entered: dict[rc.Step, list[int]] = {}
        self.returned: dict[rc.Step, int] = {}
        self.attempts_seen: dict[rc.Step, list[int]] = {}
        self.in_flight: set[rc.Address] = set()
        self.same_address_overlap = False
        # Per address: exceptions to raise on successive calls, then normal behaviour.
        self.scripts: dict[rc.Address, list[BaseException]] = {}
        # Per address: called inside the provider call, before it acts (latches, gates).
        self.hooks: dict[rc.Address, Callable[[rc.Context], None]] = {}
        self.events: list[tuple[int, rc.StepEvent]] = []

    def tick(self) -> int:
        with self.lock:
            return next(self._clock)

    def listener(self, event: rc.StepEvent) -> None:
        with self.lock:
            self.events.append((next(self._clock), event))

    def script(self, address: str, *errors: BaseException) -> None:
        self.scripts[rc.Address.parse(address)] = list(errors)

    def hook(self, address: str, fn: Callable[[rc.Context], None]) -> None:
        self.hooks[rc.Address.parse(address)] = fn

    def event_ticks(self, kind: rc.EventKind) -> dict[rc.Step, list[int]]:
        out: dict[rc.Step, list[int]] = {}
        for t, e in self.events:
            if e.kind is kind:
                out.setdefault(e.step, []).append(t)
        return out

    def kinds_of(self, step: rc.Step) -> list[rc.EventKind]:
        return [e.kind for _t, e in self.events if e.step == step]

    def enter(self, ctx: rc.Context) -> None:
        kind = ctx.address.kind
        with self.lock:
            t = next(self._clock)
            self.entered.setdefault(ctx.step, []).append(t)
            self.attempts_seen.setdefault(ctx.step, []).append(ctx.attempt)
            if ctx.address in self.in_flight:
                self.same_address_overlap = True
            self.in_flight.add(ctx.address)
            self.running[kind] += 1
            self.running_total += 1
            self.max_running[kind] = max(self.max_running[kind], self.running[kind])
            self.max_total = max(self.max_total, self.running_total)
            script = self.scripts.get(ctx.address)
            error = script.pop(0) if script else None
        try:
            hook = self.hooks.get(ctx.address)
            if hook is not None:
                hook(ctx)
            if error is not None:
                raise error
        except BaseException:
            self.leave(ctx, returned=False)
            raise

    def leave(self, ctx: rc.Context, *, returned: bool) -> None:
        with self.lock:
            self.running[ctx.address.kind] -= 1
            self.running_total -= 1
            self.in_flight.discard(ctx.address)
            if returned:
                self.returned[ctx.step] = next(self._clock)


class ProbeProvider(InMemoryProvider[Any]):
    """An ``InMemoryProvider`` that reports every call to a ``Probe`` and obeys its scripts and hooks."""

    def __init__(self, cls: type, probe: Probe, initial: Any = ()) -> None:
        # Create-before-delete replacements need two objects at one address for a while.
        super().__init__(cls, initial, unique_names=False)
        self.probe = probe

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        self.probe.enter(ctx)
        try:
            value = super().create(desired, ctx)
        except BaseException:
            self.probe.leave(ctx, returned=False)
            raise
        self.probe.leave(ctx, returned=True)
        return value

    def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        self.probe.enter(ctx)
        try:
            value = super().update(actual, desired, ctx)
        except BaseException:
            self.probe.leave(ctx, returned=False)
            raise
        self.probe.leave(ctx, returned=True)
        return value

    def delete(self, actual: Any, ctx: rc.Context) -> None:
        self.probe.enter(ctx)
        try:
            super().delete(actual, ctx)
        except BaseException:
            self.probe.leave(ctx, returned=False)
            raise
        self.probe.leave(ctx, returned=True)


class AsyncFacade:
    """An async provider in front of a sync one: each call is awaited (in a thread, so hooks may block)."""

    def __init__(self, inner: ProbeProvider) -> None:
        self.inner = inner

    @property
    def objects(self) -> dict[rc.Address, Any]:
        return self.inner.objects

    async def list(self) -> list[Any]:
        return list(self.inner.list())

    async def read(self, address: rc.Address) -> Any:
        return self.inner.read(address)

    async def create(self, desired: Any, ctx: rc.Context) -> Any:
        return await asyncio.to_thread(self.inner.create, desired, ctx)

    async def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        return await asyncio.to_thread(self.inner.update, actual, desired, ctx)

    async def delete(self, actual: Any, ctx: rc.Context) -> None:
        await asyncio.to_thread(self.inner.delete, actual, ctx)


EXECUTORS = ["serial", "threads", "async", "async-native", "futures"]


class Kit:
    """One executor flavour for a test: builds executors and instrumented worlds, and cleans up pools."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.probe = Probe()
        self.pools: list[ThreadPoolExecutor] = []

    @property
    def concurrent(self) -> bool:
        return self.name != "serial"

    def executor(self, max_workers: int = 4, limits: dict[str, int] | None = None) -> rc.Executor:
        if self.name == "serial":
            return rc.SerialExecutor()
        if self.name == "threads":
            return rc.ThreadExecutor(max_workers, limits)
        if self.name in ("async", "async-native"):
            return rc.AsyncExecutor(max_workers, limits)
        pool = ThreadPoolExecutor(max_workers)
        self.pools.append(pool)
        return rc.FuturesExecutor(pool, limits=limits)

    def world(self, *classes: type, initial: Any = ()) -> dict[str, Any]:
        initial = list(initial)
        world: dict[str, Any] = {}
        for cls in classes:
            kind = rc.resource_type(cls).kind
            provider = ProbeProvider(cls, self.probe, [o for o in initial if rc.resource_type(o).kind == kind])
            world[kind] = AsyncFacade(provider) if self.name == "async-native" else provider
        return world

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown()


def objects(world: dict[str, Any]) -> dict[rc.Address, Any]:
    out: dict[rc.Address, Any] = {}
    for provider in world.values():
        out.update(provider.objects)
    return out


def wait(event: threading.Event, what: str) -> None:
    assert event.wait(LATCH_TIMEOUT), f"timed out waiting for {what}"
