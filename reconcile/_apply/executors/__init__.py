"""Executors: how a plan's steps are run (serially, in threads, on asyncio, or through any futures pool)."""

from __future__ import annotations

from ..run import ApplyRun
from .aio import AsyncExecutor
from .base import Executor
from .futures import FuturesExecutor
from .serial import SerialExecutor
from .threads import ThreadExecutor

__all__ = ["AsyncExecutor", "Executor", "FuturesExecutor", "SerialExecutor", "ThreadExecutor", "default_executor"]


def default_executor(run: ApplyRun) -> Executor:
    """``SerialExecutor()``, or ``AsyncExecutor(max_workers=1)`` when a provider in the plan is async."""
    return AsyncExecutor(max_workers=1) if run.async_kinds() else SerialExecutor()
