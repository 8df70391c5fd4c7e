"""Several components share one Upbit connection without clobbering each other.

The emulator replaces the whole subscription set on every request, exactly like Upbit, so only
a correct union keeps every component fed.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from upbit_hub.actors import WebSocketClientProxy


class Collector:
    def __init__(self) -> None:
        self.events = defaultdict(list)
        self.cond = threading.Condition()

    def __call__(self, ev) -> None:
        with self.cond:
            self.events[(ev.type, ev.code)].append(ev)
            self.cond.notify_all()

    def count(self, type_, code) -> int:
        with self.cond:
            return len(self.events[(type_, code)])


def _wire_sets(emulator):
    """(type, code) pairs each open public connection is subscribed to at the emulator."""
    out = []
    for conn in emulator.connections():
        if conn.endpoint == "public":
            out.append({(s[0], c) for s in conn.subscriptions for c in s[1]})
    return out


def test_two_components_keep_receiving_on_one_connection(hub, emulator, eventually):
    a_events, b_events = Collector(), Collector()
    a = WebSocketClientProxy("A", hub=hub)
    b = WebSocketClientProxy("B", hub=hub)
    a.subscribe_ticker(["KRW-BTC"], a_events)
    b.subscribe_trade(["KRW-ETH"], b_events)
    b.subscribe_orderbook(["KRW-BTC"], b_events)

    eventually(lambda: a_events.count("ticker", "KRW-BTC") >= 3, timeout=10)
    eventually(lambda: b_events.count("trade", "KRW-ETH") >= 3, timeout=10)
    eventually(lambda: b_events.count("orderbook", "KRW-BTC") >= 3, timeout=10)
    # still flowing for both after all the requests were made
    seen = (a_events.count("ticker", "KRW-BTC"), b_events.count("trade", "KRW-ETH"))
    eventually(lambda: a_events.count("ticker", "KRW-BTC") > seen[0]
               and b_events.count("trade", "KRW-ETH") > seen[1], timeout=10)
    # nobody gets what they did not ask for
    assert set(a_events.events) == {("ticker", "KRW-BTC")}
    assert set(b_events.events) <= {("trade", "KRW-ETH"), ("orderbook", "KRW-BTC")}

    # one connection carries the union (the emulator's own view and Upbit's LIST_SUBSCRIPTIONS)
    assert _wire_sets(emulator) == [
        {("ticker", "KRW-BTC"), ("trade", "KRW-ETH"), ("orderbook", "KRW-BTC")}
    ]
    listed = hub.list_subscriptions()
    assert {(item.type, code) for item in listed.result for code in item.codes} == {
        ("ticker", "KRW-BTC"), ("trade", "KRW-ETH"), ("orderbook", "KRW-BTC")
    }

    # A's cleanup removes exactly A's wishes
    a.cleanup()
    eventually(lambda: _wire_sets(emulator) == [{("trade", "KRW-ETH"), ("orderbook", "KRW-BTC")}])
    n = b_events.count("trade", "KRW-ETH")
    eventually(lambda: b_events.count("trade", "KRW-ETH") > n, timeout=10)
    b.cleanup()
    # the last wish gone: Upbit has no unsubscribe, so the socket is closed
    eventually(lambda: _wire_sets(emulator) == [])


def test_subscribing_a_code_someone_else_has_gives_the_newcomer_a_snapshot(hub, eventually):
    first, second = Collector(), Collector()
    a = WebSocketClientProxy("first", hub=hub)
    b = WebSocketClientProxy("second", hub=hub)
    a.subscribe_ticker(["KRW-BTC"], first)
    eventually(lambda: first.count("ticker", "KRW-BTC") >= 1, timeout=10)
    b.subscribe_ticker(["KRW-BTC"], second)
    # the shared stream's REALTIME tickers reach the newcomer at once; its SNAPSHOT (of the
    # request that now includes it) may come a moment later on a loaded machine
    eventually(lambda: any(ev.stream_type == "SNAPSHOT"
                           for ev in second.events.get(("ticker", "KRW-BTC"), [])), timeout=10)
    a.cleanup()
    b.cleanup()


def test_orderbook_depths_are_served_to_each_component_as_asked(hub, eventually):
    shallow, deep = Collector(), Collector()
    a = WebSocketClientProxy("shallow", hub=hub)
    b = WebSocketClientProxy("deep", hub=hub)
    a.subscribe_orderbook(["KRW-BTC"], shallow, depth=5)
    b.subscribe_orderbook(["KRW-BTC"], deep, depth=15)
    eventually(lambda: shallow.count("orderbook", "KRW-BTC") >= 2, timeout=10)
    eventually(lambda: deep.count("orderbook", "KRW-BTC") >= 2, timeout=10)
    last_shallow = shallow.events[("orderbook", "KRW-BTC")][-1]
    last_deep = deep.events[("orderbook", "KRW-BTC")][-1]
    assert len(last_shallow.orderbook_units) == 5
    assert len(last_deep.orderbook_units) == 15
    assert last_shallow.total_ask_size == sum(u.ask_size for u in last_shallow.orderbook_units)
    a.cleanup()
    b.cleanup()
