"""Self-match prevention: what a new order does when it meets the account's own resting order.

The taker's ``smp_type`` decides (Upbit's SMP guide): ``cancel_maker`` (the default since
2026-11-09) cancels the resting order, ``cancel_taker`` the new one, ``reduce`` takes the
overlap off both, ``none`` lets both trade against the book. The engine tests use a hand-set
book (an in-process collaborator); the last test runs over loopback.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from upbit_hub.actors.emulator.exchange import DEFAULT_BALANCES, Exchange

T0 = 1_767_000_000_000


class StaticBook:
    """Levels (ask_price, bid_price, ask_size, bid_size), best first; asks 100,000,000 +
    i*1000 (0.0003 each), bids 99,999,000 - i*1000 (0.0004 each)."""

    markets = ("KRW-BTC",)

    def __init__(self, ask: int = 100_000_000, bid: int = 99_999_000) -> None:
        self.rows = [(D(ask + i * 1000), D(bid - i * 1000), D("0.0003"), D("0.0004"))
                     for i in range(30)]

    def book(self, code):
        return list(self.rows)


@pytest.fixture
def events() -> list:
    return []


def make(events, book=None) -> Exchange:
    ex = Exchange(book or StaticBook(), clock=lambda: T0, split_probability=0.0)
    ex.add_listener(events.append)
    return ex


def limit(side, price, volume, **extra) -> dict:
    return {"market": "KRW-BTC", "side": side, "ord_type": "limit", "price": str(price),
            "volume": volume, **extra}


def states(events, uuid) -> list[str]:
    return [e["state"] for e in events if e["type"] == "myOrder" and e["uuid"] == uuid]


def last(events, uuid) -> dict:
    return [e for e in events if e["type"] == "myOrder" and e["uuid"] == uuid][-1]


def test_by_default_the_resting_order_is_cancelled_and_the_new_one_trades(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_000_000, "0.0001"))
    assert maker.smp_type == "cancel_maker" and ex.get_order(uuid=maker.uuid).state == "wait"
    taker = ex.place_order(limit("bid", 100_000_000, "0.0002"))
    assert states(events, maker.uuid) == ["wait", "cancel"]
    cancelled = ex.get_order(uuid=maker.uuid)
    assert (cancelled.state, cancelled.prevented_volume, cancelled.prevented_locked,
            cancelled.remaining_volume) == ("cancel", D("0.0001"), D("0.0001"), 0)
    assert last(events, maker.uuid)["prevented_volume"] == D("0.0001")
    assert states(events, taker.uuid) == ["wait", "trade", "done"]
    btc = ex.balances()["BTC"]
    assert (btc.balance, btc.locked) == (DEFAULT_BALANCES["BTC"] + D("0.0002"), 0)


def test_cancel_taker_keeps_the_resting_order_and_cancels_the_rest_of_the_new_one(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_001_000, "0.0001"))
    taker = ex.place_order(limit("bid", 100_001_000, "0.0005", smp_type="cancel_taker"))
    assert states(events, maker.uuid) == ["wait"]
    assert states(events, taker.uuid) == ["wait", "trade", "cancel"]  # filled the 1st level
    done = ex.get_order(uuid=taker.uuid)
    assert (done.executed_volume, done.prevented_volume, done.locked) == (D("0.0003"),
                                                                          D("0.0002"), 0)
    assert done.prevented_locked == D(100_001_000) * D("0.0002") * D("1.0005")
    assert ex.balances()["KRW"].locked == 0


def test_reduce_takes_the_overlap_off_both_orders_and_the_taker_walks_on(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_001_000, "0.0001"))
    taker = ex.place_order(limit("bid", 100_001_000, "0.0005", smp_type="reduce"))
    assert states(events, maker.uuid) == ["wait", "cancel"]  # nothing left of it
    assert states(events, taker.uuid) == ["wait", "trade", "prevented", "trade", "done"]
    prevented = next(e for e in events if e.get("state") == "prevented")
    assert (prevented["prevented_volume"], prevented["remaining_volume"]) == (D("0.0001"),
                                                                              D("0.0001"))
    order = ex.get_order(uuid=taker.uuid)
    assert (order.executed_volume, order.prevented_volume) == (D("0.0004"), D("0.0001"))


def test_reduce_keeps_whichever_order_still_has_volume(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_000_000, "0.001"))
    taker = ex.place_order(limit("bid", 100_000_000, "0.0002", smp_type="reduce"))
    assert states(events, maker.uuid) == ["wait", "prevented"]
    kept = ex.get_order(uuid=maker.uuid)
    assert (kept.state, kept.remaining_volume, kept.locked) == ("wait", D("0.0008"), D("0.0008"))
    assert states(events, taker.uuid) == ["wait", "cancel"]
    assert ex.get_order(uuid=taker.uuid).executed_volume == 0
    assert ex.balances()["KRW"].locked == 0


def test_none_lets_both_orders_trade_against_the_book(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_000_000, "0.0001"))
    taker = ex.place_order(limit("bid", 100_000_000, "0.0002", smp_type="none"))
    assert states(events, maker.uuid) == ["wait"]
    assert states(events, taker.uuid) == ["wait", "trade", "done"]


def test_a_market_buy_cancels_the_resting_ask_it_would_meet(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_000_000, "0.0001"))
    taker = ex.place_order({"market": "KRW-BTC", "side": "bid", "ord_type": "price",
                            "price": "20000"})
    assert states(events, maker.uuid) == ["wait", "cancel"]
    assert states(events, taker.uuid)[-1] in ("done", "cancel")
    assert ex.get_order(uuid=taker.uuid).executed_volume > 0


def test_fill_or_kill_that_would_meet_its_own_order_with_cancel_taker_fills_nothing(events):
    ex = make(events)
    maker = ex.place_order(limit("ask", 100_001_000, "0.0001"))
    taker = ex.place_order(limit("bid", 100_001_000, "0.0005", time_in_force="fok",
                                 smp_type="cancel_taker"))
    assert states(events, taker.uuid) == ["wait", "cancel"]
    assert ex.get_order(uuid=taker.uuid).executed_volume == 0
    assert states(events, maker.uuid) == ["wait"]


def test_post_only_that_would_take_from_its_own_resting_order_is_cancelled(events):
    ex = make(events, StaticBook(ask=100_005_000, bid=99_999_000))
    maker = ex.place_order(limit("ask", 100_002_000, "0.0001"))
    taker = ex.place_order(limit("bid", 100_003_000, "0.0001", time_in_force="post_only"))
    assert states(events, taker.uuid) == ["wait", "cancel"]
    assert states(events, maker.uuid) == ["wait"]
    below = ex.place_order(limit("bid", 100_001_000, "0.0001", time_in_force="post_only"))
    assert ex.get_order(uuid=below.uuid).state == "wait"  # crosses nothing: rests


@pytest.mark.parametrize("emulator", [{"rate": 0.0}], indirect=True)
def test_over_loopback_a_crossing_order_cancels_the_resting_one(emulator, exchange_rest):
    api = exchange_rest(emulator)
    ask = emulator.call(lambda core: core.market.book("KRW-BTC"))[0][0]
    body = {"market": "KRW-BTC", "ord_type": "limit", "price": str(ask), "volume": "0.0001"}
    maker = api.order(**body, side="ask", identifier="maker").json()
    assert maker["state"] == "wait" and maker["smp_type"] == "cancel_maker"
    taker = api.order(**body, side="bid", identifier="taker").json()
    gone = api.get("/v1/order", {"identifier": "maker"}).json()
    assert (gone["state"], gone["prevented_volume"], gone["remaining_volume"]) == (
        "cancel", "0.0001", "0")
    assert api.get("/v1/order", {"uuid": taker["uuid"]}).json()["state"] == "done"
    closed = api.get("/v1/orders/closed", {"state": "cancel"}).json()
    assert [o["identifier"] for o in closed] == ["maker"]
