"""Exchange REST endpoints that place, test and cancel orders, and the order chance.

=======================================  ==================  =====================================
``POST /v1/orders``                      ``order``           201, the order as accepted
``POST /v1/orders/test``                 ``order-test``      201, same checks, nothing created
``POST /v1/orders/cancel_and_new``       ``order``           201, previous order + new ids
``DELETE /v1/order?uuid=|identifier=``   ``default``         200, the order as of cancel
``DELETE /v1/orders/open?...``           ``order-cancel-all``  200, ``success`` / ``failed``
``GET /v1/orders/chance?market=``        ``default``         200, fees, limits, two accounts
=======================================  ==================  =====================================

Batch cancel answer (``DELETE /v1/orders/open?cancel_side=bid&pairs=KRW-BTC``)::

    {"success":{"count":1,"orders":[{"uuid":"...","market":"KRW-BTC","identifier":"a-1"}]},
     "failed":{"count":0,"orders":[]}}

Cancel and new answer: the previous order as of cancel acceptance (state ``wait``) plus
``new_order_uuid`` and ``new_order_identifier`` (null when none was given).

Runs in: the emulator loop thread (handlers are synchronous and non-blocking).
"""

from __future__ import annotations

from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.emulator.exchange_json import order_json
from upbit_hub.actors.emulator.exchange_rest_base import (
    RestRequest,
    authed,
    bad,
    body_params,
    comma_list,
    int_param,
    order_by_param,
    order_ref,
    single,
)
from upbit_hub.actors.protocol import trading_rules as rules

__all__ = [
    "delete_order",
    "delete_orders_open",
    "get_orders_chance",
    "post_cancel_and_new",
    "post_orders",
    "post_orders_test",
]


@authed
def post_orders(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``POST /v1/orders`` with a JSON body; 201 with the accepted order. Runs in: loop thread."""
    return 201, order_json(exchange.place_order(body_params(req)))


@authed
def post_orders_test(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``POST /v1/orders/test``: 201 with the order as it would be accepted; nothing changes.

    Runs in: the emulator loop thread.
    """
    return 201, order_json(exchange.test_order(body_params(req)))


@authed
def post_cancel_and_new(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``POST /v1/orders/cancel_and_new``: 201, the previous order as of cancel acceptance plus
    ``new_order_uuid`` / ``new_order_identifier``. Runs in: the emulator loop thread."""
    if req.body is None:
        raise bad("cancel_and_new takes a JSON body (Content-Type: application/json)")
    before, new = exchange.cancel_and_new(req.body)
    out = order_json(before)
    out["new_order_uuid"] = new.uuid
    out["new_order_identifier"] = new.identifier
    return 201, out


@authed
def delete_order(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``DELETE /v1/order?uuid=|identifier=``: the order as of cancel acceptance (state wait).

    Runs in: the emulator loop thread.
    """
    return 200, order_json(exchange.cancel_order(**order_ref(req)))


@authed
def delete_orders_open(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``DELETE /v1/orders/open`` (``cancel_side``, ``pairs`` or ``excluded_pairs``,
    ``quote_currencies``, ``count`` <= 300 default 20, ``order_by``). Query parameters only.

    Runs in: the emulator loop thread.
    """
    if req.body:
        raise bad("DELETE /v1/orders/open takes query parameters only, not a body")
    cancelled = exchange.cancel_all(
        cancel_side=single(req, "cancel_side") or "all",
        pairs=comma_list(req, "pairs"),
        excluded_pairs=comma_list(req, "excluded_pairs"),
        quote_currencies=comma_list(req, "quote_currencies"),
        count=int_param(req, "count", rules.BATCH_CANCEL_DEFAULT_COUNT, 1,
                        rules.BATCH_CANCEL_MAX_COUNT),
        order_by=order_by_param(req),
    )
    orders = []
    for o in cancelled:
        item = {"uuid": o.uuid, "market": o.market}
        if o.identifier is not None:
            item["identifier"] = o.identifier
        orders.append(item)
    return 200, {"success": {"count": len(orders), "orders": orders},
                 "failed": {"count": 0, "orders": []}}


@authed
def get_orders_chance(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/chance?market=KRW-BTC``. Runs in: the emulator loop thread."""
    market = single(req, "market")
    if not market:
        raise bad("market is required (e.g. market=KRW-BTC)")
    return 200, exchange.chance(market.upper())
