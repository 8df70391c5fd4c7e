"""``quote-trader``: keeps one bid below and one ask above the mid price of a market.

A small, complete strategy written the way we want users to write theirs: it only watches
(an order book), decides on a timer, and trades through the order API; everything it cannot
know (its fills, a denial by a risk rule, Upbit's rejection) arrives in ``on_order_update``.

Config (``[components.params]``)::

    [[components]]
    plugin = "quote-trader"
    id = "maker"
    [components.params]
    market = "KRW-BTC"
    spread_bps = 20.0          # each quote this far from the mid (basis points)
    order_krw = "10000"        # size of each quote in KRW (Upbit's minimum is 5,000)
    requote_bps = 10.0         # move a quote once the mid moved this far from where it was
    refresh_s = 2.0            # how often to look at the quotes
    max_position_krw = "100000"  # stop buying above this holding (asks need the coin)

Every ``refresh_s`` it places a missing quote (rounded onto Upbit's price ticks, bids down,
asks up) and moves a stale one with ``replace_order`` (Upbit's ``cancel_and_new``). Its
position and realized result are kept from its own fills, each counted once. ``on_stop``
cancels what is still open.

Runs in: the component's thread (every method but ``status_lines``).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

import msgspec

from upbit_hub.actors.protocol.events import OrderbookEvent
from upbit_hub.actors.protocol.trading_rules import VOLUME_STEP, round_to_tick
from upbit_hub.plugins.sdk import Component, Context

__all__ = ["QuoteTrader", "QuoteTraderConfig"]

MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")]
Positive = Annotated[float, msgspec.Meta(gt=0.0, le=10_000.0)]


class QuoteTraderConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[components.params]`` of quote-trader (amounts as strings keep them exact)."""

    market: MarketCode = "KRW-BTC"
    spread_bps: Positive = 20.0
    order_krw: Decimal = Decimal(10_000)
    requote_bps: Positive = 10.0
    refresh_s: Annotated[float, msgspec.Meta(ge=0.1, le=3600.0)] = 2.0
    max_position_krw: Decimal = Decimal(100_000)

    def __post_init__(self) -> None:
        if self.order_krw < 5000:
            raise ValueError(f"order_krw: {self.order_krw} is below Upbit's 5,000 KRW minimum")


class QuoteTrader(Component):
    """See the module docstring."""

    name = "quote-trader"
    Config = QuoteTraderConfig

    def on_start(self, ctx: Context) -> None:
        self.ctx = ctx
        self.mid: Decimal | None = None
        self.quotes: dict[str, Any] = {}  # side -> OrderHandle
        self.quoted_at: dict[str, Decimal] = {}  # side -> the mid it was placed at
        self.position = Decimal(0)  # base currency bought minus sold
        self.cash = Decimal(0)  # quote currency received minus paid, fees included
        self.fills = 0
        self.last_problem = ""
        ctx.subscribe_orderbook([self.config.market], depth=1)
        ctx.every(self.config.refresh_s, self.requote)

    def on_orderbook(self, ev: OrderbookEvent) -> None:
        top = ev.orderbook_units[0] if ev.orderbook_units else None
        if top is not None and top.bid_price and top.ask_price:
            self.mid = (top.bid_price + top.ask_price) / 2

    def requote(self) -> None:
        """Place missing quotes, move stale ones. Runs on the component's timer."""
        if self.mid is None:
            return
        for side in ("bid", "ask"):
            handle = self.quotes.get(side)
            if handle is not None and not handle.is_open:
                del self.quotes[side]  # filled, cancelled or refused: quote again
                handle = None
            if handle is None:
                if self._allowed(side):
                    self._place(side)
            elif handle.state in ("wait", "trade") and self._stale(side):
                price = self._price(side)
                self.quotes[side] = self.ctx.replace_order(handle, price=price,
                                                           volume=self._volume(price))
                self.quoted_at[side] = self.mid

    def on_order_update(self, update: Any) -> None:
        if update.fill is not None:
            f = update.fill
            funds = f.funds if f.funds is not None else f.price * f.volume
            fee = f.fee or Decimal(0)
            self.fills += 1
            if update.side == "bid":
                self.position += f.volume
                self.cash -= funds + fee
            else:
                self.position -= f.volume
                self.cash += funds - fee
            self.ctx.logger.info("%s filled %s @ %s (position %s)", update.side, f.volume,
                                 f.price, self.position)  # fmt: skip
        if update.state in ("denied", "rejected"):
            self.last_problem = f"{update.state}: {update.reason}"
            self.ctx.logger.warning("quote %s %s: %s", update.side, update.state, update.reason)

    def on_stop(self) -> None:
        self.ctx.cancel_all(self.config.market)

    def status_lines(self) -> list[str]:
        mid = f"{self.mid:,.0f}" if self.mid is not None else "-"
        quotes = ", ".join(f"{s} {h.request.price:,} {h.state}" for s, h in
                           list(self.quotes.items())) or "-"  # fmt: skip
        return [f"{self.config.market} mid {mid}  quotes {quotes}",
                f"position {self.position}  cash {self.cash:,.0f} KRW  fills {self.fills}  "
                f"{self.last_problem}"]  # fmt: skip

    # -- helpers -------------------------------------------------------------------------

    def _allowed(self, side: str) -> bool:
        assert self.mid is not None
        held = self.position * self.mid
        if side == "bid":
            return held + self.config.order_krw <= self.config.max_position_krw
        base = self.config.market.partition("-")[2]
        return self.ctx.balance(base) >= self._volume(self._price("ask"))

    def _place(self, side: str) -> None:
        price = self._price(side)
        volume = self._volume(price)
        c = self.ctx
        self.quotes[side] = (c.buy_limit if side == "bid" else c.sell_limit)(
            self.config.market, price, volume)
        assert self.mid is not None
        self.quoted_at[side] = self.mid

    def _price(self, side: str) -> Decimal:
        assert self.mid is not None
        offset = self.mid * Decimal(str(self.config.spread_bps)) / 10_000
        raw = self.mid - offset if side == "bid" else self.mid + offset
        return round_to_tick(self.config.market, raw, "down" if side == "bid" else "up")

    def _volume(self, price: Decimal) -> Decimal:
        return (self.config.order_krw / price).quantize(VOLUME_STEP, rounding=ROUND_DOWN) \
            + VOLUME_STEP  # the rounding must not take the total below the minimum

    def _stale(self, side: str) -> bool:
        assert self.mid is not None
        was = self.quoted_at.get(side)
        if was is None:
            return True
        return abs(self.mid - was) / was * 10_000 >= Decimal(str(self.config.requote_bps))
