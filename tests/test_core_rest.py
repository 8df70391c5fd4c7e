"""REST snapshots through the proxy, against the emulator: the same event classes as the
stream, exact Decimals, Upbit's errors and limits respected."""

from __future__ import annotations

from decimal import Decimal

import pytest

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.protocol.errors import RateLimitedError, RequestValidationError, RestError
from upbit_hub.plugins import CandleEvent, OrderbookEvent, TickerEvent, TradeEvent


def test_snapshots_come_back_as_the_stream_event_classes(hub):
    with WebSocketClientProxy("snap", hub=hub) as proxy:
        tickers = proxy.get_ticker_snapshot(["KRW-BTC", "KRW-ETH"])
        assert [type(t) for t in tickers] == [TickerEvent, TickerEvent]
        assert {t.symbol for t in tickers} == {"KRW-BTC", "KRW-ETH"}
        assert all(isinstance(t.trade_price, Decimal) and t.trade_price > 0 for t in tickers)

        book = proxy.get_orderbook_snapshot("KRW-BTC", depth=5)[0]
        assert isinstance(book, OrderbookEvent) and len(book.orderbook_units) == 5
        asks = [u.ask_price for u in book.orderbook_units]
        assert asks == sorted(asks) and book.orderbook_units[0].bid_price < asks[0]

        trades = proxy.get_recent_trades("KRW-BTC", count=50)
        assert all(isinstance(t, TradeEvent) and t.stream_type == "BACKFILL" for t in trades)
        sids = [t.sequential_id for t in trades]
        assert sids == sorted(sids, reverse=True) and sids[0] > 2**53
        older = proxy.get_recent_trades("KRW-BTC", count=10, cursor=sids[-1])
        assert older and all(t.sequential_id < sids[-1] for t in older)

        candles = proxy.get_candles("KRW-BTC", unit=1, count=3)
        assert candles and all(isinstance(c, CandleEvent) for c in candles)
        assert candles[0].type == "candle.1m"


def test_bad_input_is_refused_before_any_request(hub):
    with WebSocketClientProxy("bad", hub=hub) as proxy:
        with pytest.raises(RequestValidationError):
            proxy.get_ticker_snapshot(["btc"])


def test_an_unknown_market_is_upbits_404_with_its_integer_name(hub):
    with pytest.raises(RestError) as info:
        hub.rest.get_ticker(["KRW-NOPE"])
    assert info.value.status == 404 and info.value.name == 404


def test_429_from_upbit_raises_rate_limited(hub, emulator):
    emulator.faults.rest_throttle(5.0)
    with pytest.raises(RateLimitedError) as info:
        hub.rest.get_ticker(["KRW-BTC"])
    assert info.value.status in (429, 418)


def test_a_refused_connection_is_told_apart_from_a_lost_answer():
    import socket
    import threading

    from upbit_hub.actors.protocol.errors import RestConnectError, RestOutcomeUnknownError
    from upbit_hub.actors.rest import RestClient

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    refused = RestClient(f"http://127.0.0.1:{dead_port}", timeout=2)
    with pytest.raises(RestConnectError) as info:
        refused.get_ticker(["KRW-BTC"])
    assert "connection refused" in str(info.value)
    assert f"http://127.0.0.1:{dead_port}" in str(info.value)
    assert "HTTP 0" not in str(info.value)

    server = socket.create_server(("127.0.0.1", 0))
    got_request = threading.Event()

    def accept_and_hang_up():
        conn, _ = server.accept()
        conn.recv(4096)
        got_request.set()
        conn.close()  # the request arrived; the answer never comes

    threading.Thread(target=accept_and_hang_up, daemon=True).start()
    lost = RestClient(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=5)
    with pytest.raises(RestOutcomeUnknownError) as info:
        lost.get_ticker(["KRW-BTC"])
    assert got_request.is_set()
    assert info.value.name == "connection_lost"
    server.close()
    counters = lost.counters()
    assert counters["calls"] == {"ticker": 1}
    assert counters["transport_errors"] == {"connection_lost": 1}
