"""The exchange's view of the simulated order book: levels minus what our orders already took.

Our orders never change the market simulator's public book, so without bookkeeping a level
could fill the same resting size again and again. :class:`Liquidity` remembers how much of each
(market, side, price) level our fills took and forgets it ``replenish_ms`` after the last take,
as if the book had refilled.

Runs in: the emulator loop thread (plain synchronous object).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

__all__ = ["Level", "Liquidity"]

Level = tuple[Decimal, Decimal]  # (price, size still available to our orders)
BookRow = tuple[Decimal, Decimal, Decimal, Decimal]  # (ask_price, bid_price, ask_size, bid_size)


class Liquidity:
    """Available size per level for our orders. Runs in: the emulator loop thread."""

    def __init__(self, book: Callable[[str], Sequence[BookRow]], replenish_ms: int) -> None:
        self._book = book
        self._replenish_ms = replenish_ms
        self._taken: dict[tuple[str, str, Decimal], list] = {}  # key -> [amount, last_ms]

    def levels(self, market: str, side: str, rows: Sequence[BookRow] | None = None) -> list[Level]:
        """(price, available) of the ``ask`` or ``bid`` side, best first; zero slots dropped.

        ``rows`` reuses a book already fetched this tick. Runs in: the emulator loop thread.
        """
        out: list[Level] = []
        for ask_price, bid_price, ask_size, bid_size in (
            self._book(market) if rows is None else rows
        ):
            price, size = (ask_price, ask_size) if side == "ask" else (bid_price, bid_size)
            if price > 0 and size > 0:
                taken = self._taken.get((market, side, price))
                out.append((price, size - taken[0] if taken else size))
        return out

    def take(self, market: str, side: str, price: Decimal, qty: Decimal, now_ms: int) -> None:
        """Record that a fill took ``qty`` from a level. Runs in: the emulator loop thread."""
        entry = self._taken.setdefault((market, side, price), [Decimal(0), now_ms])
        entry[0] += qty
        entry[1] = now_ms

    def expire(self, now_ms: int) -> None:
        """Forget takes older than ``replenish_ms``. Runs in: the emulator loop thread."""
        if self._taken:
            horizon = now_ms - self._replenish_ms
            for key in [k for k, (_, at) in self._taken.items() if at <= horizon]:
                del self._taken[key]
