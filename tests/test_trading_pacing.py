"""The group pacer keeps Upbit's sliding windows as the server sees them, reacts to
Remaining-Req, 429 and 418, and is deterministic with a fake clock."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest

from upbit_hub.actors.trading.pacing import (
    DEFAULT_BAN_S,
    GroupPacer,
    ban_seconds,
    limits_from_settings,
)
from upbit_hub.config.settings import TradingSettings


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(clock: FakeClock, **kw) -> GroupPacer:
    return GroupPacer(limits_from_settings(), clock=clock, **kw)


def send_as_fast_as_allowed(pacer: GroupPacer, clock: FakeClock, group: str, n: int) -> list:
    sent = []
    for _ in range(n):
        clock.advance(pacer.delay(group))
        assert pacer.delay(group) == 0.0
        pacer.record(group)
        sent.append(clock.now)
    return sent


def most_in_any_window(times: list[float], window: float) -> int:
    """The most events in any half-open sliding window [t, t + window)."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_no_server_side_second_ever_holds_more_than_12_orders_even_with_arrival_jitter():
    clock = FakeClock()
    pacer = make(clock)
    sent = send_as_fast_as_allowed(pacer, clock, "order", 1000)
    rng = random.Random(1234)
    for _ in range(20):  # several jitter draws of up to 20 ms per call
        arrived = [t + rng.uniform(0.0, 0.020) for t in sent]
        assert most_in_any_window(arrived, 1.0) <= 12
    assert most_in_any_window(sent, 1.0) <= 12


def test_calls_are_spaced_evenly_not_burst():
    clock = FakeClock()
    pacer = make(clock)
    sent = send_as_fast_as_allowed(pacer, clock, "order", 100)
    assert min(b - a for a, b in pairwise(sent)) >= 1.0 / 12 - 1e-9


def test_the_pacer_still_reaches_at_least_90_percent_of_the_limit_over_ten_seconds():
    clock = FakeClock()
    pacer = make(clock)
    start = clock.now
    sent = send_as_fast_as_allowed(pacer, clock, "order", 1000)
    in_ten = sum(1 for t in sent if t - start < 10.0)
    assert in_ten >= 0.9 * 12 * 10
    assert in_ten <= 12 * 10


def test_batch_cancel_goes_at_most_once_per_two_seconds_plus_the_margin():
    clock = FakeClock()
    pacer = make(clock)
    sent = send_as_fast_as_allowed(pacer, clock, "order-cancel-all", 5)
    assert min(b - a for a, b in pairwise(sent)) >= 2.0 + pacer.margin_s - 1e-9


def test_groups_are_paced_independently():
    clock = FakeClock()
    pacer = make(clock)
    send_as_fast_as_allowed(pacer, clock, "order", 12)
    assert pacer.delay("order") > 0
    assert pacer.delay("default") == 0.0
    assert pacer.delay("order-test") == 0.0


def test_a_429_pauses_the_group_and_repeats_double_the_pause_until_a_clean_second():
    clock = FakeClock()
    pacer = make(clock)
    pacer.record("order")
    pacer.on_response("order", 429, 0, "Too many API requests.")
    assert pacer.delay("order") == pytest.approx(1.0)
    assert pacer.delay("default") == 0.0  # only that group
    assert pacer.status()["order"]["n429"] == 1
    # a 429 of a call sent before the pause does not escalate it
    clock.advance(0.5)
    pacer.on_response("order", 429, 0)
    assert pacer.delay("order") == pytest.approx(0.5)
    # offending again right after the pause: 2 s, then 4 s
    clock.advance(0.5)
    pacer.on_response("order", 429, 0)
    assert pacer.delay("order") == pytest.approx(2.0)
    clock.advance(2.0)
    pacer.on_response("order", 429, 0)
    assert pacer.delay("order") == pytest.approx(4.0)
    # a clean second after the pause: the next 429 starts at 1 s again
    clock.advance(4.0 + 1.0)
    assert pacer.delay("order") == 0.0
    pacer.on_response("order", 429, 0)
    assert pacer.delay("order") == pytest.approx(1.0)
    assert pacer.status()["order"]["n429"] == 5


def test_a_418_halts_every_group_for_the_ban_its_body_names():
    clock = FakeClock()
    pacer = make(clock)
    pacer.record("order")
    pacer.on_response("order", 418, 0,
                      "Too many API requests. Blocked for 10 seconds after repeated 429s.")
    for group in ("order", "default", "order-test", "order-cancel-all"):
        assert pacer.delay(group) == math.inf
    status = pacer.status()
    assert status["default"]["halted_until"] == pytest.approx(clock.now + 10.0)
    assert status["order"]["n418"] == 1
    assert "Blocked for 10 seconds" in status["order"]["last_ban"]
    assert pacer.halted_for() == pytest.approx(10.0)
    clock.advance(9.9)
    assert pacer.delay("default") == math.inf
    clock.advance(0.1)
    assert pacer.delay("default") == 0.0
    assert pacer.status()["default"]["halted_until"] is None


def test_a_418_without_a_duration_halts_60_s_and_a_repeat_twice_as_long():
    clock = FakeClock(0.0)
    pacer = make(clock)
    pacer.on_response("default", 418, None, "<html>blocked</html>")
    assert pacer.halted_for() == pytest.approx(DEFAULT_BAN_S)
    clock.advance(30.0)  # a call sent before the ban answers 418 too: no longer ban
    pacer.on_response("order", 418, None, "")
    assert pacer.halted_for() == pytest.approx(30.0)
    clock.advance(31.0)
    assert pacer.delay("order") == 0.0
    pacer.on_response("order", 418, None, "")  # banned again soon after
    assert pacer.halted_for() == pytest.approx(2 * DEFAULT_BAN_S)


def test_remaining_req_sec_0_holds_the_group_until_the_window_rolls():
    clock = FakeClock()
    pacer = make(clock)
    pacer.record("order")
    clock.advance(0.2)
    assert pacer.delay("order") == 0.0
    # Upbit says no call is left this second, though this pacer sent one: another key of the
    # same pocket uses the budget, so wait a whole window
    pacer.on_response("order", 201, 0)
    assert pacer.delay("order") == pytest.approx(1.0)
    assert pacer.status()["order"]["held_until"] == pytest.approx(clock.now + 1.0)
    clock.advance(1.0)
    assert pacer.delay("order") == 0.0


def test_remaining_req_sec_0_explained_by_the_pacers_own_calls_costs_no_extra_wait():
    clock = FakeClock()
    pacer = make(clock)
    send_as_fast_as_allowed(pacer, clock, "order", 12)
    before = pacer.delay("order")
    pacer.on_response("order", 201, 0)
    assert pacer.delay("order") == pytest.approx(before)
    pacer.on_response("order", 201, 5)
    assert pacer.status()["order"]["remaining"] == 5


def test_status_counts_the_calls_of_the_last_second():
    clock = FakeClock()
    pacer = make(clock)
    send_as_fast_as_allowed(pacer, clock, "default", 10)
    status = pacer.status()
    assert status["default"]["sent_last_s"] == 10
    assert status["default"]["limit"] == 25
    assert status["order"]["sent_last_s"] == 0
    clock.advance(1.0)
    assert pacer.status()["default"]["sent_last_s"] == 0


def test_an_unknown_group_is_refused_naming_the_known_ones():
    pacer = make(FakeClock())
    with pytest.raises(ValueError, match=r"unknown rate-limit group 'orders'.*'order'"):
        pacer.delay("orders")


def test_settings_give_the_rates_and_never_go_above_upbits_limits():
    limits = limits_from_settings(TradingSettings(order_rate_per_s=5.0, default_rate_per_s=40.0))
    assert limits["order"] == (5, 1.0)
    assert limits["default"] == (30, 1.0)  # Upbit's 30/s, not 40
    assert limits["order-cancel-all"] == (1, 2.0)
    assert limits["order-test"] == (8, 1.0)
    assert limits_from_settings(TradingSettings(order_rate_per_s=0.5))["order"] == (1, 2.0)
    assert limits_from_settings(TradingSettings(order_rate_per_s=50))["order"] == (12, 1.0)


def test_ban_durations_are_read_from_plain_text_bodies():
    assert ban_seconds("Too many API requests. Blocked for 10 seconds after 429s.") == 10.0
    assert ban_seconds("blocked for 2.5 s") == 2.5
    assert ban_seconds("Blocked for 5 minutes") == 300.0
    assert ban_seconds("요청이 차단되었습니다 30초") == 30.0
    assert ban_seconds("Too many API requests.") is None
    assert ban_seconds("") is None
