"""REST quotation bodies (``/v1/market/all``, ``/v1/ticker``, ``/v1/orderbook``,
``/v1/orderbook/instruments``, ``/v1/trades/ticks``, ``/v1/candles/minutes/{unit}``).

Pure functions of a :class:`~.market.MarketSimulator` and the raw query values as received
(strings or None). Each returns the JSON body as bytes, numbers spelled like Upbit's REST
(prices ``103460000.0``, sizes plain, int64 ids as integers), or raises
:class:`QuotationError` carrying Upbit's error shape (protocol.md 8.4)::

    {"error":{"name":404,"message":"Code not found"}}

Market codes are accepted in lower case (Upbit REST does; WebSocket does not), and one unknown
code fails the whole call. Runs in: the emulator loop thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import msgspec

from upbit_hub.actors.emulator.market import MarketSimulator
from upbit_hub.actors.emulator.market_catalog import market_info, tick_size
from upbit_hub.actors.emulator.numbers import plain, plain_dot0
from upbit_hub.actors.protocol.errors import UpbitHubError

__all__ = [
    "MSG_INVALID",
    "MSG_MISSING",
    "MSG_NOT_FOUND",
    "MSG_TYPE",
    "QuotationError",
    "candles_minutes",
    "market_all",
    "orderbook_instruments",
    "orderbooks",
    "tickers",
    "trades_ticks",
]

MSG_MISSING: Final = "Missing request parameter error. Check the required parameters!"
MSG_TYPE: Final = "Type mismatch error. Check the parameters type!"
MSG_INVALID: Final = "Invalid parameter. Check the given value!"
MSG_NOT_FOUND: Final = "Code not found"


class QuotationError(UpbitHubError):
    """A quotation request Upbit would refuse: ``status`` (400/404), ``name`` (the integer
    400/404, as Upbit sends it) and ``message`` (Upbit's exact English text)."""

    def __init__(self, status: int, name: int | str, message: str) -> None:
        self.status = status
        self.name = name
        self.message = message
        super().__init__(f"HTTP {status}: {name}: {message}")

    def body(self) -> bytes:
        """The JSON error body: ``{"error":{"name":404,"message":"Code not found"}}``."""
        return msgspec.json.encode({"error": {"name": self.name, "message": self.message}})


def _missing() -> QuotationError:
    return QuotationError(400, 400, MSG_MISSING)


def _type() -> QuotationError:
    return QuotationError(400, 400, MSG_TYPE)


def _invalid() -> QuotationError:
    return QuotationError(400, 400, MSG_INVALID)


def _not_found() -> QuotationError:
    return QuotationError(404, 404, MSG_NOT_FOUND)


_PRICE_KEYS: Final = frozenset(
    {
        "opening_price",
        "high_price",
        "low_price",
        "trade_price",
        "prev_closing_price",
        "change_price",
        "signed_change_price",
        "highest_52_week_price",
        "lowest_52_week_price",
        "ask_price",
        "bid_price",
    }
)


def _spell(value: object, key: str = "") -> object:
    if isinstance(value, Decimal):
        return msgspec.Raw(plain_dot0(value) if key in _PRICE_KEYS else plain(value))
    if isinstance(value, dict):
        return {k: _spell(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_spell(v, key) for v in value]
    return value


def _body(obj: object) -> bytes:
    return msgspec.json.encode(_spell(obj))


def _codes(market: MarketSimulator, raw: str | Sequence[str] | None) -> list[str]:
    if raw is None:
        raise _missing()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    codes = [c.strip().upper() for c in items if c.strip()]
    if not codes:
        raise _missing()
    for c in codes:
        if c not in market.markets:
            raise _not_found()
    return codes


def _one_code(market: MarketSimulator, raw: str | None) -> str:
    codes = _codes(market, raw)
    if len(codes) != 1:
        raise _not_found()
    return codes[0]


def _int(raw: str | int | None, default: int, lo: int, hi: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise _type() from None
    return max(lo, min(value, hi))


def market_all(market: MarketSimulator, is_details: str | bool | None = None) -> bytes:
    """``GET /v1/market/all``: ``[{market, korean_name, english_name[, market_event]}]``, exactly
    the simulated markets; with ``is_details=true`` ``market_event.warning`` is true for the
    markets the emulator was told to flag (``market_warnings``), every caution flag false."""
    details = str(is_details).lower() == "true"
    warned = getattr(market, "warnings", frozenset())
    out = []
    for code in market.markets:
        info = market_info(code)
        item: dict = {
            "market": code,
            "korean_name": info.korean_name,
            "english_name": info.english_name,
        }
        if details:
            item["market_event"] = {
                "warning": code in warned,
                "caution": {
                    "PRICE_FLUCTUATIONS": False,
                    "TRADING_VOLUME_SOARING": False,
                    "DEPOSIT_AMOUNT_SOARING": False,
                    "GLOBAL_PRICE_DIFFERENCES": False,
                    "CONCENTRATION_OF_SMALL_ACCOUNTS": False,
                },
            }
        out.append(item)
    return _body(out)


def tickers(market: MarketSimulator, markets: str | Sequence[str] | None) -> bytes:
    """``GET /v1/ticker?markets=KRW-BTC,KRW-ETH``: one item per code, in request order."""
    return _body([market.ticker_rest(c) for c in _codes(market, markets)])


def orderbooks(
    market: MarketSimulator,
    markets: str | Sequence[str] | None,
    count: str | int | None = None,
    level: str | int | None = None,
) -> bytes:
    """``GET /v1/orderbook?markets=..&count=30&level=0``: ``count`` clamps to 1..30; an
    unsupported level gives ``[]`` (as Upbit does); non-numeric count/level -> 400."""
    codes = _codes(market, markets)
    n = _int(count, 30, 1, 30)
    if level is None or level == "":
        lv: int | Decimal = 0
    else:
        try:
            lv = Decimal(str(level))
        except ArithmeticError:
            raise _type() from None
        if not lv.is_finite():
            raise _type()
        if lv == lv.to_integral_value():
            lv = int(lv)
    out = []
    for c in codes:
        ob = market.orderbook_rest(c, n, lv)  # type: ignore[arg-type]
        if ob is None:
            return _body([])
        out.append(ob)
    return _body(out)


def orderbook_instruments(market: MarketSimulator, markets: str | Sequence[str] | None) -> bytes:
    """``GET /v1/orderbook/instruments``: ``[{market, quote_currency, tick_size,
    supported_levels}]`` (strings, as Upbit sends them)."""
    out = []
    for c in _codes(market, markets):
        info = market_info(c)
        rows = market.book(c)
        # a replayed market has no book before its first recorded one: its last price then
        # (a market with neither is NotReplayedYet from ticker_rest: a 404, never a 500)
        best = rows[0][1] if rows else Decimal(str(market.ticker_rest(c)["trade_price"]))
        tick = _tick_text(c, best)
        out.append(
            {
                "market": c,
                "quote_currency": info.quote,
                "tick_size": tick,
                "supported_levels": [str(x) for x in market.supported_levels(c)],
            }
        )
    return _body(out)


def _tick_text(code: str, price: Decimal) -> str:
    """The tick of ``price`` on ``code`` as Upbit spells it (``"1000"``, ``"0.01"``): the very
    table the exchange checks limit prices against."""
    return plain(tick_size(code, price))


def trades_ticks(
    market: MarketSimulator,
    code: str | None,
    count: str | int | None = None,
    cursor: str | int | None = None,
) -> bytes:
    """``GET /v1/trades/ticks?market=KRW-BTC&count=..&cursor=<sequential_id>``: newest first,
    ``count`` 1..500 (default 1), older than ``cursor``; ``change_price`` signed."""
    c = _one_code(market, code)
    n = _int(count, 1, 1, 500)
    cur = None
    if cursor is not None and cursor != "":
        try:
            cur = int(cursor)
        except (TypeError, ValueError):
            raise _type() from None
    return _body(market.trades(c, n, cur))


_TO_FORMATS: Final = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S")
_TZ_FIX: Final = re.compile(r"([+-]\d\d):(\d\d)$")


def _parse_to(raw: str) -> int:
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    text = _TZ_FIX.sub(r"\1\2", text)
    for fmt in _TO_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)  # Upbit reads a zone-less `to` as UTC
        return int(dt.timestamp() * 1000)
    raise _invalid()


def candles_minutes(
    market: MarketSimulator,
    code: str | None,
    unit: str | int,
    count: str | int | None = None,
    to: str | None = None,
) -> bytes:
    """``GET /v1/candles/minutes/{unit}?market=..&count=..&to=..``: newest first, ``count``
    1..200 (default 1), buckets before ``to`` (ISO 8601; zone-less means UTC). Unknown
    unit -> 400 Invalid parameter."""
    try:
        u = int(unit)
    except (TypeError, ValueError):
        raise _invalid() from None
    if u not in (1, 3, 5, 10, 15, 30, 60, 240):
        raise _invalid()
    c = _one_code(market, code)
    n = _int(count, 1, 1, 200)
    to_ms = _parse_to(to) if to else None
    return _body(market.candles_minutes(c, u, n, to_ms))
