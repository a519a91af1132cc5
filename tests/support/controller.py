"""Helpers for the controller tests (tests/controller): bounded real-time waits and a running-controller context."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from reconcile.controller import Controller


def until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` (real time) until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


@contextlib.contextmanager
def running(ctl: Controller[Any]) -> Iterator[Controller[Any]]:
    """Run ``ctl`` in a background thread for the block; stop and join it after."""
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.stop()
        assert ctl.join(10), "the controller did not stop"
