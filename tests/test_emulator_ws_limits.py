"""Rate-limit bookkeeping (limits.py) with a hand-driven clock. Pure, no sockets."""

from __future__ import annotations

from upbit_hub.actors.emulator.limits import (
    OffenceTracker,
    RestLimiter,
    SlidingWindow,
    WindowedCounter,
)


def test_a_sliding_window_allows_the_limit_then_refuses_until_the_oldest_event_ages_out():
    w = SlidingWindow(5, 1.0)
    assert [w.hit(0.1 * i) for i in range(6)] == [True] * 5 + [False]
    assert w.remaining(0.5) == 0
    assert w.hit(0.99) is False  # the first event (t=0.0) is not yet 1 s old
    assert w.hit(1.0) is True  # now it is: it no longer counts
    assert w.remaining(1.0) == 0


def test_five_per_second_and_a_hundred_per_minute_both_apply():
    c = WindowedCounter((5, 1.0), (100, 60.0))
    allowed = sum(c.hit(t * 0.25) for t in range(240))  # 4 per second for 60 s
    assert allowed == 100
    c2 = WindowedCounter((5, 1.0), (100, 60.0))
    assert sum(c2.hit(0.0) for _ in range(10)) == 5


def test_a_second_offence_within_the_window_blocks_the_key():
    t = OffenceTracker(repeat_window=60.0, block_seconds=30.0)
    assert t.offend("1.2.3.4", 0.0) is False
    assert t.blocked_for("1.2.3.4", 1.0) == 0.0
    assert t.offend("1.2.3.4", 10.0) is True
    assert t.blocked_for("1.2.3.4", 20.0) == 20.0
    assert t.blocked_for("5.6.7.8", 20.0) == 0.0
    assert t.offend("9.9.9.9", 0.0) is False and t.offend("9.9.9.9", 61.0) is False


def test_rest_groups_count_down_then_429_then_418_while_continuing():
    lim = RestLimiter(block_seconds=5.0)
    decisions = [lim.check("ticker", "ip", 0.0) for _ in range(10)]
    assert [d.remaining for d in decisions] == list(range(9, -1, -1))
    assert {d.status for d in decisions} == {200}
    assert decisions[0].header == "group=ticker; min=600; sec=9"
    assert lim.check("ticker", "ip", 0.1).status == 429
    blocked = lim.check("ticker", "ip", 0.2)
    assert (blocked.status, blocked.blocked_for) == (418, 5.0)
    assert lim.check("ticker", "ip", 3.0).status == 418  # window empty but still blocked
    assert lim.check("ticker", "ip", 5.3).status == 200
    assert lim.check("ticker", "other-ip", 0.2).status == 200  # scopes are separate


def test_a_single_429_followed_by_a_pause_does_not_escalate():
    lim = RestLimiter()
    for _ in range(12):  # order: 12/s since 2026-08-21 (was 8/s)
        assert lim.check("order", "key", 0.0).status == 200
    assert lim.check("order", "key", 0.0).status == 429
    assert lim.check("order", "key", 1.5).status == 200
    d = lim.check("default", "key", 0.0)
    assert (d.per_minute, d.remaining) == (1800, 29)
