"""A small synchronous Upbit REST client: quotation snapshots (and, with a token factory,
the exchange endpoints).

Client-side limiter per rate-limit group (quotation groups: 8/s of Upbit's 10/s per IP), and
Upbit's answers are respected: 429 and 418 raise :class:`RateLimitedError`, 401
:class:`AuthError`, other errors :class:`RestError` carrying Upbit's error name (which is an
integer for quotation errors). Bodies of 429/418 may be plain text.

Runs in: the caller's thread. One ``requests.Session`` per thread (sessions are not
guaranteed thread-safe).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import requests

from .protocol.errors import AuthError, RateLimitedError, RestError
from .protocol.requests import validate_market_code
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

_GROUP_LIMITS = {
    "market": 8.0,
    "ticker": 8.0,
    "orderbook": 8.0,
    "candles": 8.0,
    "crix-trades": 8.0,
    "default": 25.0,
    "order": 6.0,
}
_REMAINING = re.compile(r"group=([a-z-]+);\s*min=(\d+);\s*sec=(\d+)")


class RestClient:
    """Synchronous REST access to Upbit (or the emulator) at ``base_url`` (no ``/v1``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        token_factory: Callable[[str], str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token_factory = token_factory
        self._local = threading.local()
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()
        self.remaining: dict[str, int] = {}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Accept"] = "application/json"
        return session

    def _limiter(self, group: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(group)
            if limiter is None:
                rate = _GROUP_LIMITS.get(group, 8.0)
                limiter = self._limiters[group] = RateLimiter([(rate, 1.0)])
            return limiter

    def request(
        self,
        method: str,
        path: str,
        *,
        group: str,
        params: Sequence[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        auth: bool = False,
    ) -> Any:
        """One call; returns the decoded JSON body. Raises the RestError family."""
        return json.loads(
            self.request_raw(method, path, group=group, params=params, body=body, auth=auth)
        )

    def request_raw(
        self,
        method: str,
        path: str,
        *,
        group: str,
        params: Sequence[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        auth: bool = False,
    ) -> bytes:
        """One call; returns the raw body (numbers keep their exact text for Decimal)."""
        self._limiter(group).acquire()
        query = urlencode(list(params or ()), safe="[],:-")
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        headers: dict[str, str] = {}
        if auth:
            if self.token_factory is None:
                raise AuthError(401, "no_credentials", "this client has no API keys", path)
            # Upbit hashes the UNENCODED query string (or the JSON body rendered as one).
            pairs = list(params or ()) if body is None else list(body.items())
            hashed = "&".join(f"{k}={v}" for k, v in pairs)
            headers["Authorization"] = f"Bearer {self.token_factory(hashed)}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            resp = self._session().request(
                method, url, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RestError(0, "connection_error", f"{type(exc).__name__}", path) from exc
        self._note_remaining(resp.headers.get("Remaining-Req", ""))
        if resp.status_code >= 400:
            raise _error(resp, path)
        return resp.content

    def _note_remaining(self, header: str) -> None:
        m = _REMAINING.search(header)
        if m:
            self.remaining[m.group(1)] = int(m.group(3))

    # -- quotation ---------------------------------------------------------------------------

    def get_ticker(self, symbols: Sequence[str]) -> list[Any]:
        """Current tickers as :class:`TickerEvent` objects (REST ``/v1/ticker``)."""
        from .protocol.decode import decode_rest_ticker

        codes = _codes(symbols)
        body = self.request_raw(
            "GET", "/v1/ticker", group="ticker", params=[("markets", ",".join(codes))]
        )
        return decode_rest_ticker(body)


    def get_orderbook(self, symbols: Sequence[str], count: int | None = None) -> list[Any]:
        """Current order books (REST ``/v1/orderbook``) as OrderbookEvent objects."""
        from .protocol.rest_quotation import orderbooks_from_rest

        params = [("markets", ",".join(_codes(symbols)))]
        if count is not None:
            params.append(("count", str(count)))
        body = self.request_raw("GET", "/v1/orderbook", group="orderbook", params=params)
        return orderbooks_from_rest(body)

    def get_trades(
        self, symbol: str, count: int = 100, cursor: int | None = None
    ) -> list[Any]:
        """Recent trades (REST ``/v1/trades/ticks``), newest first, as TradeEvent objects
        (``stream_type="BACKFILL"``). ``cursor``: only trades older than this sequential_id."""
        from .protocol.rest_quotation import trades_from_rest

        params = [("market", _codes([symbol])[0]), ("count", str(count))]
        if cursor is not None:
            params.append(("cursor", str(cursor)))
        body = self.request_raw("GET", "/v1/trades/ticks", group="crix-trades", params=params)
        return trades_from_rest(body)

    def get_candles(self, symbol: str, unit: int = 1, count: int = 200) -> list[Any]:
        """Minute candles (REST ``/v1/candles/minutes/{unit}``), newest first."""
        from .protocol.rest_quotation import candles_from_rest

        params = [("market", _codes([symbol])[0]), ("count", str(count))]
        body = self.request_raw(
            "GET", f"/v1/candles/minutes/{unit}", group="candles", params=params
        )
        return candles_from_rest(body, unit)

    # -- exchange (JWT) ----------------------------------------------------------------------

    def get_accounts(self) -> list[Any]:
        """Balances (REST ``/v1/accounts``) as Account objects."""
        from .protocol.rest_types import decode_accounts

        return decode_accounts(self._raw("GET", "/v1/accounts", group="default", auth=True))

    def get_open_orders(
        self, market: str | None = None, *, page: int = 1, limit: int = 100
    ) -> list[Any]:
        """Open orders (``wait`` and ``watch``) as Order objects."""
        from .protocol.rest_types import decode_orders

        params: list[tuple[str, str]] = []
        if market:
            params.append(("market", _codes([market])[0]))
        params += [("states[]", "wait"), ("states[]", "watch"), ("page", str(page)),
                   ("limit", str(limit))]
        return decode_orders(self._raw("GET", "/v1/orders/open", group="default", params=params,
                                       auth=True))

    def get_closed_orders(self, *, start_ms: int | None = None, limit: int = 1000) -> list[Any]:
        """Closed orders (``done`` and ``cancel``) created since ``start_ms`` (Upbit: <= 7 days)."""
        from .protocol.rest_types import decode_orders

        params: list[tuple[str, str]] = [("states[]", "done"), ("states[]", "cancel")]
        if start_ms is not None:
            params.append(("start_time", str(start_ms)))
        params.append(("limit", str(limit)))
        return decode_orders(self._raw("GET", "/v1/orders/closed", group="default",
                                       params=params, auth=True))

    def get_order(self, uuid: str) -> Any:
        """One order with its fills (REST ``/v1/order``)."""
        from .protocol.rest_types import decode_order

        return decode_order(self._raw("GET", "/v1/order", group="default",
                                      params=[("uuid", uuid)], auth=True))

    def place_order(
        self,
        market: str,
        side: str,
        *,
        volume: str | None = None,
        price: str | None = None,
        ord_type: str = "limit",
        identifier: str | None = None,
    ) -> Any:
        """``POST /v1/orders`` (Upbit answers 201 with the order). Amounts as decimal strings."""
        from .protocol.rest_types import decode_order

        body: dict[str, Any] = {"market": _codes([market])[0], "side": side}
        if volume is not None:
            body["volume"] = str(volume)
        if price is not None:
            body["price"] = str(price)
        body["ord_type"] = ord_type
        if identifier is not None:
            body["identifier"] = identifier
        return decode_order(self._raw("POST", "/v1/orders", group="order", body=body, auth=True))

    def cancel_order(self, uuid: str) -> Any:
        """``DELETE /v1/order``: the order as of cancel acceptance."""
        from .protocol.rest_types import decode_order

        return decode_order(self._raw("DELETE", "/v1/order", group="default",
                                      params=[("uuid", uuid)], auth=True))

    def _raw(self, method: str, path: str, **kw: Any) -> bytes:
        return self.request_raw(method, path, **kw)


def _codes(symbols: Sequence[str] | str) -> list[str]:
    if isinstance(symbols, str):
        symbols = [symbols]
    codes = [validate_market_code(s) for s in symbols]
    if not codes:
        raise ValueError("at least one market code is needed")
    return codes


def _error(resp: requests.Response, path: str) -> RestError:
    name: Any = None
    message = resp.text[:200]
    try:
        payload = resp.json()
        err = payload.get("error", {}) if isinstance(payload, dict) else {}
        name = err.get("name")
        message = err.get("message", message)
    except ValueError:
        pass
    status = resp.status_code
    if status in (429, 418):
        return RateLimitedError(status, name or status, message.strip(), path)
    if status == 401:
        return AuthError(status, name, message, path)
    return RestError(status, name, message, path)
