"""Orders over loopback: identifiers are used up by failed orders, limit prices must sit on the
tick grid (both sides), ``POST /v1/orders/test`` checks without creating anything.

The market is paused (rate 0) so the simulated book stays still.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from upbit_hub.actors.protocol import trading_rules as rules

PAUSED = {"rate": 0.0}


def best(emu, code="KRW-BTC") -> tuple[Decimal, Decimal]:
    """(best ask, best bid) of the paused book."""
    rows = emu.call(lambda core: core.market.book(code))
    return rows[0][0], rows[0][1]


def resting_bid(emu, code="KRW-BTC", volume="0.0001", **extra) -> dict:
    """A limit bid 20 % under the best bid (on tick): it rests."""
    price = rules.round_to_tick(code, best(emu, code)[1] * Decimal("0.8"), "down")
    return {"market": code, "side": "bid", "ord_type": "limit", "price": str(price),
            "volume": volume, **extra}


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_an_identifier_is_used_up_even_when_its_order_failed(emulator, exchange_rest):
    api = exchange_rest(emulator)
    failed = api.order(**resting_bid(emulator, volume="1", identifier="once"))  # 120M KRW
    assert failed.status_code == 400
    assert failed.json()["error"]["name"] == "insufficient_funds_bid"
    again = api.order(**resting_bid(emulator, identifier="once"))
    assert again.status_code == 400
    error = again.json()["error"]
    assert error["name"] == "validation_error" and "'once' is already used" in error["message"]
    lookup = api.get("/v1/order", {"identifier": "once"})
    assert (lookup.status_code, lookup.json()["error"]["name"]) == (404, "order_not_found")
    assert api.order(**resting_bid(emulator, identifier="fresh")).status_code == 201


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_an_identifier_already_placed_is_refused_and_the_first_order_stays(emulator,
                                                                           exchange_rest):
    api = exchange_rest(emulator)
    first = api.order(**resting_bid(emulator, identifier="dup")).json()
    refused = api.order(**resting_bid(emulator, identifier="dup"))
    assert refused.json()["error"]["name"] == "validation_error"
    assert api.get("/v1/order", {"identifier": "dup"}).json()["uuid"] == first["uuid"]
    assert len(api.get("/v1/orders/open").json()) == 1


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_a_rate_limited_order_does_not_use_up_its_identifier(emulator, exchange_rest):
    api = exchange_rest(emulator)
    emulator.faults.rest_throttle(30)
    assert api.order(**resting_bid(emulator, identifier="retry-me")).status_code == 429
    emulator.faults.clear()
    assert api.order(**resting_bid(emulator, identifier="retry-me")).status_code == 201


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
@pytest.mark.parametrize(("side", "name"), [("bid", "invalid_price_bid"),
                                            ("ask", "invalid_price_ask")])
def test_a_limit_price_off_the_tick_grid_is_refused_by_side(emulator, exchange_rest, side,
                                                            name):
    api = exchange_rest(emulator)
    ask, bid = best(emulator)
    on_grid = rules.round_to_tick("KRW-BTC", (bid * Decimal("0.8")) if side == "bid"
                                  else ask * Decimal("1.2"), "down")
    off_grid = on_grid + rules.tick_size("KRW-BTC", on_grid) / 2
    body = {"market": "KRW-BTC", "side": side, "ord_type": "limit", "volume": "0.0001"}
    refused = api.order(**body, price=str(off_grid))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["name"] == name
    assert str(on_grid) in error["message"]  # says which price to send instead
    assert api.order(**body, price=str(on_grid)).status_code == 201


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_instruments_report_the_tick_the_order_check_uses(emulator, exchange_rest):
    api = exchange_rest(emulator)
    for code in emulator.market.markets:
        row = api.get("/v1/orderbook/instruments", {"markets": code}).json()[0]
        bid = best(emulator, code)[1]
        assert Decimal(row["tick_size"]) == rules.tick_size(code, bid)
        assert rules.on_tick(code, bid)


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_post_only_needs_smp_type_none_or_none_given(emulator, exchange_rest):
    api = exchange_rest(emulator)
    base = resting_bid(emulator, time_in_force="post_only")
    for smp in ("cancel_maker", "cancel_taker", "reduce"):
        r = api.order(**base, smp_type=smp)
        assert (r.status_code, r.json()["error"]["name"]) == (400, "validation_error")
        assert "post_only" in r.json()["error"]["message"]
    assert api.order(**base, smp_type="none").json()["smp_type"] == "none"
    assert api.order(**base).json()["smp_type"] == "none"  # left out: none for post_only
    assert api.order(**resting_bid(emulator)).json()["smp_type"] == "cancel_maker"


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_orders_test_validates_like_orders_and_changes_nothing(emulator, exchange_rest):
    api = exchange_rest(emulator)
    accounts = api.get("/v1/accounts").json()
    body = resting_bid(emulator, identifier="probe")
    r = api.post("/v1/orders/test", body)
    assert r.status_code == 201
    assert r.headers["Remaining-Req"] == "group=order-test; min=480; sec=7"
    shown = r.json()
    assert (shown["state"], shown["identifier"], shown["smp_type"]) == ("wait", "probe",
                                                                        "cancel_maker")
    assert Decimal(shown["locked"]) == Decimal(body["price"]) * Decimal("0.0001") * Decimal(
        "1.0005")
    assert api.get("/v1/accounts").json() == accounts
    assert api.get("/v1/order", {"uuid": shown["uuid"]}).status_code == 404
    assert api.get("/v1/orders/open").json() == []
    assert emulator.call(lambda core: core.exchange.order_history()) == []
    bad = api.post("/v1/orders/test", {**body, "price": str(Decimal(body["price"]) + 1)})
    assert bad.json()["error"]["name"] == "invalid_price_bid"
    assert api.order(**body).status_code == 201  # the test did not use the identifier up
    used = api.post("/v1/orders/test", body)
    assert used.json()["error"]["name"] == "validation_error"  # same identifier check


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_totals_outside_the_krw_minimum_and_maximum_are_refused(emulator, exchange_rest):
    api = exchange_rest(emulator)
    low = api.order(market="KRW-BTC", side="bid", ord_type="price", price="4999")
    assert low.json()["error"]["name"] == "under_min_total_bid"
    high = api.order(market="KRW-BTC", side="bid", ord_type="price", price="1000000001")
    assert high.json()["error"]["name"] == "validation_error"
    assert "maximum" in high.json()["error"]["message"]
