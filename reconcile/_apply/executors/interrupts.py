"""Ctrl-C during an apply: SIGINT deferred to a stop that lets running steps finish."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def deferred_interrupts(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """Within the block, a first Ctrl-C calls ``on_interrupt`` instead of raising ``KeyboardInterrupt``.

    A coordinator that only does bookkeeping uses this, so Ctrl-C cannot land
    halfway through recording a step; ``on_interrupt`` must be safe to run in
    a signal handler (set a flag, ``SimpleQueue.put``). A second Ctrl-C raises
    as usual. Only in the main thread, and only over Python's default handler:
    elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    pressed = False

    def handler(signum: int, frame: object) -> None:
        nonlocal pressed
        if pressed:
            raise KeyboardInterrupt
        pressed = True
        on_interrupt()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
