"""Realized PnL from fills (average cost per market, net of fees): the daily-loss rule and the
backtest report count money the same way. Pure.

Runs in: the caller's thread (the order manager's, or the backtest's).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Final

from upbit_hub.actors.protocol import trading_rules as tr

__all__ = ["PnlTracker"]

_ZERO: Final = Decimal(0)
_PREC: Final = 60  # significant digits for money arithmetic (as in risk.py)


class PnlTracker:
    """Realized PnL per quote currency from fills, at average cost per market, net of fees.

    A buy adds to the market's position at its price; a sell realizes ``(price - average
    cost) * volume``. Every fee (in the quote currency, as Upbit charges it) counts against
    realized PnL when paid. Selling more than the tracked position (coins held before
    tracking began: see :meth:`seed`) realizes no gain on the excess. The day's figure
    resets when ``now`` (Unix s) enters a new UTC day (00:00 UTC = 09:00 KST)::

        >>> pnl = PnlTracker()
        >>> pnl.on_fill("KRW-BTC", "bid", Decimal("100"), Decimal("2"), Decimal("0.1"), now=0)
        Decimal('-0.1')
        >>> pnl.on_fill("KRW-BTC", "ask", Decimal("110"), Decimal("2"), Decimal("0.11"), now=1)
        Decimal('19.89')
        >>> pnl.realized("KRW", now=2), pnl.realized("KRW", now=86_400), pnl.total("KRW")
        (Decimal('19.79'), Decimal('0'), Decimal('19.79'))

    Exact Decimals: a partial sell's cost share is computed at 60 digits and the rest of the
    cost stays with the position, so a full round trip realizes exactly. Runs in: its
    owner's thread (not thread-safe).
    """

    def __init__(self) -> None:
        self._pos: dict[str, tuple[Decimal, Decimal]] = {}  # market -> (volume, cost)
        self._total: dict[str, Decimal] = {}
        self._today: dict[str, Decimal] = {}
        self._day: int | None = None

    def roll(self, now: float) -> None:
        """Start a new day's figure if ``now`` is in a later UTC day than the last seen."""
        day = int(now // 86_400)
        if self._day is None or day > self._day:
            self._day, self._today = day, {}

    def seed(self, market: str, volume: Decimal, avg_price: Decimal) -> None:
        """Set a position held before tracking began (Upbit's ``avg_buy_price``)."""
        self._pos[market] = (volume, volume * avg_price)

    def on_fill(self, market: str, side: str, price: Decimal, volume: Decimal,
                fee: Decimal = _ZERO, now: float | None = None) -> Decimal:  # fmt: skip
        """Book one fill; returns the PnL it realized (net of its fee). ``now`` rolls the day
        first. Raises ValueError for a bad side, market or negative amount."""
        if side not in tr.SIDES:
            raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")
        if min(price, volume, fee) < 0:
            raise ValueError(f"price, volume and fee must be >= 0, got {price}, {volume}, {fee}")
        quote = tr.quote_currency(market)
        if now is not None:
            self.roll(now)
        held, cost = self._pos.get(market, (_ZERO, _ZERO))
        with localcontext() as ctx:
            ctx.prec = _PREC
            if side == "bid":
                held, cost, gain = held + volume, cost + price * volume, _ZERO
            else:
                sold = min(volume, held)
                out = cost if sold == held else cost * sold / held
                held, cost, gain = held - sold, cost - out, price * sold - out
            pnl = gain - fee
        self._pos[market] = (held, cost)
        self._total[quote] = self._total.get(quote, _ZERO) + pnl
        self._today[quote] = self._today.get(quote, _ZERO) + pnl
        return pnl

    def realized(self, quote: str = "KRW", now: float | None = None) -> Decimal:
        """Today's realized PnL in ``quote`` (``now`` rolls the day first)."""
        if now is not None:
            self.roll(now)
        return self._today.get(quote, _ZERO)

    def total(self, quote: str = "KRW") -> Decimal:
        """Realized PnL in ``quote`` since tracking began."""
        return self._total.get(quote, _ZERO)

    def position(self, market: str) -> tuple[Decimal, Decimal]:
        """(volume, average cost) of the tracked position in ``market``."""
        held, cost = self._pos.get(market, (_ZERO, _ZERO))
        with localcontext() as ctx:
            ctx.prec = _PREC
            return held, (cost / held if held else _ZERO)
