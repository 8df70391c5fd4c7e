"""Validation of order requests for the emulated exchange (``POST /v1/orders``).

Error names follow protocol.md 8.4: ``validation_error`` for missing/malformed parameters,
``invalid_price`` / ``invalid_funds`` / ``invalid_volume`` for bad amounts,
``under_min_total_bid/ask`` below the minimum total (5,000 KRW on KRW markets) and
``insufficient_funds_bid/ask`` when the account cannot cover the order. All are HTTP 400.

Runs in: any thread (pure functions).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Final

from upbit_hub.actors.emulator.exchange_model import (
    MIN_TOTAL,
    ORDER_TYPES,
    TIME_IN_FORCE,
    ZERO,
    ExchangeError,
    Order,
    floor_volume,
)

__all__ = ["check_funds", "parse_order"]

MSG_MIN_TOTAL: Final = "최소주문금액 이상으로 주문해주세요."


def _bad(message: str, name: str = "validation_error") -> ExchangeError:
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


def parse_order(
    params: Mapping[str, object], markets: Collection[str], used_identifiers: Collection[str]
) -> Order:
    """Check an order request's parameters and build the (not yet accepted) :class:`Order`.

    Checks shape, types, order-type rules, positivity and the 8-decimal volume step; raises
    :class:`ExchangeError` 400 (``validation_error``, ``invalid_price``, ``invalid_funds``,
    ``invalid_volume``). ``uuid`` and ``created_ms`` are left for the caller to set.
    Runs in: any thread (pure).
    """
    market = params.get("market")
    if not isinstance(market, str) or not market:
        raise _bad("market is required")
    if market not in markets:
        raise _bad(f"market {market!r} does not exist on this emulator")
    side = params.get("side")
    if side not in ("bid", "ask"):
        raise _bad(f"side must be 'bid' or 'ask', got {side!r}")
    ord_type = params.get("ord_type")
    if ord_type not in ORDER_TYPES:
        raise _bad(f"ord_type must be one of {', '.join(ORDER_TYPES)}, got {ord_type!r}")
    tif = params.get("time_in_force")
    if tif is not None and tif not in TIME_IN_FORCE:
        raise _bad(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {tif!r}")
    identifier = params.get("identifier")
    if identifier is not None and (not isinstance(identifier, str) or not identifier):
        raise _bad("identifier must be a non-empty string")
    if identifier is not None and identifier in used_identifiers:
        raise _bad(f"identifier {identifier!r} is already used by another order")
    smp = params.get("smp_type")
    if smp is not None and smp not in ("reduce", "cancel_maker", "cancel_taker"):
        raise _bad(f"smp_type must be reduce, cancel_maker or cancel_taker, got {smp!r}")
    funds_based = side == "bid" and ord_type in ("price", "best")
    price = _decimal(params, "price", "invalid_funds" if funds_based else "invalid_price")
    volume = _decimal(params, "volume", "invalid_volume")
    if ord_type == "limit":
        if price is None or volume is None:
            raise _bad("a limit order needs both price and volume")
        if tif not in (None, "ioc", "fok", "post_only"):
            raise _bad("limit orders take time_in_force ioc, fok or post_only")
    elif ord_type == "price" and side != "bid":
        raise _bad("ord_type 'price' (market buy by funds) needs side 'bid'")
    elif ord_type == "market" and side != "ask":
        raise _bad("ord_type 'market' (market sell by volume) needs side 'ask'")
    elif ord_type == "best" and tif not in ("ioc", "fok"):
        raise _bad("ord_type 'best' needs time_in_force 'ioc' or 'fok'")
    if ord_type in ("price", "market") and tif == "post_only":
        raise _bad("post_only is only allowed for limit orders")
    if funds_based:
        if price is None:
            raise _bad("a market buy needs price (the KRW amount to spend)")
        if volume is not None:
            raise _bad("a market buy takes price (funds) only; leave volume out")
        if price <= 0:
            raise _bad(f"price (funds) must be positive, got {price}", "invalid_funds")
    elif ord_type != "limit":
        if volume is None:
            raise _bad("a market sell needs volume")
        if price is not None:
            raise _bad("a market sell takes volume only; leave price out")
    if price is not None and price <= 0:
        raise _bad(f"price must be positive, got {price}", "invalid_price")
    if volume is not None and (volume <= 0 or volume != floor_volume(volume)):
        raise _bad(
            f"volume must be positive with at most 8 decimals, got {volume}",
            "invalid_volume",
        )
    order = Order(
        uuid="",
        market=market,
        side=side,
        ord_type=ord_type,
        price=price,
        volume=volume,
        created_ms=0,
        identifier=identifier,
        time_in_force=tif,
        smp_type=smp,
    )
    return order


def check_funds(
    order: Order,
    *,
    quote_available: Decimal,
    base_available: Decimal,
    best_bid: Decimal | None,
    fee_rate: Decimal,
) -> None:
    """Minimum total and available balance checks (``under_min_total_bid/ask``,
    ``insufficient_funds_bid/ask``, all 400). ``best_bid`` values a market sell.

    Runs in: any thread (pure).
    """
    minimum = MIN_TOTAL.get(order.quote, ZERO)
    if order.funds_based:
        total: Decimal | None = order.price
    elif order.ord_type == "limit":
        total = order.price * order.volume
    else:
        total = best_bid * order.volume if best_bid is not None else None
    if total is not None and total < minimum:
        raise _bad(
            f"{MSG_MIN_TOTAL} (minimum {minimum} {order.quote}, got {total})",
            f"under_min_total_{order.side}",
        )
    if order.side == "bid":
        need = total * (1 + fee_rate)
        have = quote_available
        if need > have:
            raise _bad(
                f"주문가능한 금액({order.quote})이 부족합니다. (need {need}, have {have})",
                "insufficient_funds_bid",
            )
    else:
        have = base_available
        if order.volume > have:
            raise _bad(
                f"주문가능한 금액({order.base})이 부족합니다. (need {order.volume}, have {have})",
                "insufficient_funds_ask",
            )
