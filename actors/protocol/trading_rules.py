"""Upbit's order rules as data and pure functions: one source for the emulator and the hub.

The emulator's exchange validates orders with these, and the hub's risk checks use the very
same values, so a check that passes locally passes on Upbit (docs and changelog as of 2026-11;
protocol.md 7.2, 8.3, 8.4, 9).

Tick sizes (호가 단위) depend on the quote currency and on the price band::

    >>> tick_size("KRW-BTC", Decimal("150000000")), tick_size("KRW-XRP", "3000")
    (Decimal('1000'), Decimal('1'))
    >>> on_tick("KRW-BTC", "150000500"), round_to_tick("KRW-BTC", "150000500", "down")
    (False, Decimal('150000000'))
    >>> tick_size("BTC-ETH", "0.033"), tick_size("USDT-BTC", "105000")
    (Decimal('1E-8'), Decimal('0.01'))

Order totals: at least :data:`MIN_TOTAL` of the quote currency (5,000 KRW), at most
:data:`MAX_TOTAL` (1,000,000,000 KRW); volumes have at most 8 decimals. Since 2026-11-09 an
order without ``smp_type`` gets ``cancel_maker``, except a ``post_only`` order, which gets
``none`` and may not name any other SMP type (:func:`effective_smp_type`).

REST rate-limit groups (per pocket for exchange groups, per IP for quotation groups), as
``(requests, window seconds)``: ``order`` 12/s (8/s before 2026-08-21), ``order-test`` 8/s,
``default`` 30/s, ``order-cancel-all`` 1 per 2 s, quotation groups 10/s
(:data:`REST_GROUP_LIMITS`, :data:`ENDPOINT_GROUPS`).

Pure: imports nothing of ours and does no I/O. Runs in: any thread.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, Literal

__all__ = [
    "ASK_TYPES",
    "BATCH_CANCEL_DEFAULT_COUNT",
    "BATCH_CANCEL_MAX_COUNT",
    "BATCH_CANCEL_MAX_PAIRS",
    "BID_TYPES",
    "BTC_TICKS",
    "CANCEL_SIDES",
    "DEFAULT_FEE_RATE",
    "DEFAULT_SMP_TYPE",
    "ENDPOINT_GROUPS",
    "INSUFFICIENT_FUNDS_ASK",
    "INSUFFICIENT_FUNDS_BID",
    "INVALID_FUNDS",
    "INVALID_PRICE_ASK",
    "INVALID_PRICE_BID",
    "INVALID_VOLUME_ASK",
    "INVALID_VOLUME_BID",
    "KRW_TICKS",
    "MAX_TOTAL",
    "MIN_TOTAL",
    "ORDER_ERROR_NAMES",
    "ORDER_NOT_FOUND",
    "ORDER_TYPES",
    "QUOTATION_GROUPS",
    "REMAIN_ONLY",
    "REST_GROUP_LIMITS",
    "SIDES",
    "SMP_TYPES",
    "TICK_TABLES",
    "TIME_IN_FORCE",
    "UNDER_MIN_TOTAL_ASK",
    "UNDER_MIN_TOTAL_BID",
    "USDT_TICKS",
    "VALIDATION_ERROR",
    "VOLUME_DECIMALS",
    "VOLUME_STEP",
    "effective_smp_type",
    "floor_volume",
    "insufficient_funds_error",
    "invalid_price_error",
    "invalid_volume_error",
    "max_total",
    "min_total",
    "on_tick",
    "quote_currency",
    "round_to_tick",
    "tick_size",
    "tick_table",
    "under_min_total_error",
    "volume_ok",
]

Side = Literal["bid", "ask"]
TickTable = tuple[tuple[Decimal, Decimal], ...]


def _table(*rows: tuple[str, str]) -> TickTable:
    return tuple((Decimal(lo), Decimal(tick)) for lo, tick in rows)


# -- tick sizes --------------------------------------------------------------------------------

#: KRW market: (lower bound of the price band, tick), highest band first. Bands with the same
#: tick are merged (2,000,000 and up and 1,000,000-2,000,000 both tick 1,000).
KRW_TICKS: Final[TickTable] = _table(
    ("1000000", "1000"),
    ("500000", "500"),
    ("100000", "100"),
    ("50000", "50"),
    ("10000", "10"),
    ("5000", "5"),
    ("100", "1"),
    ("10", "0.1"),
    ("1", "0.01"),
    ("0.1", "0.001"),
    ("0.01", "0.0001"),
    ("0.001", "0.00001"),
    ("0.0001", "0.000001"),
    ("0.00001", "0.0000001"),
    ("0", "0.00000001"),
)
#: USDT market (USDT-BTC ticks 0.01 at ~105,000 USDT).
USDT_TICKS: Final[TickTable] = _table(
    ("10000", "0.01"), ("100", "0.001"), ("1", "0.0001"), ("0", "0.00000001")
)
#: BTC market: one tick, 1e-8 BTC, at every price.
BTC_TICKS: Final[TickTable] = _table(("0", "0.00000001"))
#: Tick table per quote currency.
TICK_TABLES: Final[dict[str, TickTable]] = {"KRW": KRW_TICKS, "BTC": BTC_TICKS, "USDT": USDT_TICKS}

_RoundDirection = Literal["down", "up", "nearest"]
_ROUNDING: Final = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}


def quote_currency(market: str) -> str:
    """The quote currency of a ``QUOTE-BASE`` code: ``quote_currency("KRW-BTC") == "KRW"``.

    Raises ValueError for a code that is not ``QUOTE-BASE``.
    """
    quote, sep, base = market.partition("-")
    if not sep or not quote or not base:
        raise ValueError(f"market code must look like 'KRW-BTC', got {market!r}")
    return quote.upper()


def tick_table(market: str) -> TickTable:
    """The tick table of ``market`` (``KRW-BTC``) or of a bare quote currency (``KRW``).

    >>> tick_table("KRW")[0]
    (Decimal('1000000'), Decimal('1000'))

    Raises ValueError for a quote currency Upbit has no market for.
    """
    quote = market.upper() if "-" not in market else quote_currency(market)
    table = TICK_TABLES.get(quote)
    if table is None:
        raise ValueError(f"no tick table for quote currency {quote!r}; one of KRW, BTC, USDT")
    return table


def _dec(value: Decimal | int | str, what: str = "price") -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def tick_size(market: str, price: Decimal | int | str) -> Decimal:
    """The tick of the price band ``price`` falls in.

    >>> tick_size("KRW-ETH", "999500"), tick_size("KRW-ETH", "1000000")
    (Decimal('500'), Decimal('1000'))

    Raises ValueError for a negative or non-numeric price.
    """
    number = _dec(price)
    if number < 0:
        raise ValueError(f"price must be >= 0, got {price!r}")
    for low, tick in tick_table(market):
        if number >= low:
            return tick
    raise AssertionError("unreachable: every tick table ends with a band starting at 0")


def on_tick(market: str, price: Decimal | int | str) -> bool:
    """True when ``price`` is a positive multiple of its band's tick (a valid limit price).

    >>> on_tick("KRW-BTC", 150_000_000), on_tick("KRW-BTC", 150_000_500), on_tick("KRW-BTC", 0)
    (True, False, False)
    """
    try:
        number = _dec(price)
    except ValueError:
        return False
    if number <= 0:
        return False
    return number % tick_size(market, number) == 0


def round_to_tick(
    market: str, price: Decimal | int | str, direction: _RoundDirection = "down"
) -> Decimal:
    """``price`` moved onto the tick grid: ``down`` (a safe bid), ``up`` (a safe ask) or
    ``nearest``. Band lower bounds are multiples of the next band's tick, so the result is
    always a valid price.

    >>> round_to_tick("KRW-XRP", "3000.4", "up"), round_to_tick("KRW-XRP", "3000.4", "nearest")
    (Decimal('3001'), Decimal('3000'))

    Raises ValueError for a negative price or an unknown direction.
    """
    rounding = _ROUNDING.get(direction)
    if rounding is None:
        raise ValueError(f"direction must be 'down', 'up' or 'nearest', got {direction!r}")
    number = _dec(price)
    tick = tick_size(market, number)
    steps = (number / tick).to_integral_value(rounding=rounding)
    result = steps * tick
    if result <= 0:
        return tick
    return result.quantize(tick) if tick < 1 else result.quantize(Decimal(1))


# -- totals and volumes ------------------------------------------------------------------------

#: Minimum order total per quote currency (KRW market: 5,000 KRW).
MIN_TOTAL: Final[dict[str, Decimal]] = {
    "KRW": Decimal(5000),
    "BTC": Decimal("0.00005"),
    "USDT": Decimal("0.5"),
}
#: Maximum order total per quote currency (KRW market: 1,000,000,000 KRW). Upbit's docs give
#: no maximum for the BTC and USDT markets; they are left out rather than guessed.
MAX_TOTAL: Final[dict[str, Decimal]] = {"KRW": Decimal(1_000_000_000)}

#: Volumes (coin amounts) have at most 8 decimals.
VOLUME_DECIMALS: Final = 8
VOLUME_STEP: Final = Decimal("0.00000001")


def min_total(market: str) -> Decimal:
    """The minimum order total of ``market`` in its quote currency (0 if none is known)."""
    return MIN_TOTAL.get(quote_currency(market), Decimal(0))


def max_total(market: str) -> Decimal | None:
    """The maximum order total of ``market`` in its quote currency, None where undocumented."""
    return MAX_TOTAL.get(quote_currency(market))


def floor_volume(value: Decimal) -> Decimal:
    """``value`` rounded down to 8 decimals: ``floor_volume(Decimal("0.123456789"))`` ->
    ``Decimal('0.12345678')``."""
    return value.quantize(VOLUME_STEP, rounding=ROUND_DOWN)


def volume_ok(value: Decimal) -> bool:
    """True for a positive volume with at most 8 decimals."""
    return value > 0 and value == floor_volume(value)


# -- order parameters --------------------------------------------------------------------------

SIDES: Final = ("bid", "ask")
#: ``limit`` (price + volume), ``price`` (market buy by funds), ``market`` (market sell by
#: volume), ``best`` (best price, needs time_in_force ioc or fok).
ORDER_TYPES: Final = ("limit", "price", "market", "best")
#: ``post_only`` is for limit orders only.
TIME_IN_FORCE: Final = ("ioc", "fok", "post_only")
#: Self-match prevention types; the taker's type decides what happens.
SMP_TYPES: Final = ("cancel_maker", "cancel_taker", "reduce", "none")
#: What an order without ``smp_type`` gets since 2026-11-09 (post_only orders excepted).
DEFAULT_SMP_TYPE: Final = "cancel_maker"
#: ``new_volume`` of ``POST /v1/orders/cancel_and_new`` meaning "the previous order's remaining
#: volume" (limit, limit ioc/fok, market sell and best sell only).
REMAIN_ONLY: Final = "remain_only"
#: Upbit's default fee rate on KRW markets (maker and taker): 0.05 %.
DEFAULT_FEE_RATE: Final = Decimal("0.0005")

#: ``GET /v1/orders/chance`` ``market.bid_types`` / ``ask_types`` (alphabetical, as Upbit).
BID_TYPES: Final = ("best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "post_only",
                    "price")
ASK_TYPES: Final = ("best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "market",
                    "post_only")

#: ``DELETE /v1/orders/open``: ``cancel_side`` values, at most 20 ``pairs``/``excluded_pairs``,
#: ``count`` 1..300 (default 20).
CANCEL_SIDES: Final = ("all", "ask", "bid")
BATCH_CANCEL_MAX_PAIRS: Final = 20
BATCH_CANCEL_MAX_COUNT: Final = 300
BATCH_CANCEL_DEFAULT_COUNT: Final = 20


def effective_smp_type(smp_type: str | None, time_in_force: str | None) -> str:
    """The SMP type an order runs with: the one given, else ``none`` for ``post_only`` and
    ``cancel_maker`` for every other order.

    >>> effective_smp_type(None, None), effective_smp_type(None, "post_only")
    ('cancel_maker', 'none')

    Does not check the combination: ``post_only`` with anything but ``none`` is a
    ``validation_error`` (the emulator's and the hub's validators say so).
    """
    if smp_type is not None:
        return smp_type
    return "none" if time_in_force == "post_only" else DEFAULT_SMP_TYPE


# -- error names (protocol.md 8.4) -------------------------------------------------------------

VALIDATION_ERROR: Final = "validation_error"
ORDER_NOT_FOUND: Final = "order_not_found"  # HTTP 404
INVALID_PRICE_BID: Final = "invalid_price_bid"
INVALID_PRICE_ASK: Final = "invalid_price_ask"
INVALID_VOLUME_BID: Final = "invalid_volume_bid"
INVALID_VOLUME_ASK: Final = "invalid_volume_ask"
INVALID_FUNDS: Final = "invalid_funds"
UNDER_MIN_TOTAL_BID: Final = "under_min_total_bid"
UNDER_MIN_TOTAL_ASK: Final = "under_min_total_ask"
INSUFFICIENT_FUNDS_BID: Final = "insufficient_funds_bid"
INSUFFICIENT_FUNDS_ASK: Final = "insufficient_funds_ask"
#: Every order error name the emulator answers with (all HTTP 400 but ``order_not_found``).
ORDER_ERROR_NAMES: Final = frozenset({
    VALIDATION_ERROR, ORDER_NOT_FOUND, INVALID_PRICE_BID, INVALID_PRICE_ASK,
    INVALID_VOLUME_BID, INVALID_VOLUME_ASK, INVALID_FUNDS, UNDER_MIN_TOTAL_BID,
    UNDER_MIN_TOTAL_ASK, INSUFFICIENT_FUNDS_BID, INSUFFICIENT_FUNDS_ASK,
})


def _by_side(side: str, bid: str, ask: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")
    return bid if side == "bid" else ask


def invalid_price_error(side: str) -> str:
    """``invalid_price_bid`` / ``invalid_price_ask``: price off the tick grid or not positive."""
    return _by_side(side, INVALID_PRICE_BID, INVALID_PRICE_ASK)


def invalid_volume_error(side: str) -> str:
    """``invalid_volume_bid`` / ``invalid_volume_ask``: volume not positive or over 8 decimals."""
    return _by_side(side, INVALID_VOLUME_BID, INVALID_VOLUME_ASK)


def under_min_total_error(side: str) -> str:
    """``under_min_total_bid`` / ``under_min_total_ask``: total below :data:`MIN_TOTAL`."""
    return _by_side(side, UNDER_MIN_TOTAL_BID, UNDER_MIN_TOTAL_ASK)


def insufficient_funds_error(side: str) -> str:
    """``insufficient_funds_bid`` / ``insufficient_funds_ask``: the account cannot cover it."""
    return _by_side(side, INSUFFICIENT_FUNDS_BID, INSUFFICIENT_FUNDS_ASK)


# -- REST rate-limit groups (protocol.md 7.2) --------------------------------------------------

#: group -> (requests, window seconds). Quotation groups count per IP, the others per pocket.
REST_GROUP_LIMITS: Final[dict[str, tuple[int, float]]] = {
    "market": (10, 1.0),
    "ticker": (10, 1.0),
    "orderbook": (10, 1.0),
    "candles": (10, 1.0),
    "crix-trades": (10, 1.0),
    "default": (30, 1.0),
    "order": (12, 1.0),
    "order-test": (8, 1.0),
    "order-cancel-all": (1, 2.0),
}
#: Groups limited per client IP (the others per pocket / access key).
QUOTATION_GROUPS: Final = frozenset({"market", "ticker", "orderbook", "candles", "crix-trades"})
#: (method, path) -> group of the exchange endpoints an order path uses.
ENDPOINT_GROUPS: Final[dict[tuple[str, str], str]] = {
    ("GET", "/v1/accounts"): "default",
    ("GET", "/v1/orders/chance"): "default",
    ("GET", "/v1/order"): "default",
    ("GET", "/v1/orders/open"): "default",
    ("GET", "/v1/orders/closed"): "default",
    ("GET", "/v1/orders/uuids"): "default",
    ("DELETE", "/v1/order"): "default",
    ("POST", "/v1/orders"): "order",
    ("POST", "/v1/orders/cancel_and_new"): "order",
    ("POST", "/v1/orders/test"): "order-test",
    ("DELETE", "/v1/orders/open"): "order-cancel-all",
}
