"""Every pre-trade risk rule denies under its own name and lets an order just inside its limit
pass; the rules run in a fixed order, never raise, and the realized-PnL tracker is exact."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upbit_hub.actors.emulator.exchange_json import chance_json
from upbit_hub.actors.trading.risk import (
    RULES,
    Denial,
    MarketRules,
    PnlTracker,
    RiskLimits,
    RiskView,
    check_order,
)
from upbit_hub.actors.trading.types import OrderRequest
from upbit_hub.config.settings import TradingSettings

NOW = 1_773_240_000.0
BTC_MID = D("100000000")
NO_LIMITS = RiskLimits()


def order(market="KRW-BTC", side="bid", ord_type="limit", price=BTC_MID, volume=D("0.001"),
          **kw) -> OrderRequest:
    return OrderRequest(client_id="uh-test", component_id="strategy", market=market, side=side,
                        ord_type=ord_type, price=price, volume=volume, **kw)


def market_buy(funds: D, market="KRW-BTC") -> OrderRequest:
    return order(market=market, ord_type="price", price=funds, volume=None)


def market_sell(volume: D, market="KRW-BTC") -> OrderRequest:
    return order(market=market, side="ask", ord_type="market", price=None, volume=volume)


def view(**kw) -> RiskView:
    base = dict(now=NOW,
                available={"KRW": D("1000000000000"), "BTC": D("100"), "XRP": D("1000000")},
                mid={"KRW-BTC": BTC_MID, "KRW-XRP": D("1000"), "BTC-ETH": D("0.03")})
    base.update(kw)
    return RiskView(**base)


def check(req: OrderRequest, limits: RiskLimits = NO_LIMITS, rules: MarketRules | None = None,
          **view_kw) -> Denial | None:
    return check_order(req, limits, rules or MarketRules.for_market(req.market), view(**view_kw))


def denied_by(denial: Denial | None, rule: str) -> str:
    assert denial is not None, f"expected a {rule} denial, the order passed"
    assert denial.rule == rule, denial.reason
    assert denial.reason.startswith(f"{rule}: ")
    return denial.message


# -- the baseline -------------------------------------------------------------------------------


def test_a_plain_order_passes_every_rule_with_the_default_settings():
    limits = RiskLimits.from_settings(TradingSettings())
    assert check(order(), limits) is None
    assert check(market_buy(D(10_000)), limits) is None
    assert check(market_sell(D("0.01")), limits) is None


def test_the_rules_run_in_the_documented_order_and_bear_their_names():
    assert [name for name, _ in RULES] == [
        "halted", "market", "ord_type", "tick_size", "volume_precision", "min_total",
        "max_total", "funds", "max_order_krw", "max_open_orders_per_market",
        "max_open_orders", "orders_per_minute", "price_band_pct", "daily_loss_limit_krw",
    ]  # fmt: skip


def test_a_halted_kill_switch_wins_over_every_other_rule():
    everything_wrong = order(market="KRW-NOPE", price=D("-1"), volume=D("0.000000001"))
    limits = RiskLimits(max_order_krw=D(1), max_open_orders=1, daily_loss_limit_krw=D(1))
    denial = check(everything_wrong, limits, halted="operator: maintenance", open_total=9,
                   daily_pnl_krw=D(-10))  # fmt: skip
    assert "operator: maintenance" in denied_by(denial, "halted")
    assert "reset the kill switch" in denial.message


def test_a_denial_reads_rule_colon_message():
    denial = Denial("max_open_orders", "the account already has 5 open orders")
    assert str(denial) == denial.reason == "max_open_orders: the account already has 5 open orders"


# -- one test per rule ----------------------------------------------------------------------------


def test_halted_denies_while_the_switch_is_on():
    denied_by(check(order(), halted="daily loss"), "halted")
    assert check(order(), halted=None) is None


def test_market_denies_untradable_and_malformed_markets():
    assert "delisted" in denied_by(
        check(order(), market_problem=lambda m: "delisted on 2026-12-01" if m == "KRW-BTC"
              else None), "market")  # fmt: skip
    denied_by(check(order(market="BTC"), rules=MarketRules()), "market")
    denied_by(check(order(market="EUR-BTC"), rules=MarketRules()), "market")
    denied_by(check(order(market="krw-btc"), rules=MarketRules()), "market")
    assert "inactive" in denied_by(check(order(), rules=MarketRules(state="inactive")), "market")
    assert check(order(), market_problem=lambda m: None) is None


@pytest.mark.parametrize(
    ("req", "hint"),
    [
        (order(volume=None), "needs both price and volume"),
        (order(price=None), "needs both price and volume"),
        (order(ord_type="price", side="ask", volume=None), "'price' does not go with side 'ask'"),
        (order(ord_type="market", side="bid", price=None), "'market' does not go with side"),
        (order(ord_type="price", volume=D(1)), "a market buy takes price only (the funds"),
        (order(side="ask", ord_type="market", volume=D(1)), "sell takes volume only; leave price"),
        (order(ord_type="best", volume=None), "'best' needs time_in_force 'ioc' or 'fok'"),
        (order(ord_type="best", volume=None, time_in_force="post_only"), "'ioc' or 'fok'"),
        (order(ord_type="price", volume=None, time_in_force="ioc"), "takes no time_in_force"),
        (order(time_in_force="post_only", smp_type="cancel_maker"), "smp_type 'none'"),
        (order(time_in_force="post_only", smp_type="reduce"), "smp_type 'none'"),
        (order(ord_type="price", price=D(0), volume=None), "must be positive"),
        (order(price=D("NaN")), "finite Decimal"),
        (order(volume=D("Infinity")), "finite Decimal"),
        (order(side="buy"), "side must be 'bid' or 'ask'"),
        (order(ord_type="stop_limit"), "ord_type must be one of"),
        (order(time_in_force="gtc"), "time_in_force must be one of"),
        (order(smp_type="cancel_both"), "smp_type must be one of"),
    ],
)
def test_ord_type_denies_what_upbit_would_refuse(req, hint):
    assert hint in denied_by(check(req), "ord_type")


@pytest.mark.parametrize(
    "req",
    [
        order(time_in_force="post_only"),  # no smp_type: runs as none (not cancel_maker)
        order(time_in_force="post_only", smp_type="none"),
        order(time_in_force="ioc", smp_type="cancel_taker"),
        order(ord_type="best", volume=None, price=D(10_000), time_in_force="fok"),
        order(side="ask", ord_type="best", price=None, volume=D("0.01"), time_in_force="ioc"),
    ],
)
def test_ord_type_lets_every_valid_combination_pass(req):
    assert check(req) is None


def test_tick_size_denies_a_limit_price_off_the_tick_and_says_which_prices_are_on_it():
    message = denied_by(check(order(price=D("100000500"))), "tick_size")
    assert "1,000 KRW tick" in message and "100,000,000 or 100,001,000" in message
    assert check(order(price=D("100001000"))) is None
    assert check(order(market="KRW-XRP", price=D("999.9"), volume=D(10))) is not None
    assert check(order(market="KRW-XRP", price=D("999"), volume=D(10))) is None


def test_volume_precision_denies_more_than_8_decimals_and_non_positive_volumes():
    assert "0.12345678" in denied_by(check(order(volume=D("0.123456789"))), "volume_precision")
    denied_by(check(order(volume=D(0))), "volume_precision")
    denied_by(check(market_sell(D("-1"))), "volume_precision")
    assert check(order(volume=D("0.12345678"))) is None


def test_min_total_denies_below_upbits_minimum_of_the_quote_currency():
    xrp = dict(market="KRW-XRP", price=D(1000))
    assert "minimum of 5,000 KRW" in denied_by(check(order(volume=D("4.999"), **xrp)), "min_total")
    assert check(order(volume=D(5), **xrp)) is None
    denied_by(check(market_buy(D(4999))), "min_total")
    assert check(market_buy(D(5000))) is None
    denied_by(check(market_sell(D("0.00004999"))), "min_total")  # valued at the mid
    assert check(market_sell(D("0.00005"))) is None


def test_max_total_denies_above_upbits_maximum():
    rules = MarketRules.for_market("KRW-BTC")
    assert rules.max_total == D(1_000_000_000)
    denied_by(check(order(volume=D("10.00000001")), rules=rules), "max_total")
    assert check(order(volume=D(10)), rules=rules) is None


def test_funds_denies_a_bid_whose_total_fee_and_in_flight_reserve_exceed_the_balance():
    bid = order(volume=D("0.0001"))  # 10,000 KRW + 5 KRW fee
    message = denied_by(check(bid, available={"KRW": D(10_005)}, reserved={"KRW": D(1)}),
                        "funds")  # fmt: skip
    assert "10,005 KRW" in message and "in-flight orders hold 1 KRW" in message
    assert check(bid, available={"KRW": D(10_005)}) is None
    assert check(bid, available={"KRW": D(10_006)}, reserved={"KRW": D(1)}) is None
    denied_by(check(market_buy(D(10_000)), available={}), "funds")


def test_funds_takes_the_higher_of_the_taker_and_maker_fee_of_a_bid():
    bid = order(volume=D("0.0001"))
    rules = MarketRules(min_total=D(5000), bid_fee=D("0.0005"), maker_bid_fee=D("0.001"))
    denied_by(check(bid, rules=rules, available={"KRW": D(10_009)}), "funds")
    assert check(bid, rules=rules, available={"KRW": D(10_010)}) is None


def test_funds_denies_an_ask_for_more_than_the_free_coins():
    available = {"BTC": D("0.5"), "KRW": D(0)}
    denied_by(check(market_sell(D("0.40000001")), available=available, reserved={"BTC": D("0.1")}),
              "funds")  # fmt: skip
    assert check(market_sell(D("0.4")), available=available, reserved={"BTC": D("0.1")}) is None


def test_max_order_krw_denies_an_order_worth_more_than_the_limit():
    limits = RiskLimits(max_order_krw=D(1_000_000))
    denial = check(order(volume=D("0.02")), limits)
    assert denial is not None
    assert denial.reason.startswith(
        "max_order_krw: 2,000,000 KRW is above the 1,000,000 KRW limit")
    assert "raise max_order_krw" in denial.message
    assert check(order(volume=D("0.01")), limits) is None
    denied_by(check(market_buy(D("1000001")), limits), "max_order_krw")
    assert check(market_buy(D(1_000_000)), limits) is None


def test_max_order_krw_values_a_market_sell_at_the_mid_and_denies_without_one():
    limits = RiskLimits(max_order_krw=D(1_000_000))
    denied_by(check(market_sell(D("0.01000001")), limits), "max_order_krw")
    assert check(market_sell(D("0.01")), limits) is None
    message = denied_by(check(market_sell(D("0.01")), limits, mid={}), "max_order_krw")
    assert "no order book is known yet for that market" in message


def test_max_order_krw_converts_other_quote_currencies_with_the_krw_mid_or_skips():
    limits = RiskLimits(max_order_krw=D(1_000_000))
    eth = order(market="BTC-ETH", price=D("0.03"), volume=D("1"), smp_type="none")  # 0.03 BTC
    available = {"BTC": D(10)}
    message = denied_by(check(eth, limits, available=available), "max_order_krw")
    assert "0.03 BTC (about 3,000,000 KRW at the KRW-BTC mid)" in message
    assert check(order(market="BTC-ETH", price=D("0.03"), volume=D("0.33")), limits,
                 available=available) is None  # fmt: skip
    no_krw_mid = {"BTC-ETH": D("0.03")}
    assert check(eth, limits, available=available, mid=no_krw_mid) is None  # rule skipped


def test_max_open_orders_per_market_denies_once_the_market_has_that_many():
    limits = RiskLimits(max_open_orders_per_market=3)
    assert "already has 3 open orders" in denied_by(
        check(order(), limits, open_by_market={"KRW-BTC": 3}), "max_open_orders_per_market")
    assert check(order(), limits, open_by_market={"KRW-BTC": 2, "KRW-XRP": 9}) is None


def test_max_open_orders_denies_once_the_account_has_that_many():
    limits = RiskLimits(max_open_orders=5)
    denied_by(check(order(), limits, open_total=5), "max_open_orders")
    assert check(order(), limits, open_total=4) is None


def test_orders_per_minute_counts_only_the_last_60_seconds():
    limits = RiskLimits(orders_per_minute=3)
    message = denied_by(check(order(), limits, recent_orders=[NOW - 59.5, NOW - 30, NOW - 1]),
                        "orders_per_minute")  # fmt: skip
    assert "wait 0.5 s" in message
    assert check(order(), limits, recent_orders=[NOW - 60, NOW - 30, NOW - 1]) is None


def test_price_band_pct_denies_a_limit_price_too_far_from_the_mid():
    limits = RiskLimits(price_band_pct=D(10))
    assert "above the mid" in denied_by(check(order(price=D("110001000")), limits),
                                        "price_band_pct")  # fmt: skip
    assert check(order(price=D("110000000")), limits) is None
    assert "below the mid" in denied_by(check(order(price=D("89999000")), limits),
                                        "price_band_pct")  # fmt: skip
    assert check(order(price=D("90000000")), limits) is None
    assert check(market_buy(D(10_000)), limits, mid={}) is None  # limit orders only


def test_price_band_pct_denies_while_no_order_book_is_known_for_the_market():
    message = denied_by(check(order(), RiskLimits(price_band_pct=D(10)), mid={}),
                        "price_band_pct")  # fmt: skip
    assert "no order book is known yet for KRW-BTC" in message


def test_daily_loss_limit_krw_denies_once_the_loss_reaches_the_limit():
    limits = RiskLimits(daily_loss_limit_krw=D(500_000))
    message = denied_by(check(order(), limits, daily_pnl_krw=D(-500_000)), "daily_loss_limit_krw")
    assert "500,000 KRW" in message
    assert check(order(), limits, daily_pnl_krw=D("-499999.99")) is None


def test_a_limit_of_none_switches_its_rule_off():
    huge = order(volume=D(9))
    assert check(huge, NO_LIMITS, open_total=10**6, open_by_market={"KRW-BTC": 10**6},
                 recent_orders=[NOW] * 1000, mid={}, daily_pnl_krw=D(-10**12)) is None


# -- limits and market rules from their sources ----------------------------------------------


def test_limits_come_from_the_trading_settings_as_exact_decimals():
    limits = RiskLimits.from_settings(TradingSettings(
        max_order_krw=1_000_000.0, price_band_pct=0.1, daily_loss_limit_krw=123.45,
        max_open_orders=7, max_open_orders_per_market=3, orders_per_minute=30))
    assert limits.max_order_krw == D(1_000_000)
    assert limits.price_band_pct == D("0.1")
    assert limits.daily_loss_limit_krw == D("123.45")
    assert (limits.max_open_orders, limits.max_open_orders_per_market,
            limits.orders_per_minute) == (7, 3, 30)  # fmt: skip
    defaults = RiskLimits.from_settings(TradingSettings())
    assert defaults.max_order_krw is None and defaults.price_band_pct == D(10)


def test_market_rules_come_from_the_orders_chance_answer():
    body = chance_json("KRW-BTC", {}, maker_fee=D("0.0002"), taker_fee=D("0.0005"),
                       max_total=D(1_000_000_000))  # fmt: skip
    rules = MarketRules.from_chance("KRW-BTC", body)
    assert rules == MarketRules(min_total=D(5000), max_total=D(1_000_000_000), bid_fee=D("0.0005"),
                                ask_fee=D("0.0005"), maker_bid_fee=D("0.0002"),
                                maker_ask_fee=D("0.0002"), state="active")  # fmt: skip
    partial = MarketRules.from_chance("BTC-ETH", {"bid_fee": "0.0025", "market": {}})
    assert partial.bid_fee == partial.maker_bid_fee == D("0.0025")
    assert partial.min_total == D("0.00005") and partial.max_total is None
    with pytest.raises((KeyError, TypeError, ValueError)):
        MarketRules.from_chance("KRW-BTC", {"bid_fee": "lots"})


# -- never raises ----------------------------------------------------------------------------------

_numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=D("-1E+12"), max_value=D("1E+12"), places=8),
    st.sampled_from([D("1E+999999"), D("-0"), D("1E-999999"), D("100000500"), D(5000)]),
)
_amounts = st.none() | _numbers
#: Mostly plausible values, so that examples get past the first rules and reach every one.
_prices = st.one_of(st.sampled_from([BTC_MID, D("100001000"), D("110000000"), D(1000), D("0.03"),
                                     D("105000.01"), D(5000), D(1_000_000)]), _numbers)
_volumes = st.one_of(st.decimals(min_value=D("0.00000001"), max_value=D(20), places=8), _numbers)
_valid_markets = st.sampled_from(["KRW-BTC", "KRW-XRP", "BTC-ETH", "USDT-BTC"])
_odd_markets = st.sampled_from(["krw-btc", "KRW", "", "-", "EUR-BTC", "KRW-"]) | st.text(
    max_size=10)
_markets = st.integers(0, 7).flatmap(lambda n: _valid_markets if n else _odd_markets)
_problems = st.sampled_from([lambda m: None] * 18 + [lambda m: "delisted", lambda m: 1 / 0])
_shapes = [("limit", "bid", True, True), ("limit", "ask", True, True),
           ("price", "bid", True, False), ("market", "ask", False, True),
           ("best", "bid", True, False), ("best", "ask", False, True)]  # fmt: skip


@st.composite
def _requests(draw: st.DrawFn) -> OrderRequest:
    if draw(st.integers(0, 3)):  # a well-formed order, amounts plausible or not
        kind, side, has_p, has_v = draw(st.sampled_from(_shapes))
        price = draw(_prices) if has_p else None
        volume = draw(_volumes) if has_v else None
        tif = draw(st.sampled_from(["ioc", "fok"])) if kind == "best" else (
            draw(st.sampled_from([None, None, "ioc", "post_only"])) if kind == "limit" else None)
        smp = draw(st.sampled_from([None, "none"])) if tif == "post_only" else draw(
            st.sampled_from([None, "cancel_maker", "reduce"]))
    else:  # anything at all
        kind = draw(st.sampled_from(["limit", "price", "market", "best", "stop"]))
        side = draw(st.sampled_from(["bid", "ask", "buy"]))
        price, volume = draw(_amounts), draw(_amounts)
        tif = draw(st.sampled_from([None, "ioc", "fok", "post_only", "gtc"]))
        smp = draw(st.sampled_from([None, "cancel_maker", "cancel_taker", "reduce", "none", "x"]))
    return OrderRequest(client_id="uh-prop", component_id="prop", market=draw(_markets),
                        side=side, ord_type=kind, price=price, volume=volume,
                        time_in_force=tif, smp_type=smp)  # fmt: skip


@st.composite
def _views(draw: st.DrawFn) -> RiskView:
    rich = st.sampled_from([D(10) ** 15, D(10) ** 6, D(0)]) | _numbers
    money = st.dictionaries(st.sampled_from(["KRW", "BTC", "XRP", "ETH", "USDT"]), rich,
                            max_size=5)  # fmt: skip
    mids = st.dictionaries(_valid_markets | _markets, _prices, max_size=4)
    return RiskView(
        now=draw(st.floats(allow_nan=False, allow_infinity=False)),
        halted=draw(st.sampled_from([None] * 19 + ["stop", ""])),
        available=draw(money), reserved=draw(money),
        open_by_market=draw(st.dictionaries(_markets, st.integers(-5, 10**6), max_size=3)),
        open_total=draw(st.integers(-5, 10**6)),
        recent_orders=draw(st.lists(st.floats(), max_size=20)),
        mid=draw(mids), daily_pnl_krw=draw(_numbers), market_problem=draw(_problems),
    )  # fmt: skip


@st.composite
def _limits(draw: st.DrawFn) -> RiskLimits:
    counts = st.none() | st.integers(-1, 1000)
    return RiskLimits(max_order_krw=draw(_amounts), max_open_orders=draw(counts),
                      max_open_orders_per_market=draw(counts), orders_per_minute=draw(counts),
                      price_band_pct=draw(_amounts), daily_loss_limit_krw=draw(_amounts))


@st.composite
def _rules(draw: st.DrawFn) -> MarketRules:
    if draw(st.booleans()):
        return MarketRules.for_market(draw(_valid_markets))
    fee = _numbers
    return MarketRules(min_total=draw(fee), max_total=draw(_amounts), bid_fee=draw(fee),
                       ask_fee=draw(fee), maker_bid_fee=draw(fee), maker_ask_fee=draw(fee),
                       state=draw(st.sampled_from(["active"] * 8 + ["inactive", ""])))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=_requests(), limits=_limits(), rules=_rules(), v=_views())
def test_check_order_never_raises_and_a_denial_always_starts_with_its_rule(req, limits, rules, v):
    denial = check_order(req, limits, rules, v)
    if denial is not None:
        assert denial.rule in dict(RULES)
        assert str(denial).startswith(f"{denial.rule}: ")
        assert denial.reason == str(denial)


# -- realized PnL --------------------------------------------------------------------------------


def test_pnl_realizes_gains_at_average_cost_net_of_every_fee_exactly():
    pnl = PnlTracker()
    pnl.on_fill("KRW-BTC", "bid", D(100), D(1), D("0.05"), NOW)
    pnl.on_fill("KRW-BTC", "bid", D(101), D(2), D("0.101"), NOW)
    assert pnl.position("KRW-BTC")[0] == D(3)
    first = pnl.on_fill("KRW-BTC", "ask", D(102), D(1), D("0.051"), NOW)
    assert D("1.28") < first < D("1.29")  # 102 - 100.666... - 0.051
    pnl.on_fill("KRW-BTC", "ask", D(102), D(2), D("0.102"), NOW)
    # bought for 302, sold for 306, fees 0.304: exactly 3.696 however the cost was split
    assert pnl.realized("KRW", NOW) == pnl.total("KRW") == D("3.696")
    assert pnl.position("KRW-BTC") == (D(0), D(0))


def test_pnl_of_a_loss_is_negative_and_counts_toward_the_day():
    pnl = PnlTracker()
    pnl.on_fill("KRW-XRP", "bid", D(1000), D(10), D(5), NOW)
    assert pnl.on_fill("KRW-XRP", "ask", D(900), D(10), D("4.5"), NOW) == D("-1004.5")
    assert pnl.realized("KRW", NOW) == D("-1009.5")  # -5 (buy fee) - 1004.5


def test_the_daily_figure_resets_at_the_utc_day_boundary_but_positions_stay():
    midnight = 20_000 * 86_400.0  # 00:00 UTC
    pnl = PnlTracker()
    pnl.on_fill("KRW-BTC", "bid", D(100), D(2), D(0), midnight - 10)
    pnl.on_fill("KRW-BTC", "ask", D(90), D(1), D(0), midnight - 1)
    assert pnl.realized("KRW", midnight - 0.5) == D(-10)
    assert pnl.realized("KRW", midnight) == D(0)
    pnl.on_fill("KRW-BTC", "ask", D(110), D(1), D(0), midnight + 5)
    assert pnl.realized("KRW", midnight + 6) == D(10)
    assert pnl.total("KRW") == D(0)
    assert pnl.realized("KRW", midnight - 100) == D(10)  # a clock going back does not reset


def test_pnl_keeps_each_quote_currency_apart_and_uses_seeded_positions():
    pnl = PnlTracker()
    pnl.seed("KRW-BTC", D("0.5"), D(90_000_000))
    pnl.on_fill("KRW-BTC", "ask", D(100_000_000), D("0.5"), D(0))
    pnl.on_fill("BTC-ETH", "bid", D("0.03"), D(1), D("0.0000075"))
    assert pnl.total("KRW") == D(5_000_000)
    assert pnl.total("BTC") == D("-0.0000075")


def test_selling_more_than_the_tracked_position_realizes_no_gain_on_the_excess():
    pnl = PnlTracker()
    pnl.on_fill("KRW-BTC", "bid", D(100), D(1), D(0))
    assert pnl.on_fill("KRW-BTC", "ask", D(110), D(3), D(1)) == D(9)


def test_pnl_refuses_a_bad_fill():
    with pytest.raises(ValueError, match="side"):
        PnlTracker().on_fill("KRW-BTC", "buy", D(1), D(1))
    with pytest.raises(ValueError, match=">= 0"):
        PnlTracker().on_fill("KRW-BTC", "bid", D(1), D(-1))
