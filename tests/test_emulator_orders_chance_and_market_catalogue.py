"""``GET /v1/orders/chance`` and the market catalogue facts a hub's market checks read:
``/v1/market/all`` lists exactly the emulated markets, markets can carry a warning
(``market_event.warning``) or a ``delisting_date`` in their ticker."""

from __future__ import annotations

import pytest
import requests

from upbit_hub.actors.emulator import Emulator

PAUSED = {"rate": 0.0}


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_chance_reports_fees_limits_order_types_and_both_accounts(emulator, exchange_rest):
    api = exchange_rest(emulator)
    api.order(market="KRW-BTC", side="ask", ord_type="limit", price="500000000",
              volume="0.01")
    r = api.get("/v1/orders/chance", {"market": "KRW-BTC"})
    assert r.status_code == 200
    assert r.headers["Remaining-Req"].startswith("group=default;")
    body = r.json()
    assert {k: body[k] for k in ("bid_fee", "ask_fee", "maker_bid_fee", "maker_ask_fee")} == {
        "bid_fee": "0.0005", "ask_fee": "0.0005", "maker_bid_fee": "0.0005",
        "maker_ask_fee": "0.0005"}
    assert body["market"] == {
        "id": "KRW-BTC", "name": "BTC/KRW", "order_types": [], "order_sides": ["ask", "bid"],
        "bid_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "post_only",
                      "price"],
        "ask_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "market",
                      "post_only"],
        "bid": {"currency": "KRW", "min_total": "5000"},
        "ask": {"currency": "BTC", "min_total": "5000"},
        "max_total": "1000000000", "state": "active",
    }
    assert body["bid_account"] == {"currency": "KRW", "balance": "10000000", "locked": "0",
                                   "avg_buy_price": "0", "avg_buy_price_modified": False,
                                   "unit_currency": "KRW"}
    ask = body["ask_account"]
    assert (ask["currency"], ask["balance"], ask["locked"]) == ("BTC", "0.04", "0.01")


@pytest.mark.parametrize("emulator", [{**PAUSED, "maker_fee_rate": "0.0002",
                                       "taker_fee_rate": "0.0007"}], indirect=True)
def test_chance_shows_separate_maker_and_taker_fees(emulator, exchange_rest):
    body = exchange_rest(emulator).get("/v1/orders/chance", {"market": "KRW-ETH"}).json()
    assert (body["bid_fee"], body["maker_bid_fee"]) == ("0.0007", "0.0002")
    assert body["ask_account"]["currency"] == "ETH"


@pytest.mark.parametrize("emulator", [PAUSED], indirect=True)
def test_chance_of_an_unknown_market_is_a_validation_error(emulator, exchange_rest):
    api = exchange_rest(emulator)
    r = api.get("/v1/orders/chance", {"market": "KRW-NOPE"})
    assert (r.status_code, r.json()["error"]["name"]) == (400, "validation_error")
    assert api.get("/v1/orders/chance").json()["error"]["name"] == "validation_error"


@pytest.mark.parametrize("emulator", [{**PAUSED, "markets": ("KRW-BTC", "BTC-ETH",
                                                             "USDT-BTC")}], indirect=True)
def test_market_all_lists_exactly_the_emulated_markets_without_warnings(emulator):
    rows = requests.get(emulator.base_url + "/v1/market/all",
                        params={"is_details": "true"}, timeout=5).json()
    assert [r["market"] for r in rows] == ["KRW-BTC", "BTC-ETH", "USDT-BTC"]
    assert all(r["market_event"]["warning"] is False for r in rows)


WATCHED = {**PAUSED, "markets": ("KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-DOGE"),
           "market_warnings": ("KRW-ETH",),
           "delisting_dates": {"KRW-XRP": "2099-12-31", "KRW-DOGE": "2020-01-01"}}


@pytest.mark.parametrize("emulator", [WATCHED], indirect=True)
def test_markets_can_carry_a_warning_and_a_delisting_date(emulator, open_ws):
    rows = requests.get(emulator.base_url + "/v1/market/all",
                        params={"is_details": "true"}, timeout=5).json()
    assert {r["market"]: r["market_event"]["warning"] for r in rows} == {
        "KRW-BTC": False, "KRW-ETH": True, "KRW-XRP": False, "KRW-DOGE": False}
    plain = requests.get(emulator.base_url + "/v1/market/all", timeout=5).json()
    assert all("market_event" not in r for r in plain)
    ws = open_ws(emulator.ws_url)
    ws.send_json([{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC", "KRW-XRP",
                                                                "KRW-DOGE"]},
                  {"format": "DEFAULT"}])
    seen: dict[str, dict] = {}
    ws.recv_until(lambda m: seen.setdefault(m["code"], m) is not None and len(seen) == 3)
    assert (seen["KRW-XRP"]["delisting_date"], seen["KRW-XRP"]["market_state"]) == (
        "2099-12-31", "ACTIVE")
    assert (seen["KRW-DOGE"]["delisting_date"], seen["KRW-DOGE"]["market_state"]) == (
        "2020-01-01", "DELISTED")
    assert (seen["KRW-BTC"]["delisting_date"], seen["KRW-BTC"]["market_state"]) == (
        None, "ACTIVE")


def test_warnings_or_delisting_dates_for_markets_not_emulated_are_refused():
    with pytest.raises(ValueError, match="KRW-NOPE"):
        Emulator(markets=("KRW-BTC",), market_warnings=("KRW-NOPE",))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Emulator(markets=("KRW-BTC",), delisting_dates={"KRW-BTC": "soon"})
