"""Applying plans: providers, run bookkeeping, retries, events and listeners, stale checks, executors."""

from .apply import apply, apply_async
from .events import EventKind, Listener, StepEvent
from .executors import AsyncExecutor, Executor, FuturesExecutor, SerialExecutor, ThreadExecutor
from .listeners import LoggingListener, ProgressDisplay
from .providers import (
    AsyncListAllProvider,
    AsyncProvider,
    Context,
    ListAllProvider,
    Provider,
    Providers,
    check_result,
    is_async_method,
    list_method,
    observe,
    observe_async,
)
from .retry import RetryPolicy
from .run import ApplyResult, ApplyRun, StepOutcome, StepStatus
from .stale import check_fresh, check_fresh_async, check_saved

__all__ = [
    "ApplyResult",
    "ApplyRun",
    "AsyncExecutor",
    "AsyncListAllProvider",
    "AsyncProvider",
    "Context",
    "EventKind",
    "Executor",
    "FuturesExecutor",
    "ListAllProvider",
    "Listener",
    "LoggingListener",
    "ProgressDisplay",
    "Provider",
    "Providers",
    "RetryPolicy",
    "SerialExecutor",
    "StepEvent",
    "StepOutcome",
    "StepStatus",
    "ThreadExecutor",
    "apply",
    "apply_async",
    "check_fresh",
    "check_fresh_async",
    "check_result",
    "check_saved",
    "is_async_method",
    "list_method",
    "observe",
    "observe_async",
]
