"""Value types of the emulated exchange: orders, fills, balances, errors and number helpers.

Everything is :class:`~decimal.Decimal` internally. Upbit's rules (fee, minimum totals, order
types, the 8-decimal volume step) come from ``upbit_hub.actors.protocol.trading_rules`` and are
re-exported here for older callers. The WebSocket dict builders here produce
Upbit's ``myOrder`` / ``myAsset`` objects with DEFAULT keys in wire order
(:data:`upbit_hub.actors.protocol.fields.MY_ORDER_FIELDS`); the REST shapes live in
``exchange_rest``.

Runs in: the emulator loop thread (plain data; the pure helpers run in any thread).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from upbit_hub.actors.protocol.fields import MY_ORDER_FIELDS
from upbit_hub.actors.protocol.trading_rules import (
    DEFAULT_FEE_RATE,
    MIN_TOTAL,
    ORDER_TYPES,
    TIME_IN_FORCE,
    VOLUME_STEP,
    floor_volume,
)

__all__ = [
    "CLOSED_STATES",
    "FEE_RATE",
    "MIN_TOTAL",
    "OPEN_STATES",
    "ORDER_TYPES",
    "TIME_IN_FORCE",
    "VOLUME_STEP",
    "ZERO",
    "Balance",
    "ExchangeError",
    "Fill",
    "Order",
    "apply_fill",
    "dec_str",
    "floor_volume",
    "kst_iso",
    "my_asset_dict",
    "my_order_dict",
    "tidy",
]

ZERO: Final = Decimal(0)
#: Upbit's fee on KRW markets (maker and taker alike): 0.05 %.
FEE_RATE: Final = DEFAULT_FEE_RATE
KST: Final = _dt.timezone(_dt.timedelta(hours=9))

OPEN_STATES: Final = ("wait", "watch")
CLOSED_STATES: Final = ("done", "cancel")

MY_ORDER_KEYS: Final[tuple[str, ...]] = tuple(f[0] for f in MY_ORDER_FIELDS)


class ExchangeError(Exception):
    """An order request Upbit would refuse: HTTP ``status``, Upbit error ``name``, ``message``."""

    def __init__(self, status: int, name: str, message: str) -> None:
        self.status = status
        self.name = name
        self.message = message
        super().__init__(f"{status} {name}: {message}")

    def body(self) -> dict:
        """The REST error body. Runs in: any thread."""
        return {"error": {"name": self.name, "message": self.message}}


def tidy(value: Decimal) -> Decimal:
    """``value`` without noise digits: integers as integers, no trailing zeros otherwise.

    ``Decimal("0E-12")`` -> ``0``, ``Decimal("5002.500")`` -> ``5002.5``. Runs in: any thread.
    """
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _tidy(value: Decimal | None) -> Decimal | None:
    return None if value is None else tidy(value)


def dec_str(value: Decimal | None) -> str | None:
    """Upbit's REST spelling of an amount: plain decimal text without exponent or trailing zeros.

    >>> dec_str(Decimal("5002.50")), dec_str(Decimal("1E+7")), dec_str(Decimal("0E-8"))
    ('5002.5', '10000000', '0')

    Runs in: any thread.
    """
    if value is None:
        return None
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def kst_iso(ms: int) -> str:
    """``2026-03-22T21:42:22+09:00`` for a Unix millisecond time. Runs in: any thread."""
    moment = _dt.datetime.fromtimestamp(ms / 1000, tz=KST).replace(microsecond=0)
    return moment.isoformat()


@dataclass
class Balance:
    """One currency of the account: ``balance`` available, ``locked`` in open orders."""

    balance: Decimal = ZERO
    locked: Decimal = ZERO
    avg_buy_price: Decimal = ZERO
    avg_buy_price_modified: bool = False


@dataclass(frozen=True)
class Fill:
    """One trade of an order."""

    uuid: str
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    is_maker: bool
    timestamp: int
    trend: str  # "up" / "down" against the previous fill on the same market


@dataclass
class Order:
    """An order and its running totals. ``price`` is the funds for ``price``/best-bid orders."""

    uuid: str
    market: str
    side: str  # "bid" | "ask"
    ord_type: str  # "limit" | "price" | "market" | "best"
    price: Decimal | None
    volume: Decimal | None
    created_ms: int
    identifier: str | None = None
    time_in_force: str | None = None
    smp_type: str | None = None
    state: str = "wait"
    remaining_volume: Decimal | None = None
    remaining_funds: Decimal | None = None  # funds-based bids only
    executed_volume: Decimal = ZERO
    executed_funds: Decimal = ZERO
    reserved_fee: Decimal = ZERO
    remaining_fee: Decimal = ZERO
    paid_fee: Decimal = ZERO
    locked: Decimal = ZERO
    prevented_volume: Decimal = ZERO  # volume taken away by self-match prevention
    prevented_locked: Decimal = ZERO  # lock released by self-match prevention
    trades: list[Fill] = field(default_factory=list)
    closed_ms: int | None = None

    @property
    def funds_based(self) -> bool:
        """True for a market buy by KRW amount (``price`` or ``best`` bid)."""
        return self.side == "bid" and self.ord_type in ("price", "best")

    @property
    def quote(self) -> str:
        """Quote currency (``KRW`` of ``KRW-BTC``)."""
        return self.market.split("-", 1)[0]

    @property
    def base(self) -> str:
        """Base currency (``BTC`` of ``KRW-BTC``)."""
        return self.market.split("-", 1)[1]

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.state in OPEN_STATES

    def snapshot(self) -> Order:
        """A detached copy (trades list copied). Runs in: the emulator loop thread."""
        copy = Order(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        copy.trades = list(self.trades)
        return copy


def my_order_dict(order: Order, state: str, now_ms: int, fill: Fill | None = None) -> dict:
    """The ``myOrder`` object for one state change, DEFAULT keys in wire order.

    ``state`` is ``wait``, ``trade`` (with ``fill``), ``prevented`` (self-match prevention
    reduced the order and some of it remains), ``done`` or ``cancel``. For a ``trade``
    ``price``/``volume`` are the fill's; the totals are as after the fill. A live example (market
    buy just accepted)::

        {"type":"myOrder","code":"KRW-BTC","uuid":"017f6e91-...","ask_bid":"BID",
         "order_type":"price","state":"wait","trade_uuid":null,"price":5000,"avg_price":0,
         "volume":null,"remaining_volume":null,"executed_volume":null,"trades_count":0,
         "reserved_fee":2.5,"remaining_fee":2.5,"paid_fee":0,"locked":5002.5, ...}

    Runs in: the emulator loop thread.
    """
    funds_based = order.funds_based
    if fill is not None:
        price: Decimal | None = fill.price
        volume: Decimal | None = fill.volume
    else:
        price = order.price
        volume = None if funds_based else order.volume
    executed: Decimal | None = order.executed_volume
    if funds_based and not order.executed_volume:
        executed = None
    avg = order.executed_funds / order.executed_volume if order.executed_volume else ZERO
    values = {
        "type": "myOrder",
        "code": order.market,
        "uuid": order.uuid,
        "ask_bid": order.side.upper(),
        "order_type": order.ord_type,
        "state": state,
        "trade_uuid": fill.uuid if fill else None,
        "price": price,
        "avg_price": avg,
        "volume": volume,
        "remaining_volume": None if funds_based else order.remaining_volume,
        "executed_volume": executed,
        "trades_count": len(order.trades),
        "reserved_fee": order.reserved_fee,
        "remaining_fee": order.remaining_fee,
        "paid_fee": order.paid_fee,
        "locked": order.locked,
        "executed_funds": order.executed_funds,
        "time_in_force": order.time_in_force,
        "trade_fee": fill.fee if fill else None,
        "is_maker": fill.is_maker if fill else None,
        "identifier": order.identifier,
        "smp_type": order.smp_type,
        "prevented_volume": order.prevented_volume,
        "prevented_locked": order.prevented_locked,
        "trade_timestamp": fill.timestamp if fill else None,
        "order_timestamp": order.created_ms,
        "timestamp": now_ms,
        "stream_type": "REALTIME",
    }
    return {
        key: _tidy(values[key]) if isinstance(values[key], Decimal) else values[key]
        for key in MY_ORDER_KEYS
    }


def my_asset_dict(
    asset_uuid: str, balances: dict[str, Balance], currencies: list[str], now_ms: int
) -> dict:
    """The ``myAsset`` object listing only ``currencies`` (those that changed), wire order::

        {"type":"myAsset","asset_uuid":"e635f223-...","assets":[{"currency":"KRW",
         "balance":1386929.37231066,"locked":0.0}],"asset_timestamp":1751854855954,
         "timestamp":1751854855979,"stream_type":"REALTIME"}

    Runs in: the emulator loop thread.
    """
    assets = [
        {"currency": c, "balance": tidy(balances[c].balance), "locked": tidy(balances[c].locked)}
        for c in currencies
    ]
    return {
        "type": "myAsset",
        "asset_uuid": asset_uuid,
        "assets": assets,
        "asset_timestamp": now_ms,
        "timestamp": now_ms,
        "stream_type": "REALTIME",
    }


def apply_fill(order: Order, fill: Fill, quote: Balance, base: Balance, fee_rate: Decimal) -> None:
    """Book one fill: order totals, lock release, balances and the coin's average buy price.

    A bid releases the part of its lock that covered the filled volume (at the order price,
    fee included) and pays the fill's funds + fee from it; a better fill price returns the
    difference to ``balance``. An ask gives up locked coin and receives funds - fee.
    Runs in: the emulator loop thread.
    """
    qty, funds, fee = fill.volume, fill.funds, fill.fee
    order.executed_volume += qty
    order.executed_funds += funds
    order.paid_fee += fee
    order.trades.append(fill)
    if order.side == "bid":
        if order.funds_based:
            order.remaining_funds -= funds
            order.remaining_fee = order.remaining_funds * fee_rate
            new_locked = order.remaining_funds + order.remaining_fee
        else:
            order.remaining_volume -= qty
            order.remaining_fee = order.price * order.remaining_volume * fee_rate
            new_locked = order.price * order.remaining_volume + order.remaining_fee
        release = order.locked - new_locked
        order.locked = new_locked
        quote.locked -= release
        quote.balance += release - funds - fee
        held = base.balance + base.locked
        average = (held * base.avg_buy_price + funds) / (held + qty)
        base.avg_buy_price = average.quantize(VOLUME_STEP)
        base.balance += qty
    else:
        order.remaining_volume -= qty
        if order.ord_type == "limit":
            order.remaining_fee = order.price * order.remaining_volume * fee_rate
        order.locked = order.remaining_volume
        base.locked -= qty
        quote.balance += funds - fee
