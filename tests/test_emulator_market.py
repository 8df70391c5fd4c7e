"""The emulator's market simulator: determinism, invariants, rate control, REST histories."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from itertools import pairwise

import pytest

from upbit_hub.actors.emulator.market import DEFAULT_MARKETS, MarketSimulator
from upbit_hub.actors.emulator.market_catalog import SCALE, market_info, tick_up
from upbit_hub.actors.protocol.fields import CANDLE_TYPES, FIELDS_BY_TYPE

T0 = 1_751_854_855_000  # 2025-07-07T02:20:55Z


def run(sim: MarketSimulator, seconds: float, step_ms: int = 100) -> list[dict]:
    out: list[dict] = []
    end = sim.now_ms + int(seconds * 1000)
    while sim.now_ms < end:
        out.extend(sim.advance(min(sim.now_ms + step_ms, end)))
    return out


@pytest.fixture(scope="module")
def busy() -> tuple[MarketSimulator, list[dict]]:
    sim = MarketSimulator(seed=11, rate=2000, start_ms=T0)
    return sim, run(sim, 10)


def test_same_seed_and_clock_give_identical_events():
    a = MarketSimulator(seed=3, rate=500, start_ms=T0)
    b = MarketSimulator(seed=3, rate=500, start_ms=T0)
    assert run(a, 3) == run(b, 3)


def test_output_does_not_depend_on_how_time_is_sliced():
    a = MarketSimulator(seed=3, rate=500, start_ms=T0)
    b = MarketSimulator(seed=3, rate=500, start_ms=T0)
    assert run(a, 3, step_ms=10) == b.advance(b.now_ms + 3000)


def test_different_seeds_give_different_markets():
    a = run(MarketSimulator(seed=1, rate=500, start_ms=T0), 2)
    b = run(MarketSimulator(seed=2, rate=500, start_ms=T0), 2)
    assert a != b


def test_events_are_in_time_order_and_use_wire_keys(busy):
    _, events = busy
    last = 0
    for e in events:
        fields = [f[0] for f in FIELDS_BY_TYPE[e["type"]] if f[0] != "stream_type"]
        keys = list(e)
        assert "stream_type" not in e
        # keys appear in the table's wire order
        assert keys == [k for k in fields if k in e]
        t = e.get("trade_timestamp", e["timestamp"])
        if e["type"] == "trade":
            assert t >= last
            last = t


def test_every_type_is_produced(busy):
    _, events = busy
    types = Counter(e["type"] for e in events)
    for t in ("trade", "ticker", "orderbook", *CANDLE_TYPES):
        assert types[t] > 0, t


def test_sequential_ids_are_unique_int64_above_2_53(busy):
    _, events = busy
    sids = [e["sequential_id"] for e in events if e["type"] == "trade"]
    assert len(sids) == len(set(sids))
    for e in events:
        if e["type"] == "trade":
            assert isinstance(e["sequential_id"], int)
            assert 2**53 < e["sequential_id"] < 2**63
            assert e["sequential_id"] // 10_000 == e["trade_timestamp"]


def test_trade_fields_follow_upbit_formats(busy):
    _, events = busy
    for e in events:
        if e["type"] != "trade":
            continue
        assert len(e["trade_date"]) == 10 and e["trade_date"][4] == "-"
        assert len(e["trade_time"]) == 8 and e["trade_time"][2] == ":"
        assert e["change_price"] >= 0
        assert e["change_price"] == abs(e["trade_price"] - e["prev_closing_price"])
        assert e["timestamp"] > e["trade_timestamp"]
        if e["ask_bid"] == "BID":  # a buyer lifted the ask: price at or below the new best ask
            assert e["trade_price"] <= e["best_ask_price"]
        else:
            assert e["trade_price"] >= e["best_bid_price"]
        assert e["best_ask_price"] > e["best_bid_price"]


def test_prices_are_on_the_krw_tick_grid(busy):
    _, events = busy
    for e in events:
        if e["type"] == "trade":
            info = market_info(e["code"])
            units = int(e["trade_price"] * SCALE)
            assert units % tick_up(info, units - 1) == 0 or units % tick_up(info, units) == 0


def test_ticker_follows_the_trade_before_it_and_accumulates(busy):
    _, events = busy
    prev: dict[str, dict] = {}
    last_trade: dict[str, dict] = {}
    for e in events:
        code = e.get("code")
        if e["type"] == "trade":
            last_trade[code] = e
        elif e["type"] == "ticker":
            t = last_trade[code]
            assert e["trade_price"] == t["trade_price"]
            assert e["trade_volume"] == t["trade_volume"]
            assert e["trade_timestamp"] == t["trade_timestamp"]
            assert e["trade_date"] == t["trade_date"].replace("-", "")
            assert e["trade_time"] == t["trade_time"].replace(":", "")
            assert e["acc_ask_volume"] + e["acc_bid_volume"] == e["acc_trade_volume"]
            assert e["low_price"] <= e["trade_price"] <= e["high_price"]
            assert e["low_price"] <= e["opening_price"] <= e["high_price"]
            assert e["highest_52_week_price"] >= e["high_price"]
            assert e["lowest_52_week_price"] <= e["low_price"]
            assert e["acc_trade_volume_24h"] >= e["acc_trade_volume"]
            assert e["acc_trade_price_24h"] >= e["acc_trade_price"]
            diff = e["trade_price"] - e["prev_closing_price"]
            assert e["signed_change_price"] == diff
            assert e["change_price"] == abs(diff)
            assert e["change"] == ("RISE" if diff > 0 else "FALL" if diff < 0 else "EVEN")
            assert abs(e["change_rate"] - abs(diff) / e["prev_closing_price"]) < Decimal("1E-9")
            assert e["market_state"] == "ACTIVE" and e["delisting_date"] is None
            p = prev.get(code)
            if p is not None:
                assert e["acc_trade_volume"] - p["acc_trade_volume"] == e["trade_volume"]
            prev[code] = e


def test_orderbooks_are_ordered_and_totals_are_sums(busy):
    _, events = busy
    books = [e for e in events if e["type"] == "orderbook"]
    assert books
    for ob in books:
        units = ob["orderbook_units"]
        assert len(units) == 30
        asks = [u["ask_price"] for u in units]
        bids = [u["bid_price"] for u in units]
        assert all(a < b for a, b in pairwise(asks))
        assert all(a > b for a, b in pairwise(bids))
        assert asks[0] > bids[0]
        assert ob["total_ask_size"] == sum(u["ask_size"] for u in units)
        assert ob["total_bid_size"] == sum(u["bid_size"] for u in units)
        assert ob["level"] == 0


def test_busy_books_publish_on_a_100ms_grid_and_only_when_changed(busy):
    _, events = busy
    per_code: dict[str, list[dict]] = {}
    for e in events:
        if e["type"] == "orderbook":
            per_code.setdefault(e["code"], []).append(e)
    btc = per_code["KRW-BTC"]
    assert 50 <= len(btc) <= 100  # 10 s at most 10 per second
    quiet = per_code["KRW-ADA"]
    assert len(quiet) <= 34  # 300 ms grid
    for books in per_code.values():
        for a, b in pairwise(books):
            assert a != b


def test_candles_have_utc_buckets_kst_twins_and_at_most_one_update_per_second(busy):
    _, events = busy
    seen: Counter = Counter()
    for e in events:
        if not e["type"].startswith("candle."):
            continue
        utc, kst = e["candle_date_time_utc"], e["candle_date_time_kst"]
        assert len(utc) == 19 and utc[10] == "T"
        assert int(kst[11:13]) == (int(utc[11:13]) + 9) % 24
        assert e["low_price"] <= min(e["opening_price"], e["trade_price"])
        assert e["high_price"] >= max(e["opening_price"], e["trade_price"])
        if e["type"] == "candle.1m":
            assert utc.endswith(":00")
        # emitted at most once per candle per second
        seen[(e["type"], e["code"], e["timestamp"] // 1000 + 1)] += 1
    assert seen and max(seen.values()) == 1


@pytest.mark.parametrize("rate", [50, 400, 3000])
def test_message_count_follows_the_rate(rate):
    sim = MarketSimulator(seed=5, rate=rate, start_ms=T0)
    n = len(run(sim, 10))
    assert 0.8 * rate * 10 <= n <= 1.2 * rate * 10


def test_rate_zero_pauses_trading_and_goes_quiet():
    sim = MarketSimulator(seed=5, rate=1000, start_ms=T0)
    assert run(sim, 1)
    sim.rate = 0
    tail = run(sim, 1.5)  # pending book/candle updates drain within one second
    assert all(e["type"] != "trade" for e in tail)
    assert run(sim, 3) == []
    sim.rate = 1000
    assert any(e["type"] == "trade" for e in run(sim, 1))


def test_negative_rate_is_refused():
    with pytest.raises(ValueError, match="rate"):
        MarketSimulator(rate=-1)
    sim = MarketSimulator(start_ms=T0)
    with pytest.raises(ValueError, match="rate"):
        sim.rate = -5


def test_snapshots_exist_from_the_start_and_candles_fall_back_to_the_last_one():
    sim = MarketSimulator(seed=9, rate=100, start_ms=T0)
    for code in DEFAULT_MARKETS:
        assert sim.snapshot("ticker", code)["code"] == code
        assert sim.snapshot("trade", code)["type"] == "trade"
        assert len(sim.snapshot("orderbook", code)["orderbook_units"]) == 30
    c = sim.snapshot("candle.1s", "KRW-BTC")
    assert c is not None
    sim.rate = 0
    sim.advance(sim.now_ms + 5000)
    again = sim.snapshot("candle.1s", "KRW-BTC")  # current second has no trade: last candle
    assert again is not None and again["timestamp"] < sim.now_ms - 1000
    assert sim.snapshot("ticker", "KRW-NOPE") is None
    assert sim.snapshot("nope", "KRW-BTC") is None


def test_trade_listener_sees_every_trade_once():
    sim = MarketSimulator(seed=4, rate=500, start_ms=T0)
    got: list[dict] = []
    sim.add_trade_listener(got.append)
    events = run(sim, 2)
    assert got == [e for e in events if e["type"] == "trade"]


def test_rest_trades_page_backwards_with_the_cursor(busy):
    sim, events = busy
    last = [e for e in events if e["type"] == "trade" and e["code"] == "KRW-BTC"][-1]
    page = sim.trades("KRW-BTC", 5)
    assert page[0]["sequential_id"] == last["sequential_id"]
    sids = [t["sequential_id"] for t in page]
    assert sids == sorted(sids, reverse=True)
    older = sim.trades("KRW-BTC", 5, cursor=sids[-1])
    assert older[0]["sequential_id"] < sids[-1]
    assert len(sim.trades("KRW-BTC", 10_000)) == 500
    t = page[0]
    assert set(t) == {
        "market",
        "trade_date_utc",
        "trade_time_utc",
        "timestamp",
        "trade_price",
        "trade_volume",
        "prev_closing_price",
        "change_price",
        "ask_bid",
        "sequential_id",
    }
    assert t["change_price"] == t["trade_price"] - t["prev_closing_price"]  # signed on REST


def test_rest_minute_candles_are_newest_first_and_respect_to(busy):
    sim, _ = busy
    c = sim.candles_minutes("KRW-BTC", 1, 5)
    assert 1 < len(c) <= 5
    times = [x["candle_date_time_utc"] for x in c]
    assert times == sorted(times, reverse=True)
    assert c[0]["unit"] == 1
    older = sim.candles_minutes("KRW-BTC", 1, 5, to_ms=T0 + 60_000 - T0 % 60_000)
    assert all(x["candle_date_time_utc"] < "2025-07-07T02:21:00" for x in older)
    with pytest.raises(ValueError):
        sim.candles_minutes("KRW-BTC", 2, 5)


def test_rest_book_matches_the_websocket_book(busy):
    sim, _ = busy
    ob = sim.snapshot("orderbook", "KRW-BTC")
    rest = sim.orderbook_rest("KRW-BTC", 15)
    assert rest["timestamp"] == ob["timestamp"]
    assert list(rest["orderbook_units"][0]) == ["bid_price", "bid_size", "ask_price", "ask_size"]
    assert [u["ask_price"] for u in rest["orderbook_units"]] == [
        u["ask_price"] for u in ob["orderbook_units"][:15]
    ]
    assert rest["total_bid_size"] == sum(u["bid_size"] for u in ob["orderbook_units"][:15])
    assert sim.orderbook_rest("KRW-BTC", 15, 7) is None
    assert sim.book("KRW-BTC")[0] == (
        ob["orderbook_units"][0]["ask_price"],
        ob["orderbook_units"][0]["bid_price"],
        ob["orderbook_units"][0]["ask_size"],
        ob["orderbook_units"][0]["bid_size"],
    )


def test_rest_ticker_uses_market_and_has_no_stream_fields(busy):
    sim, _ = busy
    t = sim.ticker_rest("KRW-ETH")
    assert t["market"] == "KRW-ETH" and "code" not in t
    assert "market_state" not in t and "stream_type" not in t
    assert t["trade_price"] == sim.snapshot("ticker", "KRW-ETH")["trade_price"]


def test_start_prices_are_plausible_and_levels_are_krw_only():
    sim = MarketSimulator(markets=["KRW-BTC", "KRW-ETH", "KRW-XRP", "BTC-ETH"], start_ms=T0)
    assert 1.2e8 < sim.book("KRW-BTC")[0][0] < 1.8e8
    assert 4e6 < sim.book("KRW-ETH")[0][0] < 6e6
    assert 2400 < sim.book("KRW-XRP")[0][0] < 3600
    assert sim.supported_levels("KRW-BTC")[:2] == (0, 10000)
    assert sim.supported_levels("BTC-ETH") == (0,)


def test_advance_is_fast_enough_for_20k_messages_per_second():
    """Not a timing assertion: checks the simulated volume, the bench reports the speed."""
    sim = MarketSimulator(seed=1, rate=20_000, start_ms=T0)
    n = len(sim.advance(sim.now_ms + 1000))
    assert 16_000 <= n <= 24_000
