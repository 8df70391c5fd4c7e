"""The emulated exchange (exchange.py): orders, matching, balances, myOrder/myAsset events.

The market simulator is replaced by a static order book (a pure in-process collaborator that
implements ``markets`` and ``book(code)``); nothing crosses a socket here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal as D

import pytest

from upbit_hub.actors.emulator.exchange import DEFAULT_BALANCES, Exchange, ExchangeError
from upbit_hub.actors.emulator.exchange_model import FEE_RATE
from upbit_hub.actors.protocol.fields import MY_ASSET_FIELDS, MY_ORDER_FIELDS

T0 = 1_767_000_000_000


class StaticBook:
    """A hand-set order book: levels (ask_price, bid_price, ask_size, bid_size), best first."""

    markets = ("KRW-BTC", "KRW-ETH", "KRW-XRP")

    def __init__(self) -> None:
        self.levels: dict[str, list] = {m: [] for m in self.markets}
        self.set(
            "KRW-BTC",
            ask=D(100_000_000),
            bid=D(99_999_000),
            step=D(1000),
            ask_size=D("0.0003"),
            bid_size=D("0.0004"),
        )
        self.set(
            "KRW-ETH",
            ask=D(4_000_000),
            bid=D(3_999_000),
            step=D(1000),
            ask_size=D("0.01"),
            bid_size=D("0.01"),
        )

    def set(self, code, *, ask, bid, step, ask_size, bid_size, depth=30) -> None:
        self.levels[code] = [
            (ask + i * step, bid - i * step, ask_size, bid_size) for i in range(depth)
        ]

    def book(self, code):
        return list(self.levels[code])


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def book() -> StaticBook:
    return StaticBook()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ex(book, clock) -> Exchange:
    return Exchange(book, clock=clock)


@pytest.fixture
def events(ex) -> list[dict]:
    got: list[dict] = []
    ex.add_listener(got.append)
    return got


def states(events: list[dict], uuid: str) -> list[str]:
    return [e["state"] for e in events if e["type"] == "myOrder" and e["uuid"] == uuid]


def tick(ex: Exchange, clock: Clock, ms: int = 10) -> None:
    clock.now += ms
    ex.on_market_tick(clock.now)


def limit(side: str, price, volume, market: str = "KRW-BTC", **extra) -> dict:
    return {
        "market": market,
        "side": side,
        "ord_type": "limit",
        "price": str(price),
        "volume": str(volume),
        **extra,
    }


def test_default_account_holds_krw_btc_and_a_little_eth(ex):
    balances = ex.balances()
    assert {c: b.balance for c, b in balances.items()} == DEFAULT_BALANCES
    assert all(b.locked == 0 for b in balances.values())
    assert balances["BTC"].avg_buy_price == D(100_000_000)  # seeded from the book's best ask


def test_marketable_limit_bid_walks_the_book_wait_then_trade_per_level_then_done(ex, events):
    accepted = ex.place_order(limit("bid", 100_002_000, "0.0007"))
    assert accepted.state == "wait"
    assert states(events, accepted.uuid) == ["wait", "trade", "trade", "trade", "done"]
    trades = [e for e in events if e.get("state") == "trade"]
    assert [(t["price"], t["volume"]) for t in trades] == [
        (D(100_000_000), D("0.0003")),
        (D(100_001_000), D("0.0003")),
        (D(100_002_000), D("0.0001")),
    ]
    assert all(t["is_maker"] is False and t["trade_uuid"] for t in trades)
    assert len({t["trade_uuid"] for t in trades}) == 3
    assert [t["trades_count"] for t in trades] == [1, 2, 3]
    funds = sum(t["price"] * t["volume"] for t in trades)
    fee = funds * FEE_RATE
    assert sum(t["trade_fee"] for t in trades) == fee
    final = ex.get_order(uuid=accepted.uuid)
    assert (final.state, final.executed_volume, final.locked) == ("done", D("0.0007"), 0)
    krw, btc = ex.balances()["KRW"], ex.balances()["BTC"]
    assert krw.balance == DEFAULT_BALANCES["KRW"] - funds - fee
    assert krw.locked == 0
    assert btc.balance == DEFAULT_BALANCES["BTC"] + D("0.0007")


def test_resting_bid_fills_as_maker_in_several_parts_once_the_book_crosses_it(book, clock, events):
    ex = Exchange(book, clock=clock, split_probability=1.0)
    ex.add_listener(events.append)
    order = ex.place_order(limit("bid", 99_990_000, "0.0002"))
    tick(ex, clock)
    assert states(events, order.uuid) == ["wait"]  # no ask at or below 99,990,000 yet
    book.set(
        "KRW-BTC",
        ask=D(99_980_000),
        bid=D(99_970_000),
        step=D(1000),
        ask_size=D("0.01"),
        bid_size=D("0.01"),
    )
    for _ in range(20):
        tick(ex, clock)
    seen = states(events, order.uuid)
    assert seen[0] == "wait" and seen[-1] == "done"
    assert seen.count("trade") >= 2
    trades = [e for e in events if e.get("state") == "trade"]
    assert all(t["is_maker"] is True and t["price"] == D(99_990_000) for t in trades)
    assert sum(t["volume"] for t in trades) == D("0.0002")
    assert ex.balances()["KRW"].locked == 0


def test_liquidity_taken_from_a_level_is_not_reused_until_it_replenishes(book, clock, events):
    ex = Exchange(book, clock=clock, split_probability=0.0, replenish_ms=100)
    ex.add_listener(events.append)
    book.set(
        "KRW-BTC",
        ask=D(100_000_000),
        bid=D(99_999_000),
        step=D(1000),
        ask_size=D("0.0001"),
        bid_size=D("0.0004"),
        depth=1,
    )
    order = ex.place_order(limit("bid", 100_000_000, "0.00025"))
    assert states(events, order.uuid) == ["wait", "trade"]
    tick(ex, clock, 50)
    assert states(events, order.uuid) == ["wait", "trade"]  # level still used up
    tick(ex, clock, 60)
    tick(ex, clock, 110)
    assert states(events, order.uuid) == ["wait", "trade", "trade", "trade", "done"]
    volumes = [e["volume"] for e in events if e.get("state") == "trade"]
    assert volumes == [D("0.0001"), D("0.0001"), D("0.00005")]


def test_cancel_returns_the_order_as_accepted_and_releases_the_lock(ex, events):
    order = ex.place_order(limit("bid", 90_000_000, "0.001", identifier="mine-1"))
    locked = D(90_000) * (1 + FEE_RATE)
    assert ex.balances()["KRW"].locked == locked
    before = ex.cancel_order(identifier="mine-1")
    assert (before.uuid, before.state, before.locked) == (order.uuid, "wait", locked)
    assert states(events, order.uuid) == ["wait", "cancel"]
    assert ex.get_order(uuid=order.uuid).state == "cancel"
    assert ex.balances()["KRW"].locked == 0
    assert ex.balances()["KRW"].balance == DEFAULT_BALANCES["KRW"]
    assert events[-1]["type"] == "myAsset"
    assert events[-1]["assets"] == [
        {"currency": "KRW", "balance": DEFAULT_BALANCES["KRW"], "locked": 0}
    ]
    with pytest.raises(ExchangeError) as info:
        ex.cancel_order(uuid=order.uuid)
    assert (info.value.status, info.value.name) == (404, "order_not_found")
    with pytest.raises(ExchangeError):
        ex.cancel_order(uuid="no-such-order")


def test_market_buy_by_funds_fills_across_levels_and_ends_cancel_with_dust(ex, events):
    order = ex.place_order(
        {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "50001"}
    )
    seen = states(events, order.uuid)
    assert seen[0] == "wait" and seen[-1] == "cancel" and seen.count("trade") >= 2
    wait = next(e for e in events if e.get("state") == "wait")
    assert (wait["price"], wait["volume"], wait["remaining_volume"]) == (D(50001), None, None)
    assert wait["locked"] == D(50001) * (1 + FEE_RATE)
    final = ex.get_order(uuid=order.uuid)
    assert 0 < D(50001) - final.executed_funds < D(100_002_000) * D("0.00000001") * 2
    krw = ex.balances()["KRW"]
    assert krw.locked == 0
    assert krw.balance == DEFAULT_BALANCES["KRW"] - final.executed_funds - final.paid_fee


def test_market_buy_that_spends_its_funds_exactly_is_done(ex, events):
    order = ex.place_order(
        {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000"}
    )
    assert states(events, order.uuid) == ["wait", "trade", "done"]
    assert ex.get_order(uuid=order.uuid).executed_volume == D("0.0001")


def test_market_sell_fills_against_bids_and_a_thin_book_ends_it_cancelled(ex, book, clock, events):
    order = ex.place_order(
        {"market": "KRW-BTC", "side": "ask", "ord_type": "market", "volume": "0.001"}
    )
    assert states(events, order.uuid) == ["wait", "trade", "trade", "trade", "done"]
    assert [e["price"] for e in events if e.get("state") == "trade"] == [
        D(99_999_000),
        D(99_998_000),
        D(99_997_000),
    ]
    book.set(
        "KRW-BTC",
        ask=D(100_000_000),
        bid=D(99_999_000),
        step=D(1000),
        ask_size=D("0.0003"),
        bid_size=D("0.0004"),
        depth=2,
    )
    tick(ex, clock, 600)  # let the liquidity the first sell took replenish
    thin = ex.place_order(
        {"market": "KRW-BTC", "side": "ask", "ord_type": "market", "volume": "0.001"}
    )
    assert states(events, thin.uuid) == ["wait", "trade", "trade", "cancel"]
    btc = ex.balances()["BTC"]
    assert btc.locked == 0
    assert btc.balance == DEFAULT_BALANCES["BTC"] - D("0.001") - D("0.0008")


def test_limit_ask_locks_coin_and_pays_fee_from_the_krw_proceeds(ex, events):
    order = ex.place_order(limit("ask", 99_999_000, "0.0004"))
    assert states(events, order.uuid) == ["wait", "trade", "done"]
    funds = D(99_999_000) * D("0.0004")
    assert ex.balances()["KRW"].balance == DEFAULT_BALANCES["KRW"] + funds - funds * FEE_RATE
    assert ex.get_order(uuid=order.uuid).paid_fee == funds * FEE_RATE


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (limit("bid", 100_000_000, "1"), "insufficient_funds_bid"),
        (limit("ask", 100_000_000, "1"), "insufficient_funds_ask"),
        (limit("ask", 3000, "10", market="KRW-XRP"), "insufficient_funds_ask"),
        (limit("bid", 1_000_000, "0.004"), "under_min_total_bid"),
        (limit("ask", 1_000_000, "0.004"), "under_min_total_ask"),
        (
            {"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "4999"},
            "under_min_total_bid",
        ),
        (
            {"market": "KRW-BTC", "side": "ask", "ord_type": "market", "volume": "0.00001"},
            "under_min_total_ask",
        ),
        (limit("bid", 100_000_000, "0.000000001"), "invalid_volume_bid"),
        (limit("bid", 100_000_000, "-1"), "invalid_volume_bid"),
        (limit("bid", "abc", "0.001"), "invalid_price_bid"),
        (limit("bid", 0, "0.001"), "invalid_price_bid"),
        ({"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "-5"}, "invalid_funds"),
        (
            {"market": "KRW-BTC", "side": "bid", "ord_type": "limit", "volume": "1"},
            "validation_error",
        ),
        (
            {"market": "KRW-NOPE", "side": "bid", "ord_type": "price", "price": "9000"},
            "validation_error",
        ),
        (
            {"market": "KRW-BTC", "side": "buy", "ord_type": "price", "price": "9000"},
            "validation_error",
        ),
        (
            {
                "market": "KRW-BTC",
                "side": "bid",
                "ord_type": "price",
                "price": "9000",
                "volume": "1",
            },
            "validation_error",
        ),
        (
            {"market": "KRW-BTC", "side": "ask", "ord_type": "price", "price": "9000"},
            "validation_error",
        ),
        (
            {"market": "KRW-BTC", "side": "ask", "ord_type": "best", "volume": "0.001"},
            "validation_error",
        ),
        (limit("bid", 100_000_000, "0.0001", time_in_force="gtc"), "validation_error"),
    ],
)
def test_bad_orders_are_refused_with_upbit_names_and_change_nothing(ex, events, params, name):
    before = ex.balances()
    with pytest.raises(ExchangeError) as info:
        ex.place_order(params)
    assert (info.value.status, info.value.name) == (400, name)
    assert info.value.body() == {"error": {"name": name, "message": info.value.message}}
    assert events == []
    assert ex.balances() == before
    assert ex.orders() == []


def test_identifier_must_be_unique_per_account(ex):
    first = ex.place_order(limit("bid", 90_000_000, "0.0001", identifier="same"))
    with pytest.raises(ExchangeError) as info:
        ex.place_order(limit("bid", 90_000_000, "0.0001", identifier="same"))
    assert info.value.name == "validation_error"
    assert ex.get_order(identifier="same").uuid == first.uuid


def test_time_in_force_ioc_fok_and_post_only(ex, events):
    ioc = ex.place_order(limit("bid", 100_000_000, "0.0005", time_in_force="ioc"))
    assert states(events, ioc.uuid) == ["wait", "trade", "cancel"]
    fok = ex.place_order(limit("bid", 100_001_000, "0.001", time_in_force="fok"))
    assert states(events, fok.uuid) == ["wait", "cancel"]
    post = ex.place_order(limit("bid", 100_005_000, "0.0001", time_in_force="post_only"))
    assert states(events, post.uuid) == ["wait", "cancel"]
    resting = ex.place_order(limit("bid", 99_000_000, "0.0001", time_in_force="post_only"))
    assert states(events, resting.uuid) == ["wait"]
    best = ex.place_order(
        {
            "market": "KRW-ETH",
            "side": "ask",
            "ord_type": "best",
            "volume": "0.015",
            "time_in_force": "ioc",
        }
    )
    assert states(events, best.uuid) == ["wait", "trade", "trade", "done"]
    assert ex.balances()["KRW"].locked == D(99_000_000) * D("0.0001") * (1 + FEE_RATE)


def test_my_asset_lists_only_the_currencies_that_changed(ex, events):
    ex.place_order(limit("bid", 90_000_000, "0.0001"))
    ex.place_order(limit("ask", 4_100_000, "0.01", market="KRW-ETH"))
    ex.place_order(limit("bid", 100_000_000, "0.0001"))
    assets = [[a["currency"] for a in e["assets"]] for e in events if e["type"] == "myAsset"]
    assert assets == [["KRW"], ["ETH"], ["KRW"], ["KRW", "BTC"]]


def test_events_use_upbit_wire_order_and_are_realtime(ex, events):
    order = ex.place_order(limit("bid", 100_000_000, "0.0001", identifier="wire"))
    assert events
    for e in events:
        fields = MY_ORDER_FIELDS if e["type"] == "myOrder" else MY_ASSET_FIELDS
        assert list(e) == [f[0] for f in fields]
        assert e["stream_type"] == "REALTIME"
    wait, trade = events[0], events[2]
    assert (wait["state"], wait["trade_uuid"], wait["trade_fee"], wait["is_maker"]) == (
        "wait",
        None,
        None,
        None,
    )
    assert wait["order_timestamp"] == T0 and wait["identifier"] == "wire"
    assert (trade["ask_bid"], trade["order_type"], trade["code"]) == ("BID", "limit", "KRW-BTC")
    assert trade["trade_timestamp"] == T0 and trade["uuid"] == order.uuid
    assert isinstance(trade["trade_fee"], D)


def test_a_failing_listener_does_not_break_the_exchange_and_removal_works(ex):
    got: list[dict] = []

    def broken(event: dict) -> None:
        raise RuntimeError("listener bug")

    ex.add_listener(broken)
    remove = ex.add_listener(got.append)
    ex.place_order(limit("bid", 90_000_000, "0.0001"))
    assert len(got) == 2
    remove()
    ex.place_order(limit("bid", 90_000_000, "0.0001"))
    assert len(got) == 2
    assert len(ex.order_history()) == 2


def replay_matches_state(ex: Exchange) -> None:
    """Rebuild balances and orders from the emitted events alone and compare with the state."""
    last_asset: dict[str, tuple[D, D]] = {}
    for e in ex.asset_history():
        for a in e["assets"]:
            last_asset[a["currency"]] = (a["balance"], a["locked"])
    balances = ex.balances()
    for currency, (bal, locked) in last_asset.items():
        assert (balances[currency].balance, balances[currency].locked) == (bal, locked)
    for currency, b in balances.items():
        if currency not in last_asset:
            assert (b.balance, b.locked) == (DEFAULT_BALANCES.get(currency, 0), 0)
    by_order: dict[str, list[dict]] = defaultdict(list)
    for e in ex.order_history():
        by_order[e["uuid"]].append(e)
    assert set(by_order) == {o.uuid for o in ex.orders()}
    for order in ex.orders():
        evs = by_order[order.uuid]
        trades = [e for e in evs if e["state"] == "trade"]
        assert evs[0]["state"] == "wait"
        if order.state == "wait":  # still open: accepted, maybe partly filled
            assert evs[-1]["state"] in ("wait", "trade")
        else:
            assert evs[-1]["state"] == order.state
        assert evs[-1]["locked"] == order.locked
        assert sum(t["volume"] for t in trades) == order.executed_volume
        assert sum(t["price"] * t["volume"] for t in trades) == order.executed_funds
        assert sum(t["trade_fee"] for t in trades) == order.paid_fee
        assert len(trades) == len(order.trades)
    total_locked: dict[str, D] = defaultdict(D)
    for order in ex.orders(states=("wait",)):
        total_locked[order.quote if order.side == "bid" else order.base] += order.locked
    for currency, b in balances.items():
        assert b.locked == total_locked.get(currency, 0)
        assert b.balance >= 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_sequences_keep_balances_orders_and_events_consistent(book, clock, seed):
    rng = random.Random(seed)
    ex = Exchange(book, clock=clock, seed=seed)
    placed: list[str] = []
    for _ in range(150):
        action = rng.random()
        mid = D(100_000_000) + D(rng.randint(-20, 20) * 1000)
        if action < 0.15:
            book.set(
                "KRW-BTC",
                ask=mid,
                bid=mid - 1000,
                step=D(1000),
                ask_size=D(rng.randint(1, 40)) / 10000,
                bid_size=D(rng.randint(1, 40)) / 10000,
            )
        try:
            if action < 0.45:
                side = rng.choice(["bid", "ask"])
                price = mid + D(rng.randint(-10, 10) * 1000)
                vol = D(rng.randint(6, 30)) / 100000
                placed.append(ex.place_order(limit(side, price, vol)).uuid)
            elif action < 0.55:
                placed.append(
                    ex.place_order(
                        {
                            "market": "KRW-BTC",
                            "side": "bid",
                            "ord_type": "price",
                            "price": str(rng.randint(5000, 40000)),
                        }
                    ).uuid
                )
            elif action < 0.62:
                placed.append(
                    ex.place_order(
                        {
                            "market": "KRW-BTC",
                            "side": "ask",
                            "ord_type": "market",
                            "volume": str(D(rng.randint(6, 30)) / 100000),
                        }
                    ).uuid
                )
            elif action < 0.72 and placed:
                ex.cancel_order(uuid=rng.choice(placed))
        except ExchangeError as exc:
            assert exc.status in (400, 404)
        tick(ex, clock, rng.randint(5, 200))
    assert len(ex.order_history()) > 150
    assert any(o.state == "done" for o in ex.orders())
    assert any(o.state == "cancel" for o in ex.orders())
    replay_matches_state(ex)
