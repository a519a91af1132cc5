"""``apply()`` and ``apply_async()``: run a plan through an executor and report what happened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._plan import Plan
from ..errors import ApplyOptionError
from .events import Listener
from .oplog import OperationLog
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
    journal: OperationLog | None = None,
    lease: Any = None,
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
        journal: a durable log of every provider call (a ``reconcile.journal.Journal``):
            it first resolves what a dead apply left pending, then records an
            intent before each call and its outcome after it (see docs/durability.md).
        lease: the lease held for this apply (``journal.lease(...)``): every journal
            write is refused once a newer holder exists (``FencedError``), so a
            fenced apply's steps fail before calling their provider.

    Raises:
        MissingProviderError: a kind in the plan has no provider (before any step runs).
        ProviderContractError: a provider is ``None`` or lacks a method the plan
            needs (before any step runs); during the apply, a provider returned
            something that is not the step's resource (that step fails with it).
        ApplyOptionError: a bad option, or the executor cannot call a provider (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    _check_journal("apply", journal, lease)
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
    if journal is None:
        executor.execute(run)
        return run.result()
    log = run.log = journal.begin(plan, providers, lease=lease)
    try:
        executor.execute(run)
    except BaseException:
        log.finish(None)
        raise
    result = run.result()
    log.finish(result)
    return result


def _check_journal(owner: str, journal: Any, lease: Any) -> None:
    if journal is not None and not isinstance(journal, OperationLog):
        raise ApplyOptionError(f"{owner}: journal must be an OperationLog (a Journal), got {type(journal).__name__}")
    if lease is not None and journal is None:
        raise ApplyOptionError(f"{owner}: lease= needs journal= (the lease fences the journal's writes)")


async def apply_async(
    plan: Plan,
    providers: Providers,
    *,
    executor: AsyncExecutor | None = None,
    listeners: Iterable[Listener] = (),
    retry: RetryPolicy | None = None,
    fail_fast: bool = False,
    journal: OperationLog | None = None,
    lease: Any = None,
) -> ApplyResult:
    """``apply`` inside a running event loop, with an ``AsyncExecutor`` (``AsyncExecutor()`` by default).

    Cancelling the awaiting task stops the apply: nothing new starts, running
    async provider calls are cancelled, sync ones (in threads) finish, every
    step that did not end gets a CANCELLED event and outcome, and then
    ``CancelledError`` propagates, as asyncio expects. ``journal`` and ``lease``
    are as for ``apply``.

    Raises:
        MissingProviderError: a kind in the plan has no provider (before any step runs).
        ProviderContractError: a provider is ``None`` or lacks a method the plan needs (before any step runs).
        ApplyOptionError: a bad option (before any step runs).
        StalePlanError: a saved plan no longer matches the world (before any step runs).
    """
    from .executors.aio import AsyncExecutor

    _check_journal("apply_async", journal, lease)
    check_providers(plan, providers, "apply_async")
    if plan.fingerprint is not None:
        await check_fresh_async(plan, providers)
    run = ApplyRun(plan, providers, listeners=listeners, retry=retry, fail_fast=fail_fast)
    if executor is None:
        executor = AsyncExecutor()
    elif not isinstance(executor, AsyncExecutor):
        raise ApplyOptionError(f"apply_async: executor must be an AsyncExecutor, got {type(executor).__name__}")
    if journal is None:
        await executor.execute_async(run)
        return run.result()
    log = run.log = await asyncio.to_thread(journal.begin, plan, providers, lease=lease)
    try:
        await executor.execute_async(run)
    except BaseException:
        await asyncio.to_thread(log.finish, None)
        raise
    result = run.result()
    await asyncio.to_thread(log.finish, result)
    return result
