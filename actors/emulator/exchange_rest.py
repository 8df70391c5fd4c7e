"""Exchange REST endpoints of the emulator (protocol.md 8.1, 8.3, 8.4): the route table and
the read-only handlers (accounts, one order, open/closed orders, orders by ids).

The server mounts :data:`EXCHANGE_ROUTES` (method, path, rate-limit group, handler) into its
aiohttp app and wraps them with rate limiting, ``Remaining-Req`` headers, the REST log and the
order faults. A handler is ``handler(exchange, auth, req) -> (status, json_object)``; it
verifies the JWT first (``exchange_rest_base.authed``), then answers with Upbit's shapes
(``exchange_json``): amounts as strings except ``trades_count``, errors as
``{"error": {"name": ..., "message": ...}}``. The order commands live in
``exchange_rest_orders``.

Runs in: the emulator loop thread (handlers are synchronous and non-blocking).
"""

from __future__ import annotations

from typing import Final

from upbit_hub.actors.emulator import exchange_rest_orders as cmd
from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.emulator.exchange_json import accounts_json, order_json
from upbit_hub.actors.emulator.exchange_model import CLOSED_STATES, OPEN_STATES, ExchangeError
from upbit_hub.actors.emulator.exchange_rest_base import (
    Handler,
    RestRequest,
    authed,
    bad,
    int_param,
    many,
    market_param,
    order_by_param,
    order_ref,
    sorted_orders,
    states_param,
    time_ms_param,
)
from upbit_hub.actors.protocol.trading_rules import ENDPOINT_GROUPS

__all__ = [
    "EXCHANGE_ROUTES",
    "Handler",
    "RestRequest",
    "accounts_json",
    "order_json",
]

WEEK_MS: Final = 7 * 24 * 3600 * 1000


@authed
def get_accounts(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/accounts``. Runs in: the emulator loop thread."""
    return 200, accounts_json(exchange.balances())


@authed
def get_order(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/order?uuid=|identifier=`` with ``trades``. Runs in: the emulator loop thread."""
    order = exchange.get_order(**order_ref(req))
    return 200, order_json(order, executed_funds=True, trades=True)


@authed
def get_orders_open(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/open`` (market, state|states[], page, limit <= 100, order_by).

    Runs in: the emulator loop thread.
    """
    market = market_param(exchange, req)
    states = states_param(req, OPEN_STATES)
    page = int_param(req, "page", 1, 1, 1_000_000)
    limit = int_param(req, "limit", 100, 1, 100)
    orders = sorted_orders(exchange.orders(market=market, states=states), order_by_param(req))
    chosen = orders[(page - 1) * limit : page * limit]
    return 200, [order_json(o) for o in chosen]


@authed
def get_orders_closed(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/closed`` (market, state|states[], start_time/end_time within 7 days,
    limit <= 1000, order_by). Runs in: the emulator loop thread.
    """
    market = market_param(exchange, req)
    states = states_param(req, CLOSED_STATES)
    limit = int_param(req, "limit", 100, 1, 1000)
    start, end = time_ms_param(req, "start_time"), time_ms_param(req, "end_time")
    if start is None and end is None:
        end = exchange.now_ms()
        start = end - WEEK_MS
    elif start is None:
        start = end - WEEK_MS
    elif end is None:
        end = start + WEEK_MS
    if end < start:
        raise bad("end_time is before start_time")
    if end - start > WEEK_MS:
        raise bad("the start_time..end_time window must be at most 7 days")
    orders = [
        o for o in exchange.orders(market=market, states=states) if start <= o.created_ms <= end
    ]
    chosen = sorted_orders(orders, order_by_param(req))[:limit]
    return 200, [order_json(o, executed_funds=True) for o in chosen]


@authed
def get_orders_uuids(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/uuids`` (uuids[] or identifiers[] up to 100, market, order_by).

    Unknown ids are left out. Runs in: the emulator loop thread.
    """
    uuids, identifiers = many(req, "uuids"), many(req, "identifiers")
    if bool(uuids) == bool(identifiers):
        raise bad("give either uuids[] or identifiers[]")
    refs = uuids or identifiers
    if len(refs) > 100:
        raise bad(f"at most 100 ids per call, got {len(refs)}")
    market = market_param(exchange, req)
    found = []
    for ref in refs:
        try:
            order = exchange.get_order(uuid=ref) if uuids else exchange.get_order(identifier=ref)
        except ExchangeError:
            continue
        if market is None or order.market == market:
            found.append(order)
    chosen = sorted_orders(found, order_by_param(req))
    return 200, [order_json(o, executed_funds=True) for o in chosen]


def _route(method: str, path: str, handler: Handler) -> tuple[str, str, str, Handler]:
    return method, path, ENDPOINT_GROUPS[(method, path)], handler


#: (method, path, rate-limit group, handler) for the server to mount; the groups come from
#: ``trading_rules.ENDPOINT_GROUPS``.
EXCHANGE_ROUTES: Final[list[tuple[str, str, str, Handler]]] = [
    _route("GET", "/v1/accounts", get_accounts),
    _route("POST", "/v1/orders", cmd.post_orders),
    _route("POST", "/v1/orders/test", cmd.post_orders_test),
    _route("POST", "/v1/orders/cancel_and_new", cmd.post_cancel_and_new),
    _route("DELETE", "/v1/order", cmd.delete_order),
    _route("DELETE", "/v1/orders/open", cmd.delete_orders_open),
    _route("GET", "/v1/orders/chance", cmd.get_orders_chance),
    _route("GET", "/v1/order", get_order),
    _route("GET", "/v1/orders/open", get_orders_open),
    _route("GET", "/v1/orders/closed", get_orders_closed),
    _route("GET", "/v1/orders/uuids", get_orders_uuids),
]
