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

Every response carries ``Remaining-Req: group=<g>; min=<limit*60>; sec=<left>``; quotation
responses also ``Limit-By-Ip: Yes``. Over the group's per-second limit -> 429 with the plain
text body ``Too many API requests.``; continuing while limited -> 418 (plain text naming the
block time). Quotation groups are limited per client IP, ``default`` and ``order`` per access
key (read from the token, unverified; the client IP when there is no token). JSON bodies are
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
from upbit_hub.actors.emulator.limits import QUOTATION_GROUPS, RestDecision
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
        return json_response(NOT_FOUND_BODY, 404)


# ---------------------------------------------------------------------- limiting


def _limit(core: ServerCore, request: web.Request, group: str) -> RestDecision | web.Response:
    """Count the call; a Response when it must be refused (429/418), else the decision."""
    core.stats.rest_requests[group] += 1
    now = time.monotonic()
    if group in QUOTATION_GROUPS:
        scope = request.remote or "unknown"
    else:
        scope = token_access_key(request.headers.get("Authorization")) or (
            request.remote or "unknown")
    if core.fault_state.rest_throttle_until > now:
        limit = core.rest_limiter.limits.get(group, 10)
        decision = RestDecision(429, group, limit * 60, 0)
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
        text=f"{TOO_MANY} Blocked for {decision.blocked_for:.0f} seconds after repeated 429s.",
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
        decision = _limit(core, request, group)
        if isinstance(decision, web.Response):
            return decision
        try:
            obj = body(core, request)
        except quotation.QuotationError as exc:
            return _finish(core, decision, exc.status,
                           {"error": {"name": exc.name, "message": exc.message}})
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
        decision = _limit(core, request, group)
        if isinstance(decision, web.Response):
            return decision
        req = await _rest_request(request)
        if isinstance(req, str):
            return _finish(core, decision, 400,
                           {"error": {"name": "validation_error", "message": req}})
        try:
            status, obj = fn(core.exchange, core.auth, req)
        except Exception:
            log.exception("exchange handler %s %s failed", request.method, request.path)
            return _finish(core, decision, 500,
                           {"error": {"name": "server_error", "message": "emulator error"}})
        return _finish(core, decision, status, obj)

    return handler


def add_rest_routes(app: web.Application, core: ServerCore) -> None:
    """Mount the quotation and exchange routes on ``app``."""
    for path, group, body in QUOTATION_ROUTES:
        app.router.add_get(path, _quotation_handler(core, group, body), allow_head=False)
    for method, path, group, fn in EXCHANGE_ROUTES:
        app.router.add_route(method, path, _exchange_handler(core, group, fn))
