"""WorkQueue, rate limiters and FakeClock: each documented behaviour and error, by example."""

from __future__ import annotations

import asyncio
import threading

import pytest

from reconcile.controller import (
    ControllerOptionError,
    ExponentialBackoff,
    FakeClock,
    MaxOf,
    SystemClock,
    TokenBucket,
    WorkQueue,
    default_rate_limiter,
)
from reconcile.errors import ReconcileError


def queue(clock: FakeClock | None = None) -> WorkQueue[str]:
    return WorkQueue(clock=clock or FakeClock(), rate_limiter=ExponentialBackoff(1.0, 8.0))


def test_a_key_added_twice_while_pending_is_queued_once():
    q = queue()
    assert q.add("a") is True
    assert q.add("a") is False
    assert q.add("b") is True
    assert (q.added, q.deduplicated, len(q)) == (2, 1, 2)
    assert q.take() == ("a", None)
    assert q.take() == ("b", None)
    assert q.take() == (None, None)


def test_a_key_being_processed_is_not_handed_out_again_until_done():
    q = queue()
    q.add("a")
    assert q.take()[0] == "a"
    q.add("a")
    assert q.take() == (None, None), "a is processing: not handed out twice at once"
    assert q.is_queued("a")
    q.add("a")
    assert q.deduplicated == 1, "added twice while processing: still once"
    q.done("a")
    assert q.take()[0] == "a", "added while processing: handed out again after done"
    q.done("a")
    assert q.take() == (None, None)


def test_done_without_a_new_add_does_not_requeue():
    q = queue()
    q.add("a")
    q.take()
    q.done("a")
    assert len(q) == 0 and not q.processing()


def test_add_after_holds_a_key_back_and_the_earliest_delay_wins():
    clock = FakeClock()
    q = queue(clock)
    q.add_after("a", 10)
    q.add_after("a", 3)
    q.add_after("a", 20)
    assert q.waiting() == 1
    assert q.take() == (None, 3.0)
    clock.advance(2.5)
    assert q.take() == (None, 0.5)
    clock.advance(0.5)
    assert q.take() == ("a", None)
    q.done("a")
    clock.advance(100)
    assert q.take() == (None, None), "the superseded delays do not add it again"
    assert q.added == 1


def test_cancel_after_drops_a_pending_delayed_add():
    clock = FakeClock()
    q = queue(clock)
    q.add_after("a", 5)
    assert q.cancel_after("a") is True and q.cancel_after("a") is False
    clock.advance(10)
    assert q.take() == (None, None) and q.added == 0


def test_add_after_zero_or_negative_adds_now():
    q = queue()
    q.add_after("a", 0)
    q.add_after("b", -1)
    assert len(q) == 2


def test_add_after_rejects_a_delay_that_is_not_a_number():
    with pytest.raises(ControllerOptionError, match="delay must be a finite number"):
        queue().add_after("a", float("inf"))


def test_add_rate_limited_uses_the_limiter_and_forget_resets_it():
    clock = FakeClock()
    q = queue(clock)
    assert [q.add_rate_limited("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert q.retries("a") == 3
    q.forget("a")
    assert q.retries("a") == 0
    assert q.add_rate_limited("a") == 1.0


def test_pause_stops_handing_out_keys_and_resume_restarts():
    q = queue()
    q.pause()
    q.add("a")
    assert q.paused and q.take() == (None, None)
    q.resume()
    assert q.take()[0] == "a"


def test_shutdown_hands_out_nothing_and_drops_later_adds():
    q = queue()
    q.add("a")
    q.shutdown()
    assert q.get() is None
    assert q.add("b") is False
    q.add_after("c", 1)
    assert q.waiting() == 0 and q.shutting_down


def test_get_blocks_until_a_key_is_added_from_another_thread():
    q: WorkQueue[str] = WorkQueue(clock=SystemClock())
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    q.add("a")
    t.join(5)
    assert got == ["a"]


def test_get_wakes_when_the_fake_clock_passes_a_delay():
    clock = FakeClock()
    q = queue(clock)
    q.add_after("a", 60)
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    t.join(0.1)
    assert got == [] and t.is_alive()
    clock.advance(60)
    t.join(5)
    assert got == ["a"]


def test_observers_see_every_add_including_delayed_ones():
    clock = FakeClock()
    q = queue(clock)
    seen: list[tuple[str, bool]] = []
    q.on_add(lambda key, queued: seen.append((key, queued)))
    q.add("a")
    q.add("a")
    q.add_after("b", 1)
    clock.advance(1)
    q.take()
    assert seen == [("a", True), ("a", False), ("b", True)]


def test_wait_idle_and_wait_processed():
    clock = FakeClock()
    q = queue(clock)
    q.add("a")
    assert q.wait_idle(0) is False
    assert q.take()[0] == "a"
    assert q.wait_processed(0) is False
    q.done("a")
    assert q.wait_processed(0) is True
    assert q.wait_idle(0) is True


def test_exponential_backoff_doubles_from_base_up_to_cap():
    b = ExponentialBackoff(0.005, 1000.0)
    delays = [b.when("k") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0 and max(delays) == 1000.0
    assert b.when("other") == 0.005, "per key"
    for _ in range(5000):
        b.when("years")  # a huge count does not overflow
    assert b.when("years") == 1000.0


def test_token_bucket_allows_a_burst_then_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.when(k) for k in "abc"] == [0.0, 0.0, 0.0]
    assert bucket.when("d") == pytest.approx(0.1)
    assert bucket.when("e") == pytest.approx(0.2), "each retry reserves the next token"
    clock.advance(1.0)
    assert bucket.when("f") == 0.0
    assert bucket.retries("a") == 0
    bucket.forget("a")


def test_max_of_takes_the_longest_delay_and_forgets_everywhere():
    clock = FakeClock()
    limiter = MaxOf(ExponentialBackoff(1.0, 100.0), TokenBucket(rate=1, burst=1, clock=clock))
    assert limiter.when("a") == 1.0
    assert limiter.when("b") == 1.0  # the bucket's second token is 1 s away, the backoff's is 1 s too
    assert limiter.when("a") == 2.0
    assert limiter.retries("a") == 2
    limiter.forget("a")
    assert limiter.retries("a") == 0


def test_the_default_limiter_is_controller_runtimes():
    limiter = default_rate_limiter(FakeClock())
    backoff, bucket = limiter.limiters
    assert isinstance(backoff, ExponentialBackoff) and (backoff.base, backoff.cap) == (0.005, 1000.0)
    assert isinstance(bucket, TokenBucket) and (bucket.rate, bucket.burst) == (10.0, 100)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ExponentialBackoff(0), "base must be a finite number > 0"),
        (lambda: ExponentialBackoff(1, 0.5), "cap must be a finite number >= 1.0"),
        (lambda: TokenBucket(rate=0), "rate must be a finite number > 0"),
        (lambda: TokenBucket(burst=0), "burst must be an integer >= 1"),
        (lambda: TokenBucket(burst=True), "burst must be an integer >= 1"),
        (lambda: MaxOf(), "at least one rate limiter"),
        (lambda: MaxOf(object()), "is not a RateLimiter"),
    ],
)
def test_bad_limiter_options_are_refused(make, message):
    with pytest.raises(ControllerOptionError, match=message) as info:
        make()
    assert isinstance(info.value, ReconcileError) and isinstance(info.value, ValueError)


def test_fake_clock_moves_only_forward_and_wakes_sleepers():
    clock = FakeClock(5.0, wall_offset=100.0)
    assert (clock.now(), clock.wall()) == (5.0, 105.0)
    with pytest.raises(ControllerOptionError, match="seconds must be >= 0"):
        clock.advance(-1)
    with pytest.raises(ControllerOptionError, match="cannot go back"):
        clock.set(1.0)

    async def main() -> list[str]:
        order: list[str] = []

        async def sleeper(name: str, delay: float) -> None:
            await clock.sleep(delay)
            order.append(name)

        tasks = [asyncio.ensure_future(sleeper("late", 10)), asyncio.ensure_future(sleeper("soon", 1))]
        await asyncio.sleep(0)
        assert clock.sleepers() == 2
        clock.advance(1)
        await asyncio.sleep(0.01)
        assert order == ["soon"]
        clock.advance(9)
        await asyncio.gather(*tasks)
        await clock.sleep(0)
        return order

    assert asyncio.run(main()) == ["soon", "late"]
