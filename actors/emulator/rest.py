"""REST side of the emulator: quotation, exchange, limits, headers, unknown routes.

Runs in: the emulator loop thread (aiohttp handlers; all work is synchronous and short).

Quotation (protocol.md 8.2; bodies built by ``quotation.py``)::

    GET /v1/market/all                         group market
    GET /v1/ticker?markets=KRW-BTC,KRW-ETH     group ticker
    GET /v1/orderbook?markets=..&count=&level= group orderbook
    GET /v1/orderbook/instruments?markets=..   group orderbook
    GET /v1/trades/ticks?market=..&count=&cursor=   group crix-trades
    GET /v1/candles/minutes/{unit}?market=..&count=&to=  group candles

Exchange: every entry of ``exchange_rest.EXCHANGE_ROUTES`` (accounts, orders, order,
orders/open, orders/closed, ...), handed the query string percent-decoded but otherwise exactly
as sent (``states[]=wait&states[]=watch``), for the JWT ``query_hash`` check.

Every response carries ``Remaining-Req: group=<g>; min=<per minute>; sec=<left>``; quotation
responses also ``Limit-By-Ip: Yes``. Over the group's limit (``limits.RestLimiter``) -> 429
with the plain text body ``Too many API requests.``; continuing while limited -> 418 (plain
text naming the block time, which doubles on repeated blocks). A refused call never reaches
the exchange. Quotation groups are limited per client IP, exchange groups (``default``,
``order``, ``order-test``, ``order-cancel-all``) per access key (read from the token,
unverified; the client IP when there is no token).

Every ``/v1`` call is appended to the REST log (``Emulator.stats().rest_log``, see
``server_config.RestRecord``); accepted order calls may get an order fault
(``faults_orders``) instead of their answer. JSON bodies are
``application/json;charset=UTF-8``. Unknown paths -> 404
``{"error":{"name":"not_found","message":"no Route matched with those values"}}`` without
``Remaining-Req``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from upbit_hub.actors.emulator import quotation
from upbit_hub.actors.emulator.auth import token_access_key
from upbit_hub.actors.emulator.exchange_rest import EXCHANGE_ROUTES, RestRequest
from upbit_hub.actors.emulator.faults_orders import (
    ORDER_FAULT_PATHS,
    answer_with_fault,
    take_order_fault,
)
from upbit_hub.actors.emulator.limits import QUOTATION_GROUPS, RestDecision
from upbit_hub.actors.emulator.server_config import RestRecord
from upbit_hub.actors.emulator.server_core import ServerCore

__all__ = [
    "CORE_KEY",
    "JSON_CONTENT_TYPE",
    "add_rest_routes",
    "json_response",
    "not_found_middleware",
]

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
CORE_KEY: web.AppKey[ServerCore] = web.AppKey("emulator_core", ServerCore)
NOT_FOUND_BODY = {"error": {"name": "not_found", "message": "no Route matched with those values"}}
TOO_MANY = "Too many API requests."

Body = Callable[[ServerCore, web.Request], Any]


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(obj: object, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    """``obj`` as UTF-8 JSON with Upbit's content type. Bytes/str are sent as they are."""
    if isinstance(obj, bytes):
        body = obj
    elif isinstance(obj, str):
        body = obj.encode()
    else:
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                          default=_default).encode()
    h = {"Content-Type": JSON_CONTENT_TYPE}
    if headers:
        h.update(headers)
    return web.Response(body=body, status=status, headers=h)


@web.middleware
async def not_found_middleware(request: web.Request,
                               handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                               ) -> web.StreamResponse:
    """Unknown routes (and wrong methods) answer Upbit's 404 ``not_found``."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        core = request.app[CORE_KEY]
        core.stats.rest_requests["not_found"] += 1
        core.stats.rest_status[404] += 1
        if not request.path.startswith("/_emulator/"):
            _log(core, request, time.monotonic(), "not_found", 404)
        return json_response(NOT_FOUND_BODY, 404)


# ---------------------------------------------------------------------- REST log


def _log(core: ServerCore, request: web.Request, at: float, group: str, status: int,
         refs: dict[str, str | None] | None = None, fault: str | None = None) -> None:
    core.stats.rest_log.append(RestRecord(at, request.method, request.path, group, status,
                                          fault=fault, **(refs or {})))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _refs(req: RestRequest | None, obj: object = None) -> dict[str, str | None]:
    """The order a call was about, for the REST log (see ``RestRecord``)."""
    if req is None:
        return {}
    body = req.body or {}
    query = dict(req.query)
    answer = obj if isinstance(obj, dict) else {}
    return {
        "identifier": _text(body.get("identifier")) or _text(body.get("new_identifier"))
        or _text(query.get("identifier")),
        "uuid": _text(answer.get("new_order_uuid")) or _text(answer.get("uuid"))
        or _text(query.get("uuid")),
        "previous": _text(body.get("prev_order_uuid")) or _text(body.get("prev_order_identifier")),
    }


# ---------------------------------------------------------------------- limiting


def _limit(core: ServerCore, request: web.Request, group: str, now: float
           ) -> RestDecision | web.Response:
    """Count the call; a Response when it must be refused (429/418), else the decision."""
    core.stats.rest_requests[group] += 1
    if group in QUOTATION_GROUPS:
        scope = request.remote or "unknown"
    else:
        scope = token_access_key(request.headers.get("Authorization")) or (
            request.remote or "unknown")
    if core.fault_state.rest_throttle_until > now:
        decision = RestDecision(429, group, core.rest_limiter.per_minute(group), 0)
    else:
        decision = core.rest_limiter.check(group, scope, now)
    if decision.status == 200:
        return decision
    headers = {"Remaining-Req": decision.header}
    if group in QUOTATION_GROUPS:
        headers["Limit-By-Ip"] = "Yes"
    core.stats.rest_status[decision.status] += 1
    if decision.status == 429:
        return web.Response(status=429, text=TOO_MANY, headers=headers)
    return web.Response(
        status=418, headers=headers,
        text=f"{TOO_MANY} Blocked for {decision.blocked_for:g} seconds after repeated 429s.",
    )


def _finish(core: ServerCore, decision: RestDecision, status: int, obj: object) -> web.Response:
    headers = {"Remaining-Req": decision.header}
    if decision.group in QUOTATION_GROUPS:
        headers["Limit-By-Ip"] = "Yes"
    core.stats.rest_status[status] += 1
    return json_response(obj, status, headers)


# ---------------------------------------------------------------------- quotation


def _q(request: web.Request, name: str) -> str | None:
    return request.query.get(name)


def _market_all(core: ServerCore, request: web.Request) -> Any:
    return quotation.market_all(core.market, is_details=_q(request, "is_details"))


def _ticker(core: ServerCore, request: web.Request) -> Any:
    return quotation.tickers(core.market, _q(request, "markets"))


def _orderbook(core: ServerCore, request: web.Request) -> Any:
    return quotation.orderbooks(core.market, _q(request, "markets"), _q(request, "count"),
                                _q(request, "level"))


def _instruments(core: ServerCore, request: web.Request) -> Any:
    return quotation.orderbook_instruments(core.market, _q(request, "markets"))


def _trades(core: ServerCore, request: web.Request) -> Any:
    return quotation.trades_ticks(core.market, _q(request, "market"), _q(request, "count"),
                                  _q(request, "cursor"))


def _candles(core: ServerCore, request: web.Request) -> Any:
    return quotation.candles_minutes(core.market, _q(request, "market"),
                                     request.match_info["unit"], _q(request, "count"),
                                     _q(request, "to"))


QUOTATION_ROUTES: list[tuple[str, str, Body]] = [
    ("/v1/market/all", "market", _market_all),
    ("/v1/ticker", "ticker", _ticker),
    ("/v1/orderbook", "orderbook", _orderbook),
    ("/v1/orderbook/instruments", "orderbook", _instruments),
    ("/v1/trades/ticks", "crix-trades", _trades),
    ("/v1/candles/minutes/{unit}", "candles", _candles),
]


def _quotation_handler(core: ServerCore, group: str, body: Body
                       ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        decision = _limit(core, request, group, at)
        if isinstance(decision, web.Response):
            _log(core, request, at, group, decision.status)
            return decision
        try:
            obj = body(core, request)
        except quotation.QuotationError as exc:
            _log(core, request, at, group, exc.status)
            return _finish(core, decision, exc.status,
                           {"error": {"name": exc.name, "message": exc.message}})
        _log(core, request, at, group, 200)
        return _finish(core, decision, 200, obj)

    return handler


# ---------------------------------------------------------------------- exchange


async def _rest_request(request: web.Request) -> RestRequest | str:
    raw = request.rel_url.raw_query_string
    query_string = unquote(raw)
    query = parse_qsl(raw, keep_blank_values=True)
    body: dict | None = None
    if request.can_read_body:
        text = await request.text()
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                return "the request body is not JSON (send Content-Type: application/json)"
            if not isinstance(parsed, dict):
                return "the request body must be a JSON object"
            body = parsed
    return RestRequest(request.method, request.path, query_string, query, body,
                       request.headers.get("Authorization"))


def _exchange_handler(core: ServerCore, group: str, fn: Callable
                      ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        decision = _limit(core, request, group, at)
        req = await _rest_request(request)
        if isinstance(decision, web.Response):  # never reaches the exchange
            _log(core, request, at, group, decision.status,
                 _refs(req if isinstance(req, RestRequest) else None))
            return decision
        if isinstance(req, str):
            _log(core, request, at, group, 400)
            return _finish(core, decision, 400,
                           {"error": {"name": "validation_error", "message": req}})
        try:
            status, obj = fn(core.exchange, core.auth, req)
        except Exception:
            log.exception("exchange handler %s %s failed", request.method, request.path)
            _log(core, request, at, group, 500, _refs(req))
            return _finish(core, decision, 500,
                           {"error": {"name": "server_error", "message": "emulator error"}})
        fault = None
        if status == 201 and request.method == "POST" and request.path in ORDER_FAULT_PATHS:
            fault = take_order_fault(core)
        response = _finish(core, decision, status, obj)
        if fault is None:
            _log(core, request, at, group, status, _refs(req, obj))
            return response
        sent = {"accept_then_drop": 0, "accept_then_5xx": fault.status}.get(fault.kind, status)
        _log(core, request, at, group, sent, _refs(req, obj), fault.kind)
        return await answer_with_fault(request, fault, response, core.stopping)

    return handler


def add_rest_routes(app: web.Application, core: ServerCore) -> None:
    """Mount the quotation and exchange routes on ``app``."""
    for path, group, body in QUOTATION_ROUTES:
        app.router.add_get(path, _quotation_handler(core, group, body), allow_head=False)
    for method, path, group, fn in EXCHANGE_ROUTES:
        app.router.add_route(method, path, _exchange_handler(core, group, fn))
