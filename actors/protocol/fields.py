"""Upbit's field tables: wire order, DEFAULT key, SIMPLE key and value kind per message type.

Single source of truth shared by the decoder (SIMPLE twins of the event structs), the request
encoder and the emulator (which writes frames in Upbit's wire order). Pure data, no I/O.

Sources: ``data/ws-schema.json`` (keys and SIMPLE abbreviations; shipped in this package, see
``schema.py``) and Upbit's documented wire order (the sample frames under ``tests/data/upbit``).
Kinds:

- ``str``  JSON string (or null)
- ``dec``  JSON number to be read as :class:`decimal.Decimal`
- ``int``  JSON integer (timestamps, ``sequential_id`` above 2**53, counts)
- ``bool`` JSON boolean
- ``any``  kept as decoded JSON (``delisting_date`` is a string in the docs, an object in the SDK)
- ``units`` / ``assets`` nested arrays described by :data:`ORDERBOOK_UNIT_FIELDS` and
  :data:`ASSET_FIELDS`
"""

from __future__ import annotations

from typing import Final

Field = tuple[str, str, str]  # (DEFAULT key, SIMPLE key, kind)

TICKER_FIELDS: Final[tuple[Field, ...]] = (
    ("type", "ty", "str"),
    ("code", "cd", "str"),
    ("opening_price", "op", "dec"),
    ("high_price", "hp", "dec"),
    ("low_price", "lp", "dec"),
    ("trade_price", "tp", "dec"),
    ("prev_closing_price", "pcp", "dec"),
    ("acc_trade_price", "atp", "dec"),
    ("change", "c", "str"),
    ("change_price", "cp", "dec"),
    ("signed_change_price", "scp", "dec"),
    ("change_rate", "cr", "dec"),
    ("signed_change_rate", "scr", "dec"),
    ("ask_bid", "ab", "str"),
    ("trade_volume", "tv", "dec"),
    ("acc_trade_volume", "atv", "dec"),
    ("trade_date", "tdt", "str"),
    ("trade_time", "ttm", "str"),
    ("trade_timestamp", "ttms", "int"),
    ("acc_ask_volume", "aav", "dec"),
    ("acc_bid_volume", "abv", "dec"),
    ("highest_52_week_price", "h52wp", "dec"),
    ("highest_52_week_date", "h52wdt", "str"),
    ("lowest_52_week_price", "l52wp", "dec"),
    ("lowest_52_week_date", "l52wdt", "str"),
    ("market_state", "ms", "str"),
    # Deprecated by Upbit (announced for removal) but still sent by the live service.
    ("is_trading_suspended", "its", "bool"),
    ("delisting_date", "dd", "any"),
    ("market_warning", "mw", "str"),
    ("timestamp", "tms", "int"),
    ("acc_trade_price_24h", "atp24h", "dec"),
    ("acc_trade_volume_24h", "atv24h", "dec"),
    ("stream_type", "st", "str"),
)

TRADE_FIELDS: Final[tuple[Field, ...]] = (
    ("type", "ty", "str"),
    ("code", "cd", "str"),
    ("timestamp", "tms", "int"),
    ("trade_date", "td", "str"),  # yyyy-MM-dd (ticker's trade_date is yyyyMMdd, key tdt)
    ("trade_time", "ttm", "str"),  # HH:mm:ss
    ("trade_timestamp", "ttms", "int"),
    ("trade_price", "tp", "dec"),
    ("trade_volume", "tv", "dec"),
    ("ask_bid", "ab", "str"),
    ("prev_closing_price", "pcp", "dec"),
    ("change", "c", "str"),
    ("change_price", "cp", "dec"),
    ("sequential_id", "sid", "int"),
    ("best_ask_price", "bap", "dec"),
    ("best_ask_size", "bas", "dec"),
    ("best_bid_price", "bbp", "dec"),
    ("best_bid_size", "bbs", "dec"),
    ("stream_type", "st", "str"),
)

ORDERBOOK_UNIT_FIELDS: Final[tuple[Field, ...]] = (
    ("ask_price", "ap", "dec"),
    ("bid_price", "bp", "dec"),
    ("ask_size", "as", "dec"),
    ("bid_size", "bs", "dec"),
)

ORDERBOOK_FIELDS: Final[tuple[Field, ...]] = (
    ("type", "ty", "str"),
    ("code", "cd", "str"),
    ("timestamp", "tms", "int"),
    ("total_ask_size", "tas", "dec"),
    ("total_bid_size", "tbs", "dec"),
    ("orderbook_units", "obu", "units"),
    ("stream_type", "st", "str"),
    ("level", "lv", "dec"),
)

CANDLE_FIELDS: Final[tuple[Field, ...]] = (
    ("type", "ty", "str"),
    ("code", "cd", "str"),
    ("candle_date_time_utc", "cdttmu", "str"),
    ("candle_date_time_kst", "cdttmk", "str"),
    ("opening_price", "op", "dec"),
    ("high_price", "hp", "dec"),
    ("low_price", "lp", "dec"),
    ("trade_price", "tp", "dec"),
    ("candle_acc_trade_volume", "catv", "dec"),
    ("candle_acc_trade_price", "catp", "dec"),
    ("timestamp", "tms", "int"),
    ("stream_type", "st", "str"),
)

MY_ORDER_FIELDS: Final[tuple[Field, ...]] = (
    ("type", "ty", "str"),
    ("code", "cd", "str"),
    ("uuid", "uid", "str"),
    ("ask_bid", "ab", "str"),
    ("order_type", "ot", "str"),
    ("state", "s", "str"),
    ("trade_uuid", "tuid", "str"),
    ("price", "p", "dec"),
    ("avg_price", "ap", "dec"),
    ("volume", "v", "dec"),
    ("remaining_volume", "rv", "dec"),
    ("executed_volume", "ev", "dec"),
    ("trades_count", "tc", "int"),
    ("reserved_fee", "rsf", "dec"),
    ("remaining_fee", "rmf", "dec"),
    ("paid_fee", "pf", "dec"),
    ("locked", "l", "dec"),
    ("executed_funds", "ef", "dec"),
    ("time_in_force", "tif", "str"),
    ("trade_fee", "tf", "dec"),
    ("is_maker", "im", "bool"),
    ("identifier", "id", "str"),
    ("smp_type", "smpt", "str"),
    ("prevented_volume", "pv", "dec"),
    ("prevented_locked", "pl", "dec"),
    ("trade_timestamp", "ttms", "int"),
    ("order_timestamp", "otms", "int"),
    ("timestamp", "tms", "int"),
    ("stream_type", "st", "str"),
)

ASSET_FIELDS: Final[tuple[Field, ...]] = (
    ("currency", "cu", "str"),
    ("balance", "b", "dec"),
    ("locked", "l", "dec"),
)

MY_ASSET_FIELDS: Final[tuple[Field, ...]] = (
    ("type", "ty", "str"),
    ("asset_uuid", "astuid", "str"),
    ("assets", "ast", "assets"),
    ("asset_timestamp", "asttms", "int"),
    ("timestamp", "tms", "int"),
    ("stream_type", "st", "str"),
)

LIST_SUBSCRIPTIONS_KEYS: Final[dict[str, str]] = {
    "method": "mthd",
    "result": "rslt",
    "ticket": "tckt",
    "type": "ty",
    "codes": "cds",
    "level": "lv",
}

CANDLE_TYPES: Final[tuple[str, ...]] = (
    "candle.1s",
    "candle.1m",
    "candle.3m",
    "candle.5m",
    "candle.10m",
    "candle.15m",
    "candle.30m",
    "candle.60m",
    "candle.240m",
)

PUBLIC_TYPES: Final[tuple[str, ...]] = ("ticker", "trade", "orderbook", *CANDLE_TYPES)
PRIVATE_TYPES: Final[tuple[str, ...]] = ("myOrder", "myAsset")
FORMATS: Final[tuple[str, ...]] = ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST")
ORDERBOOK_DEPTHS: Final[tuple[int, ...]] = (1, 5, 15, 30)

#: Field table of each message ``type`` (every candle.* type shares CANDLE_FIELDS).
FIELDS_BY_TYPE: Final[dict[str, tuple[Field, ...]]] = {
    "ticker": TICKER_FIELDS,
    "trade": TRADE_FIELDS,
    "orderbook": ORDERBOOK_FIELDS,
    "myOrder": MY_ORDER_FIELDS,
    "myAsset": MY_ASSET_FIELDS,
    **{t: CANDLE_FIELDS for t in CANDLE_TYPES},
}

#: Nested tables by kind.
NESTED_FIELDS: Final[dict[str, tuple[Field, ...]]] = {
    "units": ORDERBOOK_UNIT_FIELDS,
    "assets": ASSET_FIELDS,
}


def to_simple(obj: dict, fields: tuple[Field, ...]) -> dict:
    """Rename a DEFAULT-keyed message dict to SIMPLE keys, keeping wire order.

    Keys not in the table are kept as they are. Runs in: any thread (pure).
    """
    out: dict = {}
    table = {d: (s, k) for d, s, k in fields}
    for key, value in obj.items():
        simple, kind = table.get(key, (key, ""))
        nested = NESTED_FIELDS.get(kind)
        if nested is not None and isinstance(value, list):
            value = [to_simple(v, nested) if isinstance(v, dict) else v for v in value]
        out[simple] = value
    return out
