"""The emulator's request parser answers like Upbit (protocol.md 2 and 4). Pure, no sockets."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from upbit_hub.actors.emulator.ws_request import (
    MESSAGES,
    RequestRejected,
    parse_request,
)


def rejected(text: str, **kw) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        parse_request(text, **kw)
    return info.value


def test_a_full_public_request_is_parsed_with_every_option():
    text = json.dumps([
        {"ticket": "t1"},
        {"type": "orderbook", "codes": ["KRW-BTC.5"], "level": "10000"},
        {"type": "trade", "codes": ["KRW-ETH"], "is_only_realtime": True},
        {"type": "candle.1m", "codes": ["KRW-BTC"], "is_only_snapshot": True},
        {"format": "SIMPLE"},
    ])
    req = parse_request(text)
    assert req.ticket == "t1" and req.format == "SIMPLE" and req.method is None
    ob, trade, candle = req.types
    assert (ob.type, ob.codes, ob.level) == ("orderbook", ("KRW-BTC.5",), 10000)
    assert trade.only_realtime and not trade.only_snapshot
    assert candle.only_snapshot and not candle.only_realtime


def test_format_may_come_before_the_types_and_may_be_missing():
    req = parse_request('[{"ticket":"a"},{"format":"JSON_LIST"},{"type":"ticker","codes":["X"]}]')
    assert req.format == "JSON_LIST"
    assert parse_request('[{"ticket":"a"},{"type":"ticker","codes":["X"]}]').format is None


@pytest.mark.parametrize("text", ["hello", "PONG", '{"ticket":"a"}', "[]", '["ticket"]',
                                  "[1, 2]", '[{"ticket":"a"},{"type":"ticker","codes":"KRW-BTC"}]',
                                  '[{"ticket":"a"},{"type":5,"codes":["KRW-BTC"]}]'])
def test_anything_but_an_array_of_well_typed_objects_is_wrong_format(text):
    err = rejected(text)
    assert (err.name, err.message) == ("WRONG_FORMAT", "Format 이 맞지 않습니다.")


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ('[{"type":"ticker","codes":["KRW-BTC"]}]', "NO_TICKET", MESSAGES["NO_TICKET"]),
        ('[{"ticket":""},{"type":"ticker","codes":["KRW-BTC"]}]', "NO_TICKET",
         MESSAGES["NO_TICKET"]),
        ('[{"ticket":"a"},{"codes":["KRW-BTC"]}]', "NO_TYPE", "type 필드가 존재하지 않습니다."),
        ('[{"ticket":"a"}]', "NO_TYPE", "type 필드가 존재하지 않습니다."),
        ('[{"ticket":"a"},{"type":"ticker"}]', "NO_CODES", "codes 필드가 존재하지 않습니다."),
        ('[{"ticket":"a"},{"type":"ticker","codes":[]}]', "INVALID_PARAM",
         "codes 필드가 비어 있습니다."),
        ('[{"ticket":"a"},{"type":"nope","codes":["KRW-BTC"]}]', "INVALID_PARAM",
         "nope 은 지원하지 않는 타입입니다."),
        ('[{"ticket":"a"},{"type":"ticker","codes":["KRW-BTC"]},{"format":"XML"}]',
         "INVALID_PARAM", "XML은 지원하지 않는 포맷입니다."),
    ],
)
def test_each_documented_error_has_its_name_and_korean_message(text, name, message):
    err = rejected(text)
    assert (err.name, err.message) == (name, message)


def test_private_types_are_refused_on_the_public_endpoint_and_vice_versa():
    assert rejected('[{"ticket":"a"},{"type":"myOrder"}]').name == "INVALID_PARAM"
    err = rejected('[{"ticket":"a"},{"type":"ticker","codes":["KRW-BTC"]}]', private=True)
    assert (err.name, err.message) == ("INVALID_PARAM", "ticker 은 지원하지 않는 타입입니다.")


def test_my_asset_with_codes_is_wrong_format_and_my_order_codes_are_optional():
    err = rejected('[{"ticket":"a"},{"type":"myAsset","codes":["KRW-BTC"]}]', private=True)
    assert err.name == "WRONG_FORMAT"
    req = parse_request('[{"ticket":"a"},{"type":"myOrder"},{"type":"myAsset"}]', private=True)
    assert [(t.type, t.codes) for t in req.types] == [("myOrder", None), ("myAsset", None)]
    req = parse_request('[{"ticket":"a"},{"type":"myOrder","codes":[]}]', private=True)
    assert req.types[0].codes == ()


def test_camel_case_flags_are_honoured_unless_switched_off():
    text = '[{"ticket":"a"},{"type":"ticker","codes":["KRW-BTC"],"isOnlySnapshot":true}]'
    assert parse_request(text).types[0].only_snapshot is True
    assert parse_request(text, accept_camel_case=False).types[0].only_snapshot is False


def test_list_subscriptions_is_an_operation_with_its_own_format():
    req = parse_request('[{"ticket":"a"},{"method":"LIST_SUBSCRIPTIONS"},{"format":"SIMPLE"}]')
    assert (req.method, req.format, req.types) == ("LIST_SUBSCRIPTIONS", "SIMPLE", ())
    assert rejected('[{"ticket":"a"},{"method":"UNSUBSCRIBE"}]').name == "INVALID_PARAM"


@pytest.mark.parametrize(("level", "expected"), [(0, 0), ("10000", 10000), (100.0, 100),
                                                  ("0.5", Decimal("0.5"))])
def test_orderbook_level_accepts_numbers_and_numeric_strings(level, expected):
    text = json.dumps([{"ticket": "a"}, {"type": "orderbook", "codes": ["KRW-BTC"],
                                         "level": level}])
    assert parse_request(text).types[0].level == expected


@pytest.mark.parametrize("level", ["abc", True, [1], "NaN"])
def test_a_non_numeric_level_is_wrong_format(level):
    text = json.dumps([{"ticket": "a"}, {"type": "orderbook", "codes": ["KRW-BTC"],
                                         "level": level}])
    assert rejected(text).name == "WRONG_FORMAT"


def test_a_non_boolean_flag_is_wrong_format():
    text = '[{"ticket":"a"},{"type":"trade","codes":["KRW-BTC"],"is_only_realtime":"yes"}]'
    assert rejected(text).name == "WRONG_FORMAT"
