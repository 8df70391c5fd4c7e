"""LatestBooks: the emulator's ``BookSource`` fed with real order books, recorded or live.

:class:`~upbit_hub.actors.emulator.exchange.Exchange` matches against a *book source*: a
``markets`` tuple and ``book(code) -> [(ask_price, bid_price, ask_size, bid_size), ...]``
(best first). The emulator's market simulator is one; this is the other: it holds the latest
:class:`~upbit_hub.actors.protocol.events.OrderbookEvent` of each market and answers from it.
A backtest feeds it the recorded books; paper trading feeds it the live stream's books::

    books = LatestBooks(["KRW-BTC"])
    books.update(orderbook_event)              # replaces that market's book (never merges)
    books.book("KRW-BTC")[0]                   # (ask, bid, ask_size, bid_size) of the best level
    books.top("KRW-BTC")                       # (best bid, best ask)
    books.mid("KRW-BTC")

A market not known yet is added by its first book (``markets`` grows); a market without a book
answers ``[]`` (nothing to fill against). The rows are built on first use after an update, so
a replay that never matches pays nothing for books it only passes by.

Runs in: one thread at a time (not thread-safe): the backtest's thread, or whoever holds the
:class:`~upbit_hub.actors.trading.venue_sim.SimVenue` lock in paper trading (feed it through
``venue.market_data(lambda: books.update(ev), now_ms)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

__all__ = ["BookRow", "LatestBooks"]

BookRow = tuple[Decimal, Decimal, Decimal, Decimal]  # (ask_price, bid_price, ask_size, bid_size)

_ZERO = Decimal(0)


class LatestBooks:
    """A ``BookSource`` of the latest order book per market (see the module docstring)."""

    def __init__(self, markets: Iterable[str] = ()) -> None:
        self.markets: tuple[str, ...] = tuple(sorted(set(markets)))
        self._events: dict[str, Any] = {}
        self._rows: dict[str, list[BookRow]] = {}
        self.updates = 0

    def update(self, ev: Any) -> None:
        """Take ``ev`` (an ``OrderbookEvent``) as its market's whole book."""
        code = ev.code
        if code not in self._events and code not in self.markets:
            self.markets = tuple(sorted((*self.markets, code)))
        self._events[code] = ev
        self._rows.pop(code, None)
        self.updates += 1

    def add_market(self, code: str) -> None:
        """Make ``code`` a market of this source before its first book arrives."""
        if code not in self.markets:
            self.markets = tuple(sorted((*self.markets, code)))

    def book(self, code: str) -> list[BookRow]:
        """The current levels of ``code``, best first (``[]`` before its first book)."""
        rows = self._rows.get(code)
        if rows is None:
            ev = self._events.get(code)
            if ev is None:
                return []
            rows = self._rows[code] = [
                (u.ask_price or _ZERO, u.bid_price or _ZERO, u.ask_size or _ZERO,
                 u.bid_size or _ZERO)
                for u in ev.orderbook_units or ()
            ]  # fmt: skip
        return rows

    def event(self, code: str) -> Any:
        """The latest ``OrderbookEvent`` of ``code`` (None before its first)."""
        return self._events.get(code)

    def top(self, code: str) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask) of ``code``; None for an empty side."""
        ev = self._events.get(code)
        units = ev.orderbook_units if ev is not None else None
        if not units:
            return None, None
        best = units[0]
        bid = best.bid_price if best.bid_price and best.bid_size else None
        ask = best.ask_price if best.ask_price and best.ask_size else None
        return bid, ask

    def mid(self, code: str) -> Decimal | None:
        """(best bid + best ask) / 2, or the one side there is, or None."""
        bid, ask = self.top(code)
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask
