"""Golden tests of the frame decoder: number spelling, formats, odd and malformed frames."""

from __future__ import annotations

import importlib
import json
import logging
from decimal import Decimal

import msgspec
import pytest

from upbit_hub.actors.protocol import (
    CandleEvent,
    FrameDecodeError,
    MyAssetEvent,
    OrderbookEvent,
    OrderbookUnit,
    ServerError,
    ServerErrorEvent,
    StatusEvent,
    TickerEvent,
    TradeEvent,
    UnknownEvent,
    decode,
    decode_rest_ticker,
    decode_stats,
    reset_decode_stats,
)
from upbit_hub.actors.protocol import fields as F

# The package re-exports the function ``decode``, which shadows the module attribute.
decode_module = importlib.import_module("upbit_hub.actors.protocol.decode")

TRADE_DEFAULT = (
    '{"type":"trade","code":"KRW-BTC","timestamp":1787728554853,"trade_date":"2026-08-26",'
    '"trade_time":"07:15:54","trade_timestamp":1787728554797,"trade_price":1.16539E8,'
    '"trade_volume":7.9276E-4,"ask_bid":"ASK","prev_closing_price":109165000.0,"change":"RISE",'
    '"change_price":682000.0,"sequential_id":17877285547970001,"best_ask_price":109867000,'
    '"best_ask_size":5.0E-4,"best_bid_price":109847000,"best_bid_size":0.00077720,'
    '"stream_type":"SNAPSHOT"}'
)


@pytest.fixture(autouse=True)
def _fresh_stats():
    reset_decode_stats()
    yield
    reset_decode_stats()


def test_exponent_numbers_decode_to_exact_decimals():
    (event,) = decode(TRADE_DEFAULT.encode())
    assert event.trade_price == Decimal("116539000")
    assert event.trade_volume == Decimal("0.00079276")
    assert event.best_ask_size == Decimal("0.0005")
    assert all(type(v) is Decimal for v in (event.trade_price, event.trade_volume))


def test_trailing_zeros_are_kept_in_the_decimal_text():
    (event,) = decode(TRADE_DEFAULT.encode())
    assert str(event.best_bid_size) == "0.00077720"
    assert str(event.prev_closing_price) == "109165000.0"


def test_sequential_id_above_2_pow_53_stays_an_exact_int():
    (event,) = decode(TRADE_DEFAULT.encode())
    assert event.sequential_id == 17877285547970001
    assert event.sequential_id > 2**53 and float(event.sequential_id) != event.sequential_id


def test_myasset_balances_with_more_than_20_digits_are_exact():
    frame = (
        b'{"type":"myAsset","asset_uuid":"e635f223-1609-4969-8fb6-4376937baad6",'
        b'"assets":[{"currency":"KRW","balance":1386929.37231066771348207123,'
        b'"locked":10329.670127489597585685}],"asset_timestamp":1710146517259,'
        b'"timestamp":1710146517267,"stream_type":"REALTIME"}'
    )
    (event,) = decode(frame)
    assert type(event) is MyAssetEvent and event.symbol is None
    (asset,) = event.assets
    assert asset.balance == Decimal("1386929.37231066771348207123")
    assert asset.locked == Decimal("10329.670127489597585685")


def test_simple_frames_with_java_spelled_numbers_equal_their_default_twin():
    default = decode(TRADE_DEFAULT.encode())
    simple_frame = (
        '{"ty":"trade","cd":"KRW-BTC","tms":1787728554853,"td":"2026-08-26","ttm":"07:15:54",'
        '"ttms":1787728554797,"tp":116539000,"tv":0.00079276,"ab":"ASK","pcp":109165000,'
        '"c":"RISE","cp":682000.0,"sid":17877285547970001,"bap":109867000,"bas":0.0005,'
        '"bbp":109847000,"bbs":0.00077720,"st":"SNAPSHOT"}'
    )
    simple = decode(simple_frame.encode())
    assert type(simple[0]) is TradeEvent
    assert simple == default  # Decimal compares by value: 1.16539E8 == 116539000


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_binary_and_text_frames_decode_alike(wrap):
    frame = TRADE_DEFAULT.encode()
    assert decode(wrap(frame)) == decode(frame)


def test_text_frame_with_non_ascii_content_decodes():
    frame = '{"error":{"message":"Format 이 맞지 않습니다.","name":"WRONG_FORMAT"}}'
    assert decode(frame) == [ServerErrorEvent("WRONG_FORMAT", "Format 이 맞지 않습니다.")]


def test_unknown_extra_fields_are_ignored_in_both_formats():
    data = json.loads(TRADE_DEFAULT)
    data["brand_new_field"] = {"nested": [1, 2, 3]}
    data["another"] = None
    with_extra = json.dumps(data).encode()
    simple = json.dumps(F.to_simple(data, F.TRADE_FIELDS)).encode()
    assert decode(with_extra) == decode(TRADE_DEFAULT.encode())
    assert decode(simple) == decode(TRADE_DEFAULT.encode())


def test_missing_fields_default_to_none():
    (event,) = decode(b'{"ty":"ticker","cd":"KRW-ETH"}')
    assert type(event) is TickerEvent
    assert event.code == "KRW-ETH" and event.trade_price is None and event.stream_type is None


def test_keys_in_any_order_and_with_whitespace_take_the_general_path_correctly():
    data = json.loads(TRADE_DEFAULT)
    reordered = dict(reversed(list(data.items())))
    pretty = json.dumps(reordered, indent=2).encode()
    assert not pretty.startswith(b'{"type"')
    assert decode(pretty) == decode(TRADE_DEFAULT.encode())


def test_events_expose_symbol_stream_type_and_candle_interval():
    (trade,) = decode(TRADE_DEFAULT.encode())
    assert trade.symbol == "KRW-BTC" and trade.stream_type == "SNAPSHOT"
    (candle,) = decode(b'{"ty":"candle.240m","cd":"BTC-ETH","st":"REALTIME","op":0.0301}')
    assert type(candle) is CandleEvent
    assert candle.type == "candle.240m" and candle.interval == "240m"
    assert candle.symbol == "BTC-ETH" and candle.opening_price == Decimal("0.0301")


def test_events_are_frozen_and_hashable():
    (trade,) = decode(TRADE_DEFAULT.encode())
    with pytest.raises(AttributeError):
        trade.trade_price = Decimal(1)  # type: ignore[misc]
    assert hash(trade) == hash(decode(TRADE_DEFAULT.encode())[0])


def test_orderbook_units_decode_in_order_from_simple_and_default():
    simple = (
        b'{"ty":"orderbook","cd":"KRW-BTC","tms":1790134742106,"tas":2.51469375,'
        b'"tbs":1.63815297,"obu":[{"ap":1.16539E8,"bp":1.16538E8,"as":0.02054761,'
        b'"bs":0.08120946},{"ap":1.16542E8,"bp":1.16537E8,"as":0.00077720,"bs":0.01129382}],'
        b'"st":"SNAPSHOT","lv":0}'
    )
    (event,) = decode(simple)
    assert type(event) is OrderbookEvent
    assert event.orderbook_units == (
        OrderbookUnit(Decimal("116539000"), Decimal("116538000"), Decimal("0.02054761"),
                      Decimal("0.08120946")),
        OrderbookUnit(Decimal("116542000"), Decimal("116537000"), Decimal("0.00077720"),
                      Decimal("0.01129382")),
    )
    assert all(type(u) is OrderbookUnit for u in event.orderbook_units)


def test_a_list_frame_with_several_types_decodes_every_item_in_order():
    frame = ("[" + TRADE_DEFAULT + ',{"ty":"ticker","cd":"KRW-ETH"},{"status":"UP"}]').encode()
    events = decode(frame)
    assert [type(e) for e in events] == [TradeEvent, TickerEvent, StatusEvent]
    assert events[0] == decode(TRADE_DEFAULT.encode())[0]


@pytest.mark.parametrize(
    ("trade", "ticker"),
    [
        ('{"type":"trade","code":"KRW-BTC","trade_price":1,"trade_volume":0.5,'
         '"sequential_id":17877285547970001}',
         '{"type":"ticker","code":"KRW-ETH","trade_price":2,"acc_trade_price_24h":5}'),
        ('{"ty":"trade","cd":"KRW-BTC","tp":1,"tv":0.5,"sid":17877285547970001}',
         '{"ty":"ticker","cd":"KRW-ETH","tp":2,"atp24h":5}'),
    ],
    ids=["JSON_LIST", "SIMPLE_LIST"],
)
def test_a_compact_mixed_list_decodes_each_item_into_its_own_class(trade, ticker):
    compact = f"[{trade},{ticker}]".encode()  # takes the fast list path (starts '[{"ty')
    spaced = f"[ {trade}, {ticker}]".encode()  # takes the general path
    for frame in (compact, spaced):
        events = decode(frame)
        assert [type(e) for e in events] == [TradeEvent, TickerEvent]
        assert events[1].type == "ticker"
        assert events[1].code == "KRW-ETH"
        assert events[1].acc_trade_price_24h == Decimal(5)
    assert decode(compact) == decode(spaced)


def test_an_empty_list_frame_decodes_to_no_events():
    assert decode(b"[]") == []


def test_status_frames_decode_to_status_events():
    assert decode(b'{"status":"UP"}') == [StatusEvent("UP")]
    assert decode(b'{ "status" : "DOWN" }') == [StatusEvent("DOWN")]


@pytest.mark.parametrize(
    ("frame", "name", "message"),
    [
        ('{"error":{"name":"NO_TICKET","message":"티켓이 존재하지 않습니다."}}', "NO_TICKET",
         "티켓이 존재하지 않습니다."),
        ('{"error":{"message":"too many","name":"Too Many Requests"}}', "Too Many Requests",
         "too many"),
        ('{"error":{"message":"blocked for 30s"}}', "", "blocked for 30s"),
        ('{"error":{"name":400,"message":"Invalid parameter."}}', "400", "Invalid parameter."),
        ('{"error":"plain text"}', "", "plain text"),
    ],
)
def test_error_frames_keep_whatever_name_and_message_the_server_sent(frame, name, message):
    (event,) = decode(frame.encode())
    assert event == ServerErrorEvent(name=name, message=message)
    exc = event.to_exception(endpoint="public")
    assert isinstance(exc, ServerError)
    assert (exc.name, exc.message, exc.endpoint) == (name, message, "public")


def test_unknown_type_becomes_an_unknown_event_that_is_counted():
    frame = b'{"type":"indicator","code":"KRW-BTC","value":{"rsi":56.2318},"timestamp":17}'
    (event,) = decode(frame)
    assert event == UnknownEvent(
        type="indicator",
        raw={"type": "indicator", "code": "KRW-BTC", "value": {"rsi": Decimal("56.2318")},
             "timestamp": 17},
    )
    (simple,) = decode(b'{"ty":"announcement","tt":"hello"}')
    assert simple.type == "announcement" and simple.raw == {"ty": "announcement", "tt": "hello"}
    (odd,) = decode(b'{"type":5,"x":1}')
    assert odd == UnknownEvent(type=None, raw={"type": 5, "x": 1})
    stats = decode_stats()
    assert stats["unknown"] == 3 and stats["events"] == 3 and stats["frames"] == 3


def test_unknown_types_are_logged_at_most_once_per_n_occurrences(monkeypatch, caplog):
    monkeypatch.setattr(decode_module, "UNKNOWN_LOG_EVERY", 3)
    caplog.set_level(logging.WARNING, logger=decode_module.__name__)
    for _ in range(7):
        decode(b'{"type":"flood"}')
    decode(b'{"type":"other"}')
    logged = [r.getMessage() for r in caplog.records if r.name == decode_module.__name__]
    assert len([m for m in logged if "'flood'" in m]) == 3  # occurrences 1, 4 and 7
    assert len([m for m in logged if "'other'" in m]) == 1
    assert decode_stats()["unknown"] == 8


def test_stats_count_frames_events_unknown_and_malformed():
    decode(TRADE_DEFAULT.encode())
    decode(("[" + TRADE_DEFAULT + "," + TRADE_DEFAULT + "]").encode())
    decode(b'{"type":"nope"}')
    with pytest.raises(FrameDecodeError):
        decode(b"garbage")
    assert decode_stats() == {"frames": 4, "events": 4, "unknown": 1, "malformed": 1}
    reset_decode_stats()
    assert decode_stats() == {"frames": 0, "events": 0, "unknown": 0, "malformed": 0}


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b'{"type":"trade","code":"KRW-BTC","timestamp":1.7e12,"trades_count":1}', 1700000000000),
        (b'{"ty":"trade","cd":"KRW-BTC","tms":1751854855959.0}', 1751854855959),
        (b'{"ty":"trade","cd":"KRW-BTC","tms":5.0}', 5),
        (b'{"ty":"trade","cd":"KRW-BTC","tms":"1751854855959"}', 1751854855959),
    ],
)
def test_an_int_field_spelled_as_float_or_string_still_decodes(frame, expected):
    (event,) = decode(frame)
    assert type(event) is TradeEvent and event.timestamp == expected
    assert type(event.timestamp) is int


def test_a_float_spelled_sequential_id_above_2_pow_53_decodes_exactly():
    (event,) = decode(b'{"ty":"trade","cd":"KRW-BTC","sid":17877285547970001.0}')
    assert event.sequential_id == 17877285547970001


def test_a_float_spelled_int_inside_a_list_frame_still_decodes():
    events = decode(b'[{"ty":"trade","tms":5.0},{"ty":"trade","tms":6}]')
    assert [e.timestamp for e in events] == [5, 6]


def test_string_numbers_and_bools_in_a_myorder_frame_are_read_leniently():
    (event,) = decode(b'{"ty":"myOrder","cd":"KRW-BTC","p":"5000","im":"true","tc":"2"}')
    assert (event.price, event.is_maker, event.trades_count) == (Decimal(5000), True, 2)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"not json", "malformed"),
        (b'{"type":"trade","code":"KRW', "truncated"),
        (b"", "truncated"),
        (b"42", "object | array"),
        (b'"ticker"', "object | array"),
        (b"null", "object | array"),
        (b"[1, 2]", "array item 0"),
        (b'[{"type":"trade"}, "x"]', "array item 1"),
        (b'{"foo":1}', "none of the keys"),
        (b"{}", "none of the keys"),
        (b'{"status":5}', "status"),
        (b'{"type":"trade","timestamp":5.5}', "timestamp"),
        (b'{"ty":"trade","tp":"abc"}', "tp"),
        (b'{"ty":"trade","cd":["KRW-BTC"]}', "cd"),
        (b'{"ty":"trade","tms":1e999999999}', "tms"),
        (b'{"ty":"orderbook","obu":[{"ap":"x"}]}', "obu"),
        (b'{"method":5}', "method"),
        (b'\xff\xfe{"type":"trade"}', ""),
        (b"[" * 20000 + b"]" * 20000, "nested too deeply"),
    ],
)
def test_malformed_frames_raise_frame_decode_error_with_the_first_bytes(frame, reason):
    with pytest.raises(FrameDecodeError) as info:
        decode(frame)
    assert info.value.head == frame[: FrameDecodeError.HEAD_BYTES]
    assert info.value.size == len(frame)
    assert reason in info.value.reason
    assert decode_stats()["malformed"] == 1


def test_a_text_frame_that_cannot_be_utf8_raises_frame_decode_error():
    with pytest.raises(FrameDecodeError, match="UTF-8"):
        decode('{"type":"\ud800"}')


def test_a_frame_that_is_neither_bytes_nor_str_is_a_type_error():
    with pytest.raises(TypeError, match="bytes or str"):
        decode(12)  # type: ignore[arg-type]


def test_decoded_events_round_trip_through_msgspec_encoding():
    (event,) = decode(TRADE_DEFAULT.encode())
    again = msgspec.json.decode(msgspec.json.encode(event), type=TradeEvent)
    assert again == event


def test_rest_ticker_bodies_decode_to_ticker_events():
    body = (
        b'[{"market":"KRW-BTC","trade_date":"20260311","trade_time":"144059",'
        b'"trade_date_kst":"20260311","trade_time_kst":"234059","trade_timestamp":1773240059095,'
        b'"opening_price":102417000.0,"trade_price":1.0346E8,"change":"RISE",'
        b'"acc_trade_volume_24h":871.22906651,"timestamp":1773240059102},'
        b'{"market":"KRW-ETH","trade_price":3100000,"timestamp":1773240059103.0}]'
    )
    btc, eth = decode_rest_ticker(body)
    assert type(btc) is TickerEvent and btc.type == "ticker"
    assert btc.symbol == "KRW-BTC" and btc.stream_type is None
    assert btc.trade_price == Decimal("103460000") and btc.trade_time == "144059"
    assert btc.acc_trade_volume_24h == Decimal("871.22906651")
    assert eth.code == "KRW-ETH" and eth.timestamp == 1773240059103
    assert decode_rest_ticker(b"[]") == []


@pytest.mark.parametrize(
    "body", [b'{"error":{"name":404,"message":"Code not found"}}', b"oops", b"[1]",
             b'[{"market":"KRW-BTC","trade_price":"x"}]']
)
def test_rest_ticker_bodies_that_are_not_ticker_lists_raise_frame_decode_error(body):
    with pytest.raises(FrameDecodeError):
        decode_rest_ticker(body)
