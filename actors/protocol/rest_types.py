"""Typed REST bodies (exchange endpoints) and their conversion to stream events. Pure.

Upbit's exchange endpoints return amounts as strings (``"0.0005"``); these Structs read them
as :class:`~decimal.Decimal` without a float round trip. Conversions build the same
:class:`MyOrderEvent` / :class:`MyAssetEvent` the private WebSocket sends, marked
``stream_type="BACKFILL"`` so a component can tell REST-reconstructed events from live ones.

Runs in: any thread.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from .events import Asset, MyAssetEvent, MyOrderEvent

BACKFILL = "BACKFILL"  # stream_type of events reconstructed over REST

_Dec = Decimal | None


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``GET /v1/accounts``."""

    currency: str
    balance: Decimal
    locked: Decimal
    avg_buy_price: _Dec = None
    avg_buy_price_modified: bool | None = None
    unit_currency: str | None = None


class OrderTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One fill in ``GET /v1/order``'s ``trades`` list."""

    uuid: str
    market: str | None = None
    price: _Dec = None
    volume: _Dec = None
    funds: _Dec = None
    trend: str | None = None
    created_at: str | None = None
    side: str | None = None


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the REST endpoints show it (``/v1/order``, ``/v1/orders/open|closed``)."""

    uuid: str
    side: str
    ord_type: str
    state: str
    market: str
    created_at: str | None = None
    price: _Dec = None
    volume: _Dec = None
    remaining_volume: _Dec = None
    reserved_fee: _Dec = None
    remaining_fee: _Dec = None
    paid_fee: _Dec = None
    locked: _Dec = None
    executed_volume: _Dec = None
    executed_funds: _Dec = None
    prevented_volume: _Dec = None
    prevented_locked: _Dec = None
    trades_count: int = 0
    time_in_force: str | None = None
    identifier: str | None = None
    smp_type: str | None = None
    trades: tuple[OrderTrade, ...] = ()


_orders = msgspec.json.Decoder(list[Order], strict=False)
_order = msgspec.json.Decoder(Order, strict=False)
_accounts = msgspec.json.Decoder(list[Account], strict=False)


def decode_orders(body: bytes) -> list[Order]:
    return _orders.decode(body)


def decode_order(body: bytes) -> Order:
    return _order.decode(body)


def decode_accounts(body: bytes) -> list[Account]:
    return _accounts.decode(body)


def iso_to_ms(text: str | None) -> int | None:
    """``2026-03-22T21:42:22+09:00`` -> Unix milliseconds (None when absent or unreadable)."""
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


def order_event(
    order: Order, *, now_ms: int, state: str | None = None, **fields: Any
) -> MyOrderEvent:
    """A myOrder event carrying the REST order's values (``state`` and ``fields`` override)."""
    values: dict[str, Any] = {
        "type": "myOrder",
        "code": order.market,
        "uuid": order.uuid,
        "ask_bid": "BID" if order.side == "bid" else "ASK",
        "order_type": order.ord_type,
        "state": state or order.state,
        "price": order.price,
        "volume": order.volume,
        "remaining_volume": order.remaining_volume,
        "executed_volume": order.executed_volume,
        "trades_count": order.trades_count,
        "reserved_fee": order.reserved_fee,
        "remaining_fee": order.remaining_fee,
        "paid_fee": order.paid_fee,
        "locked": order.locked,
        "executed_funds": order.executed_funds,
        "time_in_force": order.time_in_force,
        "identifier": order.identifier,
        "smp_type": order.smp_type,
        "prevented_volume": order.prevented_volume,
        "prevented_locked": order.prevented_locked,
        "order_timestamp": iso_to_ms(order.created_at),
        "timestamp": now_ms,
        "stream_type": BACKFILL,
    }
    values.update(fields)
    return MyOrderEvent(**values)


def asset_event(changed: list[Account], *, now_ms: int) -> MyAssetEvent:
    """A myAsset event listing the changed currencies."""
    return MyAssetEvent(
        type="myAsset",
        assets=tuple(
            Asset(currency=a.currency, balance=a.balance, locked=a.locked) for a in changed
        ),
        asset_timestamp=now_ms,
        timestamp=now_ms,
        stream_type=BACKFILL,
    )


class MarketEvent(msgspec.Struct, frozen=True, kw_only=True):
    """``market_event`` of ``GET /v1/market/all?is_details=true``."""

    warning: bool = False
    caution: dict[str, bool] = msgspec.field(default_factory=dict)


class MarketListing(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``GET /v1/market/all``::

        {"market":"KRW-BTC","korean_name":"비트코인","english_name":"Bitcoin",
         "market_event":{"warning":false,"caution":{"PRICE_FLUCTUATIONS":false, ...}}}
    """

    market: str
    korean_name: str | None = None
    english_name: str | None = None
    market_event: MarketEvent | None = None

    @property
    def flags(self) -> list[str]:
        """Upbit's warning and caution flags that are on (``["warning", "PRICE_FLUCTUATIONS"]``)."""
        ev = self.market_event
        if ev is None:
            return []
        return (["warning"] if ev.warning else []) + sorted(k for k, on in ev.caution.items() if on)


def decode_markets(body: bytes) -> list[MarketListing]:
    """Decode a ``GET /v1/market/all`` body. Runs in: any thread."""
    return msgspec.json.decode(body, type=list[MarketListing])
