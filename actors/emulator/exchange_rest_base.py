"""Shared plumbing of the exchange REST handlers: the request record, parameter helpers and
the JWT wrapper (protocol.md 8.1).

A handler is ``handler(exchange, auth, req) -> (status, json_object)``; :func:`authed` verifies
the JWT first (the raw query string for GET/DELETE, the JSON body rendered by
:func:`~upbit_hub.actors.emulator.auth.query_string_for_hash` for POST) and turns
:class:`~upbit_hub.actors.emulator.exchange_model.ExchangeError` / ``AuthFailure`` into
Upbit's ``{"error": {"name": ..., "message": ...}}`` bodies.

Runs in: the emulator loop thread (handlers are synchronous and non-blocking).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

from upbit_hub.actors.emulator.auth import Authenticator, AuthFailure, query_string_for_hash
from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.emulator.exchange_model import ExchangeError, Order
from upbit_hub.actors.protocol.trading_rules import VALIDATION_ERROR

__all__ = [
    "Handler",
    "RestRequest",
    "authed",
    "bad",
    "body_params",
    "comma_list",
    "int_param",
    "many",
    "market_param",
    "order_by_param",
    "order_ref",
    "single",
    "sorted_orders",
    "states_param",
    "time_ms_param",
]


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


Handler = Callable[[Exchange, Authenticator, RestRequest], tuple[int, object]]


# -- request helpers ---------------------------------------------------------------------------


def bad(message: str) -> ExchangeError:
    """A 400 ``validation_error`` with ``message``."""
    return ExchangeError(400, VALIDATION_ERROR, message)


def _hash_input(req: RestRequest) -> str:
    if req.body:
        return query_string_for_hash(req.body)
    return req.query_string


def comma_list(req: RestRequest, key: str) -> list[str] | None:
    """A comma-separated parameter (``pairs=KRW-BTC,KRW-ETH``) as upper-case codes, or None."""
    text = single(req, key)
    if text is None or not text.strip():
        return None
    return [c.strip().upper() for c in text.split(",") if c.strip()]


def single(req: RestRequest, key: str) -> str | None:
    """The one value of ``key`` (None if absent); ``validation_error`` if given twice."""
    values = [v for k, v in req.query if k == key]
    if len(values) > 1:
        raise bad(f"{key} given {len(values)} times; give it once")
    return values[0] if values else None


def many(req: RestRequest, key: str) -> list[str]:
    """Every value of ``key[]`` (or ``key``), in the order sent."""
    return [v for k, v in req.query if k in (f"{key}[]", key)]


def int_param(req: RestRequest, key: str, default: int, low: int, high: int) -> int:
    """An integer parameter within ``low..high`` (``default`` when absent)."""
    text = single(req, key)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise bad(f"{key} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise bad(f"{key} must be between {low} and {high}, got {value}")
    return value


def states_param(req: RestRequest, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``state`` or ``states[]`` values, each one of ``allowed`` (all of them when absent)."""
    state = single(req, "state")
    states = [v for k, v in req.query if k == "states[]"]
    if state is not None and states:
        raise bad("give either state or states[], not both")
    chosen = [state] if state is not None else states
    for s in chosen:
        if s not in allowed:
            raise bad(f"state must be one of {', '.join(allowed)}, got {s!r}")
    return tuple(chosen) or allowed


def order_by_param(req: RestRequest) -> str:
    """``order_by``: ``asc`` or ``desc`` (default)."""
    value = single(req, "order_by") or "desc"
    if value not in ("asc", "desc"):
        raise bad(f"order_by must be asc or desc, got {value!r}")
    return value


def market_param(exchange: Exchange, req: RestRequest) -> str | None:
    """``market`` in upper case, or None."""
    market = single(req, "market")
    if market is None or market == "":
        return None
    return market.upper()


def time_ms_param(req: RestRequest, key: str) -> int | None:
    """An ISO 8601 time with a timezone, or Unix ms, as Unix ms (None when absent)."""
    text = single(req, key)
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
        raise bad(f"{key} must be ISO 8601 with a timezone or Unix ms, got {text!r}") from None
    if moment.tzinfo is None:
        raise bad(f"{key} needs a timezone (e.g. 2026-03-22T21:42:22+09:00), got {text!r}")
    return int(moment.timestamp() * 1000)


def sorted_orders(orders: list[Order], order_by: str) -> list[Order]:
    """``orders`` by creation time, newest first for ``desc``."""
    return sorted(orders, key=lambda o: o.created_ms, reverse=(order_by == "desc"))


def authed(fn: Callable[[Exchange, RestRequest], tuple[int, object]]) -> Handler:
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




def order_ref(req: RestRequest) -> dict[str, str | None]:
    """``uuid`` or ``identifier`` (exactly one) as keyword arguments for the exchange."""
    uuid, identifier = single(req, "uuid"), single(req, "identifier")
    if not uuid and not identifier:
        raise bad("uuid or identifier is required")
    if uuid and identifier:
        raise bad("give either uuid or identifier, not both")
    return {"uuid": uuid or None, "identifier": identifier or None}


def body_params(req: RestRequest) -> dict:
    """The JSON body of a POST (the query as a fallback); ``validation_error`` when empty."""
    params: dict | None = req.body
    if params is None and req.query:
        params = dict(req.query)
    if not params:
        raise bad("the parameters are missing; send them as a JSON body")
    return params
