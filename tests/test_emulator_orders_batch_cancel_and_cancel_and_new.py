"""Batch cancel (``DELETE /v1/orders/open``, 1 call per 2 s) and cancel-and-new
(``POST /v1/orders/cancel_and_new``, incl. ``new_volume=remain_only``) over loopback, plus the
partial-fill case of remain_only on a hand-set book.

The market is paused (rate 0) so resting orders stay resting.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from upbit_hub.actors.emulator.exchange import Exchange, ExchangeError
from upbit_hub.actors.protocol import trading_rules as rules

PAUSED = {"rate": 0.0}


def resting(emu, side="bid", code="KRW-BTC", volume="0.0001", **extra) -> dict:
    """A limit order 20 % away from the touch (on tick): it rests."""
    ask, bid = emu.call(lambda core: core.market.book(code))[0][:2]
    price = (rules.round_to_tick(code, bid * D("0.8"), "down") if side == "bid"
             else rules.round_to_tick(code, ask * D("1.2"), "up"))
    return {"market": code, "side": side, "ord_type": "limit", "price": str(price),
            "volume": volume, **extra}


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_batch_cancel_cancels_the_matching_open_orders_and_says_which(emulator, exchange_rest):
    api = exchange_rest(emulator)
    b1 = api.order(**resting(emulator, identifier="b1")).json()
    b2 = api.order(**resting(emulator)).json()
    eth = api.order(**resting(emulator, code="KRW-ETH", volume="0.01", identifier="e1")).json()
    ask = api.order(**resting(emulator, side="ask", identifier="a1")).json()
    r = api.delete("/v1/orders/open", {"cancel_side": "bid", "pairs": "KRW-BTC,KRW-ETH"})
    assert r.status_code == 200
    assert r.headers["Remaining-Req"] == "group=order-cancel-all; min=30; sec=0"
    body = r.json()
    assert body["failed"] == {"count": 0, "orders": []}
    assert body["success"]["count"] == 3
    assert body["success"]["orders"] == [  # newest first (order_by desc)
        {"uuid": eth["uuid"], "market": "KRW-ETH", "identifier": "e1"},
        {"uuid": b2["uuid"], "market": "KRW-BTC"},
        {"uuid": b1["uuid"], "market": "KRW-BTC", "identifier": "b1"},
    ]
    still_open = api.get("/v1/orders/open").json()
    assert [o["uuid"] for o in still_open] == [ask["uuid"]]
    assert api.get("/v1/order", {"identifier": "b1"}).json()["state"] == "cancel"


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_batch_cancel_filters_and_count(emulator, exchange_rest):
    api = exchange_rest(emulator)
    uuids = [api.order(**resting(emulator)).json()["uuid"] for _ in range(3)]
    assert api.order(**resting(emulator, code="KRW-ETH", volume="0.01")).status_code == 201
    body = emulator.call(lambda core: core.exchange.cancel_all(
        excluded_pairs=["KRW-ETH"], count=2, order_by="asc"))
    assert [o.uuid for o in body] == uuids[:2]
    r = api.delete("/v1/orders/open", {"quote_currencies": "KRW", "count": "301"})
    assert (r.status_code, r.json()["error"]["name"]) == (400, "validation_error")
    r = api.delete("/v1/orders/open", {"pairs": "KRW-BTC", "excluded_pairs": "KRW-ETH"})
    assert r.status_code == 429  # one call per 2 s, and the refused call above counted
    with pytest.raises(ExchangeError, match="either pairs or excluded_pairs"):
        emulator.call(lambda core: core.exchange.cancel_all(pairs=["KRW-BTC"],
                                                            excluded_pairs=["KRW-ETH"]))


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_batch_cancel_allows_one_call_per_two_seconds(emulator, exchange_rest, eventually):
    api = exchange_rest(emulator)
    first = api.delete("/v1/orders/open")
    assert (first.status_code, first.json()["success"]["count"]) == (200, 0)
    again = api.delete("/v1/orders/open")
    assert (again.status_code, again.text) == (429, "Too many API requests.")
    started = emulator.stats().rest_calls("DELETE", "/v1/orders/open")[0].at
    eventually(lambda: time.monotonic() >= started + 2.0, timeout=3)  # wait out the window
    assert api.delete("/v1/orders/open").status_code == 200
    assert api.get("/v1/accounts").status_code == 200  # the default group is separate


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_cancel_and_new_replaces_an_open_order_with_its_remaining_volume(emulator,
                                                                         exchange_rest):
    api = exchange_rest(emulator)
    prev = api.order(**resting(emulator, volume="0.0002", identifier="v1")).json()
    new_price = rules.round_to_tick("KRW-BTC", D(prev["price"]) * D("0.99"), "down")
    r = api.post("/v1/orders/cancel_and_new", {
        "prev_order_identifier": "v1", "new_ord_type": "limit", "new_price": str(new_price),
        "new_volume": "remain_only", "new_identifier": "v2"})
    assert r.status_code == 201
    assert r.headers["Remaining-Req"].startswith("group=order;")
    body = r.json()
    assert (body["uuid"], body["state"], body["identifier"]) == (prev["uuid"], "wait", "v1")
    assert body["new_order_identifier"] == "v2"
    new = api.get("/v1/order", {"uuid": body["new_order_uuid"]}).json()
    assert (new["identifier"], new["price"], new["volume"], new["side"]) == (
        "v2", str(new_price), "0.0002", "bid")
    assert api.get("/v1/order", {"identifier": "v1"}).json()["state"] == "cancel"
    krw = next(a for a in api.get("/v1/accounts").json() if a["currency"] == "KRW")
    assert D(krw["locked"]) == new_price * D("0.0002") * D("1.0005")  # only the new lock


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_cancel_and_new_refuses_and_changes_nothing_when_the_new_order_is_bad(emulator,
                                                                             exchange_rest):
    api = exchange_rest(emulator)
    prev = api.order(**resting(emulator, identifier="keep")).json()
    off_tick = str(D(prev["price"]) + 1)
    r = api.post("/v1/orders/cancel_and_new", {
        "prev_order_uuid": prev["uuid"], "new_ord_type": "limit", "new_price": off_tick,
        "new_volume": "0.0001", "new_identifier": "burnt"})
    assert (r.status_code, r.json()["error"]["name"]) == (400, "invalid_price_bid")
    assert api.get("/v1/order", {"uuid": prev["uuid"]}).json()["state"] == "wait"
    reuse = api.order(**resting(emulator, identifier="burnt"))
    assert reuse.json()["error"]["name"] == "validation_error"  # used up by the failed call
    same = api.post("/v1/orders/cancel_and_new", {
        "prev_order_identifier": "keep", "new_ord_type": "limit", "new_price": prev["price"],
        "new_volume": "remain_only", "new_identifier": "keep"})
    assert same.json()["error"]["name"] == "validation_error"
    market_buy = api.post("/v1/orders/cancel_and_new", {
        "prev_order_identifier": "keep", "new_ord_type": "price", "new_volume": "remain_only",
        "new_identifier": "mb"})
    assert "remain_only" in market_buy.json()["error"]["message"]


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_cancel_and_new_of_an_unknown_or_closed_order_is_order_not_found(emulator,
                                                                        exchange_rest):
    api = exchange_rest(emulator)
    body = {"new_ord_type": "limit", "new_price": "1000000", "new_volume": "0.01"}
    r = api.post("/v1/orders/cancel_and_new", {**body, "prev_order_uuid": "nope"})
    assert (r.status_code, r.json()["error"]["name"]) == (404, "order_not_found")
    prev = api.order(**resting(emulator)).json()
    assert api.delete("/v1/order", {"uuid": prev["uuid"]}).status_code == 200
    r = api.post("/v1/orders/cancel_and_new", {**body, "prev_order_uuid": prev["uuid"]})
    assert (r.status_code, r.json()["error"]["name"]) == (404, "order_not_found")


class StaticBook:
    markets = ("KRW-BTC",)

    def book(self, code):
        return [(D(100_000_000 + i * 1000), D(99_999_000 - i * 1000), D("0.0003"), D("0.0004"))
                for i in range(30)]


def test_remain_only_after_a_partial_fill_is_what_is_left():
    ex = Exchange(StaticBook(), clock=lambda: 1_767_000_000_000, split_probability=0.0)
    prev = ex.place_order({"market": "KRW-BTC", "side": "bid", "ord_type": "limit",
                           "price": "100000000", "volume": "0.0005", "smp_type": "none"})
    assert ex.get_order(uuid=prev.uuid).remaining_volume == D("0.0002")  # 0.0003 filled
    before, new = ex.cancel_and_new({"prev_order_uuid": prev.uuid, "new_ord_type": "limit",
                                     "new_price": "99000000", "new_volume": "remain_only"})
    assert (before.state, before.executed_volume, before.remaining_volume) == (
        "wait", D("0.0003"), D("0.0002"))
    assert (new.volume, new.price, new.side) == (D("0.0002"), D(99_000_000), "bid")
    assert ex.get_order(uuid=prev.uuid).state == "cancel"
