"""Build Upbit WebSocket subscription requests, validated before anything is sent.

A request is one JSON array: a ticket, one object per data type, a format::

    encode_request([TypeRequest("ticker", ("KRW-BTC", "KRW-ETH"), is_only_realtime=True),
                    TypeRequest("orderbook", (orderbook_code("KRW-BTC", 5),), level=0)],
                   ticket="t1", fmt="DEFAULT")
    -> b'[{"ticket":"t1"},{"type":"ticker","codes":["KRW-BTC","KRW-ETH"],"is_only_realtime":true},'
       b'{"type":"orderbook","codes":["KRW-BTC.5"],"level":0},{"format":"DEFAULT"}]'

Upbit REPLACES the whole subscription set with every request, so callers send the full
union each time (the registry's job). Flags travel in snake_case and only when true;
``level`` only when set. Everything Upbit would reject (or silently ignore, like a
lower-case code) raises :class:`RequestValidationError` naming the bad value.

Pure module: no I/O, no threads. Runs in: any thread.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from upbit_hub.actors.protocol import fields as F
from upbit_hub.actors.protocol.errors import RequestValidationError

__all__ = [
    "TypeRequest",
    "encode_list_subscriptions",
    "encode_request",
    "new_ticket",
    "orderbook_code",
    "validate_market_code",
    "validate_types",
]

_MARKET_CODE = re.compile(r"[A-Z0-9]{2,10}-[A-Z0-9]{1,15}")
_KNOWN_TYPES = (*F.PUBLIC_TYPES, *F.PRIVATE_TYPES)


class TypeRequest(msgspec.Struct, frozen=True):
    """One data-type object of a request: ``{"type":..., "codes":[...], ...}``.

    ``codes`` is stored as a tuple (lists are accepted and converted) so the value is
    hashable. Orderbook depth travels in the code suffix: see :func:`orderbook_code`.
    """

    type: str
    codes: tuple[str, ...] = ()
    is_only_snapshot: bool = False
    is_only_realtime: bool = False
    level: int | None = None

    def __post_init__(self) -> None:
        codes = self.codes
        if isinstance(codes, str):
            raise RequestValidationError(
                f"codes must be a sequence of market codes, not the string {codes!r};"
                f" write ({codes!r},)"
            )
        if not isinstance(codes, tuple) and isinstance(codes, Sequence):
            msgspec.structs.force_setattr(self, "codes", tuple(codes))

    def to_wire(self) -> dict[str, Any]:
        """The JSON object of this type, in Upbit's key order. Runs in: any thread."""
        obj: dict[str, Any] = {"type": self.type}
        if self.codes:
            obj["codes"] = list(self.codes)
        if self.is_only_snapshot:
            obj["is_only_snapshot"] = True
        if self.is_only_realtime:
            obj["is_only_realtime"] = True
        if self.level is not None:
            obj["level"] = self.level
        return obj


def new_ticket() -> str:
    """A fresh request ticket (uuid4 text). Runs in: any thread."""
    return str(uuid.uuid4())


def validate_market_code(code: str) -> str:
    """Return ``code`` if it is an upper-case ``QUOTE-BASE`` market code, else raise.

    ``"KRW-BTC"`` passes; ``"krw-btc"``, ``"KRWBTC"``, ``"KRW-BTC.5"`` raise
    RequestValidationError (Upbit silently ignores such codes: no data, no error).
    Runs in: any thread.
    """
    if not isinstance(code, str) or _MARKET_CODE.fullmatch(code) is None:
        raise RequestValidationError(
            f"invalid market code {code!r}: expected upper-case QUOTE-BASE such as 'KRW-BTC'"
        )
    return code


def orderbook_code(code: str, depth: int | None = None) -> str:
    """``"KRW-BTC"`` with ``depth`` 15 -> ``"KRW-BTC.15"``; depth None -> the plain code.

    Raises RequestValidationError for a bad code or a depth not in 1, 5, 15, 30.
    Runs in: any thread.
    """
    validate_market_code(code)
    if depth is None:
        return code
    if type(depth) is not int or depth not in F.ORDERBOOK_DEPTHS:
        raise RequestValidationError(
            f"orderbook depth {depth!r} not supported; use one of {_depths()}"
        )
    return f"{code}.{depth}"


def _depths() -> str:
    return ", ".join(str(d) for d in F.ORDERBOOK_DEPTHS)


def _validate_code(code: object, type_name: str) -> None:
    if not isinstance(code, str):
        raise RequestValidationError(f"{type_name}: market code {code!r} is not a string")
    base, dot, depth = code.partition(".")
    if dot and type_name != "orderbook":
        raise RequestValidationError(
            f"{type_name}: code {code!r} has a depth suffix; only orderbook codes take one"
        )
    validate_market_code(base)  # base is the whole code when there is no suffix
    if dot and not (depth.isascii() and depth.isdigit() and depth == str(int(depth))
                    and int(depth) in F.ORDERBOOK_DEPTHS):
        raise RequestValidationError(
            f"orderbook code {code!r}: depth {depth!r} not supported; use one of {_depths()}"
        )


def _validate_one(req: object) -> None:
    if not isinstance(req, TypeRequest):
        raise RequestValidationError(f"expected a TypeRequest, got {req!r}")
    name = req.type
    if name not in _KNOWN_TYPES:
        raise RequestValidationError(
            f"unknown type {name!r}; known types: {', '.join(_KNOWN_TYPES)}"
        )
    for flag in ("is_only_snapshot", "is_only_realtime"):
        if type(getattr(req, flag)) is not bool:
            raise RequestValidationError(f"{name}: {flag} must be True or False")
    if req.is_only_snapshot and req.is_only_realtime:
        raise RequestValidationError(
            f"{name}: is_only_snapshot and is_only_realtime cannot both be true"
        )
    if req.level is not None:
        if name != "orderbook":
            raise RequestValidationError(f"{name}: level {req.level!r} is only for orderbook")
        if type(req.level) is not int or req.level < 0:
            raise RequestValidationError(f"orderbook: level {req.level!r} must be an int >= 0")
    if not isinstance(req.codes, tuple):
        raise RequestValidationError(f"{name}: codes {req.codes!r} must be a sequence of codes")
    if name == "myAsset":
        if req.codes:
            raise RequestValidationError(f"myAsset takes no codes (got {list(req.codes)!r})")
        return
    if name in F.PUBLIC_TYPES and not req.codes:
        raise RequestValidationError(f"{name}: codes must not be empty")
    for code in req.codes:
        _validate_code(code, name)


def validate_types(types: Sequence[TypeRequest]) -> None:
    """Raise RequestValidationError if Upbit would reject or ignore this request.

    Checks: at least one type; known types; codes present for public types and absent on
    myAsset; upper-case ``QUOTE-BASE`` codes (``.N`` depth only on orderbook, N in 1, 5,
    15, 30); not both only-flags; ``level`` only on orderbook and >= 0; public and private
    types not mixed (they live on different endpoints). Runs in: any thread.
    """
    if isinstance(types, TypeRequest | str) or not isinstance(types, Sequence):
        raise RequestValidationError(f"expected a sequence of TypeRequest, got {types!r}")
    if not types:
        raise RequestValidationError("empty request: give at least one TypeRequest")
    for req in types:
        _validate_one(req)
    public = [r.type for r in types if r.type in F.PUBLIC_TYPES]
    private = [r.type for r in types if r.type in F.PRIVATE_TYPES]
    if public and private:
        raise RequestValidationError(
            f"cannot mix public {public[0]!r} and private {private[0]!r} types in one request:"
            " they use different endpoints"
        )


def _check_envelope(ticket: str | None, fmt: str) -> str:
    if fmt not in F.FORMATS:
        raise RequestValidationError(f"unknown format {fmt!r}; use one of {', '.join(F.FORMATS)}")
    if ticket is None:
        return new_ticket()
    if not isinstance(ticket, str) or not ticket:
        raise RequestValidationError(f"ticket {ticket!r} must be a non-empty string")
    return ticket


def encode_request(
    types: Sequence[TypeRequest], *, ticket: str | None = None, fmt: str = "SIMPLE"
) -> bytes:
    """Validate and encode a subscription request as compact JSON bytes.

    ``ticket`` None draws a fresh uuid4. Runs in: any thread.
    """
    validate_types(types)
    ticket = _check_envelope(ticket, fmt)
    message: list[dict[str, Any]] = [{"ticket": ticket}]
    message.extend(req.to_wire() for req in types)
    message.append({"format": fmt})
    return msgspec.json.encode(message)


def encode_list_subscriptions(*, ticket: str | None = None, fmt: str = "SIMPLE") -> bytes:
    """Encode ``[{"ticket":...},{"method":"LIST_SUBSCRIPTIONS"},{"format":...}]``.

    Note: its format object switches the format of the connection's live streams too.
    Runs in: any thread.
    """
    ticket = _check_envelope(ticket, fmt)
    return msgspec.json.encode(
        [{"ticket": ticket}, {"method": "LIST_SUBSCRIPTIONS"}, {"format": fmt}]
    )
