"""Retries of transient failures: ``RetryPolicy`` (bounded attempts, capped full-jitter backoff, capped waits)."""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from ..errors import ApplyOptionError, TransientError

# The longest single sleep an executor makes while a retry is due; it wakes up
# and checks again. Keeps every wait within what sleep/wait/timeout calls accept.
MAX_WAIT = 3600.0
# The largest int accepted where a finite number of seconds is asked for.
_FINITE_MAX = 2**1000


def _check_number(
    owner: str,
    name: str,
    value: Any,
    low: float,
    *,
    strict: bool = False,
    integer: bool = False,
    finite: bool = False,
) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = ok_type and not isinstance(value, bool)
    if ok and not isinstance(value, int):
        ok = not math.isnan(value) and not (finite and math.isinf(value))
    elif ok and finite:
        ok = value <= _FINITE_MAX  # an int past a float's range would overflow the clocks
    if not ok or value < low or (strict and value == low):
        kind = "an int" if integer else ("a finite number" if finite else "a number")
        raise ApplyOptionError(f"{owner}: {name} must be {kind} {'>' if strict else '>='} {low:g}, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How steps whose provider raises ``TransientError`` are retried.

    After failed attempt ``n`` the step waits ``retry_after`` if the error gives
    one, else a delay drawn uniformly from ``[0, cap]`` (full jitter; the cap
    itself with ``jitter=False``), where ``cap = min(max_backoff, backoff *
    multiplier ** (n - 1))``. Either way the wait is at most ``max_delay``: a
    server asking for ``retry_after=float("inf")`` (or ``1e300``) gets
    ``max_delay``. A negative ``retry_after`` (a reset time already past) means
    "now"; a NaN one is no hint, and the computed backoff is used. The step
    holds no worker slot while it waits.

    Attributes:
        max_attempts: provider calls per step at most; 1 never retries.
        backoff: the first retry's delay cap, in seconds.
        max_backoff: the largest computed delay cap, in seconds.
        multiplier: how much the cap grows per attempt.
        jitter: draw delays at random (so many failing steps do not retry in step).
        timeout: the step's time budget in seconds, counted from its first
            attempt's start, or ``None``. No attempt starts past it; a step out of
            budget fails with ``StepTimeoutError``. Async provider calls are
            cancelled at the deadline; sync ones cannot be and see it as
            ``ctx.deadline`` (a step that returns late still succeeds).
        seed: seeds the jitter, for reproducible delays.
        max_delay: the longest wait before any retry, in seconds, whatever asks
            for it (``retry_after`` or the backoff); 5 minutes by default.

    Raises:
        ApplyOptionError: an option is out of range (the message names it).
    """

    max_attempts: int = 5
    backoff: float = 0.1
    max_backoff: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True
    timeout: float | None = None
    seed: int | None = None
    max_delay: float = 300.0
    _rng: random.Random = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_number("RetryPolicy", "max_attempts", self.max_attempts, 1, integer=True)
        _check_number("RetryPolicy", "backoff", self.backoff, 0)
        _check_number("RetryPolicy", "max_backoff", self.max_backoff, 0)
        _check_number("RetryPolicy", "multiplier", self.multiplier, 1)
        _check_number("RetryPolicy", "max_delay", self.max_delay, 0, finite=True)
        if self.timeout is not None:
            _check_number("RetryPolicy", "timeout", self.timeout, 0, strict=True, finite=True)
        object.__setattr__(self, "_rng", random.Random(self.seed))

    def delay(self, attempt: int, error: TransientError) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1 for the first) raised ``error``.

        Always a finite number in ``[0, max_delay]``.
        """
        hint = getattr(error, "retry_after", None)
        # A subclass may set retry_after itself: anything but a real number is no hint.
        # Ints are compared as they are: one too large for a float is still just long.
        if (isinstance(hint, int) and not isinstance(hint, bool)) or (isinstance(hint, float) and not math.isnan(hint)):
            return float(min(max(hint, 0), self.max_delay))
        try:
            grown = self.backoff * self.multiplier ** min(attempt - 1, 256) if self.backoff else 0.0
        except OverflowError:  # a huge multiplier: the cap is reached anyway
            grown = math.inf
        cap = min(self.max_backoff, self.max_delay, grown)
        return self._rng.uniform(0.0, cap) if self.jitter else cap
