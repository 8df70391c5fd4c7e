"""A small synchronous Upbit REST client: quotation snapshots (and, with a token factory,
the exchange endpoints).

Client-side limiter per rate-limit group (quotation groups: 8/s of Upbit's 10/s per IP), and
Upbit's answers are respected: 429 and 418 raise :class:`RateLimitedError`, 401
:class:`AuthError`, other errors :class:`RestError` carrying Upbit's error name (which is an
integer for quotation errors). Bodies of 429/418 may be plain text.

Transport failures are kept apart, because for an order they mean opposite things:

- :class:`RestConnectError`: the request never left (connection refused, DNS, connect
  timeout). Nothing happened on the server; sending again is safe.
- :class:`RestOutcomeUnknownError`: the request went out but no usable answer came back (read
  timeout, connection reset or closed mid-answer, HTTP 5xx, a body that is not JSON). The
  server may have acted on it.

``counters()`` gives calls per group, answers per status and rate-limit hits (for the metrics
endpoint and the status view).

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

from .protocol.errors import (
    AuthError,
    RateLimitedError,
    RestConnectError,
    RestError,
    RestOutcomeUnknownError,
)
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
        auth_hint: str = "",
        paced: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.paced = paced  # False: the caller paces (the order actor's per-group pacer)
        self.auth_hint = auth_hint  # where the keys come from, named in a 401's message
        self.timeout = timeout
        self.token_factory = token_factory
        self._local = threading.local()
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()
        self.remaining: dict[str, int] = {}
        self._calls: dict[str, int] = {}
        self._statuses: dict[int, int] = {}
        self._transport_errors: dict[str, int] = {}

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
        meta: dict[str, Any] | None = None,
    ) -> bytes:
        """One call; returns the raw body (numbers keep their exact text for Decimal).

        ``meta``, when given, receives ``status`` and ``remaining`` (the ``sec=`` of
        ``Remaining-Req``) of the answer, also when an error is raised for it.
        """
        if self.paced:
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
        self._count(self._calls, group)
        try:
            resp = self._session().request(
                method, url, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            error = self._transport_error(exc, method, path)
            self._count(self._transport_errors, error.name)
            raise error from exc
        self._count(self._statuses, resp.status_code)
        remaining = self._note_remaining(resp.headers.get("Remaining-Req", ""))
        if meta is not None:
            meta["status"] = resp.status_code
            meta["remaining"] = remaining
        if resp.status_code >= 400:
            raise _error(resp, path, self.auth_hint)
        return resp.content

    def _transport_error(self, exc: requests.RequestException, method: str, path: str
                         ) -> RestError:
        """Sort a transport failure into "never sent" and "sent, answer lost"."""
        where = f"{method} {path}"
        if _never_sent(exc):
            return RestConnectError(self.base_url, _connect_reason(exc), where)
        if isinstance(exc, requests.ReadTimeout):
            return RestOutcomeUnknownError(
                0, "read_timeout", f"no answer within {self.timeout:g}s", where)
        return RestOutcomeUnknownError(
            0, "connection_lost", f"the connection broke before the answer: "
            f"{type(exc).__name__}", where)

    @staticmethod
    def _count(table: dict[Any, int], key: Any) -> None:
        table[key] = table.get(key, 0) + 1  # GIL-atomic enough for counters

    def counters(self) -> dict[str, dict[Any, int]]:
        """Calls per rate-limit group, answers per HTTP status, rate-limited answers (429 and
        418) and transport errors by kind. Runs in: any thread."""
        statuses = dict(self._statuses)
        return {
            "calls": dict(self._calls),
            "statuses": statuses,
            "rate_limited": {"429": statuses.get(429, 0), "418": statuses.get(418, 0)},
            "transport_errors": dict(self._transport_errors),
        }

    def _note_remaining(self, header: str) -> int | None:
        m = _REMAINING.search(header)
        if not m:
            return None
        left = self.remaining[m.group(1)] = int(m.group(3))
        return left

    # -- quotation ---------------------------------------------------------------------------

    def get_markets(self) -> list[Any]:
        """Every market Upbit lists, with its warning/caution flags (``/v1/market/all``)."""
        from .protocol.rest_types import decode_markets

        body = self.request_raw("GET", "/v1/market/all", group="market",
                                params=[("is_details", "true")])
        try:
            return decode_markets(body)
        except ValueError as exc:  # msgspec.DecodeError/ValidationError are ValueErrors
            raise RestOutcomeUnknownError(200, "bad_body", f"market list unreadable: {exc}",
                                          "/v1/market/all") from exc

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


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server: a connect timeout, or a
    connection error whose cause is a failed connect (refused, DNS) rather than a connection
    that broke after the request went out."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError | NameResolutionError | ConnectionRefusedError):
            return True
        reason = getattr(cause, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else None
        if nxt is None and cause.args and isinstance(cause.args[0], BaseException):
            nxt = cause.args[0]
        cause = nxt or cause.__cause__ or cause.__context__
    return False


def _connect_reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "host name not found"),
                           ("Temporary failure in name resolution", "host name not found"),
                           ("timed out", "connect timed out")):  # fmt: skip
        if needle in text:
            return reason
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timed out"
    return type(exc).__name__


def _error(resp: requests.Response, path: str, auth_hint: str = "") -> RestError:
    name: Any = None
    message = resp.text[:200]
    readable = True
    try:
        payload = resp.json()
        err = payload.get("error", {}) if isinstance(payload, dict) else {}
        name = err.get("name")
        message = err.get("message", message)
    except ValueError:
        readable = False
    status = resp.status_code
    if status in (429, 418):
        return RateLimitedError(status, name or status, message.strip(), path)
    if status == 401:
        source = f" from {auth_hint}" if auth_hint else ""
        return AuthError(status, name, f"{message} (Upbit rejected the API keys{source}; check "
                         "the key pair, its permissions and its IP allow-list)", path)
    if status >= 500:
        why = "" if readable else " (the body is not JSON)"
        return RestOutcomeUnknownError(status, name or status, message.strip() + why, path)
    return RestError(status, name, message, path)
