"""Applying a plan: the per-apply bookkeeping executors drive, the retry policy, and ``apply``."""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from .errors import ExecutorError, MissingProviderError, TransientError, UnresolvedRefError
from ._events import EventKind, Listener, StepEvent
from ._plan import Action, Plan, Step
from ._providers import AsyncProvider, Context, Provider, check_result, is_async_method
from ._resource import Address
from ._stale import check_fresh_async, check_saved
from ._state import State

if TYPE_CHECKING:
    from ._executors import AsyncExecutor, Executor

Providers: TypeAlias = Mapping[str, "Provider[Any] | AsyncProvider[Any]"]
"""Providers keyed by kind; sync and async ones may be mixed."""


class StepStatus(enum.Enum):
    """How a step ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@attrs.frozen
class StepOutcome:
    """What happened to one step.

    Attributes:
        step: the step.
        status: succeeded, failed, skipped or cancelled.
        error: the exception, for a failed step.
        cause: for a skipped step, the failed step that caused the skip.
        value: the actual resource after the step (``None`` after a delete or if it did not succeed).
        attempts: how many times the provider was called.
        duration: seconds spent in provider calls.
    """

    step: Step
    status: StepStatus
    error: BaseException | None = None
    cause: Step | None = None
    value: Any = None
    attempts: int = 0
    duration: float = 0.0


@attrs.frozen(repr=False)
class ApplyResult:
    """The outcome of ``apply``.

    Attributes:
        plan: the plan that was applied.
        outcomes: per step, in the order steps finished (skips recorded when decided).
        state: the actual state after the apply, built from the plan's actual
            state and every step that succeeded.
        replaced: for each replaced address whose old object was deleted, that old
            actual resource (so it can still be named after the apply).
        deposed: for each create-before-delete replacement whose new object was
            created but whose old object was not deleted (the delete failed or did
            not run), that old actual resource: it still exists beside the new one.
        interrupted: the apply was stopped by Ctrl-C (``KeyboardInterrupt``) or
            cancellation: steps that had not ended are CANCELLED.
    """

    plan: Plan
    outcomes: Mapping[Step, StepOutcome]
    state: State
    replaced: Mapping[Address, Any] = attrs.field(factory=dict)
    deposed: Mapping[Address, Any] = attrs.field(factory=dict)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return all(o.status is StepStatus.SUCCEEDED for o in self.outcomes.values()) and len(self.outcomes) == len(
            self.plan.steps
        )

    def _with(self, status: StepStatus) -> tuple[Step, ...]:
        return tuple(s for s, o in self.outcomes.items() if o.status is status)

    @property
    def succeeded(self) -> tuple[Step, ...]:
        """Steps that succeeded."""
        return self._with(StepStatus.SUCCEEDED)

    @property
    def failed(self) -> tuple[Step, ...]:
        """Steps whose provider call raised."""
        return self._with(StepStatus.FAILED)

    @property
    def skipped(self) -> tuple[Step, ...]:
        """Steps not run because a step they run after failed."""
        return self._with(StepStatus.SKIPPED)

    @property
    def cancelled(self) -> tuple[Step, ...]:
        """Steps not run (or interrupted) because the apply was stopped."""
        return self._with(StepStatus.CANCELLED)

    @property
    def errors(self) -> dict[Step, BaseException]:
        """The error of every failed step."""
        return {s: o.error for s, o in self.outcomes.items() if o.error is not None}

    def __repr__(self) -> str:
        counts = {st.value: len(self._with(st)) for st in StepStatus}
        shown = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
        return f"<ApplyResult ok={self.ok} {shown}{' interrupted' if self.interrupted else ''}>"



def _check_number(
    owner: str, name: str, value: Any, low: float, *, strict: bool = False, integer: bool = False
) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or math.isnan(value) or value < low or (strict and value == low):
        kind = "an int" if integer else "a number"
        raise ExecutorError(f"{owner}: {name} must be {kind} {'>' if strict else '>='} {low:g}, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How steps whose provider raises ``TransientError`` are retried.

    After failed attempt ``n`` the step waits ``retry_after`` if the error gives
    one, else a delay drawn uniformly from ``[0, cap]`` (full jitter; the cap
    itself with ``jitter=False``), where ``cap = min(max_backoff, backoff *
    multiplier ** (n - 1))``. The step holds no worker slot while it waits.

    Attributes:
        max_attempts: provider calls per step at most; 1 never retries.
        backoff: the first retry's delay cap, in seconds.
        max_backoff: the largest delay cap, in seconds.
        multiplier: how much the cap grows per attempt.
        jitter: draw delays at random (so many failing steps do not retry in step).
        timeout: the step's time budget in seconds, counted from its first
            attempt's start, or ``None``. No attempt starts past it; a step out of
            budget fails with ``StepTimeoutError``. Async provider calls are
            cancelled at the deadline; sync ones cannot be and see it as
            ``ctx.deadline`` (a step that returns late still succeeds).
        seed: seeds the jitter, for reproducible delays.

    Raises:
        ExecutorError: an option is out of range (the message names it).
    """

    max_attempts: int = 5
    backoff: float = 0.1
    max_backoff: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True
    timeout: float | None = None
    seed: int | None = None
    _rng: random.Random = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_number("RetryPolicy", "max_attempts", self.max_attempts, 1, integer=True)
        _check_number("RetryPolicy", "backoff", self.backoff, 0)
        _check_number("RetryPolicy", "max_backoff", self.max_backoff, 0)
        _check_number("RetryPolicy", "multiplier", self.multiplier, 1)
        if self.timeout is not None:
            _check_number("RetryPolicy", "timeout", self.timeout, 0, strict=True)
        object.__setattr__(self, "_rng", random.Random(self.seed))

    def delay(self, attempt: int, error: TransientError) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1 for the first) raised ``error``."""
        if error.retry_after is not None:
            return float(error.retry_after)
        # The exponent is capped so huge attempt counts cannot overflow a float.
        cap = min(self.max_backoff, self.backoff * self.multiplier ** min(attempt - 1, 256))
        return self._rng.uniform(0.0, cap) if self.jitter else cap


class _Snapshot:
    """A picklable ``Context`` lookup over the resources a step refers to, for calls in another process."""

    __slots__ = ("objects",)

    def __init__(self, objects: dict[Address, Any]) -> None:
        self.objects = objects

    def __call__(self, address: Address) -> Any:
        obj = self.objects.get(address)
        if obj is None:
            raise UnresolvedRefError(
                f"{address} is not a dependency of this step, so it cannot be resolved where the step runs"
            )
        return obj


class ApplyRun:
    """The bookkeeping of one apply, which an ``Executor`` drives.

    It holds the live actual world (updated as steps succeed), the outcomes,
    the listeners and the options. Executors call ``call`` / ``call_async`` /
    ``portable_call`` for one attempt of a step, ``emit`` to tell listeners,
    and ``record`` when a step ends. Thread-safe.

    Attributes:
        plan: the plan being applied.
        providers: providers keyed by kind.
        listeners: called with every ``StepEvent``.
        retry: the ``RetryPolicy``.
        fail_fast: stop starting steps after the first failure.
        interrupted: set by an executor that was stopped by Ctrl-C or cancellation.
        live: the actual world as of now, by address.
        outcomes: every ended step's ``StepOutcome``, in the order they ended.
    """

    def __init__(
        self,
        plan: Plan,
        providers: Providers,
        *,
        listeners: Iterable[Listener] = (),
        retry: RetryPolicy | None = None,
        fail_fast: bool = False,
    ) -> None:
        missing = sorted({s.address.kind for s in plan.steps} - set(providers))
        if missing:
            raise MissingProviderError(missing)
        self.plan = plan
        self.providers = providers
        self.listeners = tuple(listeners)
        for listener in self.listeners:
            if not callable(listener):
                raise ExecutorError(f"apply: listeners must be callables taking a StepEvent, got {listener!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ExecutorError(f"apply: retry must be a RetryPolicy, got {type(retry).__name__}")
        self.retry = retry if retry is not None else RetryPolicy()
        self.fail_fast = bool(fail_fast)
        self.interrupted = False
        self.live: dict[Address, Any] = dict(plan.actual._by_address)
        self.outcomes: dict[Step, StepOutcome] = {}
        self.replaced: dict[Address, Any] = {}
        self.deposed: dict[Address, Any] = {}
        self._lock = threading.Lock()

    def lookup(self, address: Address) -> Any:
        """The live actual resource at ``address`` (for ``Context.resolve``)."""
        obj = self.live.get(address)
        if obj is None:
            raise UnresolvedRefError(f"{address} has no actual resource in this apply")
        return obj

    def _context(self, step: Step, attempt: int, deadline: float | None, lookup: Callable[[Address], Any]) -> Context:
        # Executors keep deadlines on the monotonic clock; providers get wall-clock
        # time, which still means something on another machine.
        wall = None if deadline is None else time.time() + (deadline - time.monotonic())
        return Context(step, lookup, attempt, wall)

    def _invocation(self, step: Step, ctx: Context) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The provider method for ``step`` and the arguments to call it with."""
        change = self.plan.changes[step[0]]
        provider: Any = self.providers[step[0][0]]
        op = step[1]
        if op is Action.CREATE:
            return provider.create, (change.after, ctx)
        if op is Action.UPDATE:
            return provider.update, (self.live[step[0]], change.after, ctx)
        # The object to delete is the one observed before the apply: with
        # create-before-delete replacement, ``live`` already holds the new one.
        return provider.delete, (change.before, ctx)

    def call(self, step: Step, attempt: int = 1, deadline: float | None = None) -> Any:
        """Call the (sync) provider for ``step`` once; return the new actual value (``None`` for a delete).

        Args:
            step: the step.
            attempt: the attempt number, for ``ctx.attempt``.
            deadline: the step's deadline on the ``time.monotonic()`` clock, or ``None``.

        Raises:
            ProviderContractError: the provider returned something that is not the resource.
            Exception: whatever the provider raised.
        """
        method, args = self._invocation(step, self._context(step, attempt, deadline, self.lookup))
        return self.checked(step, method(*args))

    async def call_async(self, step: Step, attempt: int = 1, deadline: float | None = None) -> Any:
        """``call`` for a provider whose method for ``step`` is async (see ``is_async``)."""
        method, args = self._invocation(step, self._context(step, attempt, deadline, self.lookup))
        result: Awaitable[Any] = method(*args)
        return self.checked(step, await result)

    def portable_call(
        self, step: Step, attempt: int = 1, deadline: float | None = None
    ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The provider method and arguments for ``step``, fit to be pickled and called in another process.

        The context resolves only what the step refers to (its dependencies in
        the desired and actual states). Pass the call's return value to ``checked``.
        """
        address = step[0]
        wanted = (*self.plan.desired.dependencies(address), *self.plan.actual.dependencies(address))
        live = self.live
        snapshot = _Snapshot({a: live[a] for a in wanted if a in live})
        return self._invocation(step, self._context(step, attempt, deadline, snapshot))

    def checked(self, step: Step, value: Any) -> Any:
        """A provider's return value for ``step``, checked against the contract (``None`` for a delete).

        Raises:
            ProviderContractError: not a resource of the step's kind at its address.
        """
        return None if step[1] is Action.DELETE else check_result(step, value)

    def is_async(self, step: Step) -> bool:
        """Whether the provider method for ``step`` is a coroutine function."""
        return is_async_method(self.providers[step[0][0]], step[1].value)

    def async_kinds(self) -> list[str]:
        """The kinds in the plan whose provider has an async create, update or delete, sorted."""
        kinds = {s[0][0] for s in self.plan.steps}
        return sorted(
            k for k in kinds if any(is_async_method(self.providers[k], m) for m in ("create", "update", "delete"))
        )

    def emit(self, kind: EventKind, step: Step, attempt: int = 0, **fields: Any) -> None:
        """Build a ``StepEvent`` and call every listener with it, in this thread.

        Keyword arguments are ``StepEvent`` fields (``duration``, ``error``,
        ``cause``, ``delay``, ``value``). A listener's exception propagates.
        """
        event = StepEvent(kind, step, self.plan.changes[step[0]], attempt, **fields)
        for listener in self.listeners:
            listener(event)

    def record(self, outcome: StepOutcome) -> None:
        """Record a finished step and apply its effect to the live world."""
        step = outcome.step
        with self._lock:
            self.outcomes[step] = outcome
            if outcome.status is StepStatus.SUCCEEDED:
                if step[1] is Action.DELETE:
                    change = self.plan.changes[step[0]]
                    if change.action is Action.REPLACE:
                        self.replaced[step[0]] = change.before
                        self.deposed.pop(step[0], None)
                        created = self.outcomes.get(Step(step[0], Action.CREATE))
                        if created is None or created.status is not StepStatus.SUCCEEDED:
                            self.live.pop(step[0], None)
                    else:
                        self.live.pop(step[0], None)
                else:
                    self.live[step[0]] = outcome.value
                    if self.plan.changes[step[0]].create_before_delete:
                        self.deposed[step[0]] = self.plan.changes[step[0]].before

    def result(self) -> ApplyResult:
        """The ``ApplyResult`` of what has been recorded."""
        return ApplyResult(
            self.plan,
            dict(self.outcomes),
            State._trusted(dict(self.live)),
            dict(self.replaced),
            dict(self.deposed),
            self.interrupted,
        )


def apply(
    plan: Plan,
    providers: Providers,
    *,
    executor: Executor | None = None,
    listeners: Iterable[Listener] = (),
    retry: RetryPolicy | None = None,
    fail_fast: bool = False,
) -> ApplyResult:
    """Run ``plan``'s steps against ``providers`` (keyed by kind).

    A step starts once every step it runs after has succeeded. A provider that
    raises ``TransientError`` is retried by ``retry``; any other exception fails
    the step, and every step that runs after it, directly or not, is skipped
    and names it as the cause; independent steps go on (with ``fail_fast``,
    nothing new starts after the first failure and what had not started is
    CANCELLED).

    Ctrl-C (``KeyboardInterrupt``, also when a provider raises it) stops the
    apply: nothing new starts, running steps finish (an async provider call is
    cancelled), steps that did not end are CANCELLED and the result is returned
    with ``interrupted=True``. Any other ``BaseException`` (``SystemExit``, a
    simulated crash) also stops new work, then propagates once running steps end.

    A plan read back with :func:`reconcile.loads` is first checked against the
    world: if anything it touches changed since it was planned, nothing runs.

    Args:
        plan: the plan.
        providers: providers keyed by kind, sync or async.
        executor: how steps run; ``SerialExecutor()`` by default, or
            ``AsyncExecutor(max_workers=1)`` when some provider is async.
        listeners: called with every ``StepEvent`` (see ``Executor`` for where).
            A listener's exception stops the apply and propagates.
        retry: the ``RetryPolicy`` for ``TransientError``; ``RetryPolicy()`` by default.
        fail_fast: stop starting steps after the first failure.

    Raises:
        MissingProviderError: a kind in the plan has no provider (before any step runs).
        ExecutorError: a bad option, or the executor cannot call a provider (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    check_saved(plan, providers)
    # The executors sit above this bookkeeping (they drive ApplyRun), so the
    # entry point imports them on use to keep the import order one-way.
    from ._executors import Executor, default_executor

    run = ApplyRun(plan, providers, listeners=listeners, retry=retry, fail_fast=fail_fast)
    if executor is None:
        executor = default_executor(run)
    elif not isinstance(executor, Executor):
        raise ExecutorError(f"apply: executor must be an Executor, got {type(executor).__name__}")
    executor.execute(run)
    return run.result()


async def apply_async(
    plan: Plan,
    providers: Providers,
    *,
    executor: AsyncExecutor | None = None,
    listeners: Iterable[Listener] = (),
    retry: RetryPolicy | None = None,
    fail_fast: bool = False,
) -> ApplyResult:
    """``apply`` inside a running event loop, with an ``AsyncExecutor`` (``AsyncExecutor()`` by default).

    Cancelling the awaiting task stops the apply: nothing new starts, running
    async provider calls are cancelled, sync ones (in threads) finish, every
    step that did not end gets a CANCELLED event and outcome, and then
    ``CancelledError`` propagates, as asyncio expects.

    Raises:
        MissingProviderError: a kind in the plan has no provider (before any step runs).
        ExecutorError: a bad option (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    from ._executors import AsyncExecutor

    if plan.fingerprint is not None:
        await check_fresh_async(plan, providers)
    run = ApplyRun(plan, providers, listeners=listeners, retry=retry, fail_fast=fail_fast)
    if executor is None:
        executor = AsyncExecutor()
    elif not isinstance(executor, AsyncExecutor):
        raise ExecutorError(f"apply_async: executor must be an AsyncExecutor, got {type(executor).__name__}")
    await executor.execute_async(run)
    return run.result()
