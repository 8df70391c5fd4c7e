"""Validation of order requests for the emulated exchange (``POST /v1/orders`` and friends).

Error names follow protocol.md 8.4 and ``upbit_hub.actors.protocol.trading_rules``:
``validation_error`` for missing/malformed parameters and bad combinations (an identifier
already used, ``post_only`` with an SMP type other than ``none``, a total over the maximum);
``invalid_price_bid/ask`` for a limit price that is not positive or not on the tick grid;
``invalid_volume_bid/ask`` for a volume that is not positive or has more than 8 decimals;
``invalid_funds`` for a bad market-buy amount; ``under_min_total_bid/ask`` below the minimum
total (5,000 KRW on KRW markets) and ``insufficient_funds_bid/ask`` when the account cannot
cover the order. All are HTTP 400. Every message says what to send instead.

Runs in: any thread (pure functions).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Final

from upbit_hub.actors.emulator.exchange_model import ZERO, ExchangeError, Order
from upbit_hub.actors.emulator.market_catalog import tick_size
from upbit_hub.actors.protocol import trading_rules as rules

__all__ = ["check_funds", "check_identifier", "parse_order", "released_by"]

MSG_MIN_TOTAL: Final = "최소주문금액 이상으로 주문해주세요."
MSG_TICK: Final = "주문가격 단위를 잘못 입력하셨습니다."


def _bad(message: str, name: str = rules.VALIDATION_ERROR) -> ExchangeError:
    return ExchangeError(400, name, message)


def _decimal(params: Mapping[str, object], key: str, error: str) -> Decimal | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _bad(f"{key} must be a number or a numeric string, got {value!r}", error)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(f"{key} must be a number or a numeric string, got {value!r}", error) from None
    if not number.is_finite():
        raise _bad(f"{key} must be finite, got {value!r}", error)
    return number


def check_identifier(value: object, used: Collection[str], key: str = "identifier") -> str | None:
    """The identifier of a request (None when not given); ``validation_error`` when it is not a
    non-empty string or was already sent once (Upbit keeps every identifier for one order, even
    one whose request failed). Runs in: any thread (pure).
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"{key} must be a non-empty string, got {value!r}")
    if value in used:
        raise _bad(
            f"{key} {value!r} is already used: every identifier is good for one order request "
            "only, even a request that failed; send a new one"
        )
    return value


def _check_tif_and_smp(ord_type: str, tif: object, smp: object) -> None:
    if tif is not None and tif not in rules.TIME_IN_FORCE:
        raise _bad(f"time_in_force must be one of {', '.join(rules.TIME_IN_FORCE)}, got {tif!r}")
    if smp is not None and smp not in rules.SMP_TYPES:
        raise _bad(f"smp_type must be one of {', '.join(rules.SMP_TYPES)}, got {smp!r}")
    if tif == "post_only":
        if ord_type != "limit":
            raise _bad("post_only is only allowed for limit orders")
        if smp not in (None, "none"):
            raise _bad(
                f"post_only orders need smp_type 'none' (or no smp_type), got {smp!r}; "
                "drop post_only to use self-match prevention"
            )
    if ord_type == "limit" and tif not in (None, "ioc", "fok", "post_only"):
        raise _bad("limit orders take time_in_force ioc, fok or post_only")
    if ord_type == "best" and tif not in ("ioc", "fok"):
        raise _bad("ord_type 'best' needs time_in_force 'ioc' or 'fok'")
    if ord_type in ("price", "market") and tif is not None:
        raise _bad(f"ord_type {ord_type!r} takes no time_in_force; use 'best' with ioc or fok")


def parse_order(
    params: Mapping[str, object], markets: Collection[str], identifier: str | None = None
) -> Order:
    """Check an order request's parameters and build the (not yet accepted) :class:`Order`.

    Checks shape, types, order-type, time-in-force and SMP rules, positivity, the tick grid of
    a limit price and the 8-decimal volume step; raises :class:`ExchangeError` 400. The
    identifier is checked by the caller (:func:`check_identifier`) and passed in; ``uuid`` and
    ``created_ms`` are left for the caller to set. ``smp_type`` is the effective one
    (``cancel_maker`` when left out, ``none`` for ``post_only``). Runs in: any thread (pure).
    """
    market = params.get("market")
    if not isinstance(market, str) or not market:
        raise _bad("market is required (e.g. 'KRW-BTC')")
    if market not in markets:
        raise _bad(f"market {market!r} does not exist on this emulator; one of {sorted(markets)}")
    side = params.get("side")
    if side not in rules.SIDES:
        raise _bad(f"side must be 'bid' or 'ask', got {side!r}")
    ord_type = params.get("ord_type")
    if ord_type not in rules.ORDER_TYPES:
        raise _bad(f"ord_type must be one of {', '.join(rules.ORDER_TYPES)}, got {ord_type!r}")
    tif, smp = params.get("time_in_force"), params.get("smp_type")
    _check_tif_and_smp(ord_type, tif, smp)
    if ord_type == "price" and side != "bid":
        raise _bad("ord_type 'price' (market buy by funds) needs side 'bid'")
    if ord_type == "market" and side != "ask":
        raise _bad("ord_type 'market' (market sell by volume) needs side 'ask'")
    funds_based = side == "bid" and ord_type in ("price", "best")
    price_error = rules.INVALID_FUNDS if funds_based else rules.invalid_price_error(side)
    price = _decimal(params, "price", price_error)
    volume = _decimal(params, "volume", rules.invalid_volume_error(side))
    if ord_type == "limit":
        if price is None or volume is None:
            raise _bad("a limit order needs both price and volume")
    elif funds_based:
        if price is None:
            raise _bad("a market buy needs price (the amount of the quote currency to spend)")
        if volume is not None:
            raise _bad("a market buy takes price (funds) only; leave volume out")
    else:
        if volume is None:
            raise _bad("a market sell needs volume")
        if price is not None:
            raise _bad("a market sell takes volume only; leave price out")
    if price is not None and price <= 0:
        raise _bad(f"price must be positive, got {price}", price_error)
    if ord_type == "limit" and price % tick_size(market, price) != 0:
        tick = tick_size(market, price)
        raise _bad(
            f"{MSG_TICK} (price {price:f} is not a multiple of the tick {tick:f} of its price "
            f"band; use {(price // tick) * tick:f} or {(price // tick + 1) * tick:f})",
            price_error,
        )
    if volume is not None and not rules.volume_ok(volume):
        raise _bad(
            f"volume must be positive with at most 8 decimals, got {volume}",
            rules.invalid_volume_error(side),
        )
    return Order(
        uuid="",
        market=market,
        side=side,
        ord_type=ord_type,
        price=price,
        volume=volume,
        created_ms=0,
        identifier=identifier,
        time_in_force=tif,
        smp_type=rules.effective_smp_type(smp, tif),
    )


def check_funds(
    order: Order,
    *,
    quote_available: Decimal,
    base_available: Decimal,
    best_bid: Decimal | None,
    fee_rate: Decimal,
) -> None:
    """Minimum/maximum total and available balance checks (``under_min_total_bid/ask``,
    ``validation_error`` over the maximum, ``insufficient_funds_bid/ask``; all 400).
    ``best_bid`` values a market sell; ``fee_rate`` is the rate a bid reserves.

    Runs in: any thread (pure).
    """
    minimum = rules.min_total(order.market)
    maximum = rules.max_total(order.market)
    if order.funds_based:
        total: Decimal | None = order.price
    elif order.ord_type == "limit":
        total = order.price * order.volume
    else:
        total = best_bid * order.volume if best_bid is not None else None
    if total is not None and total < minimum:
        raise _bad(
            f"{MSG_MIN_TOTAL} (minimum {minimum} {order.quote}, got {total})",
            rules.under_min_total_error(order.side),
        )
    if total is not None and maximum is not None and total > maximum:
        raise _bad(
            f"the order total {total} {order.quote} is over the maximum of {maximum} "
            f"{order.quote}; split it into smaller orders"
        )
    if order.side == "bid":
        need = total * (1 + fee_rate)
        have = quote_available
        if need > have:
            raise _bad(
                f"주문가능한 금액({order.quote})이 부족합니다. (need {need}, have {have})",
                rules.INSUFFICIENT_FUNDS_BID,
            )
    else:
        have = base_available
        if order.volume > have:
            raise _bad(
                f"주문가능한 금액({order.base})이 부족합니다. (need {order.volume}, have {have})",
                rules.INSUFFICIENT_FUNDS_ASK,
            )


def released_by(order: Order) -> tuple[Decimal, Decimal]:
    """(quote, base) amounts cancelling ``order`` gives back to ``balance``: what
    ``cancel_and_new`` may spend on the new order. Runs in: any thread (pure)."""
    if not order.is_open:
        return ZERO, ZERO
    return (order.locked, ZERO) if order.side == "bid" else (ZERO, order.locked)
