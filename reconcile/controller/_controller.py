"""``Controller``: workers reconcile keys from a deduplicating work queue, with backoff, resync, leases and drain."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar, cast

from .. import storage
from ._clock import Clock, SystemClock
from ._conditions import DEGRADED, PROGRESSING, READY, RECONCILED, Condition, ConditionTable
from ._events import ControllerEvent, ControllerEventKind, ControllerListener
from ._lease import Lease
from ._limiter import RateLimiter, check_number
from ._queue import WorkQueue, check_workers
from ._result import ReconcileContext, Result
from ._sources import AsyncSource, Source, Stop, as_source
from ._store_lease import StoreLease
from .errors import ControllerOptionError, ControllerStateError, TerminalError

K = TypeVar("K", bound=Hashable)

ReconcileFn = Callable[[Any, ReconcileContext], "Result | Awaitable[Result | None] | None"]
"""``fn(key, ctx)`` returning ``Result`` or ``None``, sync or ``async def``."""

_log = logging.getLogger("reconcile.controller")

E = ControllerEventKind
_MESSAGE_LIMIT = 500

# The conditions of the common outcomes, built once: an unchanged outcome costs
# one comparison, not three Condition objects per reconcile.
_DONE = RECONCILED
_AGAIN = {
    READY: (False, "Requeued", "the reconcile asked to be run again"),
    PROGRESSING: (True, "Requeued", "the reconcile asked to be run again"),
    DEGRADED: (False, "Requeued", ""),
}


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _is_async_callable(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class Controller(Generic[K]):
    """A level-triggered reconcile loop: keys enter a deduplicating work queue; workers reconcile one key at a time.

    Semantics (controller-runtime's): a key added while waiting is queued once;
    a key is never reconciled by two workers at once; a key added while it is
    being reconciled is reconciled once more afterwards. A reconcile that raises
    is retried after the rate limiter's delay (per-key exponential backoff under
    an overall token bucket by default); ``TerminalError`` is not retried;
    success forgets the backoff. ``Result(requeue_after=s)`` looks again in
    ``s`` seconds. Every known key is re-added ``resync`` seconds after its last
    reconcile, stretched by up to ``jitter`` so keys spread out. With a
    ``lease``, only the lease holder's workers take keys.

    ``reconcile(key, ctx)`` is a function or an ``async def``; it reads the
    world and acts, and must not rely on why the key was added.

    Args:
        name: the controller's name (events, logs, metrics).
        reconcile: ``fn(key, ctx) -> Result | None``, sync or async.
        workers: reconciles running at once (threads for a sync function,
            tasks for an async one).
        resync: seconds between looks at every known key, or ``None`` for no resync.
        jitter: a resync delay is ``resync * (1 + jitter * u)``, ``u`` uniform in [0, 1).
        rate_limiter: the retry delays; ``default_rate_limiter(clock)`` by default
            (5 ms doubling to 1,000 s per key, under 10/s with a burst of 100).
        clock: the clock; ``SystemClock()`` by default (tests pass a ``FakeClock``).
        lease: leader election: only while this ``Lease`` is held do workers take keys
            (a ``StoreLease``, or a holding from ``journal.lease(...)``, which
            becomes one).
        renew_every: seconds between lease renewals (and acquire attempts);
            ``lease.ttl / 3`` by default.
        listeners: called with every ``ControllerEvent``.
        shutdown_timeout: seconds running reconciles get to finish on stop
            before they are cancelled.
        degraded_after: failures in a row after which ``Degraded`` turns true.
        seed: seeds the resync jitter.

    Raises:
        ControllerOptionError: an option is invalid (the message names it).
    """

    def __init__(
        self,
        name: str,
        reconcile: ReconcileFn,
        *,
        workers: int = 1,
        resync: float | None = 600.0,
        jitter: float = 0.1,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        lease: Lease | None = None,
        renew_every: float | None = None,
        listeners: Iterable[ControllerListener] = (),
        shutdown_timeout: float = 30.0,
        degraded_after: int = 5,
        seed: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ControllerOptionError(f"Controller: name must be a non-empty string, got {name!r}")
        owner = f"Controller {name!r}"
        if not callable(reconcile):
            raise ControllerOptionError(f"{owner}: reconcile must be a callable fn(key, ctx), got {reconcile!r}")
        self.name = name
        self.workers = check_workers(owner, workers)
        self.resync = None if resync is None else check_number(owner, "resync", resync, 0, strict=True)
        self.jitter = check_number(owner, "jitter", jitter, 0)
        if self.jitter > 1:
            raise ControllerOptionError(f"{owner}: jitter must be between 0 and 1, got {jitter!r}")
        if clock is not None and not isinstance(clock, Clock):
            raise ControllerOptionError(f"{owner}: clock must be a Clock (now, wall, wait, sleep), got {clock!r}")
        self.clock: Clock = clock if clock is not None else SystemClock()
        if rate_limiter is not None and not isinstance(rate_limiter, RateLimiter):
            raise ControllerOptionError(
                f"{owner}: rate_limiter must be a RateLimiter (when, forget, retries), got {rate_limiter!r}"
            )
        if isinstance(lease, storage.Lease):
            # journal.lease(...) hands out a holding; the controller needs a handle it can re-acquire.
            lease = StoreLease.from_held(lease)
        if lease is not None and not isinstance(lease, Lease):
            raise ControllerOptionError(
                f"{owner}: lease must be a Lease (acquire, renew, release, epoch, ttl), got {lease!r}"
            )
        self.lease = lease
        self.renew_every: float | None = None
        if lease is not None:
            ttl = check_number(f"{owner} lease", "ttl", lease.ttl, 0, strict=True)
            every = ttl / 3 if renew_every is None else check_number(owner, "renew_every", renew_every, 0, strict=True)
            if every >= ttl:
                raise ControllerOptionError(
                    f"{owner}: renew_every ({every}) must be shorter than the lease's ttl ({ttl}), "
                    "or the lease expires between renewals"
                )
            self.renew_every = every
        elif renew_every is not None:
            raise ControllerOptionError(f"{owner}: renew_every needs a lease")
        self.listeners: tuple[ControllerListener, ...] = tuple(listeners)
        for listener in self.listeners:
            if not callable(listener):
                raise ControllerOptionError(f"{owner}: listeners must be callables taking a ControllerEvent")
        self.shutdown_timeout = check_number(owner, "shutdown_timeout", shutdown_timeout, 0)
        if isinstance(degraded_after, bool) or not isinstance(degraded_after, int) or degraded_after < 1:
            raise ControllerOptionError(f"{owner}: degraded_after must be an int >= 1, got {degraded_after!r}")
        self.degraded_after = degraded_after
        self._fn = reconcile
        self._is_async = _is_async_callable(reconcile)
        self.queue: WorkQueue[K] = WorkQueue(clock=self.clock, rate_limiter=rate_limiter)
        self._add = self.queue.add
        # The system clock's reads are ``time.monotonic`` and ``time.time``: called directly on the hot path.
        system = type(self.clock) is SystemClock
        self._now: Callable[[], float] = time.monotonic if system else self.clock.now
        self._wall: Callable[[], float] = time.time if system else self.clock.wall
        if self.listeners:
            self.queue.on_add(self._on_add)
        if lease is not None:
            self.queue.pause()
        self._rng = random.Random(seed)
        self._random = self._rng.random
        self._known: dict[K, None] = {}
        self._lock = threading.Lock()
        self._conditions = ConditionTable()
        self._running: dict[K, ReconcileContext] = {}
        # What each worker thread reconciles now (by tally slot), where a dict entry per reconcile would cost more.
        self._current: list[ReconcileContext | None] = [None] * (self.workers + 2)
        # Failures (and requeues) in a row per key: ctx.attempt, and whether the
        # limiter has anything to forget, without asking it on every reconcile.
        self._attempts: dict[K, int] = {}
        self._sources: list[Source | AsyncSource] = []
        self._state = "new"
        self._stop_requested = False
        self._stopped = threading.Event()
        self._stop = Stop(self.clock, self._source_error)
        self._leading = lease is None
        self._epoch: int | None = None
        self._fatal: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._async_stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        # Reconciles that ended, counted in slots: 0 under ``_lock``, then one per worker thread and one for
        # the event loop's thread, each written by its thread alone (so the common outcome needs no lock).
        self._tally = [0] * (self.workers + 2)

    # -- feeding keys -------------------------------------------------------------

    def watch(self, source: Source | AsyncSource | Iterable[Any] | Any) -> None:
        """Feed keys from ``source``: ``poll(fn, every)``, an iterable or an async iterable of keys, or a ``Source``.

        Raises:
            ControllerOptionError: ``source`` is none of these.
            ControllerStateError: the controller is already running or stopped.
        """
        if self._state != "new":
            raise ControllerStateError(
                f"Controller {self.name!r}: watch() sources before run(), not while {self._state}"
            )
        self._sources.append(as_source(source))

    def enqueue(self, key: K) -> None:
        """Add ``key`` to the queue now (a no-op if it is already waiting, dropped once stopping).

        Raises:
            ControllerOptionError: ``key`` is not hashable.
        """
        known = self._known
        try:
            if key not in known:
                known[key] = None
        except TypeError:
            raise ControllerOptionError(
                f"Controller {self.name!r}: keys must be hashable, got {type(key).__name__}"
            ) from None
        self._add(key)

    def enqueue_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (the earliest of several delays wins).

        Raises:
            ControllerOptionError: ``key`` is not hashable or ``delay`` is not a number.
        """
        check_number(f"Controller {self.name!r}: enqueue_after", "delay", delay, float("-inf"))
        try:
            self._known.setdefault(key, None)
        except TypeError:
            raise ControllerOptionError(
                f"Controller {self.name!r}: keys must be hashable, got {type(key).__name__}"
            ) from None
        self.queue.add_after(key, delay)

    def _emit_key(self, key: Hashable) -> None:
        self.enqueue(key)  # type: ignore[arg-type]

    def forget(self, key: K) -> None:
        """Stop tracking ``key``: no resync or delayed retry, no conditions, backoff reset (until added again)."""
        self._known.pop(key, None)
        self._attempts.pop(key, None)
        self.queue.cancel_after(key)
        self.queue.forget(key)
        with self._lock:
            self._conditions.discard(key)

    def keys(self) -> list[K]:
        """Every key the controller knows (added since it was made and not forgotten)."""
        return list(self._known)

    # -- status -------------------------------------------------------------------

    def conditions(self, key: K) -> dict[str, Condition]:
        """``key``'s conditions (``Ready``, ``Progressing``, ``Degraded``, and any a reconcile set) by type.

        Empty until the key's first reconcile ends.
        """
        with self._lock:
            return self._conditions.get(key)

    @property
    def reconciles(self) -> int:
        """Reconciles that ended (any outcome)."""
        return sum(self._tally)

    @property
    def is_leader(self) -> bool:
        """Whether workers may take keys: always without a lease, else while it is held."""
        return self._leading

    @property
    def epoch(self) -> int | None:
        """The lease's epoch while held (``None`` without a lease or when not held)."""
        return self._epoch

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called (or the controller ended)."""
        return self._stop_requested

    @property
    def running(self) -> bool:
        """Whether ``run`` / ``run_async`` is in progress."""
        return self._state == "running"

    def in_progress(self) -> list[K]:
        """The keys being reconciled right now."""
        with self._lock:
            return [*self._running, *(cast(K, ctx.key) for ctx in self._current if ctx is not None)]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no key is ready or being reconciled (delayed keys aside), or ``timeout`` real seconds pass.

        Returns whether the controller is idle. Meant for tests, benchmarks and
        batch jobs. While the lease is not held, ready keys do not count.
        """
        return self.queue.wait_idle(timeout)

    # -- events -------------------------------------------------------------------

    def emit(self, kind: ControllerEventKind, key: Any = None, **fields: Any) -> None:
        """Deliver a ``ControllerEvent`` of this controller to every listener (a failing one is reported)."""
        event = ControllerEvent(kind, self.name, key, self.clock.wall(), depth=len(self.queue), **fields)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception as exc:
                _log.exception("controller %s: listener %r failed on %s", self.name, listener, kind.value)
                if kind is not E.LISTENER_ERROR:
                    failure = ControllerEvent(E.LISTENER_ERROR, self.name, key, self.clock.wall(), error=exc)
                    for other in self.listeners:
                        if other is not listener:
                            try:
                                other(failure)
                            except Exception:
                                _log.exception("controller %s: listener %r failed", self.name, other)

    def _on_add(self, key: K, queued: bool) -> None:
        self.emit(E.ADDED if queued else E.DEDUPLICATED, key)

    def _source_error(self, error: BaseException) -> None:
        _log.warning("controller %s: source failed: %s", self.name, _describe(error))
        if self.listeners:
            self.emit(E.SOURCE_ERROR, error=error)

    # -- one reconcile --------------------------------------------------------------

    def _begin(self, key: K) -> tuple[ReconcileContext, float]:
        ctx = ReconcileContext(self, key, self._attempts.get(key, 0) + 1, self._epoch)
        self._running[key] = ctx
        if self.listeners:
            self.emit(E.STARTED, key, attempt=ctx.attempt)
            return ctx, self._now()
        # The start time only feeds the listeners' durations.
        return ctx, 0.0

    def _finish(
        self, key: K, ctx: ReconcileContext, started: float, result: Any, error: Exception | None
    ) -> float | None:
        """Requeue or back off ``key`` by how its reconcile ended; record conditions; the resync delay, if any.

        The caller marks the key done in the queue afterwards, scheduling its
        resync after the returned delay in the same step.
        """
        attempts = self._attempts
        q = self.queue
        delay: float | None = None
        resync: float | None = None
        generation = ctx.observed_generation
        custom = ctx.overrides
        if error is None and result is not None and not isinstance(result, Result):
            error = TerminalError(
                f"the reconcile function returned {type(result).__name__}, expected Result or None",
                reason="InvalidResult",
            )
        if error is None:
            if result is not None and result.requeue_after is not None:
                if attempts.pop(key, None) is not None:
                    q.forget(key)
                delay = result.requeue_after
                q.add_after(key, delay)
                kind, entries = E.REQUEUED, _DONE
            elif result is not None and result.requeue:
                attempts[key] = ctx.attempt
                delay = q.add_rate_limited(key)
                kind, entries = E.REQUEUED, _AGAIN
            else:
                if attempts.pop(key, None) is not None:
                    q.forget(key)
                kind, entries = E.SUCCEEDED, _DONE
                if self.resync is not None:
                    resync = self._resync_delay()
            signature: Any = (entries, generation) if custom is None else None
        elif isinstance(error, TerminalError):
            attempts.pop(key, None)
            q.forget(key)
            kind = E.TERMINAL
            message = str(error)
            entries = {
                READY: (False, error.reason, message),
                PROGRESSING: (False, error.reason, message),
                DEGRADED: (True, error.reason, message),
            }
            signature = None
            if self.resync is not None:
                resync = self._resync_delay()
        else:
            failures = attempts[key] = ctx.attempt
            delay = q.add_rate_limited(key)
            kind = E.RETRYING
            message = _describe(error)
            entries = {
                READY: (False, "ReconcileFailed", message),
                PROGRESSING: (True, "Retrying", f"attempt {failures} failed; retrying in {delay:.3g}s"),
                DEGRADED: (
                    (True, "RepeatedFailures", f"{failures} failures in a row; last: {message}")
                    if failures >= self.degraded_after
                    else (False, "Retrying", "")
                ),
            }
            signature = None
        if custom is not None:
            entries = {**entries, **custom}
        with self._lock:
            self._tally[0] += 1
            self._running.pop(key, None)
            if key in self._known:
                self._conditions.record(key, signature, entries, generation, self._wall())
        if self.listeners:
            self.emit(
                kind,
                key,
                attempt=ctx.attempt,
                duration=self._now() - started,
                delay=delay,
                error=error,
            )
        return resync

    def _reconciled(self, key: K, ctx: ReconcileContext, slot: int) -> float | None:
        """``_finish`` of the common outcome (returned ``None``, no backoff to forget, no listener to tell).

        Called by the thread that ran the reconcile, ``slot`` being its tally
        slot. It takes no lock: while ``key`` is being reconciled no other
        worker touches its entries, each dict operation is atomic, and the one
        race, with ``forget(key)`` (which drops ``key`` from ``_known`` before
        it discards the conditions), is closed by looking at ``_known`` again
        after recording.
        """
        self._tally[slot] += 1
        self._running.pop(key, None)
        known = self._known
        if key in known:
            generation = ctx.observed_generation
            custom = ctx.overrides
            if generation is None and custom is None:
                self._conditions.record_reconciled(key, self._wall())
            else:
                self._conditions.record(
                    key,
                    (_DONE, generation) if custom is None else None,
                    _DONE if custom is None else {**_DONE, **custom},
                    generation,
                    self._wall(),
                )
            if key not in known:
                self._conditions.discard(key)
            elif self.resync is not None:
                return self.resync * (1.0 + self.jitter * self._random())
        # A key forgotten while it ran gets no resync either.
        return None

    def _resync_delay(self) -> float:
        assert self.resync is not None
        return self.resync * (1.0 + self.jitter * self._random())

    def _abandon(self, key: K) -> None:
        """A reconcile that did not end (cancelled, crashed): release the key, record nothing."""
        with self._lock:
            self._running.pop(key, None)
        self.queue.done(key)

    def _crash(self, error: BaseException) -> None:
        if self._fatal is None:
            self._fatal = error
        self.stop()

    # -- threads ----------------------------------------------------------------------

    def _thread_worker(self, slot: int) -> None:
        get = self.queue.get
        fn = self._fn
        attempts = self._attempts
        current = self._current
        known = self._known
        tally = self._tally
        conditions = self._conditions
        records = conditions.by_key
        wall = self._wall
        rand = self._random
        quiet = not self.listeners
        # The options are fixed once the controller runs: the resync delay is ``resync + spread * u``.
        resync = self.resync
        spread = 0.0 if resync is None else resync * self.jitter
        finished: K | None = None
        again: float | None = None
        while True:
            key = get(finished, again)  # marks the previous key done, schedules its resync
            if key is None:
                return
            if quiet:
                # ``_begin`` written out, for a controller without listeners.
                attempt = attempts[key] + 1 if key in attempts else 1
                ctx = ReconcileContext(self, key, attempt, self._epoch)
                current[slot] = ctx
                started = 0.0
            else:
                ctx, started = self._begin(key)
                attempt = ctx.attempt
            try:
                try:
                    result = fn(key, ctx)
                except Exception as exc:
                    again = self._finish(key, ctx, started, None, exc)
                else:
                    # A first attempt has no backoff to forget (only this worker's ``_finish`` adds one).
                    if (
                        result is None
                        and quiet
                        and attempt == 1
                        and ctx.observed_generation is None
                        and ctx.overrides is None
                    ):
                        # ``_reconciled`` written out for its commonest case: the hot path of every controller.
                        tally[slot] += 1
                        again = None
                        if key in known:
                            if key not in records:
                                records[key] = wall()
                            else:
                                conditions.record_reconciled(key, wall())
                            if key not in known:
                                conditions.discard(key)
                            elif resync is not None:
                                again = resync + spread * rand()
                    elif result is None and quiet and key not in attempts:
                        again = self._reconciled(key, ctx, slot)
                    else:
                        again = self._finish(key, ctx, started, result, None)
            except BaseException as exc:
                current[slot] = None
                self._abandon(key)
                self._crash(exc)
                return
            current[slot] = None
            finished = key

    def _run_source(self, source: Source | AsyncSource) -> None:
        try:
            if isinstance(source, Source):
                source.run(self._emit_key, self._stop)
            else:
                asyncio.run(self._async_source_until_stopped(source))
        except Exception as exc:
            self._source_error(exc)

    async def _async_source_until_stopped(self, source: AsyncSource) -> None:
        task = asyncio.ensure_future(source.arun(self._emit_key))
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if self._stop.is_set():
                task.cancel()
                break
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _elect(self) -> None:
        """Acquire, then renew, the lease every ``renew_every``; pause the workers while it is not held."""
        lease = self.lease
        assert lease is not None and self.renew_every is not None
        while not self._stop.is_set():
            was = self._leading
            try:
                held = lease.renew() if was else lease.acquire()
            except Exception as exc:
                held = False
                _log.warning("controller %s: lease %s failed: %s", self.name, lease.name, _describe(exc))
                if self.listeners:
                    self.emit(E.LEASE_ERROR, error=exc)
            if self._stop.is_set():
                held = held and was
            if held and not was:
                self._epoch = lease.epoch
                self._leading = True
                # A new leader missed whatever happened before: look at everything.
                for key in list(self._known):
                    self.queue.add(key)
                self.queue.resume()
                _log.info("controller %s: leading (lease %s, epoch %s)", self.name, lease.name, self._epoch)
                if self.listeners:
                    self.emit(E.LEADER_ACQUIRED, epoch=self._epoch)
            elif was and not held:
                self.queue.pause()
                self._leading = False
                self._epoch = None
                _log.warning("controller %s: lost lease %s", self.name, lease.name)
                if self.listeners:
                    self.emit(E.LEADER_LOST)
            if self._stop.wait(self.renew_every):
                return

    def _start_helpers(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._run_source, args=(s,), name=f"{self.name}-source-{i}", daemon=True)
            for i, s in enumerate(self._sources)
            if self._loop is None or isinstance(s, Source)
        ]
        if self.lease is not None:
            threads.append(threading.Thread(target=self._elect, name=f"{self.name}-lease", daemon=True))
        for t in threads:
            t.start()
        return threads

    def _stop_helpers(self, helpers: list[threading.Thread]) -> None:
        self._stop.set()
        for t in helpers:
            if t.name.endswith("-lease"):
                t.join()
        if self.lease is not None and self._leading:
            try:
                self.lease.release()
            except Exception as exc:
                if self.listeners:
                    self.emit(E.LEASE_ERROR, error=exc)
            self._leading = False
            self._epoch = None

    def _enter(self) -> None:
        with self._lock:
            if self._state != "new":
                raise ControllerStateError(
                    f"Controller {self.name!r} is {self._state}: a controller runs once; make a new one"
                )
            self._state = "running"
        if self._stop_requested:
            self.queue.shutdown()

    def _exit(self) -> None:
        self._state = "stopped"
        self._stopped.set()
        if self.listeners:
            self.emit(E.STOPPED)
        if self._fatal is not None:
            raise self._fatal

    def _cancel_running(self) -> None:
        with self._lock:
            for ctx in [*self._running.values(), *(c for c in self._current if c is not None)]:
                ctx.cancelled = True

    def run(self, *, handle_signals: bool = True) -> None:
        """Run until ``stop()`` (or SIGTERM): start sources, leader election and workers; drain on the way out.

        A sync reconcile function runs in ``workers`` threads; an async one in
        a new event loop (``run_async``). On stop, no new reconcile starts; running
        ones get ``shutdown_timeout`` seconds, then their ``ctx.cancelled`` is set
        (an async one is cancelled); ``run`` returns once none is running.

        Args:
            handle_signals: in the main thread, SIGTERM (and SIGINT) call ``stop()``
                while ``run`` runs (previous handlers are restored afterwards).

        Raises:
            ControllerStateError: the controller already ran.
            BaseException: a ``BaseException`` a reconcile raised (it stopped the controller).
        """
        if self._is_async:
            with self._signals(handle_signals):
                asyncio.run(self.run_async())
            return
        self._enter()
        with self._signals(handle_signals):
            workers = [
                threading.Thread(target=self._thread_worker, args=(i + 1,), name=f"{self.name}-worker-{i}", daemon=True)
                for i in range(self.workers)
            ]
            for t in workers:
                t.start()
            helpers = self._start_helpers()
            try:
                # Poll the flag rather than block on a lock, so a signal handler
                # that calls stop() can never deadlock against this thread.
                while not self._stop_requested:
                    self._stopped.wait(0.05)
            finally:
                if not self._stop_requested:
                    self.stop()  # KeyboardInterrupt without a handler
                if self.listeners:
                    self.emit(E.STOPPING)
                self.queue.shutdown()
                if not self.queue.wait_processed(self.shutdown_timeout):
                    self._cancel_running()
                for t in workers:
                    t.join()
                self._stop_helpers(helpers)
        self._exit()

    @contextlib.contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        saved: dict[signal.Signals, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                saved[sig] = signal.signal(sig, lambda *_: self._request_stop())
        try:
            yield
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    def _request_stop(self) -> None:
        # Called from a signal handler: set flags only, take no lock.
        self._stop_requested = True
        loop = self._loop
        if loop is not None and self._async_stop is not None:
            loop.call_soon_threadsafe(self._async_stop.set)

    def stop(self) -> None:
        """Ask the controller to stop: no new reconcile starts; ``run`` drains and returns. Thread-safe, idempotent."""
        self._stop_requested = True
        self.queue.shutdown()
        self._stop.set()
        loop = self._loop
        if loop is not None and self._async_stop is not None and not loop.is_closed():
            if threading.get_ident() == self._loop_thread:
                self._async_stop.set()
            else:
                loop.call_soon_threadsafe(self._async_stop.set)

    def start(self) -> None:
        """Run in a background thread (``run(handle_signals=False)``); ``stop()`` then ``join()`` ends it.

        Raises:
            ControllerStateError: the controller already ran.
        """
        if self._state != "new" or self._thread is not None:
            raise ControllerStateError(f"Controller {self.name!r} is {self._state}: a controller runs once")
        self._thread = threading.Thread(target=self._run_in_thread, name=f"{self.name}-controller", daemon=True)
        self._thread.start()

    def _run_in_thread(self) -> None:
        try:
            self.run(handle_signals=False)
        except BaseException as exc:
            if self._fatal is None:
                self._fatal = exc

    def join(self, timeout: float | None = None) -> bool:
        """Wait (real seconds) for a controller started with ``start()`` to end; whether it ended.

        Raises:
            ControllerStateError: the controller was not started with ``start()``.
            BaseException: what stopped the controller, if a reconcile crashed it.
        """
        if self._thread is None:
            raise ControllerStateError(f"Controller {self.name!r}: join() needs start()")
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        if self._fatal is not None:
            raise self._fatal
        return True

    # -- asyncio ----------------------------------------------------------------------

    def _wake_async(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _sleep_then_wake(self, delay: float, wake: asyncio.Event) -> None:
        await self.clock.sleep(delay)
        wake.set()

    async def _async_worker(self, wake: asyncio.Event, pool: concurrent.futures.Executor | None) -> None:
        q = self.queue
        fn = self._fn
        loop = asyncio.get_running_loop()
        attempts = self._attempts
        quiet = not self.listeners
        slot = self.workers + 1  # every task of the loop runs in its one thread
        finished: K | None = None
        again: float | None = None
        while True:
            wake.clear()
            key, delay = q.take(finished, again)  # marks the previous key done, schedules its resync
            finished = again = None
            if key is None:
                if q.shutting_down:
                    return
                if delay is None:
                    await wake.wait()
                else:
                    timer = asyncio.ensure_future(self._sleep_then_wake(delay, wake))
                    try:
                        await wake.wait()
                    finally:
                        timer.cancel()
                continue
            ctx, started = self._begin(key)
            try:
                if pool is None:
                    result = await fn(key, ctx)  # type: ignore[misc]
                else:
                    result = await loop.run_in_executor(pool, fn, key, ctx)
            except asyncio.CancelledError:
                self._abandon(key)
                raise
            except Exception as exc:
                again = self._finish(key, ctx, started, None, exc)
            except BaseException as exc:
                self._abandon(key)
                self._crash(exc)
                return
            else:
                if result is None and quiet and key not in attempts:
                    again = self._reconciled(key, ctx, slot)
                else:
                    again = self._finish(key, ctx, started, result, None)
            finished = key

    async def run_async(self, *, handle_signals: bool = False) -> None:
        """``run`` inside a running event loop: workers are tasks (a sync reconcile runs in ``workers`` threads).

        On stop, running reconciles get ``shutdown_timeout`` seconds, then async
        ones are cancelled and sync ones see ``ctx.cancelled``; it returns once
        none is running. Cancelling the task running this does the same, then
        re-raises ``CancelledError``.

        Args:
            handle_signals: SIGTERM and SIGINT call ``stop()`` (loop signal handlers, main thread only).

        Raises:
            ControllerStateError: the controller already ran.
            BaseException: a ``BaseException`` a reconcile raised (it stopped the controller).
        """
        self._enter()
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._async_stop = asyncio.Event()
        self._wake = wake = asyncio.Event()
        if self._stop_requested:
            self._async_stop.set()
        self.queue.on_wake(self._wake_async)
        signals: list[signal.Signals] = []
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
                signals.append(sig)
        pool = None if self._is_async else concurrent.futures.ThreadPoolExecutor(self.workers, f"{self.name}-worker")
        workers = [asyncio.ensure_future(self._async_worker(wake, pool)) for _ in range(self.workers)]
        sources = [asyncio.ensure_future(self._async_source(s)) for s in self._sources if isinstance(s, AsyncSource)]
        helpers = self._start_helpers()
        cancelled = False
        try:
            try:
                await self._async_stop.wait()
            except asyncio.CancelledError:
                cancelled = True
                self.stop()
            if self.listeners:
                self.emit(E.STOPPING)
            self.queue.shutdown()
            wake.set()
            for task in sources:
                task.cancel()
            await self._drain(workers)
            if pool is not None:
                self._cancel_running()
                await asyncio.shield(loop.run_in_executor(None, pool.shutdown))
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            if helpers or self.lease is not None:
                await asyncio.shield(loop.run_in_executor(None, self._stop_helpers, helpers))
            else:
                self._stop.set()
            self._loop = None
        self._exit()
        if cancelled:
            raise asyncio.CancelledError

    async def _drain(self, workers: Sequence[asyncio.Future[None]]) -> None:
        """Wait for the workers up to ``shutdown_timeout`` clock seconds, then cancel the rest and wait for them."""
        timer = asyncio.ensure_future(self.clock.sleep(self.shutdown_timeout))
        pending = {w for w in workers if not w.done()}
        while pending and not timer.done():
            _, pending = await asyncio.wait(pending | {timer}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(timer)
        timer.cancel()
        for w in pending:
            w.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _async_source(self, source: AsyncSource) -> None:
        try:
            await source.arun(self._emit_key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._source_error(exc)

    def __repr__(self) -> str:
        return f"<Controller {self.name!r} {self._state} {self.queue!r}>"
