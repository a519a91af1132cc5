"""``StateController``: per key, observe what its desired state names, plan, apply, and record conditions."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import reprlib
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

import reconcile as rc
from reconcile import errors as rc_errors

from .. import journal as rc_journal
from .. import storage
from ._controller import Controller
from ._events import ControllerEventKind
from ._result import ReconcileContext, Result
from ._store_lease import StoreLease
from .errors import ApplyFailedError, ControllerOptionError, TerminalError

K = TypeVar("K", bound=Hashable)

_SHOWN_FAILURES = 5

_log = logging.getLogger("reconcile.controller")

# What the journal holds for a key when a write of it failed (or a read of it did): not known, so the
# next remembered state is written whatever it is.
_UNKNOWN = object()


def _check_generation(_: Any, __: Any, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ControllerOptionError(f"Desired: generation must be an int >= 0 or None, got {value!r}")


def _check_state(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, rc.State):
        raise ControllerOptionError(f"Desired: state must be a reconcile.State, got {type(value).__name__}")


@attrs.frozen
class Desired:
    """What a key should look like, with the generation of the spec it came from.

    Attributes:
        state: the desired ``reconcile.State`` of the key (empty: the key owns nothing).
        generation: the spec's generation (a row's version), recorded in the
            conditions as ``observed_generation``; ``None`` to let the controller
            count one per change of ``state``.
    """

    state: rc.State = attrs.field(validator=_check_state)
    generation: int | None = attrs.field(default=None, validator=_check_generation)


DesiredFn = Callable[[Any], "Desired | rc.State | None"]
"""``desired(key)``: the key's ``Desired`` or ``State``, or ``None`` when the key is gone (delete what it owns)."""


def _shown(change: rc.Change) -> str:
    obj = change.after if change.after is not None else change.before
    return rc.resource_type(obj).display_address(obj)


class StateController(Controller[K]):
    """A controller whose reconcile makes the world match a desired ``reconcile.State`` per key.

    Per key: call ``desired(key)``; read (``provider.read``) only the addresses
    that state names plus those the key owns (what its earlier applies made, or
    what ``owns(key)`` says); plan; apply with ``executor`` and ``retry``; record
    conditions with the desired state's generation. An address the key owned
    and no longer desires is deleted. A plan that is not empty while the
    desired generation equals the last one applied is drift (the world changed
    under it): it is repaired, counted in ``drift_repaired`` and reported as a
    ``DRIFT_REPAIRED`` event. A failed apply raises ``ApplyFailedError``, so the
    key is retried with backoff and ``Ready`` says which steps failed and why.

    Providers must have a sync ``read`` (and sync or async writes, as
    ``reconcile.apply`` allows with the executor given).

    Args:
        name: the controller's name.
        desired: ``desired(key) -> Desired | State | None`` (``None``: the key is gone).
        providers: providers keyed by kind.
        executor: runs each apply; ``reconcile.apply``'s default when ``None``.
        retry: the ``reconcile.RetryPolicy`` for transient provider errors within one apply.
        journal: a ``reconcile.journal.Journal``: every apply is journaled (and
            recovers what a crashed apply left pending). With a ``StoreLease`` on
            the same store as ``lease``, each apply runs under the leader's
            holding, so a deposed leader's journal writes (and the provider
            calls behind them) are refused. The journal also keeps each key's
            last applied state (see ``last_applied``), so a restarted or newly
            elected controller still orders deletes by it.
        owns: ``owns(key) -> addresses`` the key owns in the world, asked when the
            controller has no memory of the key (after a restart), so
            resources of a key that is gone can be found and deleted.
        apply_listeners: ``reconcile`` step listeners for every apply.
        **options: the ``Controller`` options (workers, resync, jitter, clock, lease, ...).

    Raises:
        ControllerOptionError: an option is invalid.
    """

    def __init__(
        self,
        name: str,
        desired: DesiredFn,
        providers: Mapping[str, Any],
        *,
        executor: rc.Executor | None = None,
        retry: rc.RetryPolicy | None = None,
        journal: rc_journal.Journal | None = None,
        owns: Callable[[Any], Iterable[rc.Address | str]] | None = None,
        apply_listeners: Iterable[rc.Listener] = (),
        **options: Any,
    ) -> None:
        owner = f"StateController {name!r}"
        if not callable(desired):
            raise ControllerOptionError(f"{owner}: desired must be a callable desired(key), got {desired!r}")
        if not isinstance(providers, Mapping) or not all(isinstance(k, str) for k in providers):
            raise ControllerOptionError(f"{owner}: providers must be a mapping of kind (str) to provider")
        for kind, provider in providers.items():
            if not callable(getattr(provider, "read", None)):
                raise ControllerOptionError(f"{owner}: the provider for kind {kind!r} has no read(address)")
        if executor is not None and not isinstance(executor, rc.Executor):
            raise ControllerOptionError(f"{owner}: executor must be a reconcile.Executor, got {executor!r}")
        if retry is not None and not isinstance(retry, rc.RetryPolicy):
            raise ControllerOptionError(f"{owner}: retry must be a reconcile.RetryPolicy, got {retry!r}")
        if journal is not None and not isinstance(journal, rc_journal.Journal):
            raise ControllerOptionError(f"{owner}: journal must be a reconcile.journal.Journal, got {journal!r}")
        lease = options.get("lease")
        if (
            journal is not None
            and isinstance(lease, StoreLease | storage.Lease)
            and lease.backend is not journal.backend
        ):
            raise ControllerOptionError(f"{owner}: the StoreLease must be on the journal's store to fence its writes")
        if owns is not None and not callable(owns):
            raise ControllerOptionError(f"{owner}: owns must be a callable owns(key), got {owns!r}")
        is_async = any(
            inspect.iscoroutinefunction(getattr(p, m, None))
            for p in providers.values()
            for m in ("read", "create", "update", "delete")
        )
        if is_async and executor is not None and not isinstance(executor, rc.AsyncExecutor):
            raise ControllerOptionError(
                f"{owner}: some providers are async, so the executor must be an AsyncExecutor, got {executor!r}"
            )
        super().__init__(name, self._reconcile_key_async if is_async else self._reconcile_key, **options)
        self.desired = desired
        self.providers = dict(providers)
        self.executor = executor
        self.retry = retry
        self.journal = journal
        self.owns = owns
        self.apply_listeners = tuple(apply_listeners)
        self.drift_repaired = 0
        """How many applies repaired drift (a non-empty plan under an unchanged desired generation)."""
        self.applies = 0
        """How many applies ran (plans that were not empty)."""
        self._counts = threading.Lock()
        self._owned: dict[Any, frozenset[rc.Address]] = {}
        self._last_desired: dict[Any, tuple[rc.State, int]] = {}
        self._applied: dict[Any, int] = {}
        # Per key, the desired state last applied: given to plan() as last_applied,
        # it orders the deletes of resources related only by depends_on, which
        # no world reports (and marks each change drift or intent).
        self._last_applied: dict[Any, rc.State] = {}
        # With a journal, per key: what the journal holds (a State, None for nothing, or _UNKNOWN), and the
        # lease epoch under which this controller learned it; under another epoch another leader may have
        # applied since, so the journal is read again.
        self._journaled: dict[Any, tuple[object, int | None]] = {}

    def owned(self, key: K) -> frozenset[rc.Address]:
        """The addresses ``key`` owns as far as this controller knows (what its applies made)."""
        return self._owned.get(key, frozenset())

    def last_applied(self, key: K) -> rc.State | None:
        """The desired state of ``key`` this controller last applied, given to ``plan`` as ``last_applied``.

        After a failed apply: the state it tried, plus the resources of the one
        before that it no longer has (they may still exist). ``None`` before
        the first apply of the key in this process, or once the key owns nothing.

        With a ``journal``, the state is also recorded there (``Journal.record_last_applied``
        under ``"<controller name>/<key!r>"``, fenced by the leader's ``StoreLease``),
        written only when it changed, and read back on the key's first reconcile in
        this process (and on its first since this controller was elected again), so
        it outlives restarts and failover. The journal is read with the classes of
        the key's desired and actual states (and those the journal knows): a recorded
        resource of another class is in neither, so the plan has nothing of it to
        order; if such a record (or a damaged one) cannot be read, the key is planned
        without it, as before the journal kept it, and a ``LAST_APPLIED_ERROR``
        event says why.
        """
        return self._last_applied.get(key)

    def _generation(self, key: Any, state: rc.State, given: int | None) -> int:
        if given is not None:
            return given
        prev = self._last_desired.get(key)
        if prev is not None and prev[0] == state:
            return prev[1]
        generation = prev[1] + 1 if prev is not None else 1
        self._last_desired[key] = (state, generation)
        return generation

    def _desired_of(self, key: Any) -> tuple[rc.State, int]:
        try:
            got = self.desired(key)
        except (rc_errors.StateProblem, rc_errors.InvalidStateError) as exc:
            raise TerminalError(
                f"desired({reprlib.repr(key)}) is not a valid state: {exc}", reason="InvalidDesiredState"
            ) from exc
        if got is None:
            return self._desired_state(key, rc.State(), None)
        if isinstance(got, Desired):
            return self._desired_state(key, got.state, got.generation)
        if isinstance(got, rc.State):
            return self._desired_state(key, got, None)
        raise TerminalError(
            f"desired({reprlib.repr(key)}) returned {type(got).__name__}; expected Desired, reconcile.State or None",
            reason="InvalidDesiredState",
        )

    def _desired_state(self, key: Any, state: rc.State, generation: int | None) -> tuple[rc.State, int]:
        return state, self._generation(key, state, generation)

    def _readers(self, addresses: Iterable[rc.Address]) -> list[tuple[rc.Address, Any]]:
        """Each address with its provider; ``TerminalError`` naming the kinds without one."""
        providers = self.providers
        pairs = []
        missing = set()
        for address in addresses:
            provider = providers.get(address.kind)
            if provider is None:
                missing.add(address.kind)
            else:
                pairs.append((address, provider))
        if missing:
            raise TerminalError(
                f"no provider for kind{'s' if len(missing) > 1 else ''} {', '.join(sorted(missing))}",
                reason="MissingProvider",
            )
        return pairs

    def _observe(self, addresses: Iterable[rc.Address]) -> rc.State:
        found = [obj for address, provider in self._readers(addresses) if (obj := provider.read(address)) is not None]
        return rc.State(found, allow_dangling=True)

    async def _observe_async(self, addresses: Iterable[rc.Address]) -> rc.State:
        found = []
        for address, provider in self._readers(addresses):
            if inspect.iscoroutinefunction(provider.read):
                obj = await provider.read(address)
            else:
                obj = await asyncio.to_thread(provider.read, address)
            if obj is not None:
                found.append(obj)
        return rc.State(found, allow_dangling=True)

    def _scope(self, key: Any, ctx: ReconcileContext) -> tuple[rc.State, int, frozenset[rc.Address], list[rc.Address]]:
        """The key's desired state and generation, what it owns, and the addresses to read."""
        state, generation = self._desired_of(key)
        ctx.observed_generation = generation
        owned = self._owned.get(key)
        if owned is None and self.owns is not None:
            owned = frozenset(rc.Address.parse(a) if isinstance(a, str) else a for a in self.owns(key))
        owned = owned or frozenset()
        return state, generation, owned, [*state.addresses, *(a for a in owned if state.get(a) is None)]

    def _to_apply(
        self, key: Any, ctx: ReconcileContext, state: rc.State, generation: int, actual: rc.State
    ) -> tuple[rc.Plan, dict[str, Any], bool] | Result:
        """The plan, the apply options and whether it repairs drift; or the ``Result`` when there is nothing to apply.

        A plan repairs drift when its desired generation was applied already. A ``Result`` also comes back
        when this controller has no right to apply (stopping, or deposed since the reconcile began).
        """
        try:
            plan = rc.plan(state, actual, last_applied=self._last_applied_of(key, ctx, state, actual))
        except (rc_errors.ProtectedResourceError, rc_errors.PlanBudgetError) as exc:
            raise TerminalError(str(exc), reason=type(exc).__name__.removesuffix("Error")) from exc
        if plan.is_empty:
            self._owned[key] = frozenset(state.addresses)
            self._applied[key] = generation
            self._remember_applied(key, ctx, state)
            return Result()
        if ctx.stopping:
            # A deposed leader or a stopping controller starts no apply.
            return Result(requeue=True)
        held = None
        if isinstance(self.lease, StoreLease):
            held = self.lease.held
            if held is None or held.epoch != ctx.epoch:
                # Deposed (and maybe re-elected) since this reconcile began: plan again as the new holding.
                return Result(requeue=True)
        options: dict[str, Any] = {"executor": self.executor, "listeners": self.apply_listeners, "retry": self.retry}
        if self.journal is not None:
            options["journal"] = self.journal
            options["lease"] = held if held is not None and held.backend is self.journal.backend else None
        return plan, options, self._applied.get(key) == generation

    def _record(
        self,
        key: Any,
        ctx: ReconcileContext,
        state: rc.State,
        generation: int,
        owned: frozenset[rc.Address],
        drift: bool,
        result: rc.ApplyResult,
    ) -> Result:
        """Remember what the key owns after ``result``; count drift; ``ApplyFailedError`` unless it all succeeded."""
        with self._counts:
            self.applies += 1
        live = result.state
        self._owned[key] = frozenset(state.addresses) | frozenset(a for a in owned if live.get(a) is not None)
        if not result.ok:
            previous = self._last_applied.get(key)
            if previous is not None:
                # What the next plan may still have to delete keeps the edges it was
                # applied with; a resource of ``state`` refs only ``state``, so no cycle.
                left = [o for a, o in previous.items() if a not in state.by_address]
                state = rc.State([*state, *left], allow_dangling=True) if left else state
            self._last_applied[key] = state
            self._journal_applied(key, ctx, state)
            raise ApplyFailedError(self._failure_message(result), result)
        self._remember_applied(key, ctx, state)
        self._applied[key] = generation
        if drift:
            with self._counts:
                self.drift_repaired += 1
            if self.listeners:
                self.emit(ControllerEventKind.DRIFT_REPAIRED, key, attempt=ctx.attempt)
        return Result()

    def _remember_applied(self, key: Any, ctx: ReconcileContext, state: rc.State) -> None:
        if len(state):
            self._last_applied[key] = state
            self._journal_applied(key, ctx, state)
        else:
            # The key owns nothing now: nothing of it is left to order.
            self._last_applied.pop(key, None)
            self._journal_applied(key, ctx, None)

    def _record_name(self, key: Any) -> str:
        return f"{self.name}/{key!r}"

    def _last_applied_of(self, key: Any, ctx: ReconcileContext, desired: rc.State, actual: rc.State) -> rc.State | None:
        """The key's last applied state: from memory, or from the journal on a miss (see ``last_applied``)."""
        journal = self.journal
        if journal is None:
            return self._last_applied.get(key)
        known = self._journaled.get(key)
        if known is not None and known[1] == ctx.epoch:
            return self._last_applied.get(key)
        types = {
            type(o)
            for s in (desired, actual)
            for o in itertools.chain(s, (e.value for e in s.externals.values() if e.value is not None))
        }
        try:
            got = journal.last_applied(self._record_name(key), types)
        except (rc_journal.UnknownKindError, rc_journal.JournalCorruptError) as exc:
            # Not a reason to fail the key: planning without it is what a controller did before the
            # journal kept it. The next state remembered replaces the record.
            _log.warning("controller %s: the last applied state of %s cannot be read: %s", self.name, key, exc)
            if self.listeners:
                self.emit(ControllerEventKind.LAST_APPLIED_ERROR, key, attempt=ctx.attempt, error=exc)
            self._journaled[key] = (_UNKNOWN, ctx.epoch)
            return self._last_applied.get(key)
        self._journaled[key] = (got, ctx.epoch)
        if got is None:
            self._last_applied.pop(key, None)
        else:
            self._last_applied[key] = got
        return got

    def _journal_applied(self, key: Any, ctx: ReconcileContext, state: rc.State | None) -> None:
        """Record ``state`` as the key's last applied state in the journal, unless it holds that already.

        Raises:
            FencedError: a newer leader exists (nothing was written).
        """
        journal = self.journal
        if journal is None:
            return
        known = self._journaled.get(key)
        if known is not None and known[1] == ctx.epoch and (known[0] is state or known[0] == state):
            return
        held = None
        if isinstance(self.lease, StoreLease):
            held = self.lease.held
            if held is None or held.epoch != ctx.epoch:
                # An unfenced write could overwrite what a newer leader recorded.
                self._journaled[key] = (_UNKNOWN, ctx.epoch)
                raise storage.FencedError(self.lease.name, ctx.epoch or 0, "this controller no longer holds it")
        try:
            journal.record_last_applied(self._record_name(key), state if state is not None else rc.State(), lease=held)
        except BaseException:
            self._journaled[key] = (_UNKNOWN, ctx.epoch)
            raise
        self._journaled[key] = (state, ctx.epoch)

    def _reconcile_key(self, key: Any, ctx: ReconcileContext) -> Result:
        state, generation, owned, wanted = self._scope(key, ctx)
        actual = self._observe(wanted)
        try:
            todo = self._to_apply(key, ctx, state, generation, actual)
            if isinstance(todo, Result):
                return todo
            plan, options, drift = todo
            try:
                result = rc.apply(plan, self.providers, **options)
            except rc_errors.MissingProviderError as exc:
                raise TerminalError(str(exc), reason="MissingProvider") from exc
            return self._record(key, ctx, state, generation, owned, drift, result)
        except storage.FencedError:
            # A newer leader exists: nothing was written (no apply, no last applied state); the lease
            # loop pauses this controller.
            return Result(requeue=True)

    async def _reconcile_key_async(self, key: Any, ctx: ReconcileContext) -> Result:
        state, generation, owned, wanted = self._scope(key, ctx)
        actual = await self._observe_async(wanted)
        try:
            todo = self._to_apply(key, ctx, state, generation, actual)
            if isinstance(todo, Result):
                return todo
            plan, options, drift = todo
            try:
                result = await rc.apply_async(plan, self.providers, **options)
            except rc_errors.MissingProviderError as exc:
                raise TerminalError(str(exc), reason="MissingProvider") from exc
            return self._record(key, ctx, state, generation, owned, drift, result)
        except storage.FencedError:
            return Result(requeue=True)

    def _failure_message(self, result: rc.ApplyResult) -> str:
        errors = result.errors
        parts = []
        for step, error in list(errors.items())[:_SHOWN_FAILURES]:
            parts.append(
                f"{_shown(result.plan.changes[step.address])} ({step.op.value}): {type(error).__name__}: {error}"
            )
        more = len(errors) - len(parts)
        tail = f"; and {more} more" if more > 0 else ""
        counts = f"{len(result.failed)} failed, {len(result.skipped)} skipped, {len(result.cancelled)} cancelled"
        return f"apply of {len(result.plan.steps)} steps: {counts}: " + "; ".join(parts) + tail

    def __repr__(self) -> str:
        return f"<StateController {self.name!r} running={self.running} {self.queue!r}>"
