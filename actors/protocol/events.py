"""Immutable event values decoded from Upbit WebSocket frames.

Every class is a frozen :class:`msgspec.Struct`: safe to share between threads and actors
without copying. Field names are Upbit's DEFAULT names whatever the wire format was; the
decoder (:mod:`upbit_hub.actors.protocol.decode`) reads SIMPLE frames into these same classes.

Value kinds follow :mod:`upbit_hub.actors.protocol.fields`:

- prices, sizes, rates: :class:`decimal.Decimal`, parsed from the JSON number text, so
  ``1.16539E8`` is exactly ``116539000``, ``7.9276E-4`` is ``0.00079276`` and ``0.00077720``
  keeps its trailing zero;
- timestamps, counts and ``sequential_id``: ``int`` (exact above 2**53);
- everything except ``type`` is optional with default ``None``: a missing field never breaks
  decoding, and fields Upbit adds later are ignored.

Nested arrays (``orderbook_units``, ``assets``) are tuples so an event is immutable all the
way down; that makes ``gc=False`` safe for the market events (no event can take part in a
reference cycle; only ``TickerEvent.delisting_date``, a raw JSON value, could hold a container).

Example (DEFAULT trade frame, real shape)::

    {"type":"trade","code":"KRW-BTC","timestamp":1787728554853,"trade_date":"2026-08-26",
     "trade_time":"07:15:54","trade_timestamp":1787728554797,"trade_price":109847000.0,
     "trade_volume":0.00509799,"ask_bid":"ASK","prev_closing_price":109165000.0,
     "change":"RISE","change_price":682000.0,"sequential_id":17877285547970000,
     "best_ask_price":109867000,"best_ask_size":0.0099545,"best_bid_price":109847000,
     "best_bid_size":0.1583673,"stream_type":"SNAPSHOT"}

decodes to ``TradeEvent(type='trade', code='KRW-BTC', ..., trade_price=Decimal('109847000.0'),
sequential_id=17877285547970000, ...)``.

Pure module: no I/O, no threads. Runs in: any thread.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from upbit_hub.actors.protocol.errors import ServerError

__all__ = [
    "Asset",
    "CandleEvent",
    "Event",
    "ListSubscriptionsEvent",
    "MarketEvent",
    "MyAssetEvent",
    "MyOrderEvent",
    "OrderbookEvent",
    "OrderbookUnit",
    "ServerErrorEvent",
    "StatusEvent",
    "SubscriptionItem",
    "TickerEvent",
    "TradeEvent",
    "UnknownEvent",
]


class TickerEvent(msgspec.Struct, frozen=True, gc=False):
    """``ticker``: last price and day statistics of one market (SIMPLE ``ty``, ``cd``, ...)."""

    type: str
    code: str | None = None
    opening_price: Decimal | None = None
    high_price: Decimal | None = None
    low_price: Decimal | None = None
    trade_price: Decimal | None = None
    prev_closing_price: Decimal | None = None
    acc_trade_price: Decimal | None = None
    change: str | None = None
    change_price: Decimal | None = None
    signed_change_price: Decimal | None = None
    change_rate: Decimal | None = None
    signed_change_rate: Decimal | None = None
    ask_bid: str | None = None
    trade_volume: Decimal | None = None
    acc_trade_volume: Decimal | None = None
    trade_date: str | None = None
    trade_time: str | None = None
    trade_timestamp: int | None = None
    acc_ask_volume: Decimal | None = None
    acc_bid_volume: Decimal | None = None
    highest_52_week_price: Decimal | None = None
    highest_52_week_date: str | None = None
    lowest_52_week_price: Decimal | None = None
    lowest_52_week_date: str | None = None
    market_state: str | None = None
    is_trading_suspended: bool | None = None
    delisting_date: Any = None
    market_warning: str | None = None
    timestamp: int | None = None
    acc_trade_price_24h: Decimal | None = None
    acc_trade_volume_24h: Decimal | None = None
    stream_type: str | None = None

    @property
    def symbol(self) -> str | None:
        """The market code, e.g. ``"KRW-BTC"``. Runs in: any thread."""
        return self.code


class TradeEvent(msgspec.Struct, frozen=True, gc=False):
    """``trade``: one fill. ``sequential_id`` is an opaque int64 (above 2**53)."""

    type: str
    code: str | None = None
    timestamp: int | None = None
    trade_date: str | None = None
    trade_time: str | None = None
    trade_timestamp: int | None = None
    trade_price: Decimal | None = None
    trade_volume: Decimal | None = None
    ask_bid: str | None = None
    prev_closing_price: Decimal | None = None
    change: str | None = None
    change_price: Decimal | None = None
    sequential_id: int | None = None
    best_ask_price: Decimal | None = None
    best_ask_size: Decimal | None = None
    best_bid_price: Decimal | None = None
    best_bid_size: Decimal | None = None
    stream_type: str | None = None

    @property
    def symbol(self) -> str | None:
        """The market code. Runs in: any thread."""
        return self.code


class OrderbookUnit(msgspec.Struct, frozen=True, gc=False):
    """One price level pair; SIMPLE keys ``ap``, ``bp``, ``as``, ``bs``. Zero means padding."""

    ask_price: Decimal | None = None
    bid_price: Decimal | None = None
    ask_size: Decimal | None = None
    bid_size: Decimal | None = None


class OrderbookEvent(msgspec.Struct, frozen=True, gc=False):
    """``orderbook``: a full N-level book (replace, never merge). Index 0 is the best level."""

    type: str
    code: str | None = None
    timestamp: int | None = None
    total_ask_size: Decimal | None = None
    total_bid_size: Decimal | None = None
    orderbook_units: tuple[OrderbookUnit, ...] | None = None
    stream_type: str | None = None
    level: Decimal | None = None

    @property
    def symbol(self) -> str | None:
        """The market code (without any ``.N`` depth suffix). Runs in: any thread."""
        return self.code


class CandleEvent(msgspec.Struct, frozen=True, gc=False):
    """``candle.<interval>``: the open candle so far; ``type`` keeps e.g. ``"candle.1m"``."""

    type: str
    code: str | None = None
    candle_date_time_utc: str | None = None
    candle_date_time_kst: str | None = None
    opening_price: Decimal | None = None
    high_price: Decimal | None = None
    low_price: Decimal | None = None
    trade_price: Decimal | None = None
    candle_acc_trade_volume: Decimal | None = None
    candle_acc_trade_price: Decimal | None = None
    timestamp: int | None = None
    stream_type: str | None = None

    @property
    def symbol(self) -> str | None:
        """The market code. Runs in: any thread."""
        return self.code

    @property
    def interval(self) -> str:
        """The interval part of ``type``: ``"1m"`` for ``"candle.1m"``. Runs in: any thread."""
        return self.type.partition(".")[2]


class MyOrderEvent(msgspec.Struct, frozen=True, gc=False):
    """``myOrder`` (private): an own order changed state or filled."""

    type: str
    code: str | None = None
    uuid: str | None = None
    ask_bid: str | None = None
    order_type: str | None = None
    state: str | None = None
    trade_uuid: str | None = None
    price: Decimal | None = None
    avg_price: Decimal | None = None
    volume: Decimal | None = None
    remaining_volume: Decimal | None = None
    executed_volume: Decimal | None = None
    trades_count: int | None = None
    reserved_fee: Decimal | None = None
    remaining_fee: Decimal | None = None
    paid_fee: Decimal | None = None
    locked: Decimal | None = None
    executed_funds: Decimal | None = None
    time_in_force: str | None = None
    trade_fee: Decimal | None = None
    is_maker: bool | None = None
    identifier: str | None = None
    smp_type: str | None = None
    prevented_volume: Decimal | None = None
    prevented_locked: Decimal | None = None
    trade_timestamp: int | None = None
    order_timestamp: int | None = None
    timestamp: int | None = None
    stream_type: str | None = None

    @property
    def symbol(self) -> str | None:
        """The market code. Runs in: any thread."""
        return self.code


class Asset(msgspec.Struct, frozen=True, gc=False):
    """One currency balance of ``myAsset``; SIMPLE keys ``cu``, ``b``, ``l``."""

    currency: str | None = None
    balance: Decimal | None = None
    locked: Decimal | None = None


class MyAssetEvent(msgspec.Struct, frozen=True, gc=False):
    """``myAsset`` (private): the balances that changed. Has no market, so ``symbol`` is None."""

    type: str
    asset_uuid: str | None = None
    assets: tuple[Asset, ...] | None = None
    asset_timestamp: int | None = None
    timestamp: int | None = None
    stream_type: str | None = None

    @property
    def symbol(self) -> None:
        """Always None: balances belong to no market. Runs in: any thread."""
        return None


class StatusEvent(msgspec.Struct, frozen=True, gc=False):
    """``{"status":"UP"}``: the keepalive answer to a text ``PING``."""

    status: str


class ServerErrorEvent(msgspec.Struct, frozen=True, gc=False):
    """``{"error":{"name":"INVALID_AUTH","message":"..."}}``; Upbit closes the socket after it.

    ``name`` and ``message`` keep whatever the server sent (an empty string when missing,
    the JSON text when not a string).
    """

    name: str
    message: str

    def to_exception(self, endpoint: str = "") -> ServerError:
        """The matching :class:`ServerError` to raise. Runs in: any thread."""
        return ServerError(self.name, self.message, endpoint)


class SubscriptionItem(msgspec.Struct, frozen=True):
    """One entry of a LIST_SUBSCRIPTIONS result; ``codes`` is None when absent (myAsset)."""

    type: str
    codes: list[str] | None = None
    level: Decimal | None = None


class ListSubscriptionsEvent(msgspec.Struct, frozen=True):
    """Reply to LIST_SUBSCRIPTIONS (SIMPLE keys ``mthd``, ``rslt``, ``tckt``)::

    {"method":"LIST_SUBSCRIPTIONS","result":[{"type":"ticker","codes":["KRW-BTC"]}],"ticket":"t1"}
    """

    method: str
    result: list[SubscriptionItem] = []
    ticket: str | None = None


class UnknownEvent(msgspec.Struct, frozen=True):
    """A frame whose ``type``/``ty`` this library does not know (``type`` None when not a
    string); ``raw`` is the whole decoded JSON object, nothing is lost."""

    type: str | None
    raw: dict[str, Any]


#: The six market and private data events.
MarketEvent = TickerEvent | TradeEvent | OrderbookEvent | CandleEvent | MyOrderEvent | MyAssetEvent

#: Everything :func:`upbit_hub.actors.protocol.decode` can return.
Event = (
    MarketEvent | StatusEvent | ServerErrorEvent | ListSubscriptionsEvent | UnknownEvent
)
