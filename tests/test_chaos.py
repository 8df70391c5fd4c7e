"""A short chaos run (CI): the emulator drops, stalls, refuses, sends garbage and error frames
and 429s REST while components come and go; afterwards every promise is checked against the
emulator's ground truth. The long run (30 minutes) is ``python bench/chaos.py --minutes 30``."""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal

import msgspec
import pytest

from upbit_hub.actors.emulator.chaos import run_chaos
from upbit_hub.actors.inbox import DRAIN, ComponentInbox
from upbit_hub.actors.messages import GetStatus
from upbit_hub.actors.private_fallback import LinkDown, LinkUp, PrivateFallbackActor
from upbit_hub.actors.private_state import PrivateStateTracker
from upbit_hub.actors.protocol.errors import RateLimitedError
from upbit_hub.actors.protocol.events import MyOrderEvent
from upbit_hub.actors.protocol.rest_types import Account, Order, OrderTrade
from upbit_hub.actors.ratelimit import RateLimiter
from upbit_hub.actors.reader import Reader
from upbit_hub.actors.timers import TimerService


@pytest.mark.chaos
@pytest.mark.timeout(180)
def test_a_minute_of_chaos_loses_nothing_and_leaks_nothing(caplog):
    caplog.set_level(logging.ERROR)  # the run logs every fault it survives; keep CI output short
    report = run_chaos(45.0, seed=7, fault_every=4.0, min_live_fraction=0.995)
    print(report.summary())
    assert sum(report.faults.values()) >= 6, report.faults
    # How many trades a run checks follows what the emulator made, and a starved CPU makes it
    # make fewer (5,500 over the run quietly; a few hundred under `pytest -n 2` on 2 cores).
    # So: every trade made while faults ran lies inside the window checked, and there were at
    # least ~5/s of them (~1.5/s per market: drops and stalls of 0.1-2.5 s swallow some).
    assert report.trades_made >= 200, report.summary()
    assert report.trades_unchecked == 0, report.summary()
    assert report.trades_expected >= report.trades_made
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.out_of_order == 0
    assert report.private_expected > 0 and report.private_missing == 0
    assert report.private_out_of_order == 0
    assert report.wire_matches
    assert report.actors_growth <= 0 and report.threads_growth <= 0
    assert report.registry_growth == 0
    # 99.9 % is the release bar (bench/chaos.py, a fault every ~8 s, 30 minutes: 99.94 %).
    # This run has twice the fault density and each drop or error frame costs one reconnect
    # (3-10 ms over loopback on 2 cores), measured at 99.87-100 %; the bar here is 99.5 %, which
    # the refusal tails of a burst-spending connect limiter (98.9-99.6 %) did not pass.
    assert report.live_fraction >= 0.995, report.summary()
    assert report.ok, report.problems


# -- the private promise the chaos run checks, made deterministic ---------------------------
# A chaos run under CPU load once ended with 3 of 166 private state changes (one order's
# wait, trade, done) never told: the reconciliation after the private stream came back ran
# into one of the run's REST 429 windows and, the link being live, nothing ever ran it again.


class _Rest:
    """Just enough of RestClient for the fallback actor; ``throttled`` answers 429."""

    def __init__(self) -> None:
        self.orders: list = []
        self.throttled = True

    def _call(self) -> None:
        if self.throttled:
            raise RateLimitedError(429, "too_many_requests", "Too many API requests.", "/v1")

    def get_open_orders(self, *, page: int = 1, limit: int = 100) -> list:
        self._call()
        return [o for o in self.orders if o.state == "wait"] if page == 1 else []

    def get_closed_orders(self, *, start_ms: int | None = None, limit: int = 1000) -> list:
        self._call()
        return [o for o in self.orders if o.state != "wait"]

    def get_order(self, uuid: str):
        self._call()
        return next(o for o in self.orders if o.uuid == uuid)

    def get_accounts(self) -> list:
        self._call()
        return [Account(currency="KRW", balance=Decimal(1), locked=Decimal(0))]


def _order(uuid: str, state: str, fills: tuple[str, ...]) -> Order:
    return Order(uuid=uuid, side="bid", ord_type="limit", state=state, market="KRW-BTC",
                 created_at="2026-01-01T00:00:00+09:00", trades_count=len(fills),
                 trades=tuple(OrderTrade(uuid=f) for f in fills))


def _ev(uuid: str, state: str, trade_uuid: str | None = None, count: int = 0) -> MyOrderEvent:
    return MyOrderEvent(type="myOrder", code="KRW-BTC", uuid=uuid, state=state,
                        trade_uuid=trade_uuid, trades_count=count)


def test_a_reconciliation_that_meets_a_429_runs_again_once_rest_answers():
    rest, tracker, told = _Rest(), PrivateStateTracker(), []
    tracker.seed([], [])
    timers = TimerService()
    fallback = PrivateFallbackActor.start(rest, tracker, told.append, fallback_after_s=2.0,
                                          poll_interval_s=0.5, call_later=timers.call_later)
    try:
        fallback.tell(LinkUp(time.monotonic()))
        fallback.tell(LinkDown(time.monotonic(), "dropped"))
        rest.orders.append(_order("o1", "done", ("t1",)))  # placed and filled in the gap
        fallback.tell(LinkUp(time.monotonic()))  # back at once; its reconciliation gets 429
        assert fallback.ask(GetStatus(), timeout=5)["last_error"].startswith("RateLimited")
        assert told == []
        rest.throttled = False  # the 429 window ends; nothing else happens on the link
        deadline = time.monotonic() + 5.0
        while len(told) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        orders = [(e.uuid, e.state, e.trade_uuid) for e in told if e.type == "myOrder"]
        assert orders == [("o1", "wait", None), ("o1", "trade", "t1"), ("o1", "done", None)]
        status = fallback.ask(GetStatus(), timeout=5)
        assert status["mode"] == "live" and status["reconcile_retries"] == 1
        time.sleep(1.2)  # and once it succeeded, no more passes
        assert fallback.ask(GetStatus(), timeout=5)["polls"] == status["polls"]
    finally:
        fallback.stop()
        timers.stop()


def test_a_later_live_fill_does_not_hide_an_earlier_fill_the_gap_swallowed():
    tracker = PrivateStateTracker()
    tracker.seed([], [])
    assert tracker.admit(_ev("o1", "wait"))
    # t1 happened while the stream was down; t2 arrived live before REST was asked
    assert tracker.admit(_ev("o1", "trade", "t2", count=2))
    assert tracker.admit(_ev("o1", "done", count=2))
    listed = _order("o1", "done", ())  # list endpoints carry no fills, only the count
    listed = msgspec.structs.replace(listed, trades_count=2)
    assert tracker.missing_fills(listed)
    told = tracker.reconcile_orders([_order("o1", "done", ("t1", "t2"))])
    assert [(e.state, e.trade_uuid, e.trades_count) for e in told] == [("trade", "t1", 1)]
    assert tracker.reconcile_orders([_order("o1", "done", ("t1", "t2"))]) == []


def test_fills_counted_at_seeding_stay_untold_and_later_ones_are_told_once():
    tracker = PrivateStateTracker()
    seeded = msgspec.structs.replace(_order("o1", "wait", ()), trades_count=1)
    tracker.seed([seeded], [])
    assert not tracker.admit(_ev("o1", "trade", "t1", count=1))  # from before seeding
    assert tracker.admit(_ev("o1", "trade", "t2", count=2))
    assert not tracker.admit(_ev("o1", "trade", "t2", count=2))
    told = tracker.reconcile_orders([_order("o1", "done", ("t1", "t2", "t3"))])
    assert [(e.state, e.trade_uuid) for e in told] == [("trade", "t3"), ("done", None)]

    fresh = PrivateStateTracker()  # the same, the fills' ids first seen over REST
    fresh.seed([seeded], [])
    told = fresh.reconcile_orders([_order("o1", "done", ("t1", "t2"))])
    assert [(e.state, e.trade_uuid) for e in told] == [("trade", "t2"), ("done", None)]


# -- a socket that closes with frames still buffered must not leave a component asleep ------
# Chaos runs under CPU load (2 of ~20) ended with the steady trade component hearing nothing
# for the last ~17-20 s (trades_unchecked ~2,100 of 5,494, lost=0 by the old window): the
# public socket closed (drop_close) while frames were still buffered, the reader returned
# without the wake-up its put() had asked for, and the inbox stayed "scheduled" forever.

_TRADE = (b'{"type":"trade","code":"KRW-BTC","trade_price":1,"trade_volume":1,"ask_bid":"BID",'
          b'"trade_date":"2026-01-01","trade_time":"00:00:00","trade_timestamp":1,'
          b'"prev_closing_price":1,"change":"EVEN","change_price":0,"sequential_id":10000,'
          b'"timestamp":1,"stream_type":"REALTIME"}')


class _ClosingSocket:
    """Delivers one frame with more bytes buffered behind it, then the server closes."""

    buffered_bytes = 150

    def __init__(self) -> None:
        self.frames = [_TRADE]

    def recv(self):
        if self.frames:
            return self.frames.pop()
        raise ConnectionResetError("closed by the server")

    def shutdown(self):
        pass

    def abort(self):
        pass


class _Actor:
    def __init__(self) -> None:
        self.told: list = []

    def tell(self, message) -> None:
        self.told.append(message)

    def is_alive(self) -> bool:
        return True


def test_a_socket_closing_with_frames_buffered_still_wakes_the_components_it_fed():
    inbox = ComponentInbox("tape#1", "tape")
    component = _Actor()
    inbox.actor_ref = component
    done = threading.Event()
    sockets = iter([_ClosingSocket()])

    def connect():
        sock = next(sockets, None)
        if sock is None:
            done.set()
            reader.request_stop()
            raise ConnectionRefusedError("script over")
        return sock

    reader = Reader(name="test-reader", connect=connect, actor_ref=_Actor(),
                    connect_limiter=RateLimiter([(10_000, 1.0)]), reconnect_min_s=0.0005,
                    reconnect_max_s=0.001, stable_after_s=60.0, private=False)
    reader.routes = {("trade", "KRW-BTC"): (inbox,)}
    reader.set_want(True)
    reader.start()
    assert done.wait(10)
    reader.join(5)
    assert inbox.depth() == 1
    assert DRAIN in component.told, "the component was never told to drain"
    events, _ = inbox.drain()
    assert [e.sequential_id for e in events] == [10000]
