"""Providers whose ``list()`` shows only what they own, as a tag-scoped API does: for externals and adoption."""

from __future__ import annotations

import asyncio
from typing import Any

import reconcile as rc
from reconcile.testing import Call, InMemoryProvider

WRITES = ("create", "update", "delete", "adopt")


class OwnedProvider(InMemoryProvider[Any]):
    """An ``InMemoryProvider`` that lists only owned objects; ``read`` finds any; ``adopt`` takes ownership.

    Args:
        cls: the resource class served.
        owned: objects that exist and are owned (listed).
        foreign: objects that exist but are not owned (read finds them, list does not).
        hook: give the provider an ``adopt`` method (without it, adopting calls nothing).
    """

    def __init__(self, cls: type, owned: Any = (), foreign: Any = (), *, hook: bool = True) -> None:
        super().__init__(cls, [*owned, *foreign])
        self.owned = {rc.address_of(o) for o in owned}
        if hook:
            self.adopt = self._adopt

    def list(self) -> Any:
        with self._lock:
            self.calls.append(Call("list", rc.Address(self.kind, "*")))
            return iter([o for a, o in self.objects.items() if a in self.owned])

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        value = super().create(desired, ctx)
        self.owned.add(ctx.address)
        return value

    def delete(self, actual: Any, ctx: rc.Context) -> None:
        super().delete(actual, ctx)
        self.owned.discard(ctx.address)

    def _adopt(self, found: Any, desired: Any, ctx: rc.Context) -> Any:
        with self._lock:
            self.calls.append(Call("adopt", ctx.address))
            assert ctx.step.op is rc.Action.ADOPT
            self.owned.add(ctx.address)
            return self.objects[ctx.address]

    def writes(self) -> list[tuple[str, rc.Address]]:
        """Every call that could change the world, in order."""
        return [(c.method, c.address) for c in self.calls if c.method in WRITES]


class AsyncOwned:
    """An async provider in front of an ``OwnedProvider``, ``adopt`` included."""

    def __init__(self, inner: OwnedProvider) -> None:
        self.inner = inner
        if hasattr(inner, "adopt"):
            self.adopt = self._adopt

    async def list(self) -> list[Any]:
        return list(self.inner.list())

    async def read(self, address: rc.Address) -> Any:
        await asyncio.sleep(0)
        return self.inner.read(address)

    async def create(self, desired: Any, ctx: rc.Context) -> Any:
        return self.inner.create(desired, ctx)

    async def update(self, actual: Any, desired: Any, ctx: rc.Context) -> Any:
        return self.inner.update(actual, desired, ctx)

    async def delete(self, actual: Any, ctx: rc.Context) -> None:
        self.inner.delete(actual, ctx)

    async def _adopt(self, found: Any, desired: Any, ctx: rc.Context) -> Any:
        await asyncio.sleep(0)
        return self.inner.adopt(found, desired, ctx)
