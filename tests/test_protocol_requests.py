"""Request encoding: golden shapes from tests/data/upbit/samples/requests; validation errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from upbit_hub.actors.protocol import (
    RequestValidationError,
    TypeRequest,
    encode_list_subscriptions,
    encode_request,
    new_ticket,
    orderbook_code,
    validate_market_code,
)

REQUESTS = Path(__file__).resolve().parent / "data" / "upbit" / "samples" / "requests"


@pytest.fixture(scope="module")
def requests_dir() -> Path:
    return REQUESTS


def _shape(message: bytes | str) -> list[list[tuple[str, object]]]:
    """Key order matters on the wire: compare each object's (key, value) pairs in order."""
    return [list(obj.items()) for obj in json.loads(message)]


def _sample(requests_dir: Path, name: str) -> list[dict]:
    return json.loads((requests_dir / name).read_text())


def test_public_ticker_request_matches_the_sample(requests_dir):
    sample = _sample(requests_dir, "public_ticker_SIMPLE.json")
    got = encode_request([TypeRequest("ticker", ("KRW-BTC",))], ticket=sample[0]["ticket"])
    assert _shape(got) == _shape(json.dumps(sample))


def test_public_mixed_request_matches_the_sample(requests_dir):
    sample = _sample(requests_dir, "public_mixed_DEFAULT.json")
    # The sample sends level as the string "0" (docs: "numeric String"); Upbit's own examples
    # send a number, and so does this encoder. Compare with the number.
    sample[3]["level"] = int(sample[3]["level"])
    got = encode_request(
        [
            TypeRequest("ticker", ("KRW-BTC", "KRW-ETH"), is_only_realtime=True),
            TypeRequest("trade", ("KRW-BTC",)),
            TypeRequest("orderbook", (orderbook_code("KRW-BTC", 5),), level=0),
            TypeRequest("candle.1m", ("KRW-BTC",), is_only_snapshot=True),
        ],
        ticket=sample[0]["ticket"],
        fmt="DEFAULT",
    )
    assert _shape(got) == _shape(json.dumps(sample))


def test_private_request_matches_the_sample_without_its_announcement_type(requests_dir):
    sample = _sample(requests_dir, "private_myOrder_myAsset_announcement.json")
    # announcement is not a type this library subscribes to; drop it from the golden shape.
    sample = [obj for obj in sample if obj.get("type") != "announcement"]
    got = encode_request(
        [TypeRequest("myOrder", ["KRW-BTC"]), TypeRequest("myAsset")],
        ticket=sample[0]["ticket"],
        fmt="DEFAULT",
    )
    assert _shape(got) == _shape(json.dumps(sample))


def test_list_subscriptions_request_matches_the_sample(requests_dir):
    sample = _sample(requests_dir, "list_subscriptions_SIMPLE.json")
    got = encode_list_subscriptions(ticket=sample[0]["ticket"])
    assert _shape(got) == _shape(json.dumps(sample))


def test_encoded_requests_are_compact_bytes():
    got = encode_request([TypeRequest("trade", ("KRW-BTC",))], ticket="t1", fmt="SIMPLE_LIST")
    assert got == b'[{"ticket":"t1"},{"type":"trade","codes":["KRW-BTC"]},{"format":"SIMPLE_LIST"}]'


def test_my_order_without_codes_means_all_markets_and_omits_the_key():
    got = json.loads(encode_request([TypeRequest("myOrder")], ticket="t"))
    assert got[1] == {"type": "myOrder"}


def test_a_missing_ticket_is_a_fresh_uuid4_each_time():
    first = json.loads(encode_request([TypeRequest("ticker", ("KRW-BTC",))]))[0]["ticket"]
    second = json.loads(encode_list_subscriptions())[0]["ticket"]
    assert first != second
    assert uuid.UUID(first).version == 4 and uuid.UUID(new_ticket()).version == 4


def test_type_requests_store_codes_as_tuples_and_are_hashable():
    req = TypeRequest("ticker", ["KRW-BTC", "KRW-ETH"])
    assert req.codes == ("KRW-BTC", "KRW-ETH")
    assert hash(req) == hash(TypeRequest("ticker", ("KRW-BTC", "KRW-ETH")))


def test_orderbook_code_appends_a_supported_depth():
    assert orderbook_code("KRW-BTC", 15) == "KRW-BTC.15"
    assert orderbook_code("KRW-BTC") == "KRW-BTC"
    for depth in (1, 5, 15, 30):
        encode_request([TypeRequest("orderbook", (orderbook_code("BTC-ETH", depth),))])


@pytest.mark.parametrize("depth", [0, 2, 20, 31, -5, True, "5", 5.0])
def test_orderbook_code_rejects_unsupported_depths(depth):
    with pytest.raises(RequestValidationError, match="depth"):
        orderbook_code("KRW-BTC", depth)


@pytest.mark.parametrize("code", ["KRW-BTC", "USDT-BTC", "BTC-1INCH", "SGD-BTC", "KRW-A"])
def test_valid_market_codes_pass_through(code):
    assert validate_market_code(code) == code


@pytest.mark.parametrize(
    "code",
    ["krw-btc", "KRW-btc", "KRWBTC", "KRW_BTC", "K-BTC", "KRW-", "-BTC", "KRW-BTC-X",
     "KRW-BTC.5", "KRW-BTC\n", " KRW-BTC", "ABCDEFGHIJK-BTC", "KRW-ABCDEFGHIJKLMNOP", "",
     None, 5],
)
def test_invalid_market_codes_raise_naming_the_code(code):
    with pytest.raises(RequestValidationError) as info:
        validate_market_code(code)
    assert repr(code) in str(info.value)


@pytest.mark.parametrize(
    ("types", "kwargs", "needle"),
    [
        ([], {}, "empty request"),
        (TypeRequest("ticker", ("KRW-BTC",)), {}, "sequence of TypeRequest"),
        ([{"type": "ticker"}], {}, "expected a TypeRequest"),
        ([TypeRequest("nope", ("KRW-BTC",))], {}, "'nope'"),
        ([TypeRequest("candle.2m", ("KRW-BTC",))], {}, "'candle.2m'"),
        ([TypeRequest("myTrade")], {}, "'myTrade'"),
        ([TypeRequest("ticker", ("KRW-BTC",))], {"fmt": "XML"}, "'XML'"),
        ([TypeRequest("ticker", ("KRW-BTC",))], {"fmt": "simple"}, "'simple'"),
        ([TypeRequest("ticker")], {}, "ticker: codes must not be empty"),
        ([TypeRequest("orderbook", ())], {}, "orderbook: codes must not be empty"),
        ([TypeRequest("myAsset", ("KRW-BTC",))], {}, "myAsset takes no codes"),
        ([TypeRequest("ticker", ("krw-btc",))], {}, "'krw-btc'"),
        ([TypeRequest("myOrder", ("KRW-btc",))], {}, "'KRW-btc'"),
        ([TypeRequest("ticker", ("KRW-BTC", 7))], {}, "7"),
        ([TypeRequest("trade", ("KRW-BTC.5",))], {}, "'KRW-BTC.5'"),
        ([TypeRequest("orderbook", ("KRW-BTC.20",))], {}, "'20'"),
        ([TypeRequest("orderbook", ("KRW-BTC.015",))], {}, "'015'"),
        ([TypeRequest("orderbook", ("KRW-BTC.",))], {}, "''"),
        ([TypeRequest("orderbook", ("krw-btc.5",))], {}, "'krw-btc'"),
        ([TypeRequest("ticker", ("KRW-BTC",), True, True)], {}, "cannot both be true"),
        ([TypeRequest("ticker", ("KRW-BTC",), level=0)], {}, "level 0 is only for orderbook"),
        ([TypeRequest("orderbook", ("KRW-BTC",), level=-1)], {}, "level -1"),
        ([TypeRequest("orderbook", ("KRW-BTC",), level=True)], {}, "level True"),
        ([TypeRequest("orderbook", ("KRW-BTC",), level=1.5)], {}, "level 1.5"),
        ([TypeRequest("ticker", ("KRW-BTC",), is_only_snapshot=1)], {}, "is_only_snapshot"),
        ([TypeRequest("ticker", ("KRW-BTC",)), TypeRequest("myAsset")], {}, "cannot mix public"),
        ([TypeRequest("myOrder"), TypeRequest("trade", ("KRW-BTC",))], {}, "'trade'"),
        ([TypeRequest("ticker", ("KRW-BTC",))], {"ticket": ""}, "ticket ''"),
        ([TypeRequest("ticker", ("KRW-BTC",))], {"ticket": 5}, "ticket 5"),
    ],
)
def test_invalid_requests_raise_a_validation_error_naming_the_bad_value(types, kwargs, needle):
    with pytest.raises(RequestValidationError) as info:
        encode_request(types, **kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_codes_given_as_one_string_are_rejected_with_a_hint():
    with pytest.raises(RequestValidationError, match=r"\('KRW-BTC',\)"):
        TypeRequest("ticker", "KRW-BTC")  # type: ignore[arg-type]


def test_list_subscriptions_rejects_an_unknown_format():
    with pytest.raises(RequestValidationError, match="'BSON'"):
        encode_list_subscriptions(fmt="BSON")
