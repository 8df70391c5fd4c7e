"""SimVenue runs the order manager's calls against the emulator's matching engine in-process:
REST-shaped bodies, Upbit's error names for refusals, and exchange events decoded into the
same classes as the live private stream."""

from __future__ import annotations

import threading
from decimal import Decimal as D

from upbit_hub.actors.backtest.books import LatestBooks
from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.protocol.events import (
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    OrderbookUnit,
)
from upbit_hub.actors.protocol.rest_types import Account, Order
from upbit_hub.actors.trading.calls import Call
from upbit_hub.actors.trading.venue_sim import SimVenue

T0 = 1_800_000_000_000


def book(ask: int, bid: int, size: str = "0.5") -> OrderbookEvent:
    return OrderbookEvent(type="orderbook", code="KRW-BTC", orderbook_units=(
        OrderbookUnit(ask_price=D(ask), bid_price=D(bid), ask_size=D(size), bid_size=D(size)),))


def venue():
    books = LatestBooks(["KRW-BTC"])
    books.update(book(100_100_000, 100_000_000))
    now = [T0]
    ex = Exchange(books, balances={"KRW": D(1_000_000)}, seed=3, clock=lambda: now[0],
                  maker_fee_rate=D("0.0005"), taker_fee_rate=D("0.0005"), split_probability=0)
    events: list = []
    return SimVenue(ex, on_event=events.append), books, events, now


def place(token: int, cid: str, price: str = "99900000", volume: str = "0.001") -> Call:
    return Call(token, "place", {"market": "KRW-BTC", "side": "bid", "ord_type": "limit",
                                 "price": price, "volume": volume, "identifier": cid}, cid)


def test_a_placed_order_answers_a_rest_order_and_streams_live_event_classes():
    v, _books, events, _ = venue()
    res = v.execute(place(1, "uh-a"))
    assert res.outcome == "ok" and res.status == 201
    assert isinstance(res.body, Order) and res.body.identifier == "uh-a"
    assert res.body.state == "wait" and res.body.price == D("99900000")
    assert [type(e) for e in events] == [MyOrderEvent, MyAssetEvent]
    assert events[0].identifier == "uh-a" and events[0].state == "wait"
    assert events[1].assets[0].currency == "KRW"
    assert events[1].assets[0].locked == D("99900") + D("99900") * D("0.0005")


def test_a_refusal_is_rejected_with_upbits_error_name_and_an_unknown_order_is_404():
    v, *_ = venue()
    poor = v.execute(place(1, "uh-b", price="99900000", volume="1"))
    assert (poor.outcome, poor.status, poor.error) == ("rejected", 400, "insufficient_funds_bid")
    missing = v.execute(Call(2, "get", {"identifier": "uh-nope"}, "uh-nope"))
    assert (missing.outcome, missing.status, missing.error) == ("rejected", 404,
                                                                "order_not_found")
    gone = v.execute(Call(3, "cancel", {"identifier": "uh-nope"}, "uh-nope"))
    assert gone.error == "order_not_found"


def test_get_replace_cancel_accounts_and_chance_answer_what_the_manager_expects():
    v, *_ = venue()
    v.execute(place(1, "uh-c"))
    got = v.execute(Call(2, "get", {"identifier": "uh-c"}, "uh-c"))
    assert isinstance(got.body, Order) and got.body.trades == ()
    new = v.execute(Call(3, "replace", {"prev_order_identifier": "uh-c", "new_ord_type": "limit",
                                        "new_price": "99800000", "new_volume": "remain_only",
                                        "new_identifier": "uh-d"}, "uh-d"))  # fmt: skip
    assert new.outcome == "ok" and new.body["new_order_identifier"] == "uh-d"
    assert new.body["new_order_uuid"] and new.body["identifier"] == "uh-c"
    cancelled = v.execute(Call(4, "cancel", {"identifier": "uh-d"}, "uh-d"))
    assert isinstance(cancelled.body, Order) and cancelled.outcome == "ok"
    accounts = v.execute(Call(5, "accounts", {}))
    assert all(isinstance(a, Account) for a in accounts.body)
    assert accounts.body[0].currency == "KRW" and accounts.body[0].balance == D(1_000_000)
    chance = v.execute(Call(6, "chance", {"market": "KRW-BTC"}))
    assert chance.body["maker_bid_fee"] == "0.0005"
    batch = v.execute(Call(7, "cancel_all", {"cancel_side": "all", "pairs": "KRW-BTC"}))
    assert batch.body["success"]["count"] == 0


def test_a_resting_order_fills_on_the_next_book_through_market_data():
    v, books, events, now = venue()
    v.execute(place(1, "uh-e"))
    events.clear()
    now[0] += 1000
    v.market_data(lambda: books.update(book(99_800_000, 99_700_000)), now[0])
    trade = [e for e in events if isinstance(e, MyOrderEvent) and e.state == "trade"]
    assert len(trade) == 1 and trade[0].price == D("99900000") and trade[0].is_maker is True
    assert trade[0].trade_fee == D("99900") * D("0.0005")


def test_every_exchange_access_holds_one_lock_so_worker_threads_can_share_it():
    v, books, _events, _now = venue()
    errors: list = []

    def worker(k: int) -> None:
        try:
            for i in range(20):
                v.execute(place(k * 100 + i, f"uh-{k}-{i}", price="90000000", volume="0.0001"))
        except Exception as exc:  # pragma: no cover - the point of the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for i in range(50):
        v.market_data(lambda i=i: books.update(book(100_100_000 + i * 1000, 100_000_000)), T0 + i)
    for t in threads:
        t.join()
    assert not errors
    with v.locked() as ex:
        assert len(ex.orders(states=("wait",))) == 80
    assert v.calls == 80
