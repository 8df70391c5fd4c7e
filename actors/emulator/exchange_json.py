"""Upbit's REST JSON shapes of the emulated exchange: orders, accounts, order chance.

Amounts are strings (``dec_str``) except ``trades_count``. Example order (``POST /v1/orders``
-> 201)::

    {"uuid":"82fe9b72-eb0f-462b-8e0e-e74ad844acea","side":"bid","ord_type":"limit",
     "price":"10000000","state":"wait","market":"KRW-BTC","created_at":"2026-03-22T21:42:22+09:00",
     "volume":"0.0005","remaining_volume":"0.0005","prevented_volume":"0","reserved_fee":"2.5",
     "remaining_fee":"2.5","paid_fee":"0","locked":"5002.5","prevented_locked":"0",
     "executed_volume":"0","trades_count":0,"smp_type":"cancel_maker"}

``smp_type`` is always present (Upbit since 2026-11-09). Runs in: the emulator loop thread
(pure functions of snapshots).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from upbit_hub.actors.emulator.exchange_model import Balance, Order, dec_str, kst_iso
from upbit_hub.actors.protocol import trading_rules as rules

__all__ = ["account_json", "accounts_json", "chance_json", "order_json"]


def order_json(order: Order, *, executed_funds: bool = False, trades: bool = False) -> dict:
    """Upbit's REST order object (strings except ``trades_count``).

    ``executed_funds`` adds the closed-order field, ``trades`` the ``GET /v1/order`` trade list.
    Runs in: the emulator loop thread.
    """
    funds_based = order.funds_based
    out: dict = {
        "uuid": order.uuid,
        "side": order.side,
        "ord_type": order.ord_type,
        "price": dec_str(order.price),
        "state": order.state,
        "market": order.market,
        "created_at": kst_iso(order.created_ms),
        "volume": None if funds_based else dec_str(order.volume),
        "remaining_volume": None if funds_based else dec_str(order.remaining_volume),
        "prevented_volume": dec_str(order.prevented_volume),
        "reserved_fee": dec_str(order.reserved_fee),
        "remaining_fee": dec_str(order.remaining_fee),
        "paid_fee": dec_str(order.paid_fee),
        "locked": dec_str(order.locked),
        "prevented_locked": dec_str(order.prevented_locked),
        "executed_volume": dec_str(order.executed_volume),
    }
    if executed_funds:
        out["executed_funds"] = dec_str(order.executed_funds)
    out["trades_count"] = len(order.trades)
    for key in ("time_in_force", "identifier", "smp_type"):
        value = getattr(order, key)
        if value is not None:
            out[key] = value
    if trades:
        out["trades"] = [
            {
                "market": order.market,
                "uuid": f.uuid,
                "price": dec_str(f.price),
                "volume": dec_str(f.volume),
                "funds": dec_str(f.funds),
                "trend": f.trend,
                "created_at": kst_iso(f.timestamp),
                "side": order.side,
            }
            for f in order.trades
        ]
    return out


def account_json(currency: str, b: Balance) -> dict:
    """One ``GET /v1/accounts`` row. Runs in: any thread."""
    return {
        "currency": currency,
        "balance": dec_str(b.balance),
        "locked": dec_str(b.locked),
        "avg_buy_price": dec_str(b.avg_buy_price),
        "avg_buy_price_modified": b.avg_buy_price_modified,
        "unit_currency": "KRW",
    }


def accounts_json(balances: Mapping[str, Balance]) -> list[dict]:
    """``GET /v1/accounts`` body: KRW first, then every currency held or locked.

    Runs in: the emulator loop thread.
    """
    rows = []
    for currency in sorted(balances, key=lambda c: (c != "KRW", c)):
        b = balances[currency]
        if currency != "KRW" and b.balance == 0 and b.locked == 0:
            continue
        rows.append(account_json(currency, b))
    return rows


def chance_json(
    market: str,
    balances: Mapping[str, Balance],
    *,
    maker_fee: Decimal,
    taker_fee: Decimal,
    max_total: Decimal,
) -> dict:
    """``GET /v1/orders/chance?market=KRW-BTC``::

        {"bid_fee":"0.0005","ask_fee":"0.0005","maker_bid_fee":"0.0005",
         "maker_ask_fee":"0.0005","market":{"id":"KRW-BTC","name":"BTC/KRW",
         "order_types":[],"order_sides":["ask","bid"],"bid_types":[...],"ask_types":[...],
         "bid":{"currency":"KRW","min_total":"5000"},"ask":{"currency":"BTC",
         "min_total":"5000"},"max_total":"1000000000","state":"active"},
         "bid_account":{"currency":"KRW",...},"ask_account":{"currency":"BTC",...}}

    ``order_types`` is deprecated by Upbit (2022-10-14) and sent empty. Runs in: any thread.
    """
    quote, base = market.split("-", 1)
    minimum = dec_str(rules.min_total(market))
    empty = Balance()
    return {
        "bid_fee": dec_str(taker_fee),
        "ask_fee": dec_str(taker_fee),
        "maker_bid_fee": dec_str(maker_fee),
        "maker_ask_fee": dec_str(maker_fee),
        "market": {
            "id": market,
            "name": f"{base}/{quote}",
            "order_types": [],
            "order_sides": ["ask", "bid"],
            "bid_types": list(rules.BID_TYPES),
            "ask_types": list(rules.ASK_TYPES),
            "bid": {"currency": quote, "min_total": minimum},
            "ask": {"currency": base, "min_total": minimum},
            "max_total": dec_str(max_total),
            "state": "active",
        },
        "bid_account": account_json(quote, balances.get(quote, empty)),
        "ask_account": account_json(base, balances.get(base, empty)),
    }
