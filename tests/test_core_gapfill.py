"""Trades missed while the public socket was down are backfilled over REST, in order, before
the live stream resumes for that market, each exactly once."""

from __future__ import annotations

import threading

import pytest

from upbit_hub.actors import WebSocketClientProxy


class Trades:
    def __init__(self) -> None:
        self.events: list = []
        self.cond = threading.Condition()

    def __call__(self, ev) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def wait_count(self, n: int, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.events) >= n, timeout)


@pytest.mark.parametrize("close_frame", [False, True], ids=["no-close-frame", "close-frame"])
def test_trades_missed_during_drops_are_backfilled_in_order_exactly_once(
    make_emulator, make_hub, eventually, close_frame
):
    emu = make_emulator(rate=400)
    truth: list[int] = []
    emu.call(lambda core: core.market.add_trade_listener(
        lambda t: truth.append(t["sequential_id"]) if t["code"] == "KRW-BTC" else None))
    hub = make_hub(emu)
    got = Trades()
    proxy = WebSocketClientProxy("tape", hub=hub)
    proxy.subscribe_trade(["KRW-BTC"], got)
    assert got.wait_count(5)
    for _ in range(3):
        sessions = hub.status()["connections"]["public"]["sessions"]
        emu.faults.refuse_connections(1.0)
        emu.faults.drop_all(close_frame=close_frame)
        eventually(lambda s=sessions: hub.status()["connections"]["public"]["sessions"] > s,
                   timeout=15)
        assert got.wait_count(len(got.events) + 5)
    proxy.cleanup()

    received = [e.sequential_id for e in got.events]
    assert len(received) == len(set(received)), "a trade was delivered twice"
    # compare from the first live trade on (the snapshot trade may predate the listener)
    start = truth.index(received[1])
    end = truth.index(received[-1])
    assert received[1:] == truth[start:end + 1], "missing or out-of-order trades"
    backfilled = [e for e in got.events if e.stream_type == "BACKFILL"]
    assert backfilled, "the gaps should have been filled over REST"
    stats = hub.status()["connections"]["public"]["gapfill"]
    assert stats["gaps"] >= 3 and stats["unfilled"] == 0


class _Trade:
    """What the gap filler reads of a trade event."""

    def __init__(self, sid: int, stream_type: str = "REALTIME") -> None:
        self.code = "KRW-BTC"
        self.sequential_id = sid
        self.trade_timestamp = sid // 10
        self.stream_type = stream_type


def test_a_second_gap_while_the_first_backfill_waits_is_filled_too():
    # The socket drops again while the first backfill is stuck (REST 429, say). Trades of the
    # second gap must be fetched as well, and everything delivered once, in order.
    from upbit_hub.actors.gapfill import TradeGapFiller

    history = list(range(1000, 1100, 10))  # every trade the exchange made, sid order
    fetch_gate, first_fetch_started = threading.Event(), threading.Event()
    fetches: list[int] = []
    fetch_upto = [0]

    def fetch(market, count, cursor):
        fetches.append(len(fetches))
        upto = fetch_upto[0]  # the answer reflects the exchange when the request was made
        if len(fetches) == 1:
            first_fetch_started.set()
            assert fetch_gate.wait(10)
        page = [_Trade(s, "BACKFILL") for s in reversed(history) if s <= upto]
        if cursor is not None:
            page = [t for t in page if t.sequential_id < cursor]
        return page[:count]

    delivered: list[int] = []
    gf = TradeGapFiller(fetch, quiet_wait_s=5.0)
    route = delivered.append
    try:
        def live(sid):
            ev = _Trade(sid)
            if gf.admit(ev):
                route(ev)

        live(1000)                                  # delivered before any gap
        gf.session_started(["KRW-BTC"], route)
        fetch_upto[0] = 1030
        live(1030)                                  # first live trade on socket A: fetch starts
        assert first_fetch_started.wait(10)         # ... and blocks
        live(1040)                                  # held; then 1050, 1060 are missed
        gf.session_started(["KRW-BTC"], route)     # socket B
        live(1070)
        live(1080)
        fetch_upto[0] = 1080
        fetch_gate.set()
        settled = threading.Event()
        for _ in range(200):  # wait (bounded) until the second backfill released the market
            if not gf.stats()["held_markets"]:
                break
            settled.wait(0.02)
        live(1090)
    finally:
        gf.stop()
    sids = [getattr(e, "sequential_id", e) for e in delivered]
    assert sids == history, sids
    assert len(fetches) >= 2


def test_a_microsecond_live_timestamp_does_not_stop_the_backfill():
    # Upbit once sent a timestamp in microseconds (1691530805062000, Aug 2023). The backfill
    # pages REST trades (milliseconds) back until it reaches the last live trade's time: read
    # as-is, a microsecond time is "later" than every REST trade and nothing would be filled.
    from upbit_hub.actors.gapfill import TradeGapFiller

    base_ms = 1_691_530_805_062
    history = [(17_000_000_000_000_000 + i, base_ms + i * 100) for i in range(6)]

    def trade(sid, ts, stream_type):
        ev = _Trade(sid, stream_type)
        ev.trade_timestamp = ts
        return ev

    def fetch(market, count, cursor):
        page = [trade(s, ts, "BACKFILL") for s, ts in reversed(history)]
        if cursor is not None:
            page = [t for t in page if t.sequential_id < cursor]
        return page[:count]

    delivered: list = []
    released = threading.Event()

    def route(ev):
        delivered.append(ev)
        if ev.sequential_id == history[-1][0]:
            released.set()

    gf = TradeGapFiller(fetch, quiet_wait_s=5.0)
    try:
        first = trade(history[0][0], history[0][1] * 1000, "REALTIME")  # microseconds
        assert gf.admit(first)
        route(first)
        gf.session_started(["KRW-BTC"], route)
        last = trade(history[-1][0], history[-1][1] * 1000, "REALTIME")
        assert not gf.admit(last)  # held until the gap is filled
        assert released.wait(10), "the held live trade was never released"
    finally:
        gf.stop()
    sids = [e.sequential_id for e in delivered]
    assert sids == [s for s, _ in history], sids
    assert [e.stream_type for e in delivered[1:-1]] == ["BACKFILL"] * 4


def test_epoch_ms_reads_every_unit_by_magnitude():
    from upbit_hub.actors.protocol.timestamps import epoch_ms

    assert epoch_ms(1691530805062) == 1691530805062
    assert epoch_ms(1691530805062000) == 1691530805062
    assert epoch_ms(1691530805062000000) == 1691530805062
    assert epoch_ms(1691530805.062) == 1691530805062
    assert epoch_ms(None) == epoch_ms(0) == epoch_ms(-5) == 0
