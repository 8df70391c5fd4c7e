"""The private endpoint /websocket/v1/private: JWT at the upgrade, myOrder/myAsset routing."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import websocket

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Credentials,
    mint_token,
)

CREDS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)


def bearer(alg="HS512", creds=CREDS):
    return [f"Authorization: Bearer {mint_token(creds, str(uuid.uuid4()), alg=alg)}"]


def subscribe(probe, request, fmt="DEFAULT"):
    """Send ``request`` and wait until the server has applied it (a LIST round trip)."""
    probe.send_json(request)
    probe.send_json([{"ticket": "barrier"}, {"method": "LIST_SUBSCRIPTIONS"}, {"format": fmt}])
    probe.recv_until(lambda o: "method" in o or "mthd" in o)


def place(emulator, market, price, volume, side="bid"):
    params = {"market": market, "side": side, "volume": volume, "price": price,
              "ord_type": "limit"}
    return emulator.call(lambda core: core.exchange.place_order(params))


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
def test_a_valid_token_opens_the_private_stream_with_order_and_asset_events(
        emulator, open_ws, alg):
    probe = open_ws(emulator.private_ws_url, header=bearer(alg))
    subscribe(probe, [{"ticket": "p"}, {"type": "myOrder"}, {"type": "myAsset"}])
    order = place(emulator, "KRW-BTC", "1000000", "0.01")
    my_order, _ = probe.recv_until(lambda o: o["type"] == "myOrder")
    assert (my_order["uuid"], my_order["state"], my_order["code"]) == (order.uuid, "wait",
                                                                       "KRW-BTC")
    assert my_order["stream_type"] == "REALTIME"
    my_asset, _ = probe.recv_until(lambda o: o["type"] == "myAsset")
    assert my_asset["stream_type"] == "REALTIME"
    assert [a["currency"] for a in my_asset["assets"]] == ["KRW"]
    assert Decimal(str(my_asset["assets"][0]["locked"])) > 0


def test_private_streams_send_no_snapshot(emulator, open_ws):
    probe = open_ws(emulator.private_ws_url, header=bearer())
    probe.send_json([{"ticket": "p"}, {"type": "myOrder"}, {"type": "myAsset"}])
    assert probe.collect(0.4) == []


def test_my_order_codes_filter_markets_and_simple_format_applies(emulator, open_ws):
    probe = open_ws(emulator.private_ws_url, header=bearer())
    subscribe(probe, [{"ticket": "p"}, {"type": "myOrder", "codes": ["KRW-ETH"]}], "SIMPLE")
    place(emulator, "KRW-BTC", "1000000", "0.01")
    eth = place(emulator, "KRW-ETH", "1000000", "0.01")
    first = probe.recv_json()
    assert (first["ty"], first["cd"], first["uid"], first["st"]) == ("myOrder", "KRW-ETH",
                                                                     eth.uuid, "REALTIME")


@pytest.mark.parametrize("header", [None, ["Authorization: Bearer not.a.jwt"],
                                    "wrong-secret"])
def test_a_missing_or_bad_token_gets_invalid_auth_at_the_first_request(
        emulator, open_ws, header):
    if header == "wrong-secret":
        header = bearer(creds=Credentials(DEFAULT_ACCESS_KEY, "nope"))
    probe = open_ws(emulator.private_ws_url, header=header)
    probe.send_json([{"ticket": "p"}, {"type": "myAsset"}])
    assert probe.recv_json() == {"error": {"name": "INVALID_AUTH",
                                           "message": "인증 정보가 올바르지 않습니다."}}
    assert probe.wait_closed() == 1000
    assert emulator.stats().requests[-1].error == "INVALID_AUTH"


@pytest.mark.parametrize("emulator", [{"auth_fails_upgrade": True}], indirect=True)
def test_auth_can_fail_the_upgrade_with_401_instead(emulator, open_ws):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        open_ws(emulator.private_ws_url)
    assert info.value.status_code == 401
    assert open_ws(emulator.private_ws_url, header=bearer()).headers["limit-by-ip"] == "Yes"


@pytest.mark.parametrize(("request_", "name"), [
    ([{"ticket": "p"}, {"type": "ticker", "codes": ["KRW-BTC"]}], "INVALID_PARAM"),
    ([{"ticket": "p"}, {"type": "myAsset", "codes": ["KRW-BTC"]}], "WRONG_FORMAT"),
])
def test_public_types_and_my_asset_codes_are_refused_on_private(emulator, open_ws, request_,
                                                                name):
    probe = open_ws(emulator.private_ws_url, header=bearer())
    probe.send_json(request_)
    assert probe.recv_json()["error"]["name"] == name
    assert probe.wait_closed() == 1000


def test_list_subscriptions_on_private_echoes_the_private_set(emulator, open_ws):
    probe = open_ws(emulator.private_ws_url, header=bearer())
    probe.send_json([{"ticket": "p"}, {"type": "myOrder", "codes": ["KRW-BTC"]},
                     {"type": "myAsset"}])
    probe.send_json([{"ticket": "q"}, {"method": "LIST_SUBSCRIPTIONS"}])
    assert probe.recv_json() == {"method": "LIST_SUBSCRIPTIONS",
                                 "result": [{"type": "myOrder", "codes": ["KRW-BTC"]},
                                            {"type": "myAsset"}],
                                 "ticket": "q"}
    (info,) = emulator.connections()
    assert (info.endpoint, info.authenticated) == ("private", True)
