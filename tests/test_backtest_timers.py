"""Timers and ``ctx.now()`` run on the simulated clock: a timer due at T fires before the first
event after T, seeing ``ctx.now() == T``; fixed-rate timers keep their deadlines; on_stop comes
once, after the timers are cancelled."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from upbit_hub.actors.backtest import Backtest, BacktestConfig, ComponentSpec
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component

DATA = Path(__file__).parent / "data" / "backtest"
T0 = 1_800_000_000.0


class Clocked(Component):
    def on_start(self, ctx):
        self.ctx = ctx
        self.log = [("start", ctx.now())]
        ctx.subscribe_orderbook(["KRW-BTC"])
        ctx.call_later(0.5, lambda: self.log.append(("once", ctx.now())))
        self.tick = ctx.every(0.75, lambda: self.log.append(("every", ctx.now())))

    def on_orderbook(self, ev):
        self.log.append(("book", self.ctx.now()))

    def on_stop(self):
        self.log.append(("stop", self.ctx.now(), self.tick.cancelled))


def run():
    cfg = BacktestConfig(settings=Settings(), recordings=(DATA / "resting_bid.jsonl",),
                         balances={"KRW": Decimal(1_000_000)})
    holder = {}

    class Spy(Clocked):
        def on_start(self, ctx):
            holder["c"] = self
            super().on_start(ctx)

    Backtest(cfg, [ComponentSpec("clocked", Spy, None, "clocked")]).run()
    return holder["c"].log


def test_a_timer_due_at_t_fires_before_the_first_event_after_t_at_time_t():
    log = run()
    events = [(kind, round(t - T0, 6)) for kind, t, *_ in log]
    assert events[:7] == [
        ("start", 0.0), ("book", 0.0),  # books at 0, 1, 2, 4 s
        ("once", 0.5), ("every", 0.75),
        ("book", 1.0), ("every", 1.5), ("book", 2.0),
    ]
    assert ("every", 2.25) in events and ("every", 3.75) in events
    assert events.index(("every", 3.75)) < events.index(("book", 4.0))


def test_on_stop_comes_once_after_the_last_event_with_the_timers_cancelled():
    log = run()
    stops = [entry for entry in log if entry[0] == "stop"]
    assert len(stops) == 1 and stops[0][2] is True
    assert log[-1][0] == "stop" and round(stops[0][1] - T0, 6) == 4.0
