"""Emulator frame rendering: Java number spelling, schema conformance, orderbook options,
REST quotation bodies."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upbit_hub.actors.emulator import quotation
from upbit_hub.actors.emulator.market import MarketSimulator
from upbit_hub.actors.emulator.numbers import java_double, plain_int, scale8
from upbit_hub.actors.emulator.render import render, render_orderbook
from upbit_hub.actors.protocol.fields import FIELDS_BY_TYPE
from upbit_hub.actors.protocol.schema import load_ws_schema

T0 = 1_751_854_855_000


@pytest.fixture(scope="module")
def schema() -> dict:
    """The message catalogue shipped in the package (upbit_hub/actors/protocol/data)."""
    return load_ws_schema()["server_messages"]


@pytest.fixture(scope="module")
def events() -> tuple[MarketSimulator, list[dict]]:
    sim = MarketSimulator(seed=21, rate=3000, start_ms=T0)
    return sim, sim.advance(sim.now_ms + 3000)


# ---- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "java"),
    [
        ("116539000", "1.16539E8"),
        ("0.00079276", "7.9276E-4"),
        ("0.0005", "5.0E-4"),
        ("109847000.0", "1.09847E8"),
        ("10000000", "1.0E7"),
        ("9999999", "9999999.0"),
        ("0.001", "0.001"),
        ("0.00099", "9.9E-4"),
        ("0", "0.0"),
        ("1", "1.0"),
        ("0.0126713295", "0.0126713295"),
        ("-0.0005", "-5.0E-4"),
        ("78039261076.51241", "7.803926107651241E10"),
    ],
)
def test_java_double_matches_java_spelling(text, java):
    assert java_double(Decimal(text)) == java


def test_size_and_price_styles_match_the_probe_examples():
    assert scale8(Decimal("0.0007772")) == "0.00077720"
    assert scale8(Decimal("1.8360425")) == "1.83604250"
    assert plain_int(Decimal("116606000.0")) == "116606000"
    assert plain_int(Decimal("12.5")) == "12.5"


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20))
def test_every_spelling_is_a_json_number_that_round_trips(value):
    for spell in (java_double, scale8, plain_int):
        text = spell(value)
        assert Decimal(text) == value
        assert isinstance(json.loads(text), int | float)  # valid JSON number
        assert msgspec.json.decode(text.encode(), type=Decimal) == value


def test_java_double_refuses_nan():
    with pytest.raises(ValueError):
        java_double(Decimal("NaN"))


# ---- schema conformance ------------------------------------------------------------------------

_JSON_TYPES = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check(obj: dict, fields: list[dict], simple: bool, where: str) -> None:
    by_key = {
        (f["simple"] if simple else f["name"]): f for f in fields if f.get("simple") or not simple
    }
    for key, value in obj.items():
        assert key in by_key, f"{where}: key {key!r} is not a schema field"
        f = by_key[key]
        if value is None:
            assert f.get("nullable", True), f"{where}: {key} must not be null"
            continue
        assert isinstance(value, _JSON_TYPES[f["type"]]), (
            f"{where}: {key}={value!r} is not {f['type']}"
        )
        if f["type"] == "number":
            assert not isinstance(value, bool)
        if "enum" in f:
            assert value in f["enum"], f"{where}: {key}={value!r} not in {f['enum']}"
        if f["type"] == "array" and "items" in f:
            for item in value:
                _check(item, f["items"]["fields"], simple, f"{where}.{key}[]")
    for key in by_key:
        assert key in obj, f"{where}: required key {key!r} missing"


def _schema_for(schema: dict, type_: str) -> dict:
    return schema["candle" if type_.startswith("candle.") else type_]


@pytest.mark.parametrize("fmt", ["DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"])
@pytest.mark.parametrize("spelling", ["java", "plain"])
def test_every_frame_type_matches_the_schema(schema, events, fmt, spelling):
    _, evs = events
    seen = set()
    for e in evs:
        if e["type"] in seen:
            continue
        seen.add(e["type"])
        frame = render(e, fmt, stream_type="REALTIME", spelling=spelling)
        doc = json.loads(frame)
        if fmt.endswith("_LIST"):
            assert isinstance(doc, list) and len(doc) == 1
            doc = doc[0]
        simple = fmt.startswith("SIMPLE")
        _check(doc, _schema_for(schema, e["type"])["fields"], simple, f"{e['type']}/{fmt}")
        assert doc["st" if simple else "stream_type"] == "REALTIME"
    assert len(seen) == 12  # ticker, trade, orderbook, 9 candle units


def test_frames_keep_wire_order_and_exact_values(events):
    _, evs = events
    for e in evs[:200]:
        table = FIELDS_BY_TYPE[e["type"]]
        for fmt, idx in (("DEFAULT", 0), ("SIMPLE", 1)):
            doc = msgspec.json.decode(render(e, fmt, stream_type="SNAPSHOT"), type=dict)
            order = [f[idx] for f in table if f[idx] in doc]
            assert list(doc) == order
            # every number parses back to exactly the simulator's Decimal
            exact = json.loads(render(e, fmt), parse_float=Decimal, parse_int=Decimal)
            for dkey, skey, kind in table:
                key = skey if fmt == "SIMPLE" else dkey
                if kind == "dec" and dkey in e:
                    assert exact[key] == e[dkey], (e["type"], key)


def test_java_spelling_shows_exponents_and_trailing_zeros(events):
    sim, _ = events
    ob = sim.snapshot("orderbook", "KRW-BTC")
    default = render(ob, "DEFAULT", stream_type="SNAPSHOT").decode()
    assert '"ask_price":1.' in default and "E8" in default  # 1.5235E8
    size = ob["orderbook_units"][0]["ask_size"]
    assert f'"ask_size":{size:f}' in default and len(f"{size:f}".split(".")[1]) == 8
    simple = render(ob, "SIMPLE").decode()
    assert f'"ap":{int(ob["orderbook_units"][0]["ask_price"])},' in simple
    assert '"stream_type":"SNAPSHOT","level":0}' in default  # stream_type before level
    plain = render(ob, "DEFAULT", spelling="plain").decode()
    assert "E8" not in plain


def test_small_simple_sizes_use_exponent_form():
    trade = {
        "type": "trade",
        "code": "KRW-BTC",
        "trade_volume": Decimal("0.00079276"),
        "sequential_id": 17518548559340000,
    }
    assert (
        render(trade, "SIMPLE")
        == b'{"ty":"trade","cd":"KRW-BTC","tv":7.9276E-4,"sid":17518548559340000}'
    )
    assert render(trade, "DEFAULT").endswith(
        b'"trade_volume":0.00079276,"sequential_id":17518548559340000}'
    )


def test_private_messages_and_unknown_keys_render_too():
    asset = {
        "type": "myAsset",
        "asset_uuid": "u",
        "assets": [
            {
                "currency": "KRW",
                "balance": Decimal("1386929.37231066771348207123"),
                "locked": Decimal(0),
            }
        ],
        "asset_timestamp": 1,
        "timestamp": 2,
        "stream_type": "REALTIME",
        "new_field": Decimal("1.5"),
    }
    doc = json.loads(render(asset, "SIMPLE"), parse_float=Decimal)
    assert doc["ast"][0] == {"cu": "KRW", "b": Decimal("1386929.37231066771348207123"), "l": 0}
    assert doc["st"] == "REALTIME" and doc["new_field"] == Decimal("1.5")


def test_render_refuses_unknown_format_type_and_spelling(events):
    _, evs = events
    with pytest.raises(ValueError, match="format"):
        render(evs[0], "XML")
    with pytest.raises(ValueError, match="spelling"):
        render(evs[0], "DEFAULT", spelling="c")
    with pytest.raises(ValueError, match="type"):
        render({"type": "nope"}, "DEFAULT")


# ---- orderbook options -----------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "sent"), [(1, 1), (5, 5), (15, 15), (30, 30), (20, 30), (2, 30)])
def test_orderbook_depth_slices_and_recomputes_totals(events, depth, sent):
    sim, _ = events
    ob = sim.snapshot("orderbook", "KRW-ETH")
    doc = json.loads(render_orderbook(ob, "DEFAULT", depth=depth), parse_float=Decimal)
    units = doc["orderbook_units"]
    assert len(units) == sent
    assert doc["total_ask_size"] == sum(u["ask_size"] for u in units)
    assert doc["total_bid_size"] == sum(u["bid_size"] for u in units)
    assert doc["timestamp"] == ob["timestamp"]


def test_orderbook_level_groups_prices_and_pads_thin_sides(events):
    sim, _ = events
    ob = sim.snapshot("orderbook", "KRW-BTC")
    doc = json.loads(render_orderbook(ob, "SIMPLE", depth=15, level=100000), parse_float=Decimal)
    assert doc["lv"] == 100000
    units = doc["obu"]
    assert len(units) == 15
    asks = [u["ap"] for u in units if u["ap"]]
    bids = [u["bp"] for u in units if u["bp"]]
    assert all(p % 100000 == 0 for p in asks + bids)
    assert all(a < b for a, b in pairwise(asks))
    assert all(a > b for a, b in pairwise(bids))
    assert asks[0] > bids[0]
    assert len(asks) < 15 and units[-1] == {"ap": 0, "bp": 0, "as": 0.0, "bs": 0.0}
    # grouped sizes add up to the native sizes they cover
    native_ask = sum(u["ask_size"] for u in ob["orderbook_units"])
    assert doc["tas"] == native_ask


def test_orderbook_with_unsupported_level_sends_nothing(events):
    sim, _ = events
    ob = sim.snapshot("orderbook", "KRW-BTC")
    assert render_orderbook(ob, "DEFAULT", level=12345) is None
    assert render_orderbook(ob, "DEFAULT", level="10000") is not None


# ---- REST quotation bodies -------------------------------------------------------------------


def test_quotation_bodies_have_upbit_shapes(events):
    sim, _ = events
    tick = json.loads(quotation.tickers(sim, "krw-btc,KRW-ETH"))
    assert [t["market"] for t in tick] == ["KRW-BTC", "KRW-ETH"]
    trades = json.loads(quotation.trades_ticks(sim, "KRW-BTC", "3"))
    assert len(trades) == 3 and isinstance(trades[0]["sequential_id"], int)
    assert trades[0]["sequential_id"] == sim.trades("KRW-BTC", 1)[0]["sequential_id"]
    books = json.loads(quotation.orderbooks(sim, "KRW-BTC", "50", "0"))
    assert len(books[0]["orderbook_units"]) == 30 and books[0]["level"] == 0
    assert books[0]["timestamp"] == sim.snapshot("orderbook", "KRW-BTC")["timestamp"]
    assert json.loads(quotation.orderbooks(sim, "KRW-BTC", "5", "7")) == []
    candles = json.loads(quotation.candles_minutes(sim, "KRW-BTC", "1", "2"))
    assert candles[0]["unit"] == 1
    names = json.loads(quotation.market_all(sim, "true"))
    assert names[0]["market"] == "KRW-BTC" and "market_event" in names[0]
    inst = json.loads(quotation.orderbook_instruments(sim, "KRW-BTC"))
    assert inst[0]["tick_size"] == "1000" and inst[0]["supported_levels"][0] == "0"


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (lambda s: quotation.tickers(s, "KRW-BTC,KRW-NOPE"), 404, quotation.MSG_NOT_FOUND),
        (lambda s: quotation.tickers(s, None), 400, quotation.MSG_MISSING),
        (lambda s: quotation.orderbooks(s, "KRW-BTC", "x"), 400, quotation.MSG_TYPE),
        (lambda s: quotation.trades_ticks(s, "KRW-BTC", "1", "abc"), 400, quotation.MSG_TYPE),
        (lambda s: quotation.candles_minutes(s, "KRW-BTC", "2"), 400, quotation.MSG_INVALID),
        (
            lambda s: quotation.candles_minutes(s, "KRW-BTC", "1", "1", "yesterday"),
            400,
            quotation.MSG_INVALID,
        ),
    ],
)
def test_quotation_errors_use_integer_names_and_exact_messages(events, call, status, message):
    sim, _ = events
    with pytest.raises(quotation.QuotationError) as info:
        call(sim)
    assert info.value.status == status
    assert json.loads(info.value.body()) == {"error": {"name": status, "message": message}}
