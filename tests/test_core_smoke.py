"""The seed's acceptance scenario, synchronous, against the emulator over loopback."""

from __future__ import annotations

import threading
from decimal import Decimal

from upbit_hub.actors import WebSocketClientProxy


def test_a_proxy_receives_krw_btc_tickers_within_seconds(hub):
    got = []
    arrived = threading.Event()

    def on_ticker(ev):
        got.append(ev)
        arrived.set()

    proxy = WebSocketClientProxy("verification", hub=hub)
    try:
        proxy.subscribe_ticker(["KRW-BTC"], on_ticker)
        assert arrived.wait(10), "no ticker within 10 s"
        ev = got[0]
        assert ev.symbol == "KRW-BTC"
        assert ev.trade_price > Decimal("0")
        assert ev.signed_change_rate is not None
    finally:
        proxy.cleanup()
