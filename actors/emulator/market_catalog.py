"""Static facts about the emulated markets: tick sizes, start prices, names, grouping levels.

Prices inside the simulator are integers in units of 1e-8 of the quote currency (``SCALE``), so
the stepped KRW tick table (protocol.md 9: 1,000 KRW at >= 1,000,000 down to 1e-8; defined once
in ``upbit_hub.actors.protocol.trading_rules``) works on plain ints. Everything here is a pure
function of the market code, so the renderer and the REST layer agree with the simulator
without holding a reference to it.

Runs in: any thread (pure data and functions).
"""

from __future__ import annotations

import datetime as _dt
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from upbit_hub.actors.protocol.trading_rules import BTC_TICKS, KRW_TICKS, USDT_TICKS

__all__ = [
    "BUSY_MARKETS",
    "DEFAULT_MARKETS",
    "SCALE",
    "MarketInfo",
    "delisting_start_ms",
    "market_info",
    "supported_levels",
    "tick_down",
    "tick_size",
    "tick_up",
]

SCALE: Final[int] = 100_000_000  # 1e8: prices and sizes are ints in units of 1e-8
_KST: Final = _dt.timezone(_dt.timedelta(hours=9))

DEFAULT_MARKETS: Final[tuple[str, ...]] = (
    "KRW-BTC",
    "KRW-ETH",
    "KRW-XRP",
    "KRW-SOL",
    "KRW-DOGE",
    "KRW-ADA",
)

#: Markets whose orderbook is published on the 100 ms grid (others every 300 ms).
BUSY_MARKETS: Final[frozenset[str]] = frozenset({"KRW-BTC", "KRW-ETH", "BTC-ETH", "USDT-BTC"})

# code -> (start price, korean name, english name, typical trade notional in quote currency)
_KNOWN: Final[dict[str, tuple[str, str, str, str]]] = {
    "KRW-BTC": ("150000000", "비트코인", "Bitcoin", "400000"),
    "KRW-ETH": ("5000000", "이더리움", "Ethereum", "300000"),
    "KRW-XRP": ("3000", "엑스알피(리플)", "XRP", "200000"),
    "KRW-SOL": ("250000", "솔라나", "Solana", "200000"),
    "KRW-DOGE": ("300", "도지코인", "Dogecoin", "150000"),
    "KRW-ADA": ("1000", "에이다", "Cardano", "150000"),
    "KRW-USDT": ("1400", "테더", "Tether", "500000"),
    "BTC-ETH": ("0.033", "이더리움", "Ethereum", "0.003"),
    "BTC-XRP": ("0.00002", "엑스알피(리플)", "XRP", "0.002"),
    "USDT-BTC": ("105000", "비트코인", "Bitcoin", "300"),
}

def _units(table: tuple[tuple[Decimal, Decimal], ...]) -> tuple[tuple[int, int], ...]:
    """A :mod:`~upbit_hub.actors.protocol.trading_rules` tick table in 1e-8 units."""
    return tuple((int(lo * SCALE), int(tick * SCALE)) for lo, tick in table)


# Tick tables (lower bound of the price band, tick) in 1e-8 units, highest band first. The one
# source is trading_rules, which the exchange's tick check and the hub's risk checks use too.
_KRW_TICKS: Final[tuple[tuple[int, int], ...]] = _units(KRW_TICKS)
_USDT_TICKS: Final[tuple[tuple[int, int], ...]] = _units(USDT_TICKS)
_FLAT_TICKS: Final[tuple[tuple[int, int], ...]] = _units(BTC_TICKS)  # BTC-* markets: 1e-8


@dataclass(frozen=True)
class MarketInfo:
    """Static description of one market (all prices in 1e-8 units unless Decimal)."""

    code: str
    quote: str
    base: str
    korean_name: str
    english_name: str
    start_price: int
    notional: int  # typical trade value in 1e-8 quote units
    busy: bool
    book_interval_ms: int
    ticks: tuple[tuple[int, int], ...]
    levels: tuple[int, ...]  # supported orderbook grouping levels (0 = native tick)


def _tick_in(table: tuple[tuple[int, int], ...], price: int) -> int:
    for lo, tick in table:
        if price >= lo:
            return tick
    return table[-1][1]


def tick_up(info: MarketInfo, price: int) -> int:
    """Tick to add to ``price`` to reach the next valid price above it (1e-8 units)."""
    return _tick_in(info.ticks, price)


def tick_down(info: MarketInfo, price: int) -> int:
    """Tick to subtract from ``price`` to reach the next valid price below it (1e-8 units)."""
    return _tick_in(info.ticks, price - 1)


def tick_size(code: str, price: Decimal) -> Decimal:
    """The tick of ``price``'s band on ``code`` (Decimal): what a limit price must be a multiple
    of and what ``/v1/orderbook/instruments`` reports. Same tables as
    ``trading_rules.tick_size``; quote currencies Upbit does not have tick 1e-8.

    >>> tick_size("KRW-BTC", Decimal("150000000")), tick_size("KRW-XRP", Decimal("3000"))
    (Decimal('1000'), Decimal('1'))
    """
    tick = Decimal(_tick_in(market_info(code).ticks, int(price * SCALE))).scaleb(-8)
    return tick.quantize(Decimal(1)) if tick >= 1 else tick.normalize()


def _round_to_tick(table: tuple[tuple[int, int], ...], price: int) -> int:
    tick = _tick_in(table, price)
    return max(tick, price - price % tick)


_CACHE: dict[str, MarketInfo] = {}


def market_info(code: str) -> MarketInfo:
    """Describe ``code`` (``QUOTE-BASE``, upper case); unknown codes get derived, stable values.

    Raises ValueError for a code that is not ``QUOTE-BASE``.
    """
    info = _CACHE.get(code)
    if info is not None:
        return info
    quote, sep, base = code.partition("-")
    if not sep or not quote or not base or code != code.upper():
        raise ValueError(f"market code must look like 'KRW-BTC', got {code!r}")
    known = _KNOWN.get(code)
    if known is not None:
        start, kname, ename, notional = known
    else:
        h = zlib.crc32(code.encode())
        if quote == "KRW":
            start = str((1 + h % 9) * 10 ** (2 + (h >> 4) % 5))
            notional = "200000"
        elif quote == "BTC":
            start = str(Decimal(1 + h % 9) * Decimal(10) ** -(4 + (h >> 4) % 3))
            notional = "0.002"
        else:
            start = str((1 + h % 9) * 10 ** ((h >> 4) % 4))
            notional = "200"
        kname, ename = base, base
    table = _KRW_TICKS if quote == "KRW" else _USDT_TICKS if quote == "USDT" else _FLAT_TICKS
    start_i = _round_to_tick(table, int(Decimal(start) * SCALE))
    native = _tick_in(table, start_i)
    levels: tuple[int, ...] = (0,)
    if quote == "KRW":
        ups = [native * 10**k for k in (1, 2, 3)]
        levels = (0, *(u // SCALE for u in ups if u % SCALE == 0))
    info = MarketInfo(
        code=code,
        quote=quote,
        base=base,
        korean_name=kname,
        english_name=ename,
        start_price=start_i,
        notional=int(Decimal(notional) * SCALE),
        busy=code in BUSY_MARKETS,
        book_interval_ms=100 if code in BUSY_MARKETS else 300,
        ticks=table,
        levels=levels,
    )
    _CACHE[code] = info
    return info


def delisting_start_ms(code: str, date: str) -> int:
    """Unix ms at which the delisting day ``date`` (``YYYY-MM-DD``, KST) of ``code`` starts.

    Raises ValueError for another format.
    """
    try:
        day = _dt.date.fromisoformat(date)
    except (TypeError, ValueError):
        raise ValueError(f"delisting date of {code} must be YYYY-MM-DD, got {date!r}") from None
    if day.isoformat() != date:
        raise ValueError(f"delisting date of {code} must be YYYY-MM-DD, got {date!r}")
    start = _dt.datetime(day.year, day.month, day.day, tzinfo=_KST)
    return int(start.timestamp() * 1000)


def supported_levels(code: str) -> tuple[int, ...]:
    """Orderbook grouping levels for ``code``: ``(0, 10000, 100000, 1000000)`` for KRW-BTC;
    ``(0,)`` for BTC/USDT markets (Upbit groups KRW markets only)."""
    return market_info(code).levels
