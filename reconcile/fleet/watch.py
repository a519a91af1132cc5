"""``GenerationWatch``: the long polls of one control-plane process, woken by one batched look at the store.

A long poll waits until its cell's spec generation moves past the one the
agent holds. Letting each waiting poll re-read its own generation costs one
store read per poll per look: at 10,000 waiting cells and a look every half
second, 20,000 reads a second while nothing happens. Here the waits register
with one watch instead; the watch looks at the generations of every waiting
cell in one read (on a timer, since controllers and other replicas change
generations too, and at once when ``poke`` says this process changed
something) and wakes only the polls whose cell changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("reconcile.fleet.watch")

DEFAULT_EVERY = 0.5
"""Seconds between two looks while polls wait: how late a change made elsewhere is seen, at most."""

Reader = Callable[[list[str]], dict[str, int]]
"""Reads the generations of the cells it is given (the ones missing from the answer are gone)."""


class GenerationWatch:
    """Waiting long polls, keyed by cell, and the task that looks at their generations.

    Use it from one asyncio event loop (the server's); ``poke`` may be called
    from any thread.

    Args:
        read: the store's batched generation read (``FleetStore.generations``); it runs in a worker thread.
        every: seconds between looks while polls wait.
    """

    def __init__(self, read: Reader, *, every: float = DEFAULT_EVERY) -> None:
        self.read = read
        self.every = every
        self.looks = 0
        self.pokes = 0
        self._waiting: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._poked: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        """How many polls wait now."""
        return sum(len(w) for w in self._waiting.values())

    async def wait(self, cell_id: str, seen: int, timeout: float, *, after: int | None = None) -> bool:
        """Wait until a look finds ``cell_id`` at another generation than ``seen`` (or gone); whether one did.

        Returns ``False`` once ``timeout`` seconds passed with no change seen.
        ``after``: the ``pokes`` count taken before ``seen`` was read; if a poke
        came since, a look runs at once, so a change notified while the caller
        read is not left to the next tick.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._poked, self._task = loop, asyncio.Event(), None
        future: asyncio.Future[None] = loop.create_future()
        entry = (seen, future)
        self._waiting.setdefault(cell_id, []).append(entry)
        if after is not None and after != self.pokes and self._poked is not None:
            self._poked.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            entries = self._waiting.get(cell_id)
            if entries is not None:
                with contextlib.suppress(ValueError):
                    entries.remove(entry)
                if not entries:
                    del self._waiting[cell_id]

    def poke(self) -> None:
        """Something changed generations in this process (or a replica said so): look now, not at the next tick."""
        # Counted first, from any thread, so a wait whose caller read meanwhile sees it (``after``).
        self.pokes += 1
        loop, poked = self._loop, self._poked
        if loop is None or poked is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            poked.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the server stopped
                loop.call_soon_threadsafe(poked.set)

    async def _run(self) -> None:
        # Ends by itself once no poll waits; the next wait starts it again.
        assert self._poked is not None
        poked = self._poked
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poked.wait(), self.every)
            poked.clear()
            if self._waiting:
                await self._look()

    async def _look(self) -> None:
        cells = list(self._waiting)
        try:
            generations = await asyncio.to_thread(self.read, cells)
        except Exception as exc:  # the store is away: the polls time out and answer 304, the next look retries
            log.warning("long polls: cannot read generations: %s", exc)
            return
        self.looks += 1
        for cell_id in cells:
            now = generations.get(cell_id)
            for seen, future in self._waiting.get(cell_id, ()):
                if now != seen and not future.done():
                    future.set_result(None)
