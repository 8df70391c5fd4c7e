"""The emulator's REST plumbing around the exchange routes: auth pass-through, headers,
per-group limits, unknown routes (checklist 22, 23, 24 for exchange endpoints)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Credentials,
    mint_token,
    query_string_for_hash,
)

CREDS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)


def auth(query_string="", creds=CREDS, nonce=None):
    token = mint_token(creds, nonce or str(uuid.uuid4()), query_string)
    return {"Authorization": f"Bearer {token}"}


def test_an_unknown_route_is_upbits_not_found_without_remaining_req(emulator):
    for method, path in [("GET", "/v1/nope"), ("GET", "/v2/ticker"), ("DELETE", "/v1/accounts")]:
        r = requests.request(method, emulator.base_url + path, timeout=5)
        assert r.status_code == 404
        assert r.json() == {"error": {"name": "not_found",
                                      "message": "no Route matched with those values"}}
        assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
        assert "Remaining-Req" not in r.headers


def test_accounts_with_a_valid_token_returns_string_amounts_and_the_default_group(emulator):
    r = requests.get(emulator.base_url + "/v1/accounts", headers=auth(), timeout=5)
    assert r.status_code == 200
    assert r.headers["Remaining-Req"] == "group=default; min=1800; sec=29"
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert "Limit-By-Ip" not in r.headers
    krw = next(a for a in r.json() if a["currency"] == "KRW")
    assert isinstance(krw["balance"], str)


def test_remaining_req_counts_down_within_the_second(emulator):
    secs = []
    for _ in range(4):
        r = requests.get(emulator.base_url + "/v1/accounts", headers=auth(), timeout=5)
        secs.append(r.headers["Remaining-Req"].rsplit("=", 1)[1])
    assert secs == ["29", "28", "27", "26"]


def test_auth_failures_are_401_with_upbit_names_and_still_carry_remaining_req(emulator):
    r = requests.get(emulator.base_url + "/v1/accounts", timeout=5)
    assert r.status_code == 401 and "Remaining-Req" in r.headers
    nonce = str(uuid.uuid4())
    ok = requests.get(emulator.base_url + "/v1/accounts", headers=auth(nonce=nonce), timeout=5)
    again = requests.get(emulator.base_url + "/v1/accounts", headers=auth(nonce=nonce),
                         timeout=5)
    assert ok.status_code == 200
    assert (again.status_code, again.json()["error"]["name"]) == (401, "nonce_used")


def test_the_query_hash_is_checked_over_the_unencoded_query_string(emulator):
    params = [("market", "KRW-BTC"), ("states[]", "wait"), ("states[]", "watch")]
    qs = "market=KRW-BTC&states[]=wait&states[]=watch"
    r = requests.get(emulator.base_url + "/v1/orders/open", params=params,
                     headers=auth(qs), timeout=5)
    assert "%5B%5D" in r.request.url  # requests percent-encoded the brackets on the wire
    assert (r.status_code, r.json()) == (200, [])
    wrong = requests.get(emulator.base_url + "/v1/orders/open", params=params,
                         headers=auth("market=KRW-ETH"), timeout=5)
    assert wrong.status_code == 401


def test_post_orders_passes_the_json_body_and_uses_the_order_group(emulator):
    body = {"market": "KRW-BTC", "side": "bid", "volume": "0.01", "price": "1000000",
            "ord_type": "limit"}
    r = requests.post(emulator.base_url + "/v1/orders", json=body,
                      headers=auth(query_string_for_hash(body)), timeout=5)
    assert r.status_code == 201
    assert r.headers["Remaining-Req"] == "group=order; min=720; sec=11"  # 12/s since 2026-08-21
    order = r.json()
    assert (order["state"], order["market"], order["price"]) == ("wait", "KRW-BTC", "1000000")
    got = requests.get(emulator.base_url + "/v1/order", params={"uuid": order["uuid"]},
                       headers=auth(f"uuid={order['uuid']}"), timeout=5)
    assert got.json()["uuid"] == order["uuid"]


def test_a_non_json_post_body_is_a_clear_400(emulator):
    r = requests.post(emulator.base_url + "/v1/orders", data="market=KRW-BTC",
                      headers=auth("market=KRW-BTC"), timeout=5)
    assert r.status_code == 400
    assert "JSON" in r.json()["error"]["message"]


def test_over_the_default_limit_is_429_plain_text_then_418_when_continuing(emulator):
    url = emulator.base_url + "/v1/accounts"
    statuses = [requests.get(url, headers=auth(), timeout=5).status_code for _ in range(30)]
    assert statuses == [200] * 30
    limited = requests.get(url, headers=auth(), timeout=5)
    assert (limited.status_code, limited.text) == (429, "Too many API requests.")
    assert limited.headers["Remaining-Req"] == "group=default; min=1800; sec=0"
    with pytest.raises(json.JSONDecodeError):
        limited.json()
    blocked = requests.get(url, headers=auth(), timeout=5)
    assert blocked.status_code == 418
    assert "Blocked for 2 seconds" in blocked.text
    assert emulator.stats().rest_status == {200: 30, 429: 1, 418: 1}


@pytest.mark.parametrize("emulator", [{"rest_limits": {"default": 3, "order": 8}}],
                         indirect=True)
def test_exchange_limits_are_per_access_key(emulator):
    url = emulator.base_url + "/v1/accounts"
    assert [requests.get(url, headers=auth(), timeout=5).status_code
            for _ in range(4)] == [200, 200, 200, 429]
    other = auth(creds=Credentials("someone-else", "x"))
    assert requests.get(url, headers=other, timeout=5).status_code == 401  # own budget
