"""Every sample frame in tests/data/upbit/samples decodes, and DEFAULT equals SIMPLE."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from upbit_hub.actors.protocol import (
    CandleEvent,
    ListSubscriptionsEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    ServerErrorEvent,
    StatusEvent,
    SubscriptionItem,
    TickerEvent,
    TradeEvent,
    UnknownEvent,
    decode,
)
from upbit_hub.actors.protocol import fields as F

SAMPLES = Path(__file__).resolve().parent / "data" / "upbit" / "samples"

MARKET_SAMPLES = {
    "ticker": TickerEvent,
    "trade": TradeEvent,
    "orderbook": OrderbookEvent,
    "candle": CandleEvent,
    "myOrder": MyOrderEvent,
    "myAsset": MyAssetEvent,
}


@pytest.fixture(scope="module")
def samples() -> Path:
    return SAMPLES


def _frame(samples: Path, name: str) -> bytes:
    return (samples / name).read_bytes().strip()


@pytest.mark.parametrize("message", sorted(MARKET_SAMPLES))
def test_default_and_simple_samples_decode_to_the_same_event(samples, message):
    default = decode(_frame(samples, f"{message}.DEFAULT.json"))
    simple = decode(_frame(samples, f"{message}.SIMPLE.json"))
    assert len(default) == len(simple) == 1
    assert type(default[0]) is type(simple[0]) is MARKET_SAMPLES[message]
    assert default[0] == simple[0]


@pytest.mark.parametrize("message", sorted(MARKET_SAMPLES))
def test_every_sample_field_lands_in_the_event_with_its_exact_value(samples, message):
    raw = json.loads(_frame(samples, f"{message}.DEFAULT.json"), parse_float=Decimal)
    (event,) = decode(_frame(samples, f"{message}.DEFAULT.json"))
    kinds = {d: k for d, _, k in F.FIELDS_BY_TYPE[raw["type"]]}
    python_type = {"dec": Decimal, "int": int, "str": str, "bool": bool}
    for key, value in raw.items():
        got = getattr(event, key)
        if isinstance(value, list):
            nested = [msgspec.structs.asdict(item) for item in got]
            assert nested == value, key
            assert all(type(v) is Decimal for item in nested for v in item.values()
                       if not isinstance(v, str)), key
        else:
            assert got == value, key
            if value is not None and kinds[key] in python_type:
                assert type(got) is python_type[kinds[key]], key


@pytest.mark.parametrize("message", ["ticker", "orderbook"])
def test_list_format_samples_decode_to_the_same_events_as_single_frames(samples, message):
    single = decode(_frame(samples, f"{message}.DEFAULT.json"))
    json_list = decode(_frame(samples, f"{message}.JSON_LIST.json"))
    simple_list = decode(_frame(samples, f"{message}.SIMPLE_LIST.json"))
    assert json_list == single
    assert simple_list == single
    assert all(type(e) is MARKET_SAMPLES[message] for e in json_list + simple_list)


def test_list_subscriptions_reply_decodes_alike_in_all_four_formats(samples):
    expected = ListSubscriptionsEvent(
        method="LIST_SUBSCRIPTIONS",
        result=[
            SubscriptionItem(type="ticker", codes=["KRW-BTC", "KRW-ETH"]),
            SubscriptionItem(type="orderbook", codes=["KRW-BTC"], level=Decimal(0)),
        ],
        ticket="0e66c0ac-7e13-43ef-91fb-2a87c2956c49",
    )
    for fmt in ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"):
        events = decode(_frame(samples, f"list_subscriptions.{fmt}.json"))
        assert events == [expected], fmt
        assert type(events[0].result[0]) is SubscriptionItem, fmt


def test_error_sample_decodes_to_a_server_error_event(samples):
    (event,) = decode(_frame(samples, "error.json"))
    assert event == ServerErrorEvent(name="INVALID_AUTH", message="인증 정보가 올바르지 않습니다.")
    exc = event.to_exception()
    assert exc.name == "INVALID_AUTH" and "INVALID_AUTH" in str(exc)


def test_status_sample_decodes_to_a_status_event(samples):
    assert decode(_frame(samples, "status.json")) == [StatusEvent(status="UP")]


def test_samples_of_types_this_library_does_not_know_become_unknown_events(samples):
    index = json.loads((samples / "index.json").read_text())
    unknown = [e for e in index if e["message"] not in (*MARKET_SAMPLES, "list_subscriptions",
                                                          "error", "status")]
    assert unknown, "expected announcement/indicator samples in index.json"
    for entry in unknown:
        raw = (samples / entry["file"]).read_bytes()
        (event,) = decode(raw)
        assert type(event) is UnknownEvent, entry["file"]
        assert event.raw == json.loads(raw, parse_float=Decimal)
        assert event.type == event.raw.get("type", event.raw.get("ty"))


def test_index_lists_only_files_that_decode(samples):
    index = json.loads((samples / "index.json").read_text())
    for entry in index:
        assert decode((samples / entry["file"]).read_bytes()), entry["file"]


@pytest.mark.parametrize(
    ("cls", "table"),
    [
        (TickerEvent, F.TICKER_FIELDS),
        (TradeEvent, F.TRADE_FIELDS),
        (OrderbookEvent, F.ORDERBOOK_FIELDS),
        (CandleEvent, F.CANDLE_FIELDS),
        (MyOrderEvent, F.MY_ORDER_FIELDS),
        (MyAssetEvent, F.MY_ASSET_FIELDS),
    ],
)
def test_event_classes_carry_every_field_of_the_field_tables_with_its_kind(cls, table):
    kinds = {"dec": Decimal | None, "int": int | None, "str": str | None, "bool": bool | None}
    info = {f.name: f for f in msgspec.structs.fields(cls)}
    assert list(info) == [name for name, _, _ in table]
    for name, _, kind in table:
        field = info[name]
        if name == "type":
            assert field.required and field.type is str
            continue
        assert field.default is None, name
        if kind in kinds:
            assert field.type == kinds[kind], name
    assert cls.__struct_config__.frozen
