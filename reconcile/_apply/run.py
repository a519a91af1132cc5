"""The bookkeeping of one apply run: step outcomes, the result, and the calls executors make."""

from __future__ import annotations

import asyncio
import enum
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._model import Address, External, bound, show_address, show_value
from .._plan import Action, Plan, Step
from .._state import State, trusted_state
from ..errors import ApplyOptionError, MissingProviderError, UnresolvedRefError
from .events import EventKind, Listener, StepEvent
from .providers import Context, Providers, check_result, is_async_method

if TYPE_CHECKING:
    from .oplog import StepLog

from .retry import RetryPolicy


class StepStatus(enum.Enum):
    """How a step ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@attrs.frozen(repr=False)
class StepOutcome:
    """What happened to one step.

    Its ``repr`` shows the step and the value as the display does (sensitive
    values and identities redacted, text escaped and bounded), so outcomes are
    safe to log.

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

    def __repr__(self) -> str:
        error = "None" if self.error is None else f"{type(self.error).__name__}({bound(_message(self.error))})"
        return (
            f"StepOutcome(step={self.step!r}, status=StepStatus.{self.status.name}, error={error}, "
            f"cause={self.cause!r}, value={show_value(self.value)}, attempts={self.attempts}, "
            f"duration={self.duration!r})"
        )


def _message(error: BaseException) -> str:
    try:
        return repr(str(error))
    except Exception:  # a broken __str__ must not break the repr of the outcome holding it
        return "'(its message cannot be shown)'"


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

    @property
    def adopted(self) -> tuple[Address, ...]:
        """Addresses whose ADOPT step succeeded: objects taken over by this apply, managed from now on."""
        return tuple(
            s[0] for s, o in self.outcomes.items() if s[1] is Action.ADOPT and o.status is StepStatus.SUCCEEDED
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


def _keep(found: Any) -> Any:
    """The ADOPT step of a provider without an ``adopt`` hook: nothing to call, the found object is the actual one."""
    return found


class _Snapshot:
    """A picklable ``Context`` lookup over the resources a step refers to, for calls in another process."""

    __slots__ = ("objects",)

    def __init__(self, objects: dict[Address, Any]) -> None:
        self.objects = objects

    def __call__(self, address: Address) -> Any:
        obj = self.objects.get(address)
        if obj is None:
            raise UnresolvedRefError(
                f"{show_address(address)} is not a dependency of this step, "
                "so it cannot be resolved where the step runs"
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
        log: the ``StepLog`` told about every provider call (``apply(..., journal=)``), or ``None``.
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
                raise ApplyOptionError(
                    f"apply: listeners must be callables taking a StepEvent, got {show_value(listener)}"
                )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ApplyOptionError(f"apply: retry must be a RetryPolicy, got {type(retry).__name__}")
        self.retry = retry if retry is not None else RetryPolicy()
        self.fail_fast = bool(fail_fast)
        self.interrupted = False
        self.log: StepLog | None = None
        self._run_key = uuid.uuid4()
        self.live: dict[Address, Any] = dict(plan.actual.by_address)
        # Objects known but not managed (read externals, objects found to adopt): resolvable, never written,
        # and kept apart in the result's state until an ADOPT step takes one over.
        self._unmanaged: set[Address] = set()
        for address, ext in plan.actual.externals.items():
            if ext.value is not None and address not in self.live:
                self.live[address] = ext.value
                self._unmanaged.add(address)
        self.outcomes: dict[Step, StepOutcome] = {}
        self.replaced: dict[Address, Any] = {}
        self.deposed: dict[Address, Any] = {}
        self._lock = threading.Lock()

    def lookup(self, address: Address) -> Any:
        """The live actual resource at ``address`` (for ``Context.resolve``)."""
        obj = self.live.get(address)
        if obj is None:
            raise UnresolvedRefError(f"{show_address(address)} has no actual resource in this apply")
        return obj

    def _context(
        self, step: Step, attempt: int, deadline: float | None, lookup: Callable[[Address], Any], key: str | None = None
    ) -> Context:
        # Executors keep deadlines on the monotonic clock; providers get wall-clock
        # time, which still means something on another machine.
        wall = None if deadline is None else time.time() + (deadline - time.monotonic())
        if key is None:
            key = self.log.intent(step, attempt) if self.log is not None else self.idempotency_key(step)
        return Context(step, lookup, attempt, wall, key)

    def idempotency_key(self, step: Step) -> str:
        """The key of ``step`` in this apply when no log gives one: stable across its attempts."""
        return uuid.uuid5(self._run_key, str(step)).hex

    def _invocation(self, step: Step, ctx: Context) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The provider method for ``step`` and the arguments to call it with."""
        change = self.plan.changes[step[0]]
        provider: Any = self.providers[step[0].kind]
        op = step[1]
        if op is Action.CREATE:
            return provider.create, (change.after, ctx)
        if op is Action.UPDATE:
            return provider.update, (self.live[step[0]], change.after, ctx)
        if op is Action.ADOPT:
            hook = getattr(provider, "adopt", None)
            if hook is None:
                return _keep, (change.before,)
            return hook, (change.before, change.after, ctx)
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
        log = self.log
        if log is None:
            return self.checked(step, method(*args))
        try:
            value = self.checked(step, method(*args))
        except Exception as exc:
            log.failure(step, attempt, exc)
            raise
        log.outcome(step, attempt, value)
        return value

    async def call_async(self, step: Step, attempt: int = 1, deadline: float | None = None) -> Any:
        """``call`` for a provider whose method for ``step`` is async (see ``is_async``)."""
        log = self.log
        # The intent waits for a durable commit: off the event loop.
        key = None if log is None else await asyncio.to_thread(log.intent, step, attempt)
        method, args = self._invocation(step, self._context(step, attempt, deadline, self.lookup, key))
        result: Awaitable[Any] = method(*args)
        if log is None:
            return self.checked(step, await result)
        try:
            value = self.checked(step, await result)
        except Exception as exc:
            log.failure(step, attempt, exc)
            raise
        log.outcome(step, attempt, value)
        return value

    def portable_call(
        self, step: Step, attempt: int = 1, deadline: float | None = None
    ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The provider method and arguments for ``step``, fit to be pickled and called in another process.

        The context resolves only what the step refers to (its dependencies in
        the desired and actual states). Pass the call's return value to ``checked``.
        """
        address = step[0]
        wanted = (
            *self.plan.desired.dependencies(address),
            *self.plan.actual.dependencies(address),
            *self.plan.desired.externals,
        )
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
        return is_async_method(self.providers[step[0].kind], step[1].value)

    def async_kinds(self) -> list[str]:
        """The kinds in the plan whose provider has an async create, update, delete or adopt, sorted."""
        kinds = {s[0].kind for s in self.plan.steps}
        return sorted(
            k
            for k in kinds
            if any(is_async_method(self.providers[k], m) for m in ("create", "update", "delete", "adopt"))
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
                # Any write to an address makes what is there managed (an adoption, or a replacement of a found object).
                self._unmanaged.discard(step[0])
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
        live = self.live
        externals: dict[Address, External[Any]] = {}
        if self._unmanaged:
            live = {a: v for a, v in live.items() if a not in self._unmanaged}
            externals = {a: e for a, e in self.plan.actual.externals.items() if a in self._unmanaged}
        return ApplyResult(
            self.plan,
            dict(self.outcomes),
            trusted_state(dict(live), externals),
            dict(self.replaced),
            dict(self.deposed),
            self.interrupted,
        )
