"""The REST request log (``Emulator.stats().rest_log``): one frozen record per ``/v1`` call,
so a test can say "no HTTP call was made" or "exactly one POST /v1/orders carried X"."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from upbit_hub.actors.emulator.server_config import RestRecord

PAUSED = {"rate": 0.0}
MARKET_BUY = {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "6000"}


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_a_fresh_emulator_has_logged_no_call_and_control_calls_are_not_logged(emulator):
    assert emulator.stats().rest_log == ()
    requests.get(emulator.base_url + "/_emulator/stats", timeout=5)
    assert emulator.stats().rest_log == ()


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_exactly_one_order_call_carried_an_identifier(emulator, exchange_rest):
    api = exchange_rest(emulator)
    placed = api.order(**MARKET_BUY, identifier="X").json()
    api.get("/v1/order", {"identifier": "X"})
    api.get("/v1/accounts")
    stats = emulator.stats()
    (post,) = stats.rest_calls("POST", "/v1/orders", identifier="X")
    assert (post.group, post.status, post.uuid, post.fault) == ("order", 201, placed["uuid"],
                                                                None)
    assert [(r.method, r.path, r.group, r.status) for r in stats.rest_log] == [
        ("POST", "/v1/orders", "order", 201),
        ("GET", "/v1/order", "default", 200),
        ("GET", "/v1/accounts", "default", 200),
    ]
    assert stats.rest_log[1].identifier == "X" and stats.rest_log[1].uuid == placed["uuid"]
    assert all(isinstance(r, RestRecord) for r in stats.rest_log)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.rest_log[0].status = 500  # type: ignore[misc]
    times = [r.at for r in stats.rest_log]
    assert times == sorted(times)


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_refused_quotation_and_unknown_calls_are_logged_with_their_status(emulator,
                                                                          exchange_rest):
    api = exchange_rest(emulator)
    emulator.faults.rest_throttle(30)
    api.order(**MARKET_BUY, identifier="Y")
    emulator.faults.clear()
    requests.get(emulator.base_url + "/v1/ticker", params={"markets": "KRW-BTC"}, timeout=5)
    requests.get(emulator.base_url + "/v1/nope", timeout=5)
    api.order(**{**MARKET_BUY, "price": "10"})
    log = emulator.stats().rest_log
    assert [(r.path, r.group, r.status) for r in log] == [
        ("/v1/orders", "order", 429),
        ("/v1/ticker", "ticker", 200),
        ("/v1/nope", "not_found", 404),
        ("/v1/orders", "order", 400),
    ]
    assert log[0].identifier == "Y" and log[0].uuid is None


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_cancel_and_new_records_both_orders(emulator, exchange_rest):
    api = exchange_rest(emulator)
    prev = api.order(market="KRW-BTC", side="bid", ord_type="limit", price="1000000",
                     volume="0.01", identifier="old").json()
    r = api.post("/v1/orders/cancel_and_new", {"prev_order_identifier": "old",
                                               "new_ord_type": "limit",
                                               "new_price": "1001000",
                                               "new_volume": "remain_only",
                                               "new_identifier": "new"}).json()
    (record,) = emulator.stats().rest_calls("POST", "/v1/orders/cancel_and_new")
    assert (record.identifier, record.uuid, record.previous) == ("new", r["new_order_uuid"],
                                                                 "old")
    assert r["uuid"] == prev["uuid"]


@pytest.mark.parametrize("emulator", [{**PAUSED, "request_log_size": 3}], indirect=True)
def test_the_log_is_bounded_and_served_by_the_stats_route(emulator, exchange_rest):
    api = exchange_rest(emulator)
    for _ in range(5):
        api.get("/v1/accounts")
    assert len(emulator.stats().rest_log) == 3
    served = requests.get(emulator.base_url + "/_emulator/stats", timeout=5).json()
    assert [r["path"] for r in served["rest_log"]] == ["/v1/accounts"] * 3
