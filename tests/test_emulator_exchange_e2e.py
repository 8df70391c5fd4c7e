"""The exchange over real loopback: REST orders (requests + JWT) and the private WebSocket.

The market is paused (rate 0) so the simulated book stays still and every fill is predictable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from decimal import ROUND_DOWN, Decimal

import pytest
import requests
import websocket

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Credentials,
    mint_token,
    query_string_for_hash,
)

CREDS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)
STEP = Decimal("0.00000001")


def token(query: str = "", *, nonce: str | None = None) -> str:
    return "Bearer " + mint_token(CREDS, nonce or str(uuid.uuid4()), query)


class Rest:
    def __init__(self, base_url: str) -> None:
        self.base = base_url + "/v1"
        self.http = requests.Session()

    def get(self, path: str, query: str = "", **kw) -> requests.Response:
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        return self.http.get(url, headers={"Authorization": token(query, **kw)}, timeout=5)

    def delete(self, path: str, query: str) -> requests.Response:
        url = f"{self.base}{path}?{query}"
        return self.http.delete(url, headers={"Authorization": token(query)}, timeout=5)

    def post(self, path: str, body: dict, *, signed: str | None = None, **kw) -> requests.Response:
        signed = query_string_for_hash(body) if signed is None else signed
        headers = {"Authorization": token(signed, **kw)}
        return self.http.post(f"{self.base}{path}", json=body, headers=headers, timeout=5)


class PrivateSocket:
    """A subscribed private socket that collects decoded frames (numbers as Decimal)."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: {token()}"], timeout=5, skip_utf8_validation=True
        )
        self.frames: list[dict] = []

    def subscribe(self, *types: dict) -> None:
        self.ws.send(json.dumps([{"ticket": "e2e"}, *types, {"format": "DEFAULT"}]))

    def until(self, pred: Callable[[list[dict]], bool], limit: int = 200) -> list[dict]:
        for _ in range(limit):
            if pred(self.frames):
                return self.frames
            raw = self.ws.recv()
            self.frames.append(json.loads(raw, parse_float=Decimal))
        raise AssertionError(f"condition not met after {limit} frames: {self.frames[-5:]}")

    def orders(self, uuid_: str) -> list[dict]:
        return [f for f in self.frames if f.get("type") == "myOrder" and f["uuid"] == uuid_]


@pytest.fixture
def paused(emulator):
    emulator.call(lambda core: setattr(core.market, "rate", 0))
    return emulator


@pytest.fixture
def rest(paused) -> Rest:
    return Rest(paused.base_url)


@pytest.fixture
def private(paused, eventually) -> Iterator[PrivateSocket]:
    sock = PrivateSocket(paused.private_ws_url)
    sock.subscribe({"type": "myOrder"}, {"type": "myAsset"})
    eventually(
        lambda: any(c.endpoint == "private" and c.subscriptions for c in paused.connections())
    )
    yield sock
    sock.ws.close()


def closed(frames: list[dict], uuid_: str) -> bool:
    return any(
        f.get("type") == "myOrder" and f["uuid"] == uuid_ and f["state"] in ("done", "cancel")
        for f in frames
    )


def test_limit_order_streams_wait_trades_done_and_rest_agrees(paused, rest, private):
    book = paused.call(lambda core: core.market.book("KRW-BTC"))
    volume = (book[0][2] + book[1][2] / 2).quantize(STEP, rounding=ROUND_DOWN)
    body = {"market": "KRW-BTC", "side": "bid", "volume": str(volume),
            "price": str(book[1][0]), "ord_type": "limit", "identifier": "e2e-1"}  # fmt: skip
    placed = rest.post("/orders", body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["state"], order["volume"], order["identifier"]) == ("wait", str(volume), "e2e-1")

    frames = private.until(lambda fs: closed(fs, order["uuid"]))
    mine = private.orders(order["uuid"])
    assert [f["state"] for f in mine] == ["wait", "trade", "trade", "done"]
    trades = [f for f in mine if f["state"] == "trade"]
    assert [(t["price"], t["volume"]) for t in trades] == [
        (book[0][0], book[0][2]), (book[1][0], volume - book[0][2])
    ]  # fmt: skip
    assert all(f["stream_type"] == "REALTIME" and f["code"] == "KRW-BTC" for f in mine)

    got = rest.get("/order", f"uuid={order['uuid']}").json()
    assert got["state"] == "done" and got["trades_count"] == 2
    assert Decimal(got["executed_volume"]) == sum(t["volume"] for t in trades) == volume
    assert [t["uuid"] for t in got["trades"]] == [t["trade_uuid"] for t in trades]
    assert Decimal(got["paid_fee"]) == sum(t["trade_fee"] for t in trades)

    private.until(lambda fs: sum(f.get("type") == "myAsset" for f in fs) >= 3)
    latest: dict[str, tuple[Decimal, Decimal]] = {}
    for f in frames:
        if f.get("type") == "myAsset":
            latest.update({a["currency"]: (a["balance"], a["locked"]) for a in f["assets"]})
    accounts = {a["currency"]: a for a in rest.get("/accounts").json()}
    for currency in ("KRW", "BTC"):
        balance, locked = latest[currency]
        assert Decimal(accounts[currency]["balance"]) == balance
        assert Decimal(accounts[currency]["locked"]) == locked == 0


def test_cancel_over_rest_streams_cancel_and_unlocks_funds(paused, rest, private):
    book = paused.call(lambda core: core.market.book("KRW-BTC"))
    price = book[-1][1] - 100_000  # far below every bid: rests
    body = {"market": "KRW-BTC", "side": "bid", "volume": "0.0001", "price": str(price),
            "ord_type": "limit"}  # fmt: skip
    order = rest.post("/orders", body).json()
    open_orders = rest.get("/orders/open", "market=KRW-BTC&states[]=wait&states[]=watch").json()
    assert [o["uuid"] for o in open_orders] == [order["uuid"]]
    assert Decimal(rest.get("/accounts").json()[0]["locked"]) == Decimal(order["locked"]) > 0

    cancelled = rest.delete("/order", f"uuid={order['uuid']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "wait"
    private.until(lambda fs: closed(fs, order["uuid"]))
    assert [f["state"] for f in private.orders(order["uuid"])] == ["wait", "cancel"]
    assert rest.get("/accounts").json()[0]["locked"] == "0"
    done = rest.get("/orders/closed", "state=cancel").json()
    assert [o["uuid"] for o in done] == [order["uuid"]]


def test_market_buy_and_sell_fill_against_the_book(paused, rest, private):
    buy = rest.post("/orders", {"market": "KRW-ETH", "side": "bid", "ord_type": "price",
                                "price": "20000"}).json()  # fmt: skip
    sell = rest.post("/orders", {"market": "KRW-ETH", "side": "ask", "ord_type": "market",
                                 "volume": "0.01"}).json()  # fmt: skip
    private.until(lambda fs: closed(fs, buy["uuid"]) and closed(fs, sell["uuid"]))
    for placed in (buy, sell):
        states = [f["state"] for f in private.orders(placed["uuid"])]
        assert states[0] == "wait" and "trade" in states and states[-1] in ("done", "cancel")
        got = rest.get("/order", f"uuid={placed['uuid']}").json()
        assert got["state"] == states[-1] and got["locked"] == "0"
    assert rest.get("/order", f"uuid={sell['uuid']}").json()["executed_volume"] == "0.01"


def test_rest_auth_errors_over_http(paused, rest):
    body = {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "6000"}
    bad_hash = rest.post("/orders", body, signed="market=KRW-ETH")
    assert bad_hash.status_code == 401
    assert bad_hash.json()["error"]["name"] == "invalid_query_payload"
    assert rest.get("/accounts", nonce="once").status_code == 200
    reused = rest.get("/accounts", nonce="once")
    assert (reused.status_code, reused.json()["error"]["name"]) == (401, "nonce_used")
    unsigned = requests.get(paused.base_url + "/v1/accounts", timeout=5)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["name"] == "no_authorization"
    assert rest.get("/orders/closed").json() == []  # the refused order left no trace
