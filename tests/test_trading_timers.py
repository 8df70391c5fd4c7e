"""Component timers: in the component's thread, fixed rate, skipped (never bursting) when the
component is busy, cancelled before on_stop; the clock can be simulated."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from upbit_hub.actors.trading.clock import SimClock
from upbit_hub.actors.trading.timers import ComponentTimers
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost


def test_every_100ms_with_a_50ms_handler_fires_100_times_in_10s_never_overlapping(
    emulator, make_hub
):
    hub = make_hub(emulator)
    ticks: list[float] = []
    overlaps: list[str] = []
    busy = threading.Lock()
    done = threading.Event()

    class Ticker(Component):
        def on_start(self, ctx):
            self.ctx = ctx
            self.thread = threading.get_ident()
            ctx.subscribe_ticker(["KRW-BTC"])
            self.timer = ctx.every(0.1, self.tick)
            ctx.call_later(10.0, self.finish)

        def tick(self):
            if not busy.acquire(blocking=False) or threading.get_ident() != self.thread:
                overlaps.append("tick")
                return
            try:
                ticks.append(time.monotonic())
                time.sleep(0.05)  # a 50 ms handler (the point of the test)
            finally:
                busy.release()

        def finish(self):
            self.timer.cancel()
            done.set()

        def on_ticker(self, ev):
            if not busy.acquire(blocking=False) or threading.get_ident() != self.thread:
                overlaps.append("ticker")
                return
            busy.release()

    host = ComponentHost(hub)
    assert host.start_component("ticker", Ticker).state == "running"
    assert done.wait(15)
    comp = host.component("ticker")
    host.stop()
    assert not overlaps
    assert 98 <= len(ticks) <= 102, len(ticks)
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.1, abs=0.01)  # fixed rate, not 0.15
    assert comp.timer.fired == len(ticks)


def test_a_busy_component_skips_ticks_instead_of_bursting():
    clock = SimClock(start=1000.0)
    posted: list = []
    timers = ComponentTimers(clock, posted.append)
    ran: list[float] = []
    t = timers.every(1.0, lambda: ran.append(clock.time()))
    clock.advance_to(1003.5)  # three deadlines pass while nothing drains the inbox
    assert len(posted) == 1 and t.missed == 2
    posted.pop()()  # the component gets to it
    assert ran == [1003.5]
    clock.advance_to(1004.0)
    posted.pop()()
    assert ran == [1003.5, 1004.0] and t.fired == 2


def test_timers_fire_in_deadline_order_before_a_later_event_on_a_simulated_clock():
    clock = SimClock(start=0.0)
    seen: list[tuple[str, float]] = []
    timers = ComponentTimers(clock, lambda fn: fn())  # run at once (a backtest's inbox)
    timers.call_later(2.5, lambda: seen.append(("once", clock.time())))
    timers.every(1.0, lambda: seen.append(("every", clock.time())))
    clock.advance_to(3.0)
    seen.append(("event", clock.time()))
    assert seen == [("every", 1.0), ("every", 2.0), ("once", 2.5), ("every", 3.0),
                    ("event", 3.0)]


def test_cancel_all_stops_every_timer_and_refuses_new_ones():
    clock = SimClock()
    posted: list = []
    timers = ComponentTimers(clock, posted.append)
    a = timers.every(1.0, lambda: None)
    timers.call_later(5.0, lambda: None)
    assert timers.cancel_all() == 2 and a.cancelled
    clock.advance_to(10.0)
    assert posted == []
    with pytest.raises(RuntimeError):
        timers.every(1.0, lambda: None)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1"])
def test_bad_intervals_are_refused_at_once(bad):
    timers = ComponentTimers(SimClock(), lambda fn: None)
    with pytest.raises((ValueError, TypeError)):
        timers.every(bad, lambda: None)


def test_timers_are_cancelled_before_on_stop(emulator, make_hub):
    hub = make_hub(emulator)
    fired_after_stop: list[int] = []
    ticked = threading.Event()

    class Stopper(Component):
        def on_start(self, ctx):
            self.stopping = False
            self.n = 0
            ctx.every(0.01, self.tick)

        def tick(self):
            self.n += 1
            if self.n >= 3:
                ticked.set()
            if self.stopping:
                fired_after_stop.append(1)

        def on_stop(self):
            self.stopping = True
            time.sleep(0.05)  # a timer still armed would post a tick meanwhile

    host = ComponentHost(hub)
    host.start_component("stopper", Stopper)
    assert ticked.wait(5)
    host.stop()
    assert not fired_after_stop
