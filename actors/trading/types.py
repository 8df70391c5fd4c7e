"""The values of the order API: requests, updates, fills and the order states. Pure.

An order's life as a plugin sees it (``OrderUpdate.state``)::

    denied                      a risk rule refused it; nothing was sent
    submitted -> wait -> trade* -> done | cancel
              -> rejected       Upbit refused it (4xx; ``reason`` is Upbit's error name)
              -> unknown        sent, but no usable answer yet (timeout, reset, 5xx): resolved
                                only by Upbit's own answer (the private stream or
                                ``GET /v1/order?identifier=``), never by guessing

``client_id`` is sent as Upbit's ``identifier``: unique across all of the account's orders, and
a resend with the same identifier can never create a second order. Final states are
``denied``, ``done``, ``cancel`` and ``rejected``.

Runs in: any thread (immutable values).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal

import msgspec

__all__ = [
    "FINAL_STATES",
    "OPEN_STATES",
    "STATES",
    "Fill",
    "OrdType",
    "OrderRequest",
    "OrderState",
    "OrderUpdate",
    "Side",
]

Side = Literal["bid", "ask"]
OrdType = Literal["limit", "price", "market", "best"]
OrderState = Literal[
    "denied", "submitted", "wait", "trade", "done", "cancel", "rejected", "unknown"
]
STATES: Final[tuple[str, ...]] = (
    "denied", "submitted", "wait", "trade", "done", "cancel", "rejected", "unknown",
)  # fmt: skip
FINAL_STATES: Final[frozenset[str]] = frozenset({"denied", "done", "cancel", "rejected"})
#: States in which an order may still fill (or is not known not to).
OPEN_STATES: Final[frozenset[str]] = frozenset({"submitted", "wait", "trade", "unknown"})


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a component asked for. Amounts are exact Decimals.

    ``price`` is the limit price for ``limit`` orders and the KRW amount to spend for a market
    buy (``ord_type="price"``, or a ``best`` bid); ``volume`` is the base-currency amount
    (``limit``, ``market`` sells, ``best`` asks). ``created_at`` is the hub clock (Unix
    seconds) when the component asked. ``replaces`` names the ``client_id`` of the order this
    one replaces (``replace_order``: Upbit's ``cancel_and_new``).
    """

    client_id: str
    component_id: str
    market: str
    side: Side
    ord_type: OrdType
    price: Decimal | None = None
    volume: Decimal | None = None
    time_in_force: Literal["ioc", "fok", "post_only"] | None = None
    smp_type: Literal["cancel_maker", "cancel_taker", "reduce", "none"] | None = None
    created_at: float = 0.0
    replaces: str | None = None

    @property
    def quote(self) -> str:
        """``KRW`` of ``KRW-BTC``."""
        return self.market.partition("-")[0]

    @property
    def base(self) -> str:
        """``BTC`` of ``KRW-BTC``."""
        return self.market.partition("-")[2]

    @property
    def funds_based(self) -> bool:
        """A market buy by amount (``price``, or a ``best`` bid): ``price`` is the funds."""
        return self.side == "bid" and self.ord_type in ("price", "best")

    def notional(self, mid: Decimal | None = None) -> Decimal | None:
        """The order's value in the quote currency: price*volume (limit), the funds (market
        buy), volume*mid (market sell; None without a mid). Runs in: any thread."""
        if self.funds_based:
            return self.price
        if self.ord_type == "limit" and self.price is not None and self.volume is not None:
            return self.price * self.volume
        if self.volume is not None and mid is not None:
            return self.volume * mid
        return None

    def upbit_params(self) -> dict[str, str]:
        """The ``POST /v1/orders`` body, amounts as plain decimal strings, ``identifier`` =
        ``client_id``. Runs in: any thread."""
        body: dict[str, str] = {"market": self.market, "side": self.side}
        if self.volume is not None:
            body["volume"] = _plain(self.volume)
        if self.price is not None:
            body["price"] = _plain(self.price)
        body["ord_type"] = self.ord_type
        if self.time_in_force is not None:
            body["time_in_force"] = self.time_in_force
        if self.smp_type is not None:
            body["smp_type"] = self.smp_type
        body["identifier"] = self.client_id
        return body


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of an order (``trade_uuid`` is Upbit's; each is delivered once)."""

    trade_uuid: str
    price: Decimal
    volume: Decimal
    funds: Decimal | None = None
    fee: Decimal | None = None
    is_maker: bool | None = None
    timestamp: int | None = None  # Unix ms of the trade


class OrderUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One change of one order, as ``Component.on_order_update`` receives it.

    ``reason``: for ``denied`` the risk rule, naming its ``[trading]`` key (``max_order_krw:
    ...``); for ``rejected`` Upbit's error name; otherwise a short note or None. ``fill`` is
    set on ``trade`` updates. The totals are as after this change.
    """

    client_id: str
    component_id: str
    market: str
    side: Side
    ord_type: OrdType
    state: OrderState
    uuid: str | None = None
    reason: str | None = None
    fill: Fill | None = None
    price: Decimal | None = None
    volume: Decimal | None = None
    remaining_volume: Decimal | None = None
    executed_volume: Decimal = Decimal(0)
    executed_funds: Decimal = Decimal(0)
    paid_fee: Decimal = Decimal(0)
    timestamp: float = 0.0  # hub clock, Unix seconds

    @property
    def final(self) -> bool:
        """True for ``denied``, ``done``, ``cancel`` and ``rejected``."""
        return self.state in FINAL_STATES

    @property
    def avg_price(self) -> Decimal | None:
        """Average fill price so far (None before the first fill)."""
        if not self.executed_volume:
            return None
        return self.executed_funds / self.executed_volume


def _plain(value: Decimal) -> str:
    """``Decimal('1E+7')`` -> ``'10000000'``; no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")
