"""Exchange REST endpoints of the emulator (protocol.md 8.1, 8.3, 8.4).

The server mounts :data:`EXCHANGE_ROUTES` (method, path, rate-limit group, handler) into its
aiohttp app and wraps them with rate limiting and ``Remaining-Req`` headers. A handler is
``handler(exchange, auth, req) -> (status, json_object)``; it verifies the JWT first (the raw
query string for GET/DELETE, the JSON body rendered by
:func:`~upbit_hub.actors.emulator.auth.query_string_for_hash` for POST), then answers with
Upbit's shapes: amounts as strings except ``trades_count``, errors as
``{"error": {"name": ..., "message": ...}}``.

Example (``POST /v1/orders`` → 201)::

    {"uuid":"82fe9b72-eb0f-462b-8e0e-e74ad844acea","side":"bid","ord_type":"limit",
     "price":"10000000","state":"wait","market":"KRW-BTC","created_at":"2026-03-22T21:42:22+09:00",
     "volume":"0.0005","remaining_volume":"0.0005","prevented_volume":"0","reserved_fee":"2.5",
     "remaining_fee":"2.5","paid_fee":"0","locked":"5002.5","prevented_locked":"0",
     "executed_volume":"0","trades_count":0}

Runs in: the emulator loop thread (handlers are synchronous and non-blocking).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from upbit_hub.actors.emulator.auth import Authenticator, AuthFailure, query_string_for_hash
from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.emulator.exchange_model import (
    CLOSED_STATES,
    OPEN_STATES,
    ExchangeError,
    Order,
    dec_str,
    kst_iso,
)

__all__ = [
    "EXCHANGE_ROUTES",
    "Handler",
    "RestRequest",
    "accounts_json",
    "order_json",
]

WEEK_MS: Final = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class RestRequest:
    """One exchange REST call as the server received it.

    ``query_string`` is the raw query string, percent-decoded (``states[]=wait&states[]=watch``),
    in the order sent; ``query`` the same as (key, value) pairs; ``body`` the parsed JSON object
    of a POST (None when there is none); ``authorization`` the header value, if any.
    """

    method: str
    path: str
    query_string: str
    query: list[tuple[str, str]]
    body: dict | None
    authorization: str | None


Handler = Callable[[Exchange, Authenticator, RestRequest], tuple[int, object]]


# -- JSON shapes -------------------------------------------------------------------------------


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
        "prevented_volume": "0",
        "reserved_fee": dec_str(order.reserved_fee),
        "remaining_fee": dec_str(order.remaining_fee),
        "paid_fee": dec_str(order.paid_fee),
        "locked": dec_str(order.locked),
        "prevented_locked": "0",
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


def accounts_json(exchange: Exchange) -> list[dict]:
    """``GET /v1/accounts`` body: KRW first, then every currency held or locked.

    Runs in: the emulator loop thread.
    """
    rows = []
    balances = exchange.balances()
    for currency in sorted(balances, key=lambda c: (c != "KRW", c)):
        b = balances[currency]
        if currency != "KRW" and b.balance == 0 and b.locked == 0:
            continue
        rows.append(
            {
                "currency": currency,
                "balance": dec_str(b.balance),
                "locked": dec_str(b.locked),
                "avg_buy_price": dec_str(b.avg_buy_price),
                "avg_buy_price_modified": b.avg_buy_price_modified,
                "unit_currency": "KRW",
            }
        )
    return rows


# -- request helpers ---------------------------------------------------------------------------


def _bad(message: str) -> ExchangeError:
    return ExchangeError(400, "validation_error", message)


def _hash_input(req: RestRequest) -> str:
    if req.body:
        return query_string_for_hash(req.body)
    return req.query_string


def _single(req: RestRequest, key: str) -> str | None:
    values = [v for k, v in req.query if k == key]
    if len(values) > 1:
        raise _bad(f"{key} given {len(values)} times; give it once")
    return values[0] if values else None


def _many(req: RestRequest, key: str) -> list[str]:
    return [v for k, v in req.query if k in (f"{key}[]", key)]


def _int(req: RestRequest, key: str, default: int, low: int, high: int) -> int:
    text = _single(req, key)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _bad(f"{key} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise _bad(f"{key} must be between {low} and {high}, got {value}")
    return value


def _states(req: RestRequest, allowed: tuple[str, ...]) -> tuple[str, ...]:
    state = _single(req, "state")
    states = [v for k, v in req.query if k == "states[]"]
    if state is not None and states:
        raise _bad("give either state or states[], not both")
    chosen = [state] if state is not None else states
    for s in chosen:
        if s not in allowed:
            raise _bad(f"state must be one of {', '.join(allowed)}, got {s!r}")
    return tuple(chosen) or allowed


def _order_by(req: RestRequest) -> str:
    value = _single(req, "order_by") or "desc"
    if value not in ("asc", "desc"):
        raise _bad(f"order_by must be asc or desc, got {value!r}")
    return value


def _market(exchange: Exchange, req: RestRequest) -> str | None:
    market = _single(req, "market")
    if market is None or market == "":
        return None
    return market.upper()


def _time_ms(req: RestRequest, key: str) -> int | None:
    text = _single(req, key)
    if text is None or text == "":
        return None
    text = text.strip()
    if text.isdigit():
        return int(text)
    # An un-encoded '+' of a timezone arrives as a space after form decoding.
    candidate = text.replace(" ", "+")
    try:
        moment = _dt.datetime.fromisoformat(candidate)
    except ValueError:
        raise _bad(f"{key} must be ISO 8601 with a timezone or Unix ms, got {text!r}") from None
    if moment.tzinfo is None:
        raise _bad(f"{key} needs a timezone (e.g. 2026-03-22T21:42:22+09:00), got {text!r}")
    return int(moment.timestamp() * 1000)


def _sorted(orders: list[Order], order_by: str) -> list[Order]:
    return sorted(orders, key=lambda o: o.created_ms, reverse=(order_by == "desc"))


def _authed(fn: Callable[[Exchange, RestRequest], tuple[int, object]]) -> Handler:
    """Wrap ``fn`` with JWT verification and error-body conversion."""

    def handler(exchange: Exchange, auth: Authenticator, req: RestRequest) -> tuple[int, object]:
        try:
            auth.verify_rest(req.authorization, _hash_input(req))
            return fn(exchange, req)
        except (AuthFailure, ExchangeError) as exc:
            return exc.status, exc.body()

    handler.__name__ = fn.__name__
    handler.__doc__ = fn.__doc__
    return handler


# -- handlers ----------------------------------------------------------------------------------


@_authed
def get_accounts(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/accounts``. Runs in: the emulator loop thread."""
    return 200, accounts_json(exchange)


@_authed
def post_orders(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``POST /v1/orders`` with a JSON body; 201 with the accepted order. Runs in: loop thread."""
    params: dict | None = req.body
    if params is None and req.query:
        params = dict(req.query)
    if not params:
        raise _bad("the order parameters are missing; send them as a JSON body")
    if not isinstance(params, dict):
        raise _bad("the body must be a JSON object")
    order = exchange.place_order(params)
    return 201, order_json(order)


def _order_ref(req: RestRequest) -> dict[str, str | None]:
    uuid, identifier = _single(req, "uuid"), _single(req, "identifier")
    if not uuid and not identifier:
        raise _bad("uuid or identifier is required")
    if uuid and identifier:
        raise _bad("give either uuid or identifier, not both")
    return {"uuid": uuid or None, "identifier": identifier or None}


@_authed
def delete_order(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``DELETE /v1/order?uuid=|identifier=``: the order as of cancel acceptance (state wait).

    Runs in: the emulator loop thread.
    """
    return 200, order_json(exchange.cancel_order(**_order_ref(req)))


@_authed
def get_order(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/order?uuid=|identifier=`` with ``trades``. Runs in: the emulator loop thread."""
    order = exchange.get_order(**_order_ref(req))
    return 200, order_json(order, executed_funds=True, trades=True)


@_authed
def get_orders_open(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/open`` (market, state|states[], page, limit <= 100, order_by).

    Runs in: the emulator loop thread.
    """
    market = _market(exchange, req)
    states = _states(req, OPEN_STATES)
    page = _int(req, "page", 1, 1, 1_000_000)
    limit = _int(req, "limit", 100, 1, 100)
    orders = _sorted(exchange.orders(market=market, states=states), _order_by(req))
    chosen = orders[(page - 1) * limit : page * limit]
    return 200, [order_json(o) for o in chosen]


@_authed
def get_orders_closed(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/closed`` (market, state|states[], start_time/end_time within 7 days,
    limit <= 1000, order_by). Runs in: the emulator loop thread.
    """
    market = _market(exchange, req)
    states = _states(req, CLOSED_STATES)
    limit = _int(req, "limit", 100, 1, 1000)
    start, end = _time_ms(req, "start_time"), _time_ms(req, "end_time")
    if start is None and end is None:
        end = exchange.now_ms()
        start = end - WEEK_MS
    elif start is None:
        start = end - WEEK_MS
    elif end is None:
        end = start + WEEK_MS
    if end < start:
        raise _bad("end_time is before start_time")
    if end - start > WEEK_MS:
        raise _bad("the start_time..end_time window must be at most 7 days")
    orders = [
        o for o in exchange.orders(market=market, states=states) if start <= o.created_ms <= end
    ]
    chosen = _sorted(orders, _order_by(req))[:limit]
    return 200, [order_json(o, executed_funds=True) for o in chosen]


@_authed
def get_orders_uuids(exchange: Exchange, req: RestRequest) -> tuple[int, object]:
    """``GET /v1/orders/uuids`` (uuids[] or identifiers[] up to 100, market, order_by).

    Unknown ids are left out. Runs in: the emulator loop thread.
    """
    uuids, identifiers = _many(req, "uuids"), _many(req, "identifiers")
    if bool(uuids) == bool(identifiers):
        raise _bad("give either uuids[] or identifiers[]")
    refs = uuids or identifiers
    if len(refs) > 100:
        raise _bad(f"at most 100 ids per call, got {len(refs)}")
    market = _market(exchange, req)
    found = []
    for ref in refs:
        try:
            order = exchange.get_order(uuid=ref) if uuids else exchange.get_order(identifier=ref)
        except ExchangeError:
            continue
        if market is None or order.market == market:
            found.append(order)
    chosen = _sorted(found, _order_by(req))
    return 200, [order_json(o, executed_funds=True) for o in chosen]


#: (method, path, rate-limit group, handler) for the server to mount.
EXCHANGE_ROUTES: Final[list[tuple[str, str, str, Handler]]] = [
    ("GET", "/v1/accounts", "default", get_accounts),
    ("POST", "/v1/orders", "order", post_orders),
    ("DELETE", "/v1/order", "default", delete_order),
    ("GET", "/v1/order", "default", get_order),
    ("GET", "/v1/orders/open", "default", get_orders_open),
    ("GET", "/v1/orders/closed", "default", get_orders_closed),
    ("GET", "/v1/orders/uuids", "default", get_orders_uuids),
]
