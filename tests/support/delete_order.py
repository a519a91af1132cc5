"""A world that enforces ``depends_on`` on delete, for the delete-order tests (tests/plan, tests/controller)."""

from __future__ import annotations

import threading
import time

import reconcile as rc
from reconcile.testing import InMemoryProvider


@rc.resource(kind="app")
class App:
    name: str = rc.identity()
    size: str = rc.spec(default="small")
    app_id: str | None = rc.computed()


class GuardedApps(InMemoryProvider[App]):
    """An in-memory world that refuses to delete an object another one still ``depends_on`` (as last applied).

    Its ``depends_on`` edges are given to it, as a real API knows them from
    what it enforces, not from what it lists (it stores and lists objects
    without ``depends_on``, as ``InMemoryProvider`` does). Each delete takes a
    moment, so two deletes run at once by a parallel executor overlap; with
    ``overlap``, exactly two deletes are expected, and each checks what still
    needs its object only once both have started, and goes on only once both
    have checked (up to 5 s each), so they overlap whatever the load of the
    machine. Deletes of the addresses in ``fail_once`` raise the first time.
    """

    def __init__(
        self,
        needs: dict[rc.Address, rc.Address],
        fail_once: frozenset[rc.Address] = frozenset(),
        *,
        overlap: bool = False,
    ) -> None:
        super().__init__(App)
        self.needs = needs
        self.fail_once = set(fail_once)
        self.refused: list[rc.Address] = []
        self.overlap = threading.Barrier(2, timeout=5) if overlap else None

    def delete(self, actual: App, ctx: rc.Context) -> None:
        address = rc.address_of(actual)
        if self.overlap is not None:
            self.overlap.wait()
        if address in self.fail_once:
            self.fail_once.discard(address)
            raise RuntimeError(f"{address}: the API is down for a moment")
        holders = [d for d, target in self.needs.items() if target == address and d in self.objects]
        if self.overlap is not None:
            self.overlap.wait()
        if holders:
            self.refused.append(address)
            raise RuntimeError(f"{address} is still needed by {holders}")
        time.sleep(0.05)
        super().delete(actual, ctx)
