"""Render emulator message dicts into WebSocket frames exactly as Upbit spells them.

``render(obj, fmt)`` takes a DEFAULT-keyed dict (from the market simulator or the exchange)
and returns the UTF-8 JSON bytes of one frame in ``DEFAULT``, ``SIMPLE``, ``JSON_LIST`` or
``SIMPLE_LIST``: keys in Upbit's wire order (``actors/protocol/fields.py``), ``stream_type``
inserted at its wire position, numbers spelled per field as Upbit's Java backend does
(numbers.py; protocol.md 3.1) or as plain decimals with ``spelling="plain"``::

    DEFAULT  {"type":"orderbook","code":"KRW-BTC","timestamp":1790134742106,
              "total_ask_size":2.51469375,"total_bid_size":1.63815297,"orderbook_units":[
              {"ask_price":1.16539E8,"bid_price":1.16538E8,"ask_size":0.02054761,
               "bid_size":0.08120946}, ...],"stream_type":"SNAPSHOT","level":0}
    SIMPLE   {"ty":"trade","cd":"KRW-BTC",...,"tp":116606000,"tv":7.9276E-4,...}

The server renders each event once per (format, options) and sends the same bytes to every
subscriber. Runs in: the emulator loop thread (pure functions, safe anywhere).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Final

import msgspec

from upbit_hub.actors.emulator.market_catalog import supported_levels
from upbit_hub.actors.emulator.numbers import SPELLERS
from upbit_hub.actors.protocol.fields import (
    FIELDS_BY_TYPE,
    FORMATS,
    NESTED_FIELDS,
    ORDERBOOK_DEPTHS,
    Field,
)

__all__ = ["group_book", "render", "render_orderbook"]

_SPELLINGS: Final = ("java", "plain")

# Java spelling styles per field, (DEFAULT style, SIMPLE style); unlisted number fields "plain".
_PRICE: Final = ("dot0", "int")  # 109847000.0 / 116606000
_SIZE: Final = ("scale8", "java")  # 0.00077720 / 7.9276E-4
_ACC: Final = ("plain", "plain")  # 16115868486.03173
_STYLES: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "ticker": {
        **{
            k: _PRICE
            for k in (
                "opening_price",
                "high_price",
                "low_price",
                "trade_price",
                "prev_closing_price",
                "change_price",
                "signed_change_price",
                "highest_52_week_price",
                "lowest_52_week_price",
            )
        },
        **{
            k: _SIZE
            for k in (
                "trade_volume",
                "acc_trade_volume",
                "acc_ask_volume",
                "acc_bid_volume",
                "acc_trade_volume_24h",
            )
        },
    },
    "trade": {
        **{k: _PRICE for k in ("trade_price", "prev_closing_price", "change_price")},
        "best_ask_price": ("int", "int"),
        "best_bid_price": ("int", "int"),
        **{k: _SIZE for k in ("trade_volume", "best_ask_size", "best_bid_size")},
    },
    "orderbook": {
        "ask_price": ("java", "int"),
        "bid_price": ("java", "int"),
        **{k: _SIZE for k in ("ask_size", "bid_size", "total_ask_size", "total_bid_size")},
        "level": ("int", "int"),
    },
    "candle": {
        **{k: _PRICE for k in ("opening_price", "high_price", "low_price", "trade_price")},
        "candle_acc_trade_volume": _SIZE,
        "candle_acc_trade_price": _ACC,
    },
}

Speller = Callable[[Decimal], str]
_CACHE_MAX: Final = 200_000


class _Spell:
    """A speller with a cache of ready ``msgspec.Raw`` values (prices repeat a lot)."""

    __slots__ = ("cache", "fn")

    def __init__(self, fn: Speller) -> None:
        self.fn = fn
        self.cache: dict[Decimal, msgspec.Raw] = {}

    def __call__(self, value: Decimal) -> msgspec.Raw:
        cache = self.cache
        raw = cache.get(value)
        if raw is None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            # keyed by value: equal Decimals (1.0, 1.00) share one spelling of that value
            raw = cache[value] = msgspec.Raw(self.fn(value))
        return raw


_SPELL: Final[dict[str, _Spell]] = {name: _Spell(fn) for name, fn in SPELLERS.items()}
_SPELL_PLAIN: Final = _SPELL["plain"]

# compiled entry: (DEFAULT key, output key, nested entries or None, speller)
_Entry = tuple[str, str, tuple, _Spell]
_COMPILED: dict[tuple[str, str, bool], tuple[_Entry, ...]] = {}


def _compile(type_: str, spelling: str, simple: bool) -> tuple[_Entry, ...] | None:
    key = (type_, spelling, simple)
    hit = _COMPILED.get(key)
    if hit is not None:
        return hit
    fields = FIELDS_BY_TYPE.get(type_)
    if fields is None:
        return None
    styles = _STYLES.get("candle" if type_.startswith("candle.") else type_, {})

    def build(table: tuple[Field, ...]) -> tuple[_Entry, ...]:
        out = []
        for dkey, skey, kind in table:
            nested = NESTED_FIELDS.get(kind)
            style = styles.get(dkey, ("plain", "plain"))[simple]
            if spelling == "plain":
                style = "plain"
            sub = build(nested) if nested is not None else ()
            out.append((dkey, skey if simple else dkey, sub, _SPELL[style]))
        return tuple(out)

    hit = _COMPILED[key] = build(fields)
    return hit


_MISSING: Final = object()


def _object(obj: dict, table: tuple[_Entry, ...]) -> dict:
    out: dict = {}
    seen = 0
    for dkey, okey, nested, spell in table:
        v = obj.get(dkey, _MISSING)
        if v is _MISSING:
            continue
        seen += 1
        t = type(v)
        if t is Decimal:
            v = spell(v)
        elif t is list and nested:
            v = [_object(x, nested) if type(x) is dict else x for x in v]
        elif t is float:
            v = spell(Decimal(repr(v)))
        out[okey] = v
    if seen != len(obj):  # keys Upbit may add: kept, after the known ones
        known = {e[0] for e in table}
        for k, v in obj.items():
            if k not in known:
                out[k] = _SPELL_PLAIN(v) if type(v) is Decimal else v
    return out


def render(obj: dict, fmt: str, *, stream_type: str | None = None, spelling: str = "java") -> bytes:
    """One frame for ``obj`` (a DEFAULT-keyed message dict) in ``fmt``.

    ``DEFAULT``/``SIMPLE`` give a JSON object, ``JSON_LIST``/``SIMPLE_LIST`` a 1-element
    array. ``stream_type`` (``SNAPSHOT``/``REALTIME``) is inserted at its wire position,
    replacing any ``stream_type`` already in ``obj``. Raises ValueError for an unknown
    format, spelling or message type. Runs in: the emulator loop thread (pure).
    """
    simple = fmt == "SIMPLE" or fmt == "SIMPLE_LIST"
    type_ = obj.get("type")
    table = _COMPILED.get((type_, spelling, simple))  # type: ignore[arg-type]
    if table is None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if spelling not in _SPELLINGS:
            raise ValueError(f"spelling must be 'java' or 'plain', got {spelling!r}")
        table = _compile(type_, spelling, simple) if isinstance(type_, str) else None
        if table is None:
            raise ValueError(f"cannot render message type {type_!r}: not in fields.FIELDS_BY_TYPE")
    elif fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if stream_type is not None:
        obj = {**obj, "stream_type": stream_type}
    body = _encode(_object(obj, table))
    if fmt == "JSON_LIST" or fmt == "SIMPLE_LIST":
        return b"[" + body + b"]"
    return body


_encode = msgspec.json.Encoder().encode


def _level_value(level: object) -> Decimal | None:
    try:
        d = Decimal(str(level))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() and d >= 0 else None


_ZERO: Final = Decimal(0)


def group_book(
    obj: dict, depth: int, level: object = 0
) -> tuple[list[dict], Decimal, Decimal] | None:
    """Units of an orderbook dict sliced to ``depth`` and grouped by ``level``.

    Returns ``(units, total_ask_size, total_bid_size)`` with totals over the returned units;
    a side with fewer than ``depth`` levels after grouping is padded with zero slots. None
    when ``level`` is not supported for the code. Runs in: the emulator loop thread.
    """
    lv = _level_value(level)
    if lv is None:
        return None
    code = obj.get("code", "")
    try:
        levels = supported_levels(code)
    except ValueError:
        levels = (0,)
    if lv not in levels:
        return None
    src = obj["orderbook_units"]
    if not lv:
        units = src[:depth]
        ta = sum((u["ask_size"] for u in units), _ZERO)
        tb = sum((u["bid_size"] for u in units), _ZERO)
        return units, ta, tb
    asks: list[list[Decimal]] = []
    bids: list[list[Decimal]] = []
    for u in src:
        ap, asz, bp, bsz = u["ask_price"], u["ask_size"], u["bid_price"], u["bid_size"]
        if ap > 0 and asz > 0:
            g = (ap / lv).to_integral_value(ROUND_CEILING) * lv  # ceil to the level grid
            if asks and asks[-1][0] == g:
                asks[-1][1] += asz
            else:
                asks.append([g, asz])
        if bp > 0 and bsz > 0:
            g = (bp / lv).to_integral_value(ROUND_FLOOR) * lv  # floor to the level grid
            if bids and bids[-1][0] == g:
                bids[-1][1] += bsz
            else:
                bids.append([g, bsz])
    units = []
    ta = tb = _ZERO
    for i in range(depth):
        a = asks[i] if i < len(asks) else (_ZERO, _ZERO)
        b = bids[i] if i < len(bids) else (_ZERO, _ZERO)
        ta += a[1]
        tb += b[1]
        units.append({"ask_price": a[0], "bid_price": b[0], "ask_size": a[1], "bid_size": b[1]})
    return units, ta, tb


def render_orderbook(
    obj: dict,
    fmt: str,
    *,
    depth: int = 30,
    level: int = 0,
    stream_type: str | None = None,
    spelling: str = "java",
) -> bytes | None:
    """One orderbook frame with ``depth`` levels (1, 5, 15, 30; anything else -> 30) grouped
    by ``level`` (None when the code does not support it: Upbit then sends nothing).
    ``total_*`` are recomputed over the sent levels. Runs in: the emulator loop thread.
    """
    if depth not in ORDERBOOK_DEPTHS:
        depth = 30
    grouped = group_book(obj, depth, level)
    if grouped is None:
        return None
    units, ta, tb = grouped
    lv = _level_value(level)
    out = {
        "type": "orderbook",
        "code": obj["code"],
        "timestamp": obj["timestamp"],
        "total_ask_size": ta,
        "total_bid_size": tb,
        "orderbook_units": units,
        "level": int(lv) if lv is not None and lv == lv.to_integral_value() else lv,
    }
    return render(out, fmt, stream_type=stream_type, spelling=spelling)
