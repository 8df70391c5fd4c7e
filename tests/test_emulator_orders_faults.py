"""Order faults an order path must survive: the order is placed but the answer is lost
(connection reset), broken (5xx) or late (held past the client's timeout). Afterwards the
order is there, found by ``GET /v1/order?identifier=``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Credentials,
    mint_token,
    query_string_for_hash,
)
from upbit_hub.actors.emulator.process import EmulatorProcess
from upbit_hub.actors.protocol import trading_rules as rules

PAUSED = {"rate": 0.0}


def bid(emu, identifier: str) -> dict:
    price = rules.round_to_tick(
        "KRW-BTC", emu.call(lambda core: core.market.book("KRW-BTC"))[0][1] * Decimal("0.8"),
        "down")
    return {"market": "KRW-BTC", "side": "bid", "ord_type": "limit", "price": str(price),
            "volume": "0.0001", "identifier": identifier}


def found(api, identifier: str) -> dict:
    r = api.get("/v1/order", {"identifier": identifier})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_accept_then_drop_places_the_order_and_resets_the_connection(emulator, exchange_rest):
    api = exchange_rest(emulator)
    emulator.faults.order_faults("accept_then_drop")
    with pytest.raises(requests.ConnectionError):
        api.order(**bid(emulator, "dropped"))
    assert found(api, "dropped")["state"] == "wait"
    (record,) = emulator.stats().rest_calls("POST", "/v1/orders")
    assert (record.status, record.fault, record.identifier) == (0, "accept_then_drop",
                                                                "dropped")
    assert record.uuid == found(api, "dropped")["uuid"]
    assert api.order(**bid(emulator, "next")).status_code == 201  # count=1: used up


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_accept_then_5xx_places_the_order_and_answers_an_error(emulator, exchange_rest, status):
    api = exchange_rest(emulator)
    emulator.faults.order_faults("accept_then_5xx", status=status)
    r = api.order(**bid(emulator, "broken"))
    assert r.status_code == status
    if status == 500:
        assert r.json()["error"]["name"] == "server_error"
    else:
        with pytest.raises(ValueError):
            r.json()  # a gateway page, not JSON
    assert found(api, "broken")["state"] == "wait"


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_delay_places_the_order_at_once_and_holds_the_answer(emulator, exchange_rest):
    api = exchange_rest(emulator)
    emulator.faults.order_faults("delay", delay_s=3.0)
    with pytest.raises(requests.ReadTimeout):
        api.post("/v1/orders", bid(emulator, "late"), timeout=0.3)
    assert found(api, "late")["state"] == "wait"  # placed while the answer is still held
    (record,) = emulator.stats().rest_calls("POST", "/v1/orders", identifier="late")
    assert (record.status, record.fault) == (201, "delay")


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_faults_count_accepted_orders_only_and_cover_cancel_and_new(emulator, exchange_rest):
    api = exchange_rest(emulator)
    prev = api.order(**bid(emulator, "v1")).json()
    emulator.faults.order_faults("accept_then_5xx", count=2, status=503)
    refused = api.order(**{**bid(emulator, "bad"), "price": "1"})  # 400 passes untouched
    assert refused.status_code == 400
    r = api.post("/v1/orders/cancel_and_new", {
        "prev_order_uuid": prev["uuid"], "new_ord_type": "limit", "new_price": prev["price"],
        "new_volume": "remain_only", "new_identifier": "v2"})
    assert r.status_code == 503
    assert found(api, "v2")["state"] == "wait" and found(api, "v1")["state"] == "cancel"
    assert api.order(**bid(emulator, "third")).status_code == 503
    assert api.order(**bid(emulator, "fourth")).status_code == 201
    assert api.post("/v1/orders/test", bid(emulator, "t")).status_code == 201  # never faulted


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_a_random_mode_faults_each_order_with_a_seeded_chance_until_cleared(emulator,
                                                                            exchange_rest):
    api = exchange_rest(emulator)
    emulator.faults.order_faults("accept_then_5xx", count=None, probability=0.5, seed=3)
    statuses = [api.order(**bid(emulator, f"r{i}")).status_code for i in range(8)]
    assert set(statuses) == {201, 500}  # 12 orders a second: 8 + 3 stay under the limit
    assert all(found(api, f"r{i}")["state"] == "wait" for i in range(8))
    emulator.faults.clear()
    assert [api.order(**bid(emulator, f"c{i}")).status_code for i in range(3)] == [201] * 3


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_order_faults_through_the_control_routes(emulator, exchange_rest):
    api = exchange_rest(emulator)
    url = emulator.base_url + "/_emulator/faults/orders"
    r = requests.post(url, params={"kind": "accept_then_5xx", "status": "502"}, timeout=5)
    assert r.json() == {"ok": True}
    assert api.order(**bid(emulator, "ctl")).status_code == 502
    bad = requests.post(url, params={"kind": "explode"}, timeout=5)
    assert bad.status_code == 400 and "accept_then_drop" in bad.json()["error"]
    with pytest.raises(ValueError, match="probability"):
        emulator.faults.order_faults("delay", probability=2.0)
    assert emulator.stats().rest_calls("POST", "/_emulator/faults/orders") == ()  # not logged


def test_order_faults_work_on_an_emulator_in_its_own_process():
    with EmulatorProcess(markets=("KRW-BTC",), rate=0.0) as emu:
        emu.fault("order_faults", "accept_then_drop")
        body = {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "6000",
                "identifier": "p1"}
        token = mint_token(Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), "n-1",
                           query_string_for_hash(body))
        with pytest.raises(requests.ConnectionError):
            requests.post(emu.base_url + "/v1/orders", json=body,
                          headers={"Authorization": f"Bearer {token}"}, timeout=5)
        (record,) = emu.rest_log()
        assert (record.path, record.status, record.fault, record.identifier) == (
            "/v1/orders", 0, "accept_then_drop", "p1")
        assert emu.order_history()[0]["identifier"] == "p1"  # the order was placed
