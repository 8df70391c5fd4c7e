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
        resp = self._session().request(
            method, url, data=data, headers=headers, timeout=self.timeout
        )
        self._note_remaining(resp.headers.get("Remaining-Req", ""))
        if resp.status_code >= 400:
            raise _error(resp, path)
        return resp.json()

    def _note_remaining(self, header: str) -> None:
        m = _REMAINING.search(header)
        if m:
            self.remaining[m.group(1)] = int(m.group(3))

    # -- quotation ---------------------------------------------------------------------------

    def get_ticker(self, symbols: Sequence[str]) -> list[Any]:
        """Current tickers as :class:`TickerEvent` objects (REST ``/v1/ticker``)."""
        from .protocol.decode import decode_rest_ticker

        codes = _codes(symbols)
        resp_body = self.request(
            "GET", "/v1/ticker", group="ticker", params=[("markets", ",".join(codes))]
        )
        return decode_rest_ticker(json.dumps(resp_body).encode())


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
