"""Calls of the order manager sent to Upbit over REST, each ending sorted into an outcome.

``RestVenue(rest).execute(call) -> CallResult`` blocks on one HTTP request (the order actor
runs it on a worker thread). The sorting is what the manager's promises rest on:

- :class:`~upbit_hub.actors.protocol.errors.RestConnectError` -> ``not_sent``;
- :class:`~upbit_hub.actors.protocol.errors.RestOutcomeUnknownError` (read timeout, reset,
  5xx, unreadable body) and a 2xx whose body cannot be read -> ``unknown``;
- 429 -> ``rate_limited``, 418 -> ``banned``, other 4xx -> ``rejected`` with Upbit's name.

Endpoints (protocol.md 8.3): ``POST /v1/orders``, ``DELETE /v1/order``, ``GET /v1/order``,
``POST /v1/orders/cancel_and_new``, ``DELETE /v1/orders/open``, ``GET /v1/accounts``,
``GET /v1/orders/chance``.

Runs in: a worker thread of the order actor (``execute``); nothing is shared but the client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import msgspec

from upbit_hub.actors.protocol.errors import (
    RateLimitedError,
    RestConnectError,
    RestError,
    RestOutcomeUnknownError,
    UpbitHubError,
)
from upbit_hub.actors.protocol.rest_types import decode_accounts, decode_order

from .calls import Call, CallResult

__all__ = ["RestVenue"]

log = logging.getLogger(__name__)

# kind -> (HTTP method, path, body or query)
_ROUTES: dict[str, tuple[str, str, str]] = {
    "place": ("POST", "/v1/orders", "body"),
    "replace": ("POST", "/v1/orders/cancel_and_new", "body"),
    "cancel": ("DELETE", "/v1/order", "query"),
    "get": ("GET", "/v1/order", "query"),
    "cancel_all": ("DELETE", "/v1/orders/open", "query"),
    "accounts": ("GET", "/v1/accounts", "query"),
    "chance": ("GET", "/v1/orders/chance", "query"),
}


class RestVenue:
    """Sends :class:`~.calls.Call` values with a :class:`~upbit_hub.actors.rest.RestClient`
    (built with ``paced=False``: the manager's pacer paces)."""

    def __init__(self, rest: Any) -> None:
        self.rest = rest

    def execute(self, call: Call) -> CallResult:
        """Send one call and sort its ending. Never raises. Runs in: a worker thread."""
        method, path, where = _ROUTES[call.kind]
        meta: dict[str, Any] = {}
        base = {"token": call.token, "kind": call.kind, "client_id": call.client_id}
        try:
            raw = self.rest.request_raw(
                method, path, group=call.group, auth=True, meta=meta,
                body=dict(call.params) if where == "body" else None,
                params=list(call.params.items()) if where == "query" else None,
            )  # fmt: skip
        except RestConnectError as exc:
            return CallResult(**base, outcome="not_sent", error="connect_error",
                              message=exc.reason)  # fmt: skip
        except RestOutcomeUnknownError as exc:
            return CallResult(**base, outcome="unknown", status=exc.status, error=str(exc.name),
                              message=exc.message, remaining=meta.get("remaining"))  # fmt: skip
        except RateLimitedError as exc:
            return CallResult(**base, outcome="banned" if exc.status == 418 else "rate_limited",
                              status=exc.status, error=str(exc.name), message=exc.message,
                              remaining=meta.get("remaining"))  # fmt: skip
        except RestError as exc:
            return CallResult(**base, outcome="rejected", status=exc.status,
                              error=str(exc.name), message=exc.message,
                              remaining=meta.get("remaining"))  # fmt: skip
        except UpbitHubError as exc:  # e.g. missing keys: the request was never sent
            return CallResult(**base, outcome="not_sent", error=type(exc).__name__,
                              message=str(exc))  # fmt: skip
        status, remaining = meta.get("status", 200), meta.get("remaining")
        try:
            body = _decode(call.kind, raw)
        except (ValueError, msgspec.MsgspecError) as exc:
            return CallResult(**base, outcome="unknown", status=status, error="bad_body",
                              message=f"unreadable answer: {exc}", remaining=remaining)
        return CallResult(**base, outcome="ok", status=status, body=body, remaining=remaining)


def _decode(kind: str, raw: bytes) -> Any:
    if kind in ("place", "get", "cancel"):
        return decode_order(raw)
    if kind == "accounts":
        return decode_accounts(raw)
    return json.loads(raw)  # replace, cancel_all, chance: small dicts
