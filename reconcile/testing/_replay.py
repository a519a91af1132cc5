"""How the harness applies plans: the same calls in the same order on every run, so hypothesis can replay a case."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._apply import ApplyResult, RetryPolicy, SerialExecutor, apply
from .._plan import Plan

# Retries come at once, with no jitter: a retry's place among the other steps
# then depends on the plan alone, never on the wall clock or a random draw, and
# a provider's own retry_after is waited for zero seconds too (max_delay=0).
REPLAY_RETRY = RetryPolicy(backoff=0.0, jitter=False, max_delay=0.0)


def replayable_apply(planned: Plan, providers: Mapping[str, Any]) -> ApplyResult:
    """``apply`` one step at a time in plan order (``SerialExecutor``), retrying with ``REPLAY_RETRY``.

    Given the same plan and the same providers' behaviour, it makes the same
    provider calls in the same order, whatever the timing: the property that
    lets hypothesis re-run a test case and meet the same world.
    """
    return apply(planned, providers, executor=SerialExecutor(), retry=REPLAY_RETRY)
