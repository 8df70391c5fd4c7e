"""The order group's rate limit over loopback: 12 orders a second pass, the 13th gets 429, one
more while limited gets 418, the ban doubles when it happens again, and a refused order never
reaches the exchange (its identifier stays fresh). Also the order-test group (8/s).

The 418 block is shortened to 0.2 s so a test can see it end.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from upbit_hub.actors.protocol import trading_rules as rules

FAST_BAN = {"rate": 0.0, "rest_block_seconds": 0.2}


def bid(emu, **extra) -> dict:
    price = rules.round_to_tick(
        "KRW-BTC", emu.call(lambda core: core.market.book("KRW-BTC"))[0][1] * Decimal("0.8"),
        "down")
    return {"market": "KRW-BTC", "side": "bid", "ord_type": "limit", "price": str(price),
            "volume": "0.0001", **extra}


@pytest.mark.parametrize("emulator", [FAST_BAN], indirect=True)
def test_twelve_orders_a_second_pass_the_13th_is_429_and_a_14th_is_418(emulator, exchange_rest,
                                                                      eventually):
    api = exchange_rest(emulator)
    body = bid(emulator)
    answers = [api.order(**body) for _ in range(12)]
    assert [a.status_code for a in answers] == [201] * 12
    assert [a.headers["Remaining-Req"] for a in answers[:2]] == [
        "group=order; min=720; sec=11", "group=order; min=720; sec=10"]
    assert answers[-1].headers["Remaining-Req"].endswith("sec=0")
    limited = api.order(**body, identifier="late")
    assert (limited.status_code, limited.text) == (429, "Too many API requests.")
    blocked = api.order(**body, identifier="late")
    assert blocked.status_code == 418 and "Blocked for 0.2 seconds" in blocked.text
    assert api.get("/v1/accounts").status_code == 200  # other groups are not blocked
    assert emulator.call(lambda core: core.exchange.identifier_used("late")) is False
    first = emulator.stats().rest_calls("POST", "/v1/orders")[0].at
    eventually(lambda: time.monotonic() >= first + 1.05, timeout=3)  # wait out the window
    placed = api.order(**body, identifier="late")
    assert placed.status_code == 201  # the refused tries never used the identifier


# a long window (2 per 10 s) keeps the window full while the short bans come and go
@pytest.mark.parametrize("emulator", [{**FAST_BAN, "rest_limits": {"order": (2, 10.0)}}],
                         indirect=True)
def test_the_ban_doubles_when_the_client_keeps_going(emulator, exchange_rest, eventually):
    api = exchange_rest(emulator)
    body = bid(emulator)
    assert [api.order(**body).status_code for _ in range(3)] == [201, 201, 429]
    first = api.order(**body)
    assert first.status_code == 418 and "Blocked for 0.2 seconds" in first.text
    ends = time.monotonic() + 0.2
    eventually(lambda: time.monotonic() >= ends, timeout=2)
    assert api.order(**body).status_code == 429  # the window is still full
    second = api.order(**body)
    assert second.status_code == 418 and "Blocked for 0.4 seconds" in second.text
    assert second.headers["Remaining-Req"] == "group=order; min=12; sec=0"
    statuses = [r.status for r in emulator.stats().rest_calls("POST", "/v1/orders")]
    assert statuses == [201, 201, 429, 418, 429, 418]


@pytest.mark.parametrize("emulator", [FAST_BAN], indirect=True)
def test_order_tests_have_their_own_group_of_eight_a_second(emulator, exchange_rest):
    api = exchange_rest(emulator)
    body = bid(emulator)
    assert [api.post("/v1/orders/test", body).status_code for _ in range(8)] == [201] * 8
    assert api.post("/v1/orders/test", body).status_code == 429
    assert api.order(**body).status_code == 201  # the order group is untouched


@pytest.mark.parametrize("emulator", [{"rate": 0.0, "rest_limits": {"order": 8}}],
                         indirect=True)
def test_the_order_limit_stays_configurable(emulator, exchange_rest):
    api = exchange_rest(emulator)
    body = bid(emulator)
    assert [api.order(**body).status_code for _ in range(9)] == [201] * 8 + [429]
