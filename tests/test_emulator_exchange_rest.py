"""Exchange REST handlers (exchange_rest.py) called directly: auth first, Upbit shapes, errors.

The HTTP layer is the server's; the end-to-end loopback tests live in
test_emulator_exchange_e2e.py. Here a static order book stands in for the market simulator.
"""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Authenticator,
    Credentials,
    mint_token,
    query_string_for_hash,
)
from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.emulator.exchange_rest import EXCHANGE_ROUTES, RestRequest

T0 = 1_767_000_000_000  # 2025-12-29T09:20:00Z
CREDS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)
ORDER_KEYS = [
    "uuid", "side", "ord_type", "price", "state", "market", "created_at", "volume",
    "remaining_volume", "prevented_volume", "reserved_fee", "remaining_fee", "paid_fee",
    "locked", "prevented_locked", "executed_volume", "trades_count",
]  # fmt: skip


class StaticBook:
    markets = ("KRW-BTC", "KRW-ETH")

    def __init__(self) -> None:
        self.levels = {
            "KRW-BTC": [
                (D(100_000_000 + i * 1000), D(99_999_000 - i * 1000), D("0.0003"), D("0.0004"))
                for i in range(30)
            ],
            "KRW-ETH": [],
        }

    def book(self, code):
        return list(self.levels[code])


class Api:
    """Calls the route table like the server does, signing each request like a client."""

    def __init__(self) -> None:
        self.clock_ms = T0
        self.exchange = Exchange(StaticBook(), clock=lambda: self.clock_ms)
        self.auth = Authenticator(CREDS)
        self.routes = {(m, p): (g, h) for m, p, g, h in EXCHANGE_ROUTES}

    def request(self, method, path, query=(), body=None, *, sign=True, hash_of=None,
                creds=CREDS):  # fmt: skip
        query = list(query)
        qs = "&".join(f"{k}={v}" for k, v in query)
        signed = hash_of if hash_of is not None else (
            query_string_for_hash(body) if body else qs
        )  # fmt: skip
        auth = f"Bearer {mint_token(creds, str(uuid.uuid4()), signed)}" if sign else None
        _, handler = self.routes[(method, path)]
        return handler(self.exchange, self.auth, RestRequest(method, path, qs, query, body, auth))

    def order(self, **body):
        return self.request("POST", "/v1/orders", body=body)


@pytest.fixture
def api() -> Api:
    return Api()


def limit_body(side="bid", price="90000000", volume="0.0001", **extra) -> dict:
    return {"market": "KRW-BTC", "side": side, "volume": volume, "price": price,
            "ord_type": "limit", **extra}  # fmt: skip


def test_route_table_names_methods_paths_and_rate_limit_groups(api):
    table = {(m, p): g for m, p, g, _ in EXCHANGE_ROUTES}
    assert table == {
        ("GET", "/v1/accounts"): "default",
        ("POST", "/v1/orders"): "order",
        ("POST", "/v1/orders/test"): "order-test",
        ("POST", "/v1/orders/cancel_and_new"): "order",
        ("DELETE", "/v1/orders/open"): "order-cancel-all",
        ("GET", "/v1/orders/chance"): "default",
        ("DELETE", "/v1/order"): "default",
        ("GET", "/v1/order"): "default",
        ("GET", "/v1/orders/open"): "default",
        ("GET", "/v1/orders/closed"): "default",
        ("GET", "/v1/orders/uuids"): "default",
    }


def test_accounts_lists_amounts_as_strings(api):
    status, body = api.request("GET", "/v1/accounts")
    assert status == 200
    assert body[0] == {
        "currency": "KRW", "balance": "10000000", "locked": "0", "avg_buy_price": "0",
        "avg_buy_price_modified": False, "unit_currency": "KRW",
    }  # fmt: skip
    assert [row["currency"] for row in body] == ["KRW", "BTC", "ETH"]
    assert all(isinstance(row["balance"], str) for row in body)


def test_post_orders_returns_201_with_the_order_object_in_upbit_shape(api):
    status, body = api.order(**limit_body(identifier="cid-1"))
    assert status == 201
    assert list(body)[: len(ORDER_KEYS) - 1] == ORDER_KEYS[:-1]
    assert body["trades_count"] == 0 and body["identifier"] == "cid-1"
    assert {k: body[k] for k in ("side", "ord_type", "price", "state", "market", "volume")} == {
        "side": "bid", "ord_type": "limit", "price": "90000000", "state": "wait",
        "market": "KRW-BTC", "volume": "0.0001",
    }  # fmt: skip
    assert (body["reserved_fee"], body["locked"], body["executed_volume"]) == (
        "4.5", "9004.5", "0"
    )  # fmt: skip
    assert body["created_at"] == "2025-12-29T18:20:00+09:00"
    accounts = api.request("GET", "/v1/accounts")[1]
    assert accounts[0]["locked"] == "9004.5"


def test_market_buy_answers_with_null_volume_and_the_funds_as_price(api):
    status, body = api.order(market="KRW-BTC", side="bid", ord_type="price", price="5000")
    assert status == 201
    assert (body["price"], body["volume"], body["remaining_volume"]) == ("5000", None, None)


def test_get_order_includes_trades_and_executed_funds(api):
    _, placed = api.order(**limit_body(price="100001000", volume="0.0005"))
    status, body = api.request("GET", "/v1/order", [("uuid", placed["uuid"])])
    assert status == 200
    assert body["state"] == "done" and body["trades_count"] == 2
    assert body["executed_funds"] == "50000.2"  # 1e8 * 0.0003 + 100,001,000 * 0.0002
    assert [(t["price"], t["volume"], t["side"]) for t in body["trades"]] == [
        ("100000000", "0.0003", "bid"), ("100001000", "0.0002", "bid")
    ]  # fmt: skip
    assert [t["trend"] for t in body["trades"]] == ["up", "up"]
    assert all(set(t) == {"market", "uuid", "price", "volume", "funds", "trend", "created_at",
                          "side"} for t in body["trades"])  # fmt: skip


def test_delete_order_answers_the_pre_cancel_state_and_then_the_order_is_cancelled(api):
    _, placed = api.order(**limit_body(identifier="to-cancel"))
    status, body = api.request("DELETE", "/v1/order", [("identifier", "to-cancel")])
    assert status == 200
    assert (body["uuid"], body["state"], body["locked"]) == (placed["uuid"], "wait", "9004.5")
    after = api.request("GET", "/v1/order", [("uuid", placed["uuid"])])[1]
    assert (after["state"], after["locked"]) == ("cancel", "0")
    status, body = api.request("DELETE", "/v1/order", [("uuid", placed["uuid"])])
    assert (status, body["error"]["name"]) == (404, "order_not_found")


def test_unknown_order_is_404_order_not_found(api):
    status, body = api.request("GET", "/v1/order", [("uuid", "nope")])
    assert status == 404
    assert body == {"error": {"name": "order_not_found", "message": "주문을 찾지 못했습니다."}}


def test_open_orders_filter_by_states_array_and_paginate(api):
    uuids = []
    for i in range(5):
        api.clock_ms += 1000
        uuids.append(api.order(**limit_body(price=str(90_000_000 + i * 1000)))[1]["uuid"])
    api.order(**limit_body(price="100000000"))  # fills at once: not open
    query = [("market", "KRW-BTC"), ("states[]", "wait"), ("states[]", "watch"),
             ("limit", "2"), ("page", "2"), ("order_by", "asc")]  # fmt: skip
    status, body = api.request("GET", "/v1/orders/open", query)
    assert status == 200
    assert [o["uuid"] for o in body] == uuids[2:4]
    status, body = api.request("GET", "/v1/orders/open", [("state", "wait")])
    assert [o["uuid"] for o in body] == list(reversed(uuids))
    assert "executed_funds" not in body[0]
    status, body = api.request("GET", "/v1/orders/open", [("limit", "101")])
    assert (status, body["error"]["name"]) == (400, "validation_error")
    status, body = api.request("GET", "/v1/orders/open", [("state", "done")])
    assert (status, body["error"]["name"]) == (400, "validation_error")


def test_closed_orders_filter_by_state_and_time_window(api):
    done = api.order(**limit_body(price="100000000"))[1]["uuid"]
    api.clock_ms += 60_000
    cancelled = api.order(**limit_body())[1]["uuid"]
    api.request("DELETE", "/v1/order", [("uuid", cancelled)])
    status, body = api.request("GET", "/v1/orders/closed", [("market", "KRW-BTC")])
    assert status == 200
    assert [(o["uuid"], o["state"]) for o in body] == [(cancelled, "cancel"), (done, "done")]
    assert body[1]["executed_funds"] == "10000"
    only_done = api.request("GET", "/v1/orders/closed", [("state", "done")])[1]
    assert [o["uuid"] for o in only_done] == [done]
    window = [("start_time", str(T0 + 30_000)), ("end_time", "2025-12-29T18:25:00+09:00")]
    assert [o["uuid"] for o in api.request("GET", "/v1/orders/closed", window)[1]] == [cancelled]
    too_wide = [("start_time", str(T0)), ("end_time", str(T0 + 8 * 86_400_000))]
    status, body = api.request("GET", "/v1/orders/closed", too_wide)
    assert (status, body["error"]["name"]) == (400, "validation_error")


def test_orders_by_uuids_or_identifiers(api):
    a = api.order(**limit_body(identifier="a"))[1]["uuid"]
    api.clock_ms += 1
    b = api.order(**limit_body(identifier="b"))[1]["uuid"]
    body = api.request("GET", "/v1/orders/uuids", [("uuids[]", a), ("uuids[]", b),
                                                   ("order_by", "asc")])[1]  # fmt: skip
    assert [o["uuid"] for o in body] == [a, b]
    body = api.request("GET", "/v1/orders/uuids", [("identifiers[]", "b")])[1]
    assert [o["uuid"] for o in body] == [b]


def test_every_handler_checks_the_token_before_anything_else(api):
    for method, path, _, _ in EXCHANGE_ROUTES:
        status, body = api.request(method, path, sign=False)
        assert (status, body["error"]["name"]) == (401, "no_authorization"), path
    wrong = Credentials(DEFAULT_ACCESS_KEY, "wrong-secret")
    status, body = api.request("POST", "/v1/orders", body=limit_body(), creds=wrong)
    assert (status, body["error"]["name"]) == (401, "jwt_verification")
    assert api.exchange.orders() == []


def test_post_body_hash_must_match_the_body_in_body_order(api):
    body = limit_body()
    reordered = dict(reversed(list(body.items())))
    status, err = api.request("POST", "/v1/orders", body=body,
                              hash_of=query_string_for_hash(reordered))  # fmt: skip
    assert (status, err["error"]["name"]) == (401, "invalid_query_payload")
    assert api.exchange.orders() == []
    status, _ = api.request("POST", "/v1/orders", body=body)
    assert status == 201


def test_get_query_hash_mismatch_is_refused(api):
    status, body = api.request("GET", "/v1/orders/open", [("state", "wait")],
                               hash_of="state=watch")  # fmt: skip
    assert (status, body["error"]["name"]) == (401, "invalid_query_payload")


def test_order_validation_errors_come_back_as_400_bodies(api):
    status, body = api.order(**limit_body(volume="10"))  # 900,000,000 KRW: under the maximum
    assert status == 400
    assert body["error"]["name"] == "insufficient_funds_bid"
    assert "KRW" in body["error"]["message"]
    status, body = api.request("POST", "/v1/orders", body=None)
    assert status == 400 and body["error"]["name"] == "validation_error"
    status, body = api.request("GET", "/v1/order", [])
    assert status == 400 and "uuid or identifier" in body["error"]["message"]
