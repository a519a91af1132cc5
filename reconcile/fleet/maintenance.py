"""Maintenance mode: a cell's window with an end time, opened by the agent around updates that need it.

A component of a release may be marked ``requires_maintenance``. The agent's
provider for components is wrapped by ``MaintenanceProvider``: before the
step that *updates* such a component it turns maintenance on with
``enabled_until = now + maintenance_duration`` and after the step (done or
failed) it turns it off. The window is a small JSON file in the cell's state
directory (``maintenance.json``), written atomically, that the components
read on every request::

    {"enabled_until": 1767225600.0, "since": 1767225000.0, "reason": "update of workspaces 2.0.0 -> 3.0.0"}

A component treats maintenance as on while its clock is before
``enabled_until`` (Gitpod's ``enabledUntil`` rule). So if the agent dies in
the middle, nobody has to turn it off: it ends by itself at its end time.
Components learn where the file is from ``RECONCILE_MAINTENANCE_FILE`` and,
when the agent runs on a shared test clock, where that clock's offset file
is from ``RECONCILE_CLOCK_FILE`` (``component_env``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import reconcile as rc

from .clock import FileClock
from .errors import InvalidInputError
from .files import write_json
from .model import MAX_MAINTENANCE_DURATION, Maintenance
from .runtime import Component

log = logging.getLogger("reconcile.fleet.maintenance")

MAINTENANCE_FILE = "maintenance.json"
"""The window's file name in a cell's state directory."""

ENV_MAINTENANCE_FILE = "RECONCILE_MAINTENANCE_FILE"
"""The environment variable that tells a component where the maintenance file is."""

ENV_CLOCK_FILE = "RECONCILE_CLOCK_FILE"
"""The environment variable that tells a component where the shared test clock's offset file is (if any)."""


def component_env(path: str | os.PathLike[str], clock: Callable[[], float]) -> dict[str, str]:
    """The environment a component needs to honour maintenance: the file, and the clock file if ``clock`` has one."""
    env = {ENV_MAINTENANCE_FILE: str(pathlib.Path(path).resolve())}
    if isinstance(clock, FileClock):
        env[ENV_CLOCK_FILE] = str(clock.path.resolve())
    return env


def read_window(path: str | os.PathLike[str]) -> Maintenance | None:
    """The window recorded in the file at ``path`` (on or already past its end), or ``None`` if there is none."""
    try:
        data = json.loads(pathlib.Path(path).read_text())
        return Maintenance(float(data["since"]), float(data["enabled_until"]), str(data.get("reason", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class MaintenanceSwitch:
    """Turns a cell's maintenance window on and off through its file.

    ``begin`` and ``end`` nest (two updates at once keep the window on until
    both ended; the end time is the later of theirs), and are safe to call
    from several threads.

    Args:
        path: the window's file (``state-dir/maintenance.json``).
        clock: seconds since the epoch, the clock the components compare the end time with.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = pathlib.Path(path)
        self.clock = clock
        self._open = 0
        self._window: Maintenance | None = None
        self._lock = threading.Lock()

    def begin(self, duration: float, reason: str) -> Maintenance:
        """Turn maintenance on until ``now + duration`` (or keep it on, to the later end); the window.

        Raises:
            InvalidInputError: ``duration`` is not more than 0 and at most a day.
        """
        if isinstance(duration, bool) or not 0 < duration <= MAX_MAINTENANCE_DURATION:
            raise InvalidInputError(f"maintenance duration: expected seconds in (0, 1 day], got {duration!r}")
        with self._lock:
            now = self.clock()
            window = Maintenance(now, now + duration, reason)
            if self._window is not None and self._open:
                previous = self._window
                window = Maintenance(previous.since, max(previous.until, window.until), previous.reason)
            self._write(window)
            self._window = window
            self._open += 1
            return window

    def end(self) -> None:
        """Close one ``begin``; maintenance goes off when the last one ends."""
        with self._lock:
            self._open = max(0, self._open - 1)
            if self._open == 0:
                self._remove()

    def clear(self) -> Maintenance | None:
        """End any window at once, also one a dead agent left on; the window there was (even if past its end)."""
        with self._lock:
            left = read_window(self.path)
            self._open = 0
            self._remove()
            return left

    @contextlib.contextmanager
    def window(self, duration: float, reason: str) -> Iterator[Maintenance]:
        """Maintenance on while the body runs (``begin`` before, ``end`` after, also if it raises)."""
        opened = self.begin(duration, reason)
        try:
            yield opened
        finally:
            self.end()

    def current(self) -> Maintenance | None:
        """The window if maintenance is on now (``now < until``), else ``None``."""
        window = read_window(self.path)
        return window if window is not None and window.active(self.clock()) else None

    def _write(self, window: Maintenance) -> None:
        data = {"enabled_until": window.until, "since": window.since, "reason": window.reason}
        # Readable by the components (the same user); written whole, then renamed over: never half-read.
        write_json(self.path, data, 0o644)
        self._window = window

    def _remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self._window = None


class MaintenanceProvider:
    """A component provider that opens a maintenance window around each update of a component that requires it.

    Every other call goes to the wrapped provider unchanged. A create (a
    component installed, or started again after it died) opens no window:
    what is being replaced is not running.

    Args:
        runtime: the component provider (``ProcessRuntime``, ``MemoryRuntime``).
        switch: the cell's maintenance switch.
        duration_of: the expected maintenance of the named component in the target release, in
            seconds, or ``None`` if it requires none.
        on_change: called after maintenance went on and after it went off (the agent reports then).
    """

    def __init__(
        self,
        runtime: Any,
        switch: MaintenanceSwitch,
        duration_of: Callable[[str], float | None],
        *,
        on_change: Callable[[], object] | None = None,
    ) -> None:
        self.runtime = runtime
        self.switch = switch
        self.duration_of = duration_of
        self.on_change = on_change

    def list(self) -> Any:
        """The wrapped provider's ``list``."""
        return self.runtime.list()

    def read(self, address: rc.Address) -> Any:
        """The wrapped provider's ``read``."""
        return self.runtime.read(address)

    def create(self, desired: Component, ctx: rc.Context) -> Any:
        """The wrapped provider's ``create`` (no window)."""
        return self.runtime.create(desired, ctx)

    def delete(self, actual: Component, ctx: rc.Context) -> None:
        """The wrapped provider's ``delete`` (no window)."""
        self.runtime.delete(actual, ctx)

    def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Any:
        """The wrapped ``update``, inside a maintenance window if the component requires one."""
        duration = self.duration_of(desired.name)
        if duration is None:
            return self.runtime.update(actual, desired, ctx)
        reason = f"update of {desired.name} {actual.version} -> {desired.version}"
        window = self.switch.begin(duration, reason)
        log.info("maintenance on until %.0f: %s", window.until, reason)
        try:
            self._changed()
            return self.runtime.update(actual, desired, ctx)
        finally:
            self.switch.end()
            log.info("maintenance off: %s", reason)
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # reporting is best effort: the update goes on either way
                log.exception("reporting the maintenance change failed")


__all__ = [
    "ENV_CLOCK_FILE",
    "ENV_MAINTENANCE_FILE",
    "MAINTENANCE_FILE",
    "MaintenanceProvider",
    "MaintenanceSwitch",
    "component_env",
    "read_window",
]
