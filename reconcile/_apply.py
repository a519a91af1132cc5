"""Applying a plan: running its steps against providers and collecting an ``ApplyResult``."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import MissingProviderError, UnresolvedRefError
from ._plan import Action, Plan, Step
from ._providers import Context, Provider, check_result
from ._resource import Address
from ._stale import check_saved
from ._state import State


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
    """

    plan: Plan
    outcomes: Mapping[Step, StepOutcome]
    state: State
    replaced: Mapping[Address, Any] = attrs.field(factory=dict)
    deposed: Mapping[Address, Any] = attrs.field(factory=dict)

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
        return f"<ApplyResult ok={self.ok} {shown}>"


class ApplyRun:
    """The mutable bookkeeping of one apply: the live actual world and the outcomes.

    Executors drive it: ``run(step)`` calls the provider and records the result,
    ``skip(step)`` records a skip with its cause. Thread-safe.
    """

    def __init__(self, plan: Plan, providers: Mapping[str, Provider[Any]]) -> None:
        missing = sorted({s.address.kind for s in plan.steps} - set(providers))
        if missing:
            raise MissingProviderError(missing)
        self.plan = plan
        self.providers = providers
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

    def call(self, step: Step, attempt: int = 1) -> Any:
        """Call the provider for ``step`` once; return the new actual value (``None`` for a delete)."""
        change = self.plan.changes[step[0]]
        provider = self.providers[step[0][0]]
        ctx = Context(step, self.lookup, attempt)
        op = step[1]
        if op is Action.CREATE:
            return check_result(step, provider.create(change.after, ctx))
        if op is Action.UPDATE:
            return check_result(step, provider.update(self.live[step[0]], change.after, ctx))
        # The object to delete is the one observed before the apply: with
        # create-before-delete replacement, ``live`` already holds the new one.
        provider.delete(change.before, ctx)
        return None

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

    def run(self, step: Step) -> StepOutcome:
        """Run ``step`` once (serially), record and return its outcome."""
        start = time.perf_counter()
        try:
            value = self.call(step)
        except Exception as exc:
            elapsed = time.perf_counter() - start
            outcome = StepOutcome(step, StepStatus.FAILED, error=exc, attempts=1, duration=elapsed)
        else:
            elapsed = time.perf_counter() - start
            outcome = StepOutcome(step, StepStatus.SUCCEEDED, value=value, attempts=1, duration=elapsed)
        self.record(outcome)
        return outcome

    def blocker(self, step: Step) -> Step | None:
        """The failed step that stops ``step`` from running, if any step it runs after did not succeed."""
        for pred in self.plan.after.get(step, ()):
            o = self.outcomes.get(pred)
            if o is None or o.status is StepStatus.SUCCEEDED:
                continue
            return o.cause if o.cause is not None else pred
        return None

    def result(self) -> ApplyResult:
        """The ``ApplyResult`` of what has been recorded."""
        return ApplyResult(
            self.plan, dict(self.outcomes), State._trusted(dict(self.live)), dict(self.replaced), dict(self.deposed)
        )


def apply(plan: Plan, providers: Mapping[str, Provider[Any]]) -> ApplyResult:
    """Run ``plan``'s steps against ``providers`` (keyed by kind), in a valid order.

    A step whose provider call raises fails; every step that runs after it,
    directly or not, is skipped and names it as the cause; independent steps go
    on.

    A plan read back with :func:`reconcile.loads` is first checked against the
    world: if anything it touches changed since it was planned, nothing runs.

    Raises:
        MissingProviderError: a kind in the plan has no provider (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    check_saved(plan, providers)
    run = ApplyRun(plan, providers)
    for step in plan.steps:
        cause = run.blocker(step)
        if cause is not None:
            run.record(StepOutcome(step, StepStatus.SKIPPED, cause=cause))
        else:
            run.run(step)
    return run.result()
