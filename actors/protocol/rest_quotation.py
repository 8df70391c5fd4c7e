"""REST quotation bodies (protocol.md 8.2) read into the stream's event classes. Pure.

REST shapes differ from the WebSocket's (``market`` instead of ``code``, ``trade_date_utc``,
a signed ``change_price`` in ``/v1/trades/ticks``); these functions map them onto
:class:`OrderbookEvent`, :class:`TradeEvent` and :class:`CandleEvent` so a component handles
REST snapshots and live events with the same code. Numbers are read as Decimal from their JSON
text. Trades read over REST are marked ``stream_type="BACKFILL"``; books and candles
``"SNAPSHOT"``.

Runs in: any thread.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from .events import CandleEvent, OrderbookEvent, OrderbookUnit, TradeEvent
from .rest_types import BACKFILL

_Dec = Decimal | None


class _Unit(msgspec.Struct, frozen=True):
    ask_price: _Dec = None
    bid_price: _Dec = None
    ask_size: _Dec = None
    bid_size: _Dec = None


class _Book(msgspec.Struct, frozen=True):
    market: str
    timestamp: int | None = None
    total_ask_size: _Dec = None
    total_bid_size: _Dec = None
    orderbook_units: tuple[_Unit, ...] = ()
    level: _Dec = None


class _Tick(msgspec.Struct, frozen=True):
    market: str
    sequential_id: int
    trade_date_utc: str | None = None
    trade_time_utc: str | None = None
    timestamp: int | None = None
    trade_price: _Dec = None
    trade_volume: _Dec = None
    prev_closing_price: _Dec = None
    change_price: _Dec = None
    ask_bid: str | None = None


class _Candle(msgspec.Struct, frozen=True):
    market: str
    candle_date_time_utc: str | None = None
    candle_date_time_kst: str | None = None
    opening_price: _Dec = None
    high_price: _Dec = None
    low_price: _Dec = None
    trade_price: _Dec = None
    timestamp: int | None = None
    candle_acc_trade_price: _Dec = None
    candle_acc_trade_volume: _Dec = None
    unit: int | None = None


_books = msgspec.json.Decoder(list[_Book], strict=False)
_ticks = msgspec.json.Decoder(list[_Tick], strict=False)
_candles = msgspec.json.Decoder(list[_Candle], strict=False)


def orderbooks_from_rest(body: bytes) -> list[OrderbookEvent]:
    """``GET /v1/orderbook`` body -> OrderbookEvent per market."""
    return [
        OrderbookEvent(
            type="orderbook",
            code=b.market,
            timestamp=b.timestamp,
            total_ask_size=b.total_ask_size,
            total_bid_size=b.total_bid_size,
            orderbook_units=tuple(
                OrderbookUnit(
                    ask_price=u.ask_price,
                    bid_price=u.bid_price,
                    ask_size=u.ask_size,
                    bid_size=u.bid_size,
                )
                for u in b.orderbook_units
            ),
            stream_type="SNAPSHOT",
            level=b.level,
        )
        for b in _books.decode(body)
    ]


def trades_from_rest(body: bytes) -> list[TradeEvent]:
    """``GET /v1/trades/ticks`` body -> TradeEvent per trade (newest first, as Upbit sends).

    REST's ``change_price`` is signed; the stream's is absolute with ``change`` giving the sign.
    """
    out = []
    for t in _ticks.decode(body):
        cp = t.change_price
        change = None if cp is None else ("RISE" if cp > 0 else "FALL" if cp < 0 else "EVEN")
        out.append(
            TradeEvent(
                type="trade",
                code=t.market,
                timestamp=t.timestamp,
                trade_date=t.trade_date_utc,
                trade_time=t.trade_time_utc,
                trade_timestamp=t.timestamp,
                trade_price=t.trade_price,
                trade_volume=t.trade_volume,
                ask_bid=t.ask_bid,
                prev_closing_price=t.prev_closing_price,
                change=change,
                change_price=None if cp is None else abs(cp),
                sequential_id=t.sequential_id,
                stream_type=BACKFILL,
            )
        )
    return out


def candles_from_rest(body: bytes, unit: int) -> list[CandleEvent]:
    """``GET /v1/candles/minutes/{unit}`` body -> CandleEvent per bucket (newest first)."""
    return [
        CandleEvent(
            type=f"candle.{c.unit or unit}m",
            code=c.market,
            candle_date_time_utc=c.candle_date_time_utc,
            candle_date_time_kst=c.candle_date_time_kst,
            opening_price=c.opening_price,
            high_price=c.high_price,
            low_price=c.low_price,
            trade_price=c.trade_price,
            candle_acc_trade_volume=c.candle_acc_trade_volume,
            candle_acc_trade_price=c.candle_acc_trade_price,
            timestamp=c.timestamp,
            stream_type="SNAPSHOT",
        )
        for c in _candles.decode(body)
    ]
