"""Connections recover by themselves from drops, stalls, refusals and bad frames, with the full
subscription set and without a request storm."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from upbit_hub.actors import WebSocketClientProxy


class Flow:
    """Counts events per (type, code) and lets a test wait for more of them."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.cond = threading.Condition()

    def __call__(self, ev) -> None:
        with self.cond:
            self.counts[(ev.type, ev.code)] += 1
            self.cond.notify_all()

    def wait_more(self, key, n: int = 3, timeout: float = 15.0) -> bool:
        with self.cond:
            target = self.counts[key] + n
            return self.cond.wait_for(lambda: self.counts[key] >= target, timeout)


def _subscribe_set(hub):
    a_flow, b_flow = Flow(), Flow()
    a = WebSocketClientProxy("A", hub=hub)
    b = WebSocketClientProxy("B", hub=hub)
    a.subscribe_ticker(["KRW-BTC"], a_flow)
    b.subscribe_trade(["KRW-ETH"], b_flow)
    b.subscribe_orderbook(["KRW-BTC"], b_flow)
    assert a_flow.wait_more(("ticker", "KRW-BTC"))
    assert b_flow.wait_more(("trade", "KRW-ETH"))
    return a, b, a_flow, b_flow


def _all_flowing(a_flow, b_flow) -> None:
    assert a_flow.wait_more(("ticker", "KRW-BTC")), "ticker did not resume"
    assert b_flow.wait_more(("trade", "KRW-ETH")), "trade did not resume"
    assert b_flow.wait_more(("orderbook", "KRW-BTC")), "orderbook did not resume"


def _subscribe_requests(emulator):
    return [r for r in emulator.stats().requests
            if r.endpoint == "public" and r.kind in ("subscribe", "list")]


def _max_per_second(records) -> int:
    times = sorted(r.at for r in records)
    return max((sum(1 for t in times[i:] if t - s < 1.0) for i, s in enumerate(times)), default=0)


def _full_set(emulator, eventually):
    def ok():
        conns = [c for c in emulator.connections() if c.endpoint == "public"]
        return len(conns) == 1 and {(s[0], code) for s in conns[0].subscriptions
                                    for code in s[1]} == {
            ("ticker", "KRW-BTC"), ("trade", "KRW-ETH"), ("orderbook", "KRW-BTC")}
    eventually(ok, timeout=10)


@pytest.mark.parametrize("close_frame", [False, True], ids=["no-close-frame", "close-frame"])
def test_streams_resume_after_the_server_drops_every_connection(
    hub, emulator, eventually, close_frame
):
    a, b, a_flow, b_flow = _subscribe_set(hub)
    before = hub.status()["connections"]["public"]["sessions"]
    for _ in range(3):
        assert emulator.faults.drop_all(close_frame=close_frame) >= 1
        eventually(lambda b=before: hub.status()["connections"]["public"]["state"] == "connected"
                   and hub.status()["connections"]["public"]["sessions"] > b, timeout=10)
        before = hub.status()["connections"]["public"]["sessions"]
        _all_flowing(a_flow, b_flow)
        _full_set(emulator, eventually)
    # each reconnect re-sent the one merged request (plus nothing else)
    requests = _subscribe_requests(emulator)
    assert _max_per_second(requests) <= 5
    assert len(requests) <= 3 + 3 * 2
    a.cleanup()
    b.cleanup()


def test_a_stalled_socket_is_detected_and_replaced(make_hub, emulator, eventually):
    hub = make_hub(emulator, stale_after_s=1.5)
    a, b, a_flow, b_flow = _subscribe_set(hub)
    emulator.faults.stall(4.0)  # sockets stay open but nothing arrives (new ones too) for 4 s
    eventually(lambda: hub.status()["connections"]["public"]["stale_reconnects"] >= 1,
               timeout=10)
    _all_flowing(a_flow, b_flow)
    _full_set(emulator, eventually)
    a.cleanup()
    b.cleanup()


def test_refused_connections_are_retried_with_backoff_until_accepted(
    hub, emulator, eventually
):
    a, b, a_flow, b_flow = _subscribe_set(hub)
    emulator.faults.refuse_connections(3.0, status=503)
    emulator.faults.drop_all(close_frame=False)
    refused_at = time.monotonic()
    eventually(lambda: emulator.stats().connects_refused >= 2, timeout=10)
    _all_flowing(a_flow, b_flow)
    assert time.monotonic() - refused_at >= 2.5  # it came back only after the refusal ended
    _full_set(emulator, eventually)
    stats = emulator.stats()
    # backoff: a handful of attempts in 3 s, never a storm (and under Upbit's 5 connects/s)
    assert stats.connects_refused <= 12
    a.cleanup()
    b.cleanup()


def test_malformed_frames_are_counted_and_the_stream_goes_on(hub, emulator, eventually):
    a, b, a_flow, b_flow = _subscribe_set(hub)
    sessions = hub.status()["connections"]["public"]["sessions"]
    assert emulator.faults.send_malformed() >= 1
    eventually(lambda: hub.status()["connections"]["public"]["bad_frames"] >= 1)
    _all_flowing(a_flow, b_flow)
    assert hub.status()["connections"]["public"]["sessions"] == sessions  # no reconnect needed
    a.cleanup()
    b.cleanup()


def test_an_unprovoked_server_error_reconnects_and_keeps_every_wish(hub, emulator, eventually):
    errors = []
    a_flow = Flow()
    a = WebSocketClientProxy("A", hub=hub)
    a.subscribe_ticker(["KRW-BTC"], a_flow, on_error=errors.append)
    assert a_flow.wait_more(("ticker", "KRW-BTC"))
    time.sleep(1.1)  # let the attribution window of the request pass (bounded, not a wait)
    emulator.faults.send_error("INVALID_PARAM", "fault injection")
    eventually(lambda: errors, timeout=10)
    assert "INVALID_PARAM" in str(errors[0])
    assert a_flow.wait_more(("ticker", "KRW-BTC"))
    assert a.subscriptions, "the subscription must survive an error it did not cause"
    a.cleanup()
