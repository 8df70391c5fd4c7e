"""The rate limiters keep every window, and the timer service runs calls in order."""

from __future__ import annotations

import threading
from itertools import pairwise

from upbit_hub.actors.ratelimit import RateLimiter, paced_limiter, process_connect_limiter
from upbit_hub.actors.timers import TimerService


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_limiter_allows_the_per_second_budget_then_asks_to_wait():
    clock = FakeClock()
    lim = RateLimiter([(4, 1.0), (90, 60.0)], clock=clock)
    for _ in range(4):
        assert lim.try_acquire()
    assert not lim.try_acquire()
    assert 0.99 <= lim.delay() <= 1.0
    clock.now += 1.0
    assert lim.try_acquire()


def test_connects_are_paced_evenly_not_burst():
    # A retry loop offering a connect every 10 ms gets one every 0.25 s, so when a refusing
    # server recovers the next attempt is at most one pace step away (not the rest of a second
    # whose budget a burst already spent).
    clock = FakeClock()
    lim = paced_limiter(4.0, clock=clock)
    granted = []
    for _ in range(1000):  # 10 s
        if lim.try_acquire():
            granted.append(clock.now)
        else:
            assert lim.delay() <= 0.25 + 1e-9
        clock.now += 0.01
    gaps = [b - a for a, b in pairwise(granted)]
    assert min(gaps) >= 0.25 - 1e-6
    assert 39 <= len(granted) <= 40
    assert all(sum(1 for t in granted if s <= t < s + 1.0) <= 4 for s in granted)


def test_the_process_connect_limiter_is_one_paced_limiter_per_scope():
    ip = process_connect_limiter(4.0, "ip")
    assert process_connect_limiter(4.0, "ip") is ip
    assert process_connect_limiter(4.0, "account") is not ip
    assert ip.acquire()
    assert 0.2 < ip.delay() <= 0.25  # paced: the next connect waits a step, not a second


def test_a_limiter_enforces_the_per_minute_window_too():
    clock = FakeClock()
    lim = RateLimiter([(4, 1.0), (90, 60.0)], clock=clock)
    sent = 0
    for _ in range(60 * 10):  # ten events offered every 0.1 s for a minute
        if lim.try_acquire():
            sent += 1
        clock.now += 0.1
    assert sent == 90
    assert lim.count_within(60.0) <= 90


def test_no_one_second_window_ever_holds_more_than_the_budget():
    clock = FakeClock()
    lim = RateLimiter([(4, 1.0)], clock=clock)
    stamps = []
    for _ in range(1000):
        if lim.try_acquire():
            stamps.append(clock.now)
        clock.now += 0.013
    for i, t in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s - t < 1.0) <= 4


def test_acquire_returns_false_when_stopped_while_waiting():
    lim = RateLimiter([(1, 60.0)])
    assert lim.acquire()
    stop = threading.Event()
    stop.set()
    assert lim.acquire(stop) is False


def test_timer_service_runs_calls_in_deadline_order_and_honours_cancel():
    timers = TimerService()
    try:
        ran: list[str] = []
        done = threading.Event()
        timers.call_later(0.03, lambda: ran.append("late"))
        cancelled = timers.call_later(0.01, lambda: ran.append("cancelled"))
        timers.call_later(0.0, lambda: ran.append("first"))
        timers.call_later(0.05, done.set)
        cancelled.cancel()
        assert done.wait(5)
        assert ran == ["first", "late"]
    finally:
        timers.stop()
