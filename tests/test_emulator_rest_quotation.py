"""Quotation REST of the emulator over loopback: routes, groups, headers, errors (22-24)."""

from __future__ import annotations

import pytest
import requests


def get(emulator, path, **params):
    return requests.get(emulator.base_url + path, params=params, timeout=5)


@pytest.mark.parametrize(("path", "params", "group"), [
    ("/v1/market/all", {}, "market"),
    ("/v1/ticker", {"markets": "KRW-BTC,KRW-ETH"}, "ticker"),
    ("/v1/orderbook", {"markets": "KRW-BTC"}, "orderbook"),
    ("/v1/orderbook/instruments", {"markets": "KRW-BTC"}, "orderbook"),
    ("/v1/trades/ticks", {"market": "KRW-BTC", "count": 5}, "crix-trades"),
    ("/v1/candles/minutes/1", {"market": "KRW-BTC", "count": 3}, "candles"),
])
def test_each_quotation_route_answers_json_with_its_real_group_name(emulator, path, params,
                                                                     group):
    r = get(emulator, path, **params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert r.headers["Remaining-Req"] == f"group={group}; min=600; sec=9"
    assert r.headers["Limit-By-Ip"] == "Yes"
    assert isinstance(r.json(), list) and r.json()


def test_ticker_numbers_are_json_numbers_and_lower_case_codes_are_accepted(emulator):
    (item,) = get(emulator, "/v1/ticker", markets="krw-btc").json()
    assert item["market"] == "KRW-BTC"
    assert isinstance(item["trade_price"], int | float)
    assert isinstance(item["trade_timestamp"], int)


def test_an_unknown_market_fails_the_whole_call_with_integer_404(emulator):
    r = get(emulator, "/v1/ticker", markets="KRW-BTC,KRW-NOPE")
    assert r.status_code == 404
    assert r.json() == {"error": {"name": 404, "message": "Code not found"}}
    assert r.headers["Remaining-Req"].startswith("group=ticker;")


def test_a_missing_parameter_is_integer_400_with_upbits_message(emulator):
    r = get(emulator, "/v1/ticker")
    assert r.status_code == 400
    assert r.json()["error"] == {
        "name": 400, "message": "Missing request parameter error. Check the required parameters!"}


def test_trades_come_newest_first_with_the_requested_count(emulator):
    trades = get(emulator, "/v1/trades/ticks", market="KRW-BTC", count=5).json()
    assert len(trades) == 5
    stamps = [t["timestamp"] for t in trades]
    assert stamps == sorted(stamps, reverse=True)


def test_eleven_quotation_calls_in_a_second_get_429_and_groups_are_separate(emulator):
    statuses = [get(emulator, "/v1/ticker", markets="KRW-BTC").status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert get(emulator, "/v1/orderbook", markets="KRW-BTC").status_code == 200
    assert get(emulator, "/v1/ticker", markets="KRW-BTC").status_code == 418
