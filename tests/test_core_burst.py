"""200 components subscribing and leaving in a burst stay inside Upbit's message limits and end
with the right union on the wire."""

from __future__ import annotations

import threading

from upbit_hub.actors import WebSocketClientProxy

CODES = ["KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE", "KRW-ADA"]


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    j = 0
    for i in range(len(times)):
        while times[i] - times[j] >= window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_two_hundred_components_in_a_burst_respect_the_message_limits(hub, emulator, eventually):
    proxies: list[WebSocketClientProxy] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def join(i: int) -> None:
        try:
            p = WebSocketClientProxy(f"burst-{i}", hub=hub)
            kind = i % 3
            code = CODES[i % len(CODES)]
            if kind == 0:
                p.subscribe_ticker([code], lambda ev: None)
            elif kind == 1:
                p.subscribe_trade([code], lambda ev: None)
            else:
                p.subscribe_orderbook([code], lambda ev: None, depth=15)
            with lock:
                proxies.append(p)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=join, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(proxies) == 200

    # half of them leave in a burst too
    leaving = [p for p in proxies if p.component_id.endswith(("0", "2", "4", "6", "8"))]
    staying = [p for p in proxies if p not in leaving]
    threads = [threading.Thread(target=p.cleanup) for p in leaving]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    expected = set()
    for p in staying:
        i = int(p.component_id.split("-")[1])
        kind = ("ticker", "trade", "orderbook")[i % 3]
        expected.add((kind, CODES[i % len(CODES)]))

    def wire():
        conns = [c for c in emulator.connections() if c.endpoint == "public"]
        if len(conns) != 1:
            return None
        return {(s[0], code.split(".")[0]) for s in conns[0].subscriptions for code in s[1]}

    eventually(lambda: wire() == expected, timeout=15)

    records = [r for r in emulator.stats().requests if r.endpoint == "public"]
    assert not [r for r in records if r.kind in ("limited", "rejected")]
    times = [r.at for r in records]
    assert _max_in_window(times, 1.0) <= 5
    assert _max_in_window(times, 60.0) <= 100
    assert len(records) < 40  # coalesced: a few requests, not one per component
    for p in staying:
        p.cleanup()
