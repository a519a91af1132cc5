"""Clocks the fleet's policies run on: the wall clock, or a shared clock a test or the demo moves forward.

Deadlines of weeks (mandatory infrastructure updates), bake times and grant
expiries must be testable without waiting. Every part of the fleet takes a
``clock`` callable returning seconds since the epoch; ``FileClock`` is one
several processes share: the wall clock plus an offset kept in a small file,
which ``advance`` moves forward (never back), so the control plane, the
agents and the demo agree on "now" without a network call.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Protocol

from .errors import InvalidInputError


class Clock(Protocol):
    """A clock: called with no argument, returns seconds since the epoch (``time.time`` is one)."""

    def __call__(self) -> float:
        """Now, in seconds since the epoch."""
        ...


class FileClock:
    """The wall clock plus an offset read from ``path`` (a JSON ``{"offset": seconds}``; missing means 0).

    The file is read again only when its modification time changes, so calling
    the clock stays cheap; a missing or unreadable file is an offset of 0 only
    if it never held one (a half-written file keeps the last offset read).

    Args:
        path: the offset file; created by ``advance``.
        wall: the underlying clock (``time.time``).
    """

    def __init__(self, path: str | os.PathLike[str], wall: Clock = time.time) -> None:
        self.path = pathlib.Path(path)
        self._wall = wall
        self._offset = 0.0
        self._stamp: int | None = None

    @property
    def offset(self) -> float:
        """The offset, in seconds, as last read."""
        self._refresh()
        return self._offset

    def _refresh(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text())
            offset = float(data["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # a write in progress elsewhere: keep the last offset
        self._offset = max(self._offset, offset)
        self._stamp = stamp

    def __call__(self) -> float:
        """Now: the wall clock plus the offset."""
        self._refresh()
        return self._wall() + self._offset

    def advance(self, seconds: float) -> float:
        """Move this clock (and every process sharing the file) forward by ``seconds``; the new offset.

        Raises:
            InvalidInputError: if ``seconds`` is negative or not finite (clocks never go back).
        """
        if not (seconds >= 0 and seconds != float("inf")):
            raise InvalidInputError(f"clock advance: expected a finite number of seconds >= 0, got {seconds!r}")
        self._refresh()
        offset = self._offset + float(seconds)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"offset": offset}))
        tmp.replace(self.path)
        self._offset = offset
        self._stamp = None
        return offset


def clock_from(path: str | os.PathLike[str] | None) -> Clock:
    """``time.time`` if ``path`` is ``None``, else a ``FileClock`` on it (for the ``--clock-file`` options)."""
    return time.time if path is None else FileClock(path)
