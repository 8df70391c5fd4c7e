"""Decode one Upbit WebSocket frame into event values.

:func:`decode` takes one frame exactly as ``recv()`` returned it (binary ``bytes`` as Upbit
sends, or text) in any of the four formats and returns a list of values from
:mod:`upbit_hub.actors.protocol.events`::

    decode(b'{"ty":"trade","cd":"KRW-BTC","tp":1.16539E8,"tv":7.9276E-4,"sid":17877285547970000}')
    -> [TradeEvent(type='trade', code='KRW-BTC', trade_price=Decimal('1.16539E+8'),
                   trade_volume=Decimal('0.00079276'), sequential_id=17877285547970000, ...)]
    decode(b'[{"type":"ticker",...}]')                 -> [TickerEvent(...)]     (JSON_LIST)
    decode(b'{"status":"UP"}')                         -> [StatusEvent(status='UP')]
    decode(b'{"error":{"name":"NO_TICKET","message":"..."}}') -> [ServerErrorEvent(...)]
    decode(b'{"type":"indicator",...}')       -> [UnknownEvent(type='indicator', raw={...})]
    decode(b'not json')                                -> raises FrameDecodeError

How it stays fast (measured in ``bench/bench_decode.py``):

- DEFAULT frames decode straight into the event classes. SIMPLE frames decode into "twin"
  classes generated from the same fields with SIMPLE wire names (``msgspec.defstruct``,
  fields.py gives the names), then are copied positionally into the event class (C-level
  ``astuple`` + constructor; the twins share field order). Measured against swapping
  ``__class__`` in place, the copy cost the same and needs no trick around ``frozen``.
- Upbit writes ``type``/``ty`` first, so the type is read from the first bytes and the
  matching decoder runs directly. Anything else (other key order, whitespace, mixed lists,
  status/error/list-subscription replies, bad input) takes the general path, which reads a
  small header struct first.
- Only when the strict decode fails, a lenient retry reads numbers as Decimal, turns integral
  ones into ``int`` for int fields (``5.0``, ``1.7e12``, exact above 2**53) and converts with
  ``strict=False`` (numeric strings, ``"true"``). If even that fails: FrameDecodeError.

Pure module: no I/O, no threads. Runs in: the connection's reader thread (any thread).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from itertools import starmap
from typing import Any

import msgspec

from upbit_hub.actors.protocol import fields as F
from upbit_hub.actors.protocol.errors import FrameDecodeError
from upbit_hub.actors.protocol.events import (
    Asset,
    CandleEvent,
    Event,
    ListSubscriptionsEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    OrderbookUnit,
    ServerErrorEvent,
    StatusEvent,
    SubscriptionItem,
    TickerEvent,
    TradeEvent,
    UnknownEvent,
)

__all__ = ["decode", "decode_rest_ticker", "decode_stats", "reset_decode_stats"]

log = logging.getLogger(__name__)

#: An unknown message type is logged on its 1st, (N+1)th, (2N+1)th... occurrence.
UNKNOWN_LOG_EVERY = 1000
_UNKNOWN_KEYS_MAX = 256  # distinct unknown types tracked for logging; the rest share one key

_UNSET = msgspec.UNSET
_astuple = msgspec.structs.astuple
# RecursionError: msgspec raises it (not DecodeError) for absurdly deep nesting.
_DECODE_ERRORS = (msgspec.DecodeError, RecursionError)

_stats: dict[str, int] = {"frames": 0, "events": 0, "unknown": 0, "malformed": 0}
_unknown_seen: dict[str, int] = {}


def decode_stats() -> dict[str, int]:
    """Counters since start or the last reset: frames, events, unknown, malformed.

    Runs in: any thread (plain ints under the GIL).
    """
    return dict(_stats)


def reset_decode_stats() -> None:
    """Zero the counters and the unknown-type log throttle. Runs in: any thread."""
    for key in _stats:
        _stats[key] = 0
    _unknown_seen.clear()


# --------------------------------------------------------------------------- wire formats


class _Wire:
    """How one message type is read in one format: decoders, the wire class, conversion."""

    __slots__ = ("convert", "decoder", "int_keys", "list_decoder", "wire_cls")

    def __init__(
        self, wire_cls: type, convert: Callable[[Any], Any] | None, int_keys: tuple[str, ...]
    ) -> None:
        self.wire_cls = wire_cls
        self.convert = convert
        self.int_keys = int_keys  # wire names of top-level int fields, for the lenient retry
        self.decoder = msgspec.json.Decoder(wire_cls)
        self.list_decoder = msgspec.json.Decoder(list[wire_cls])


def _twin(cls: type, rename: dict[str, str], nested: dict[str, type], name: str,
          defaults: dict[str, Any] | None = None) -> type:
    """A struct with ``cls``'s fields in the same order, other wire names and nested types."""
    spec: list[tuple] = []
    for f in msgspec.structs.fields(cls):
        typ = nested.get(f.name, f.type)
        if defaults and f.name in defaults:
            spec.append((f.name, typ, defaults[f.name]))
        elif f.required:
            spec.append((f.name, typ))
        elif f.default is not msgspec.NODEFAULT:
            spec.append((f.name, typ, f.default))
        else:
            spec.append((f.name, typ, msgspec.field(default_factory=f.default_factory)))
    return msgspec.defstruct(name, spec, rename=rename, frozen=True, gc=False, module=__name__)


def _converter(cls: type, nested: dict[int, tuple[type, type]]) -> Callable[[Any], Any]:
    """Copy a twin into ``cls``; ``nested`` maps field index -> (item class, container)."""
    if not nested:
        return lambda obj: cls(*_astuple(obj))

    def convert(obj: Any) -> Any:
        values = list(_astuple(obj))
        for index, (item_cls, container) in nested.items():
            items = values[index]
            if items is not None:
                values[index] = container(starmap(item_cls, map(_astuple, items)))
        return cls(*values)

    return convert


def _simple_rename(table: tuple[F.Field, ...]) -> dict[str, str]:
    return {default: simple for default, simple, _ in table}


def _check_fields(cls: type, table: tuple[F.Field, ...]) -> None:
    names = tuple(f.name for f in msgspec.structs.fields(cls))
    if names != tuple(default for default, _, _ in table):
        raise RuntimeError(f"{cls.__name__} fields differ from fields.py: {names}")


def _build_market() -> tuple[dict[str, _Wire], dict[str, _Wire]]:
    """DEFAULT and SIMPLE readers of the six market/private types, keyed by ``type``."""
    nested_classes = {"units": OrderbookUnit, "assets": Asset}
    kinds = (
        (TickerEvent, F.TICKER_FIELDS, ("ticker",)),
        (TradeEvent, F.TRADE_FIELDS, ("trade",)),
        (OrderbookEvent, F.ORDERBOOK_FIELDS, ("orderbook",)),
        (CandleEvent, F.CANDLE_FIELDS, F.CANDLE_TYPES),
        (MyOrderEvent, F.MY_ORDER_FIELDS, ("myOrder",)),
        (MyAssetEvent, F.MY_ASSET_FIELDS, ("myAsset",)),
    )
    default: dict[str, _Wire] = {}
    simple: dict[str, _Wire] = {}
    for cls, table, type_names in kinds:
        _check_fields(cls, table)
        nested_types: dict[str, Any] = {}
        nested_index: dict[int, tuple[type, type]] = {}
        for index, (name, _, kind) in enumerate(table):
            item_cls = nested_classes.get(kind)
            if item_cls is not None:
                item_table = F.NESTED_FIELDS[kind]
                _check_fields(item_cls, item_table)
                item_twin = _twin(
                    item_cls, _simple_rename(item_table), {}, "Simple" + item_cls.__name__
                )
                nested_types[name] = tuple[item_twin, ...] | None
                nested_index[index] = (item_cls, tuple)
        twin = _twin(cls, _simple_rename(table), nested_types, "Simple" + cls.__name__)
        default_wire = _Wire(cls, None, tuple(d for d, _, k in table if k == "int"))
        simple_wire = _Wire(twin, _converter(cls, nested_index),
                            tuple(s for _, s, k in table if k == "int"))
        for type_name in type_names:
            default[type_name] = default_wire
            simple[type_name] = simple_wire
    return default, simple


def _build_list_subscriptions() -> tuple[_Wire, _Wire]:
    keys = F.LIST_SUBSCRIPTIONS_KEYS
    item = _twin(SubscriptionItem, {k: keys[k] for k in ("type", "codes", "level")}, {},
                 "SimpleSubscriptionItem")
    twin = _twin(ListSubscriptionsEvent, {k: keys[k] for k in ("method", "result", "ticket")},
                 {"result": list[item]}, "SimpleListSubscriptionsEvent")
    convert = _converter(ListSubscriptionsEvent, {1: (SubscriptionItem, list)})
    return _Wire(ListSubscriptionsEvent, None, ()), _Wire(twin, convert, ())


def _build_rest_ticker() -> _Wire:
    """REST ``/v1/ticker`` items: DEFAULT names, ``market`` for ``code``, no ``type``."""
    rename = {d: d for d, _, _ in F.TICKER_FIELDS} | {"code": "market"}
    twin = _twin(TickerEvent, rename, {}, "RestTicker", defaults={"type": "ticker"})
    return _Wire(twin, _converter(TickerEvent, {}),
                 tuple(d for d, _, k in F.TICKER_FIELDS if k == "int"))


_DEFAULT, _SIMPLE = _build_market()
_LIST_SUBS_DEFAULT, _LIST_SUBS_SIMPLE = _build_list_subscriptions()
_REST_TICKER = _build_rest_ticker()
_FAST_DEFAULT = {name.encode(): wire for name, wire in _DEFAULT.items()}
_FAST_SIMPLE = {name.encode(): wire for name, wire in _SIMPLE.items()}


class _Head(msgspec.Struct):
    """The keys that tell what a JSON object is; everything else is skipped."""

    type: Any = _UNSET
    ty: Any = _UNSET
    method: Any = _UNSET
    mthd: Any = _UNSET
    error: Any = _UNSET
    status: Any = _UNSET


_TOP = msgspec.json.Decoder(_Head | list[msgspec.Raw])
_HEAD = msgspec.json.Decoder(_Head)
_EXACT_ANY = msgspec.json.Decoder(float_hook=Decimal)
_EXACT_OBJECT = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
_STATUS_UP_FRAME = b'{"status":"UP"}'
_STATUS_UP = StatusEvent("UP")


# --------------------------------------------------------------------------- decoding


def decode(frame: bytes | str) -> list[Event]:
    """Decode one WebSocket frame (any format, binary or text) into a list of events.

    Unknown message types become :class:`UnknownEvent` (counted, logged throttled); input
    that is not an Upbit message raises :class:`FrameDecodeError` carrying the first bytes.
    Runs in: the caller's thread (the connection reader thread); pure.
    """
    stats = _stats
    stats["frames"] += 1
    if type(frame) is not bytes:
        frame = _as_bytes(frame)
    head = frame[:9]
    if head[:7] == b'{"ty":"':
        wire = _FAST_SIMPLE.get(frame[7 : frame.find(b'"', 7, 80)])
        if wire is not None:
            try:
                event = wire.convert(wire.decoder.decode(frame))
            except _DECODE_ERRORS:
                pass
            else:
                stats["events"] += 1
                return [event]
    elif head == b'{"type":"':
        wire = _FAST_DEFAULT.get(frame[9 : frame.find(b'"', 9, 80)])
        if wire is not None:
            try:
                event = wire.decoder.decode(frame)
            except _DECODE_ERRORS:
                pass
            else:
                stats["events"] += 1
                return [event]
    elif head[:1] == b"[":
        events = _decode_list_fast(frame)
        if events is not None:
            stats["events"] += len(events)
            return events
    elif frame == _STATUS_UP_FRAME:
        stats["events"] += 1
        return [_STATUS_UP]
    try:
        events = _decode_general(frame)
    except FrameDecodeError:
        stats["malformed"] += 1
        raise
    stats["events"] += len(events)
    return events


def _as_bytes(frame: object) -> bytes:
    if isinstance(frame, str):
        try:
            return frame.encode("utf-8")
        except UnicodeEncodeError as exc:
            _stats["malformed"] += 1
            raise FrameDecodeError(f"text frame is not valid UTF-8: {exc.reason}", frame) from None
    if isinstance(frame, bytearray | memoryview):
        return bytes(frame)
    raise TypeError(f"decode() takes bytes or str, not {type(frame).__name__}")


def _decode_list_fast(frame: bytes) -> list[Event] | None:
    """A JSON_LIST / SIMPLE_LIST frame whose items all have the first item's type, or None.

    The first item's type picks the decoder; every decoded item's own ``type`` must then map
    to that same decoder. A mixed list (a trade, then a ticker) would otherwise decode the
    ticker as a TradeEvent and silently lose its fields, so it goes to the general path, which
    reads each item's header first.
    """
    if frame[:8] == b'[{"ty":"':
        table = _SIMPLE
        wire = _FAST_SIMPLE.get(frame[8 : frame.find(b'"', 8, 80)])
    elif frame[:10] == b'[{"type":"':
        table = _DEFAULT
        wire = _FAST_DEFAULT.get(frame[10 : frame.find(b'"', 10, 80)])
    else:
        return None
    if wire is None:
        return None
    try:
        items = wire.list_decoder.decode(frame)
    except _DECODE_ERRORS:
        return None
    for item in items:
        if table.get(item.type) is not wire:  # SIMPLE twins keep the field name ``type``
            return None
    convert = wire.convert
    if convert is None:
        return items
    return [convert(item) for item in items]


def _decode_general(frame: bytes) -> list[Event]:
    """Any object or array frame: read the header keys, then dispatch."""
    try:
        top = _TOP.decode(frame)
    except _DECODE_ERRORS as exc:
        raise FrameDecodeError(_reason(exc), frame) from None
    if type(top) is not list:
        return [_decode_object(top, frame, frame)]
    events: list[Event] = []
    for index, raw in enumerate(top):
        try:
            head = _HEAD.decode(raw)
        except _DECODE_ERRORS as exc:
            raise FrameDecodeError(f"array item {index}: {_reason(exc)}", frame) from None
        events.append(_decode_object(head, raw, frame))
    return events


def _decode_object(head: _Head, raw: Any, frame: bytes) -> Event:
    if head.type is not _UNSET:
        return _decode_typed(head.type, raw, frame, _DEFAULT)
    if head.ty is not _UNSET:
        return _decode_typed(head.ty, raw, frame, _SIMPLE)
    if head.method is not _UNSET:
        return _decode_wire(_LIST_SUBS_DEFAULT, raw, frame, "list-subscriptions reply")
    if head.mthd is not _UNSET:
        return _decode_wire(_LIST_SUBS_SIMPLE, raw, frame, "list-subscriptions reply")
    if head.error is not _UNSET:
        return _server_error(head.error)
    if head.status is not _UNSET:
        if type(head.status) is str:
            return StatusEvent(head.status)
        raise FrameDecodeError("'status' is not a string", frame)
    raise FrameDecodeError("object has none of the keys type/ty/status/error/method/mthd", frame)


def _decode_typed(type_name: Any, raw: Any, frame: bytes, table: dict[str, _Wire]) -> Event:
    if type(type_name) is not str:
        return _unknown(None, raw, frame)
    wire = table.get(type_name)
    if wire is None:
        return _unknown(type_name, raw, frame)
    return _decode_wire(wire, raw, frame, type_name)


def _decode_wire(wire: _Wire, raw: Any, frame: bytes, what: str) -> Any:
    """Strict decode, else the lenient retry, else FrameDecodeError naming the bad field."""
    try:
        obj = wire.decoder.decode(raw)
    except _DECODE_ERRORS:
        obj = _lenient(wire, raw, frame, what)
    return obj if wire.convert is None else wire.convert(obj)


def _lenient(wire: _Wire, raw: Any, frame: bytes | str, what: str) -> Any:
    try:
        data = _EXACT_ANY.decode(raw)
        _integral_to_int(data, wire.int_keys)
        return msgspec.convert(data, wire.wire_cls, strict=False)
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise FrameDecodeError(f"{what} with unreadable fields: {_reason(exc)}", frame) from None


def _integral_to_int(data: Any, int_keys: tuple[str, ...]) -> None:
    """``5.0`` / ``1.7e12`` read as Decimal -> int, exactly, for the int fields of ``data``."""
    if type(data) is not dict:
        return
    for key in int_keys:
        value = data.get(key)
        # adjusted() bounds the digit count: never build a huge int from 1e999999999.
        if (type(value) is Decimal and value.is_finite() and value.adjusted() < 40
                and value == value.to_integral_value()):
            data[key] = int(value)


def _server_error(error: Any) -> ServerErrorEvent:
    if type(error) is dict:
        return ServerErrorEvent(_text(error.get("name")), _text(error.get("message")))
    return ServerErrorEvent("", _text(error))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value
    return msgspec.json.encode(value).decode()


def _unknown(type_name: str | None, raw: Any, frame: bytes) -> UnknownEvent:
    try:
        data = _EXACT_OBJECT.decode(raw)
    except _DECODE_ERRORS as exc:
        raise FrameDecodeError(_reason(exc), frame) from None
    _stats["unknown"] += 1
    key = "<non-string type>" if type_name is None else type_name[:64]
    if key not in _unknown_seen and len(_unknown_seen) >= _UNKNOWN_KEYS_MAX:
        key = "<other>"
    count = _unknown_seen.get(key, 0) + 1
    _unknown_seen[key] = count
    if count % UNKNOWN_LOG_EVERY == 1 or UNKNOWN_LOG_EVERY == 1:
        log.warning(
            "unknown Upbit message type %r (seen %d times; logged once per %d)",
            key, count, UNKNOWN_LOG_EVERY,
        )
    return UnknownEvent(type_name, data)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- REST


def decode_rest_ticker(body: bytes | str) -> list[TickerEvent]:
    """Decode a REST ``GET /v1/ticker`` response body into TickerEvents.

    REST items name the market ``market`` (not ``code``) and carry no ``type`` or
    ``stream_type``, so ``type`` is ``"ticker"`` and ``stream_type`` None. Example item::

        {"market":"KRW-BTC","trade_date":"20260311","trade_time":"144059",
         "trade_price":103460000.0,"timestamp":1773240059095, ...}

    Raises FrameDecodeError when the body is not a JSON array of ticker objects.
    Runs in: the caller's thread (the REST client); pure.
    """
    wire = _REST_TICKER
    try:
        items = wire.list_decoder.decode(body)
    except _DECODE_ERRORS:
        items = None
    if items is None:
        try:
            data = _EXACT_ANY.decode(body)
        except _DECODE_ERRORS as exc:
            raise FrameDecodeError(f"REST ticker body: {_reason(exc)}", body) from None
        if type(data) is not list:
            raise FrameDecodeError("REST ticker body is not a JSON array", body)
        items = []
        for index, item in enumerate(data):
            _integral_to_int(item, wire.int_keys)
            try:
                items.append(msgspec.convert(item, wire.wire_cls, strict=False))
            except msgspec.MsgspecError as exc:
                raise FrameDecodeError(f"REST ticker item {index}: {exc}", body) from None
    convert = wire.convert
    return [convert(item) for item in items]
