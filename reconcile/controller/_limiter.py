"""Rate limiters: per-key exponential backoff, an overall token bucket, and the maximum of several."""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from typing import Protocol, runtime_checkable

from ._clock import Clock, SystemClock
from .errors import ControllerOptionError

DEFAULT_BASE_DELAY = 0.005
DEFAULT_MAX_DELAY = 1000.0
DEFAULT_RATE = 10.0
DEFAULT_BURST = 100


def check_number(owner: str, name: str, value: object, low: float, *, strict: bool = False) -> float:
    """``value`` as a float if a finite number ``>= low`` (``> low`` if strict), else ``ControllerOptionError``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > low if strict else value >= low):  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    bound = f"> {low}" if strict else f">= {low}"
    raise ControllerOptionError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")


@runtime_checkable
class RateLimiter(Protocol):
    """Decides how long a key waits before it is retried.

    ``when`` is called once per retry of a key (it counts the retry);
    ``forget`` is called when the key succeeded or gave up, so its next
    failure starts from the first delay again. Implementations must be thread-safe.
    """

    def when(self, key: Hashable) -> float:
        """Seconds ``key`` should wait before its next try; counts one more retry."""
        ...

    def forget(self, key: Hashable) -> None:
        """Stop tracking ``key``: its next ``when`` is its first."""
        ...

    def retries(self, key: Hashable) -> int:
        """How many times ``when`` was called for ``key`` since it was last forgotten."""
        ...


class ExponentialBackoff:
    """Per key: ``base * 2**n`` seconds after the ``n``-th retry (from 0), capped at ``cap``.

    Args:
        base: the first delay, in seconds.
        cap: the largest delay, in seconds.

    Raises:
        ControllerOptionError: ``base`` is not > 0 or ``cap`` is smaller than ``base``.
    """

    def __init__(self, base: float = DEFAULT_BASE_DELAY, cap: float = DEFAULT_MAX_DELAY) -> None:
        self.base = check_number("ExponentialBackoff", "base", base, 0, strict=True)
        self.cap = check_number("ExponentialBackoff", "cap", cap, self.base)
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, key: Hashable) -> float:
        """``min(cap, base * 2**n)`` where ``n`` counts the earlier retries of ``key``."""
        with self._lock:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        # The exponent is capped so a key failing for years cannot overflow a float.
        return min(self.cap, self.base * 2.0 ** min(n, 256))

    def forget(self, key: Hashable) -> None:
        """Reset ``key``'s retry count."""
        # A dict pop is atomic; the lock only guards when()'s read-then-write.
        if key in self._failures:
            with self._lock:
                self._failures.pop(key, None)

    def retries(self, key: Hashable) -> int:
        """``key``'s retry count."""
        return self._failures.get(key, 0)

    def __repr__(self) -> str:
        return f"ExponentialBackoff(base={self.base}, cap={self.cap})"


class TokenBucket:
    """An overall limit on retries: ``rate`` tokens a second, up to ``burst`` saved up.

    Every ``when`` takes a token; when none is left it reserves the next one
    and returns how long until it arrives, so retries of all keys together never
    exceed ``rate`` per second after the first ``burst``. Keys do not matter.

    Args:
        rate: tokens per second.
        burst: the bucket's size (and how many tokens it starts with).
        clock: where time is read; the system clock by default.

    Raises:
        ControllerOptionError: ``rate`` is not > 0 or ``burst`` is not an integer >= 1.
    """

    def __init__(self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST, *, clock: Clock | None = None) -> None:
        self.rate = check_number("TokenBucket", "rate", rate, 0, strict=True)
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            raise ControllerOptionError(f"TokenBucket: burst must be an integer >= 1, got {burst!r}")
        self.burst = burst
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._tokens = float(burst)
        self._last = self.clock.now()
        self._lock = threading.Lock()

    def when(self, key: Hashable) -> float:
        """Take a token; seconds until it is available (0 while the bucket has tokens)."""
        with self._lock:
            now = self.clock.now()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def forget(self, key: Hashable) -> None:
        """Nothing to forget: the bucket counts no key."""

    def retries(self, key: Hashable) -> int:
        """Always 0: the bucket counts no key."""
        return 0

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst})"


class MaxOf:
    """The longest delay of several limiters (every one counts every retry).

    Args:
        limiters: at least one ``RateLimiter``.

    Raises:
        ControllerOptionError: no limiter, or one that is not a ``RateLimiter``.
    """

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ControllerOptionError("MaxOf: give at least one rate limiter")
        for limiter in limiters:
            if not isinstance(limiter, RateLimiter):
                raise ControllerOptionError(f"MaxOf: {limiter!r} is not a RateLimiter (when, forget, retries)")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        """The largest of the limiters' delays."""
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: Hashable) -> None:
        """Forget ``key`` in every limiter."""
        for limiter in self.limiters:
            limiter.forget(key)

    def retries(self, key: Hashable) -> int:
        """The largest retry count."""
        most = 0
        for limiter in self.limiters:
            n = limiter.retries(key)
            if n > most:
                most = n
        return most

    def __repr__(self) -> str:
        return "MaxOf(" + ", ".join(map(repr, self.limiters)) + ")"


def default_rate_limiter(clock: Clock | None = None) -> MaxOf:
    """controller-runtime's default: per key 5 ms doubling up to 1,000 s, under 10 retries/s with a burst of 100."""
    return MaxOf(ExponentialBackoff(), TokenBucket(clock=clock))
