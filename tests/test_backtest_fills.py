"""A hand-written recording in which a resting bid, then a resting ask, are crossed: each fills
at its own price with the maker fee, and the report's PnL equals a hand computation to the
last Decimal digit (the maker fee is set apart from the taker fee to tell them apart)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from upbit_hub.actors.backtest import Backtest, BacktestConfig, ComponentSpec, write_report
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component

DATA = Path(__file__).parent / "data" / "backtest"
BID, ASK, VOLUME = Decimal("99900000"), Decimal("100500000"), Decimal("0.001")
MAKER, TAKER = Decimal("0.00025"), Decimal("0.001")


class BuyThenSell(Component):
    """Bids below the market on the first book; once filled, offers above it."""

    def on_start(self, ctx):
        self.ctx = ctx
        self.updates = []
        self.sold = False
        ctx.subscribe_orderbook(["KRW-BTC"])

    def on_orderbook(self, ev):
        if not self.updates and not self.ctx.open_orders():
            self.ctx.buy_limit("KRW-BTC", BID, VOLUME)

    def on_order_update(self, update):
        self.updates.append(update)
        if update.fill is not None and update.side == "bid" and not self.sold:
            self.sold = True
            self.ctx.sell_limit("KRW-BTC", ASK, VOLUME)


def run(tmp_path, **overrides):
    cfg = BacktestConfig(settings=Settings(), recordings=(DATA / "resting_bid.jsonl",),
                         balances={"KRW": Decimal(1_000_000)}, maker_fee_rate=MAKER,
                         taker_fee_rate=TAKER, **overrides)  # fmt: skip
    result = Backtest(cfg, [ComponentSpec("bt", BuyThenSell, None, "buy-then-sell")]).run()
    summary = write_report(tmp_path, result, png=False)
    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    return result, summary, ledger


def test_a_crossed_resting_bid_fills_at_its_own_price_with_the_maker_fee(tmp_path):
    _, summary, ledger = run(tmp_path)
    fills = [row for row in ledger if row["type"] == "fill"]
    assert [(f["side"], f["price"], f["volume"]) for f in fills] == [
        ("bid", "99900000", "0.001"), ("ask", "100500000", "0.001")]
    assert [f["fee"] for f in fills] == ["24.975", "25.125"]
    assert all(f["is_maker"] for f in fills)
    assert summary["fills"] == 2 and summary["filled"] == 2 and summary["orders"] == 2


def test_the_reported_pnl_equals_the_hand_computation_to_the_last_digit(tmp_path):
    _, summary, _ledger = run(tmp_path)
    fee_buy, fee_sell = BID * VOLUME * MAKER, ASK * VOLUME * MAKER
    realized = (ASK - BID) * VOLUME - fee_buy - fee_sell
    assert realized == Decimal("549.900")
    assert summary["realized_pnl"] == "549.9"  # net of both fees
    assert summary["unrealized_pnl"] == "0"
    assert summary["fees"] == "50.1"
    assert summary["equity_start"] == "1000000"
    assert summary["equity_end"] == "1000549.9"
    assert summary["balances_end"]["KRW"] == {"balance": "1000549.9", "locked": "0"}
    with open(tmp_path / "equity.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[-1]["equity_krw"] == summary["equity_end"]
    assert rows[0]["equity_krw"] == summary["equity_start"]
    assert summary["ledger_hash"] and len(summary["ledger_hash"]) == 64


def test_the_order_events_come_in_the_order_the_component_saw_them(tmp_path):
    result, _, ledger = run(tmp_path)
    bid = [(r["state"], r["time"]) for r in ledger if r["type"] == "order" and r["side"] == "bid"]
    states = [s for s, _ in bid]
    assert states == ["submitted", "wait", "trade", "done"]
    t0 = 1_800_000_000.0
    # balances come 50 ms after the start, the order reaches the exchange 50 ms later; the
    # fill comes with the book of t0 + 1 s
    assert bid[1][1] == t0 + 0.1 and bid[2][1] == t0 + 1.0
    # the live account's recorded myOrder event is not replayed
    assert result.skipped == {"myOrder": 1}


def test_a_taker_order_pays_the_taker_fee_at_the_book_price(tmp_path):
    class Taker(Component):
        def on_start(self, ctx):
            self.ctx, self.done = ctx, False
            ctx.subscribe_orderbook(["KRW-BTC"])

        def on_orderbook(self, ev):
            if not self.done:
                self.done = True
                self.ctx.buy_limit("KRW-BTC", "100100000", VOLUME)  # at the best ask: crosses

    cfg = BacktestConfig(settings=Settings(), recordings=(DATA / "resting_bid.jsonl",),
                         balances={"KRW": Decimal(1_000_000)}, maker_fee_rate=MAKER,
                         taker_fee_rate=TAKER)  # fmt: skip
    result = Backtest(cfg, [ComponentSpec("t", Taker, None, "taker")]).run()
    fills = [json.loads(x) for x in result.ledger.lines if b'"fill"' in x]
    assert [(f["price"], f["fee"], f["is_maker"]) for f in fills] == [
        ("100100000", "100.1", False)]
    assert result.realized == Decimal("-100.1")
