"""Sources of keys for a controller: a polled function, an iterator, an async iterator."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterable, Callable, Hashable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from ._clock import Clock
from ._limiter import check_number
from .errors import ControllerOptionError

Emit = Callable[[Hashable], None]


class Stop:
    """What a source's thread is given: the stop signal (waits on the controller's clock) and an error report."""

    def __init__(self, clock: Clock, report: Callable[[BaseException], None] | None = None) -> None:
        self.clock = clock
        self._report = report
        self._cond = threading.Condition(threading.Lock())
        self._set = False

    def set(self) -> None:
        """Signal every waiter."""
        with self._cond:
            self._set = True
            self._cond.notify_all()

    def report(self, error: BaseException) -> None:
        """Report an error the source survived (the controller emits ``SOURCE_ERROR``)."""
        if self._report is not None:
            self._report(error)

    def is_set(self) -> bool:
        """Whether the controller is stopping."""
        return self._set

    def wait(self, delay: float) -> bool:
        """Sleep ``delay`` clock seconds or until set; whether it is set."""
        with self._cond:
            deadline = self.clock.now() + delay
            while not self._set:
                left = deadline - self.clock.now()
                if left <= 0:
                    break
                self.clock.wait(self._cond, left)
            return self._set


@runtime_checkable
class Source(Protocol):
    """Feeds keys to a controller: ``run`` is called in a thread of its own and calls ``emit`` per key.

    It should return soon after ``stop`` is set (``stop.wait(seconds)`` sleeps
    interruptibly). An exception ends the source and is reported as a
    ``SOURCE_ERROR`` event.
    """

    def run(self, emit: Emit, stop: Stop) -> None:
        """Emit keys until ``stop`` is set or there are no more."""
        ...


@runtime_checkable
class AsyncSource(Protocol):
    """A source whose ``arun`` is a coroutine: run as a task in ``run_async``, in a thread's loop by ``run``."""

    async def arun(self, emit: Emit) -> None:
        """Emit keys until cancelled or there are no more."""
        ...


class Poll:
    """Calls ``fn()`` every ``every`` seconds and emits the keys that appeared, disappeared or changed.

    ``fn`` returns the keys that exist now, either as an iterable of keys or as
    a mapping of key to a version (a row's ``updated_at``, a hash): with a
    mapping, a key whose version changed is emitted too. The first poll emits
    every key. Keys that did not change are left to the controller's resync.
    An exception from ``fn`` is reported as a ``SOURCE_ERROR`` event and the
    next poll happens as usual.

    Args:
        fn: returns the keys that exist.
        every: seconds between polls.
    """

    def __init__(self, fn: Callable[[], Iterable[Hashable] | Mapping[Hashable, Any]], every: float) -> None:
        if not callable(fn):
            raise ControllerOptionError(f"poll: fn must be a callable returning keys, got {fn!r}")
        self.fn = fn
        self.every = check_number("poll", "every", every, 0, strict=True)
        self._seen: dict[Hashable, Any] = {}

    def poll_once(self, emit: Emit) -> None:
        """Call ``fn`` once and emit what changed since the previous call."""
        got = self.fn()
        now: dict[Hashable, Any] = dict(got) if isinstance(got, Mapping) else dict.fromkeys(got, None)
        seen = self._seen
        for key, version in now.items():
            if key not in seen or seen[key] != version:
                emit(key)
        for key in seen:
            if key not in now:
                emit(key)
        self._seen = now

    def run(self, emit: Emit, stop: Stop) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.poll_once(emit)
            except Exception as exc:
                stop.report(exc)
            if stop.wait(self.every):
                return

    def __repr__(self) -> str:
        return f"poll({getattr(self.fn, '__name__', self.fn)!r}, every={self.every})"


def poll(fn: Callable[[], Iterable[Hashable] | Mapping[Hashable, Any]], every: float) -> Poll:
    """A source that calls ``fn()`` every ``every`` seconds (see ``Poll``).

    Raises:
        ControllerOptionError: ``fn`` is not callable or ``every`` is not > 0.
    """
    return Poll(fn, every)


class IterableSource:
    """Emits every key an iterable yields, in its own thread, until it ends or the controller stops."""

    def __init__(self, keys: Iterable[Hashable]) -> None:
        self.keys = keys

    def run(self, emit: Emit, stop: Stop) -> None:
        """Emit each key."""
        for key in self.keys:
            if stop.is_set():
                return
            emit(key)

    def __repr__(self) -> str:
        return f"from_iterable({self.keys!r})"


class AsyncIterableSource:
    """Emits every key an async iterable yields, until it ends or is cancelled."""

    def __init__(self, keys: AsyncIterable[Hashable]) -> None:
        self.keys = keys

    async def arun(self, emit: Emit) -> None:
        """Emit each key."""
        async for key in self.keys:
            emit(key)

    def __repr__(self) -> str:
        return f"from_iterable({self.keys!r})"


def from_iterable(keys: Iterable[Hashable] | AsyncIterable[Hashable]) -> IterableSource | AsyncIterableSource:
    """A source that emits the keys of an iterable or async iterable (a message consumer, a change feed).

    Raises:
        ControllerOptionError: ``keys`` is neither.
    """
    if isinstance(keys, AsyncIterable):
        return AsyncIterableSource(keys)
    if isinstance(keys, Iterable) and not isinstance(keys, str | bytes):
        return IterableSource(keys)
    raise ControllerOptionError(f"from_iterable: expected an iterable or async iterable of keys, got {keys!r}")


def as_source(source: object) -> Source | AsyncSource:
    """``source`` if it is a source; an iterable or async iterable wrapped by ``from_iterable``.

    Raises:
        ControllerOptionError: anything else (a bare function names ``poll``).
    """
    if isinstance(source, Source | AsyncSource):
        return source
    if isinstance(source, AsyncIterable | Iterable) and not isinstance(source, str | bytes | Mapping):
        return from_iterable(source)
    if callable(source):
        raise ControllerOptionError(
            f"watch: {source!r} is a function; wrap it in poll(fn, every=seconds) to say how often to call it"
        )
    raise ControllerOptionError(
        f"watch: expected a source (poll(...), an iterable or an async iterable of keys), got {source!r}"
    )
