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
