"""The books of a backtest while it runs: the orders-and-fills ledger and the equity curve.

:class:`Ledger` gets every :class:`~upbit_hub.actors.trading.types.OrderUpdate` the order
manager delivers (what the components see) and keeps one JSON line per order event plus one
``{"type": "fill", ...}`` line per fill; times are simulated (Unix s), money exact decimal
strings, nothing from the wall clock, so the lines are the same for the same inputs. It books
each fill in a :class:`~upbit_hub.actors.trading.risk.PnlTracker` (average cost, net of
fees), the same code the daily-loss rule uses.

:class:`Equity` samples the account: KRW (available + locked) plus every coin held (available
+ locked) at its market's mid price (the latest recorded book; the last trade price while
there is none). Coins held at the start enter the PnL tracker at the price of the first
sample, so that ``equity_end - equity_start == realized + unrealized`` exactly. A coin with
no ``KRW-`` market data in the recording cannot be priced: it is left out of equity and
listed as unpriced.

Runs in: the backtest's thread.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

import msgspec

from upbit_hub.actors.trading.risk import PnlTracker

__all__ = ["Equity", "EquityPoint", "Ledger", "plain"]

_ZERO = Decimal(0)
_PREC = 60
_encode = msgspec.json.Encoder().encode


def plain(value: Decimal | None) -> str | None:
    """``Decimal('1.5E+8')`` -> ``'150000000'``, ``Decimal('24.9750')`` -> ``'24.975'``: exact
    (no context rounding), no exponent, no trailing zeros."""
    if value is None:
        return None
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _t(now: float) -> float:
    return round(now, 6)


class Ledger:
    """Order events and fills as JSON lines, with counts, fees and realized PnL.
    ``on_fill(market)`` is called before a fill is booked (the equity curve's first sample
    and the seeding of starting coins happen there)."""

    def __init__(self, on_fill: Any = None) -> None:
        self.lines: list[bytes] = []
        self.pnl = PnlTracker()
        self.fees: dict[str, Decimal] = {}
        self.orders: set[str] = set()
        self.finals: dict[str, str] = {}
        self.fills = 0
        self._on_fill = on_fill

    def on_update(self, update: Any) -> None:
        """One update as the manager delivered it."""
        self.orders.add(update.client_id)
        if update.final:
            self.finals[update.client_id] = update.state
        row = {
            "type": "order",
            "time": _t(update.timestamp),
            "component_id": update.component_id,
            "client_id": update.client_id,
            "uuid": update.uuid,
            "market": update.market,
            "side": update.side,
            "ord_type": update.ord_type,
            "state": update.state,
            "price": plain(update.price),
            "volume": plain(update.volume),
            "remaining_volume": plain(update.remaining_volume),
            "executed_volume": plain(update.executed_volume),
            "executed_funds": plain(update.executed_funds),
            "paid_fee": plain(update.paid_fee),
            "reason": update.reason,
        }
        self.lines.append(_encode(row) + b"\n")
        fill = update.fill
        if fill is None:
            return
        if self._on_fill is not None:
            self._on_fill(update.market)
        fee = fill.fee or _ZERO
        funds = fill.funds if fill.funds is not None else fill.price * fill.volume
        quote = update.market.partition("-")[0]
        self.fees[quote] = self.fees.get(quote, _ZERO) + fee
        self.fills += 1
        realized = self.pnl.on_fill(update.market, update.side, fill.price, fill.volume, fee)
        row = {
            "type": "fill",
            "time": _t(update.timestamp),
            "component_id": update.component_id,
            "client_id": update.client_id,
            "uuid": update.uuid,
            "trade_uuid": fill.trade_uuid,
            "market": update.market,
            "side": update.side,
            "price": plain(fill.price),
            "volume": plain(fill.volume),
            "funds": plain(funds),
            "fee": plain(fee),
            "is_maker": fill.is_maker,
            "realized_pnl": plain(realized),
        }
        self.lines.append(_encode(row) + b"\n")

    def count(self, state: str) -> int:
        """Orders whose final state is ``state`` (``done``, ``cancel``, ``denied``...)."""
        return sum(1 for s in self.finals.values() if s == state)


class EquityPoint(msgspec.Struct, frozen=True):
    """One sample: simulated time, equity and KRW (available + locked), and the drawdown
    from the highest equity so far (all KRW)."""

    time: float
    equity: Decimal
    cash: Decimal
    drawdown: Decimal


class Equity:
    """The equity curve (see the module docstring). ``balances()`` -> ``{currency: Balance}``
    of the simulated exchange; ``price(market)`` -> the mark price or None."""

    def __init__(self, balances: Any, price: Any, pnl: PnlTracker,
                 start_balances: dict[str, Decimal]) -> None:
        self._balances = balances
        self._price = price
        self._pnl = pnl
        self._start = dict(start_balances)
        self.points: list[EquityPoint] = []
        self.peak: Decimal | None = None
        self.max_drawdown = _ZERO
        self.max_drawdown_pct = _ZERO
        self.unpriced: set[str] = set()
        self.started = False
        self._held: dict[str, Decimal] | None = None  # currency -> balance + locked

    def changed(self) -> None:
        """The exchange's balances changed (read them again at the next sample)."""
        self._held = None

    def start(self, now: float) -> None:
        """Seed the starting coins at their current price and record the first point, the
        account as it started (once, before the first fill)."""
        if self.started:
            return
        self.started = True
        with localcontext() as ctx:
            ctx.prec = _PREC
            cash = self._start.get("KRW", _ZERO)
            total = cash
            for currency, amount in sorted(self._start.items()):
                if currency == "KRW" or amount <= 0:
                    continue
                market = f"KRW-{currency}"
                price = self._price(market)
                if price is None:
                    self.unpriced.add(currency)
                    continue
                self._pnl.seed(market, amount, price)
                total += amount * price
        self.peak = total
        self.points.append(EquityPoint(_t(now), total, cash, _ZERO))

    def sample(self, now: float) -> EquityPoint:
        """Value the account now and append the point (the first call records the start)."""
        if not self.started:
            self.start(now)
            return self.points[-1]
        with localcontext() as ctx:
            ctx.prec = _PREC
            cash = _ZERO
            total = _ZERO
            if self._held is None:
                self._held = {c: b.balance + b.locked
                              for c, b in sorted(self._balances().items())}  # fmt: skip
            for currency, held in self._held.items():
                if currency == "KRW":
                    cash = held
                    total += held
                    continue
                if held == 0:
                    continue
                price = self._price(f"KRW-{currency}")
                if price is None:
                    self.unpriced.add(currency)
                    continue
                total += held * price
            if self.peak is None or total > self.peak:
                self.peak = total
            drawdown = self.peak - total
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown
                self.max_drawdown_pct = drawdown / self.peak * 100 if self.peak else _ZERO
        point = EquityPoint(_t(now), total, cash, drawdown)
        self.points.append(point)
        return point

    def unrealized(self) -> tuple[Decimal, list[str]]:
        """(unrealized PnL in KRW of the tracked positions at the latest prices, markets with
        a position but no price)."""
        out, missing = _ZERO, []
        markets = {f"KRW-{c}" for c in self._balances() if c != "KRW"}
        with localcontext() as ctx:
            ctx.prec = _PREC
            for market in sorted(markets):
                held, avg = self._pnl.position(market)
                if held <= 0:
                    continue
                price = self._price(market)
                if price is None:
                    missing.append(market)
                    continue
                out += (price - avg) * held
        return out, missing
