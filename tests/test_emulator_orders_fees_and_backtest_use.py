"""The matching engine as a backtest uses it in-process: ``Exchange(book_source, balances=...,
seed=..., clock=..., maker_fee_rate=..., taker_fee_rate=..., split_probability=...)`` fed by a
book it sets itself, with ``on_market_tick(now_ms)`` after each book update."""

from __future__ import annotations

from decimal import Decimal as D

from upbit_hub.actors.emulator.exchange import Exchange

T0 = 1_767_000_000_000


class RecordedBooks:
    """A book source a backtest would feed from recorded order books."""

    markets = ("KRW-BTC",)

    def __init__(self) -> None:
        self.set(ask=100_000_000, bid=99_999_000)

    def set(self, *, ask: int, bid: int) -> None:
        self.rows = [(D(ask + i * 1000), D(bid - i * 1000), D("0.01"), D("0.01"))
                     for i in range(15)]

    def book(self, code):
        return list(self.rows)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def backtest_exchange(books, clock, seed=1) -> Exchange:
    return Exchange(books, balances={"KRW": D(10_000_000), "BTC": D(1)}, seed=seed,
                    clock=clock, maker_fee_rate=D("0.0002"), taker_fee_rate=D("0.0007"),
                    split_probability=0.0)


def test_a_crossed_resting_order_fills_at_its_own_price_with_the_maker_fee():
    books, clock = RecordedBooks(), Clock()
    ex = backtest_exchange(books, clock)
    order = ex.place_order({"market": "KRW-BTC", "side": "bid", "ord_type": "limit",
                            "price": "99000000", "volume": "0.001"})
    assert ex.get_order(uuid=order.uuid).state == "wait"
    books.set(ask=98_500_000, bid=98_499_000)  # the recorded book moves through our price
    clock.now += 100
    ex.on_market_tick(clock.now)
    filled = ex.get_order(uuid=order.uuid)
    assert filled.state == "done"
    (trade,) = filled.trades
    assert (trade.price, trade.is_maker) == (D(99_000_000), True)
    assert trade.fee == D(99_000_000) * D("0.001") * D("0.0002")
    krw = ex.balances()["KRW"]
    assert krw.locked == 0
    assert krw.balance == D(10_000_000) - D(99_000) - trade.fee  # the unused reserve returned


def test_a_taker_fill_pays_the_taker_fee():
    ex = backtest_exchange(RecordedBooks(), Clock())
    order = ex.place_order({"market": "KRW-BTC", "side": "ask", "ord_type": "market",
                            "volume": "0.001"})
    (trade,) = ex.get_order(uuid=order.uuid).trades
    assert (trade.price, trade.is_maker) == (D(99_999_000), False)
    assert trade.fee == D(99_999_000) * D("0.001") * D("0.0007")


def test_fee_rate_still_sets_both_rates():
    ex = Exchange(RecordedBooks(), clock=Clock(), fee_rate=D("0.001"))
    assert (ex.maker_fee_rate, ex.taker_fee_rate) == (D("0.001"), D("0.001"))
    assert ex.chance("KRW-BTC")["maker_bid_fee"] == "0.001"


def run(seed: int) -> list[dict]:
    books, clock = RecordedBooks(), Clock()
    ex = Exchange(books, seed=seed, clock=clock, split_probability=0.5)
    events: list[dict] = []
    ex.add_listener(events.append)
    ex.place_order({"market": "KRW-BTC", "side": "bid", "ord_type": "limit",
                    "price": "99000000", "volume": "0.005", "identifier": "a"})
    ex.place_order({"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "9000"})
    for step in range(5):
        books.set(ask=98_900_000 - step * 1000, bid=98_899_000 - step * 1000)
        clock.now += 100
        ex.on_market_tick(clock.now)
    return events


def test_the_same_seed_clock_and_calls_give_the_same_events():
    assert run(5) == run(5)
    assert [e.get("uuid") for e in run(5)] != [e.get("uuid") for e in run(6)]


def test_order_tests_do_not_change_the_ids_later_orders_get():
    def ids(with_test: bool) -> list[str]:
        ex = Exchange(RecordedBooks(), seed=3, clock=Clock())
        if with_test:
            ex.test_order({"market": "KRW-BTC", "side": "bid", "ord_type": "price",
                           "price": "9000"})
        return [ex.place_order({"market": "KRW-BTC", "side": "bid", "ord_type": "price",
                                "price": "9000"}).uuid]

    assert ids(True) == ids(False)
