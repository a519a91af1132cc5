"""Retries of transient failures: ``RetryPolicy`` (bounded attempts, capped full-jitter backoff)."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ExecutorError, TransientError

if TYPE_CHECKING:
    pass


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
