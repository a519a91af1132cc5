"""Retries: every ``retry_after`` a provider may give is waited sanely, capped by ``RetryPolicy.max_delay``."""

from __future__ import annotations

import math
import threading
import warnings

import pytest

import reconcile as rc
from reconcile import Action, EventKind, Step
from tests.support.executors import EXECUTORS, LATCH_TIMEOUT, Kit
from tests.support.models import Leaf, Node


@pytest.fixture(params=EXECUTORS)
def kit(request: pytest.FixtureRequest):
    k = Kit(request.param)
    yield k
    k.close()


def _apply_within(seconds: float, *args, **kwargs) -> rc.ApplyResult:
    """``rc.apply`` in a daemon thread: a hung executor fails the test instead of hanging the suite."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = rc.apply(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"apply did not return within {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def _two_step_plan(kit: Kit):
    world = kit.world(Node, Leaf)
    desired = rc.State([Node("a"), Leaf("l", rc.ref(Node, "a"))])
    return world, rc.plan(desired, rc.State())


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [
        (math.inf, 0.02),  # capped by max_delay
        (1e300, 0.02),
        (-5.0, 0.0),  # a reset time already past: retry now
        (-math.inf, 0.0),
        (math.nan, 0.001),  # no hint: the computed backoff
    ],
    ids=["inf", "1e300", "negative", "-inf", "nan"],
)
def test_any_retry_after_is_waited_within_max_delay_by_every_executor(kit: Kit, retry_after: float, waited: float):
    world, plan = _two_step_plan(kit)
    kit.probe.script("node/a", rc.TransientError("later", retry_after=retry_after))
    policy = rc.RetryPolicy(max_attempts=2, backoff=0.001, jitter=False, max_delay=0.02)
    result = _apply_within(
        LATCH_TIMEOUT, plan, world, executor=kit.executor(), retry=policy, listeners=[kit.probe.listener]
    )
    assert result.ok, result.errors
    a = Step("node/a", Action.CREATE)
    assert result.outcomes[a].attempts == 2
    (retrying,) = [e for _t, e in kit.probe.events if e.kind is EventKind.RETRYING]
    assert retrying.step == a and retrying.delay == waited
    assert kit.probe.attempts_seen[a] == [1, 2]


def test_an_infinite_retry_after_past_the_step_budget_times_out_at_once(kit: Kit):
    """The default ``max_delay`` (5 minutes) is past a 1 s budget: the step fails now, it does not sleep."""
    world, plan = _two_step_plan(kit)
    kit.probe.script("node/a", rc.TransientError("later", retry_after=math.inf))
    policy = rc.RetryPolicy(timeout=1.0)
    result = _apply_within(LATCH_TIMEOUT, plan, world, executor=kit.executor(), retry=policy)
    a = Step("node/a", Action.CREATE)
    assert result.failed == (a,)
    error = result.errors[a]
    assert isinstance(error, rc.StepTimeoutError) and error.attempts == 1
    assert isinstance(error.__cause__, rc.TransientError)
    assert result.skipped == (Step("leaf/l", Action.CREATE),)


def test_delay_is_always_finite_and_within_max_delay():
    policy = rc.RetryPolicy(jitter=False)
    assert policy.max_delay == 300.0
    assert policy.delay(1, rc.TransientError(retry_after=math.inf)) == 300.0
    assert policy.delay(1, rc.TransientError(retry_after=1e300)) == 300.0
    assert policy.delay(1, rc.TransientError(retry_after=10**400)) == 300.0
    assert policy.delay(1, rc.TransientError(retry_after=12)) == 12.0
    assert policy.delay(1, rc.TransientError(retry_after=-1)) == 0.0
    assert policy.delay(1, rc.TransientError(retry_after=math.nan)) == 0.1
    # The computed backoff is capped by max_delay too, even when max_backoff is larger.
    assert rc.RetryPolicy(jitter=False, max_backoff=1e6, max_delay=7).delay(40, rc.TransientError()) == 7.0
    # Growth that overflows a float is the cap, not an OverflowError.
    huge = rc.RetryPolicy(backoff=1.0, multiplier=1e300, max_backoff=math.inf, jitter=False, max_delay=9)
    assert huge.delay(3, rc.TransientError()) == 9.0
    jittered = rc.RetryPolicy(backoff=1.0, multiplier=1e300, max_backoff=math.inf, max_delay=9, seed=1)
    assert all(0.0 <= jittered.delay(n, rc.TransientError()) <= 9.0 for n in range(1, 300))
    assert rc.RetryPolicy(backoff=0.0, multiplier=1e300, max_backoff=math.inf).delay(9, rc.TransientError()) == 0.0


def test_a_retry_after_set_to_a_non_number_later_is_no_hint():
    error = rc.TransientError("x", retry_after=5)
    error.retry_after = "soon"  # type: ignore[assignment]
    assert rc.RetryPolicy(jitter=False, backoff=0.5).delay(1, error) == 0.5


def test_executor_error_is_a_deprecated_alias_of_apply_option_error():
    with pytest.warns(
        DeprecationWarning, match=r"reconcile\.ExecutorError is deprecated; use reconcile\.ApplyOptionError"
    ):
        alias = rc.ExecutorError
    assert alias is rc.ApplyOptionError
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DeprecationWarning):
            from reconcile.errors import ExecutorError  # noqa: F401
    assert "ExecutorError" not in rc.__all__ and "ApplyOptionError" in rc.__all__
    with pytest.raises(AttributeError, match="module 'reconcile' has no attribute 'NoSuchError'"):
        rc.NoSuchError  # noqa: B018
