"""Parse and validate one client WebSocket request the way Upbit does (protocol.md 2 and 4).

Pure: no I/O, no asyncio. Runs in: the emulator loop thread (any thread is fine).

A request is a JSON array of objects::

    [{"ticket":"t1"},{"type":"orderbook","codes":["KRW-BTC.5"],"level":10000},
     {"type":"trade","codes":["KRW-ETH"],"is_only_realtime":true},{"format":"SIMPLE"}]

:func:`parse_request` returns a :class:`ParsedRequest` or raises :class:`RequestRejected`
carrying Upbit's error name and Korean message, e.g.
``{"error":{"name":"NO_CODES","message":"codes 필드가 존재하지 않습니다."}}``.

Choices where Upbit is undocumented (protocol.md 12):

- The first check that fails wins, in this order: not an array of objects (WRONG_FORMAT),
  no ticket (NO_TICKET), bad format value (INVALID_PARAM), bad method (INVALID_PARAM), no
  data-type object (NO_TYPE), then each data-type object in order.
- A request carrying both ``method`` and data types is treated as the operation (types
  ignored), since LIST_SUBSCRIPTIONS must not change the subscription set.
- ``is_only_snapshot`` and ``is_only_realtime`` both true: each suppresses its part, so nothing
  is sent for that object.
- ``level`` may be a number or a numeric string; anything else is WRONG_FORMAT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from upbit_hub.actors.protocol.fields import FORMATS, PRIVATE_TYPES, PUBLIC_TYPES

__all__ = [
    "MESSAGES",
    "ParsedRequest",
    "RequestRejected",
    "TypeRequest",
    "parse_request",
    "unsupported_type_message",
]

#: Upbit's error messages, verbatim (protocol.md 4).
MESSAGES: dict[str, str] = {
    "INVALID_AUTH": "인증 정보가 올바르지 않습니다.",
    "WRONG_FORMAT": "Format 이 맞지 않습니다.",
    "NO_TICKET": "티켓이 존재하지 않거나, 유효하지 않습니다.",
    "NO_TYPE": "type 필드가 존재하지 않습니다.",
    "NO_CODES": "codes 필드가 존재하지 않습니다.",
    "EMPTY_CODES": "codes 필드가 비어 있습니다.",
}

LIST_SUBSCRIPTIONS = "LIST_SUBSCRIPTIONS"


def unsupported_type_message(value: object) -> str:
    """INVALID_PARAM text for an unknown type, e.g. ``nope 은 지원하지 않는 타입입니다.``."""
    return f"{value} 은 지원하지 않는 타입입니다."


class RequestRejected(Exception):
    """Upbit would answer this request with ``{"error":{"name":..,"message":..}}`` and close."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass(frozen=True)
class TypeRequest:
    """One data-type object of a request.

    ``codes`` is what the client sent (``None`` when the key was absent); ``level`` is the
    orderbook grouping unit (``None`` when absent, which means 0).
    """

    type: str
    codes: tuple[str, ...] | None
    level: int | Decimal | None = None
    only_snapshot: bool = False
    only_realtime: bool = False


@dataclass(frozen=True)
class ParsedRequest:
    """A valid request: a subscription (``types``) or an operation (``method``)."""

    ticket: str
    format: str | None  # None: no format object, which means DEFAULT
    types: tuple[TypeRequest, ...] = ()
    method: str | None = None


def _wrong_format() -> RequestRejected:
    return RequestRejected("WRONG_FORMAT", MESSAGES["WRONG_FORMAT"])


def _flag(obj: dict, snake: str, camel: str, accept_camel: bool) -> bool:
    value = obj.get(snake)
    if value is None and accept_camel:
        value = obj.get(camel)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong_format()
    return value


def _level(value: object) -> int | Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _wrong_format()
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            dec = Decimal(str(value).strip())
        except InvalidOperation:
            raise _wrong_format() from None
        if not dec.is_finite():
            raise _wrong_format()
        return int(dec) if dec == dec.to_integral_value() else dec
    raise _wrong_format()


def _codes(obj: dict) -> tuple[str, ...] | None:
    if "codes" not in obj:
        return None
    codes = obj["codes"]
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise _wrong_format()
    return tuple(codes)


def _type_request(obj: dict, private: bool, accept_camel: bool) -> TypeRequest:
    type_ = obj["type"]
    if not isinstance(type_, str):
        raise _wrong_format()
    allowed = PRIVATE_TYPES if private else PUBLIC_TYPES
    if type_ not in allowed:
        raise RequestRejected("INVALID_PARAM", unsupported_type_message(type_))
    codes = _codes(obj)
    if type_ == "myAsset":
        if "codes" in obj:
            raise _wrong_format()
    elif type_ != "myOrder":
        if codes is None:
            raise RequestRejected("NO_CODES", MESSAGES["NO_CODES"])
        if not codes:
            raise RequestRejected("INVALID_PARAM", MESSAGES["EMPTY_CODES"])
    only_snapshot = _flag(obj, "is_only_snapshot", "isOnlySnapshot", accept_camel)
    only_realtime = _flag(obj, "is_only_realtime", "isOnlyRealtime", accept_camel)
    level = _level(obj.get("level")) if type_ == "orderbook" else None
    if private:  # private streams are REALTIME only; the flags mean nothing there
        only_snapshot = only_realtime = False
    return TypeRequest(type_, codes, level, only_snapshot, only_realtime)


def parse_request(
    text: str | bytes, *, private: bool = False, accept_camel_case: bool = True
) -> ParsedRequest:
    """Validate one client message; raise :class:`RequestRejected` as Upbit would.

    ``private`` selects the allowed types (myOrder/myAsset on ``/websocket/v1/private``,
    the public types elsewhere). ``accept_camel_case`` honours ``isOnlySnapshot`` /
    ``isOnlyRealtime`` too. Runs in: any thread (pure).
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise _wrong_format() from None
    if not isinstance(data, list) or not data or not all(isinstance(o, dict) for o in data):
        raise _wrong_format()
    ticket: object = None
    fmt: object = None
    method: object = None
    type_objs: list[dict] = []
    for obj in data:
        if "ticket" in obj and ticket is None:
            ticket = obj["ticket"]
        if "format" in obj:
            fmt = obj["format"]
        if "method" in obj:
            method = obj["method"]
        if "type" in obj:
            type_objs.append(obj)
        elif not ({"ticket", "format", "method"} & obj.keys()):
            raise RequestRejected("NO_TYPE", MESSAGES["NO_TYPE"])
    if not isinstance(ticket, str) or not ticket.strip():
        raise RequestRejected("NO_TICKET", MESSAGES["NO_TICKET"])
    if fmt is not None:
        if not isinstance(fmt, str):
            raise _wrong_format()
        if fmt not in FORMATS:
            raise RequestRejected("INVALID_PARAM", f"{fmt}은 지원하지 않는 포맷입니다.")
    if method is not None:
        if method != LIST_SUBSCRIPTIONS:
            raise RequestRejected("INVALID_PARAM", unsupported_type_message(method))
        return ParsedRequest(ticket, fmt, (), LIST_SUBSCRIPTIONS)  # type: ignore[arg-type]
    if not type_objs:
        raise RequestRejected("NO_TYPE", MESSAGES["NO_TYPE"])
    types = tuple(_type_request(o, private, accept_camel_case) for o in type_objs)
    return ParsedRequest(ticket, fmt, types)  # type: ignore[arg-type]
