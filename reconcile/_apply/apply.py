"""``apply()`` and ``apply_async()``: run a plan through an executor and report what happened."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._plan import Plan
from ..errors import ApplyOptionError
from .events import Listener
from .providers import check_providers
from .stale import check_fresh_async, check_saved

if TYPE_CHECKING:
    from .executors.aio import AsyncExecutor
    from .executors.base import Executor

from .providers import Providers
from .retry import RetryPolicy
from .run import ApplyResult, ApplyRun


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
        ProviderContractError: a provider is ``None`` or lacks a method the plan
            needs (before any step runs); during the apply, a provider returned
            something that is not the step's resource (that step fails with it).
        ApplyOptionError: a bad option, or the executor cannot call a provider (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    check_providers(plan, providers, "apply")
    check_saved(plan, providers)
    # The executors sit above this bookkeeping (they drive ApplyRun), so the
    # entry point imports them on use to keep the import order one-way.
    from .executors import default_executor
    from .executors.base import Executor

    run = ApplyRun(plan, providers, listeners=listeners, retry=retry, fail_fast=fail_fast)
    if executor is None:
        executor = default_executor(run)
    elif not isinstance(executor, Executor):
        raise ApplyOptionError(f"apply: executor must be an Executor, got {type(executor).__name__}")
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
        ProviderContractError: a provider is ``None`` or lacks a method the plan needs (before any step runs).
        ApplyOptionError: a bad option (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    from .executors.aio import AsyncExecutor

    check_providers(plan, providers, "apply_async")
    if plan.fingerprint is not None:
        await check_fresh_async(plan, providers)
    run = ApplyRun(plan, providers, listeners=listeners, retry=retry, fail_fast=fail_fast)
    if executor is None:
        executor = AsyncExecutor()
    elif not isinstance(executor, AsyncExecutor):
        raise ApplyOptionError(f"apply_async: executor must be an AsyncExecutor, got {type(executor).__name__}")
    await executor.execute_async(run)
    return run.result()
