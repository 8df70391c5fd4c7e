"""In a backtest the ``get_*`` snapshots answer from the replayed state (never from the
future), and anything that would reach the network raises a BacktestError saying so."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from upbit_hub.actors.backtest import Backtest, BacktestConfig, ComponentSpec
from upbit_hub.actors.protocol.errors import BacktestError, RequestValidationError
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component

DATA = Path(__file__).parent / "data" / "backtest"


class Asker(Component):
    """Asks for snapshots on every book and keeps what it got (or the error)."""

    def on_start(self, ctx):
        self.ctx = ctx
        self.seen = []
        self.errors = []
        try:
            ctx.get_ticker_snapshot(["KRW-BTC"])  # nothing replayed yet
        except BacktestError as exc:
            self.errors.append(("start", str(exc)))
        ctx.subscribe_orderbook(["KRW-BTC"], depth=1)

    def on_orderbook(self, ev):
        c = self.ctx
        tickers = c.get_ticker_snapshot("KRW-BTC") if len(self.seen) else None
        (book,) = c.get_orderbook_snapshot(["KRW-BTC"], depth=1)
        trades = c.get_recent_trades("KRW-BTC", count=5)
        accounts = {a.currency: a.balance for a in c.get_accounts()}
        self.seen.append((c.now(), ev, tickers, book, trades, accounts, c.get_open_orders()))


def run(component=Asker):
    cfg = BacktestConfig(settings=Settings(), recordings=(DATA / "resting_bid.jsonl",),
                         balances={"KRW": Decimal(1_000_000), "BTC": Decimal("0.5")})
    holder = {}

    class Spy(component):
        def on_start(self, ctx):
            holder["c"] = self
            super().on_start(ctx)

    result = Backtest(cfg, [ComponentSpec("asker", Spy, None, "asker")]).run()
    return holder["c"], result


def test_snapshots_answer_from_the_replayed_state_at_the_simulated_time():
    asker, _ = run()
    assert "no ticker of KRW-BTC has been replayed yet" in asker.errors[0][1]
    now, ev, tickers, book, trades, accounts, open_orders = asker.seen[1]  # the book at t0+1
    assert now == 1_800_000_001.0
    assert tickers[0].trade_price == Decimal("100050000")  # the ticker of t0+0.2, not t0+3.5
    assert tickers[0].stream_type == "SNAPSHOT"
    assert len(ev.orderbook_units) == 1 and len(book.orderbook_units) == 1
    assert book.orderbook_units[0].ask_price == Decimal("99800000")
    assert trades == []  # the only trade comes at t0+3
    assert accounts == {"KRW": Decimal(1_000_000), "BTC": Decimal("0.5")}
    assert open_orders == []
    *_, trades, _, _ = asker.seen[-1]  # t0+4
    assert [t.trade_price for t in trades] == [Decimal("100600000")]
    assert trades[0].stream_type == "BACKFILL"


def test_calls_that_would_reach_the_network_raise_backtest_error():
    class Networker(Component):
        def on_start(self, ctx):
            self.problems = []
            for name, call in [
                ("candles", lambda: ctx.get_candles("KRW-BTC", unit=1)),
                ("rest", lambda: ctx.proxy.hub.rest),
                ("connection", lambda: ctx.proxy.hub.connection_status("public")),
            ]:
                try:
                    call()
                except BacktestError as exc:
                    self.problems.append((name, str(exc)))
            with pytest.raises(RequestValidationError):
                ctx.subscribe_ticker(["krw-btc"])  # bad input is refused as live

    networker, result = run(Networker)
    names = [n for n, _ in networker.problems]
    assert names == ["candles", "rest", "connection"]
    assert "would reach the network" in networker.problems[0][1]
    assert "hub.rest would reach the network" in networker.problems[1][1]
    assert result.components[0]["state"] == "stopped"


def test_an_order_on_a_market_the_recording_lacks_is_denied_naming_the_rule():
    class Elsewhere(Component):
        def on_start(self, ctx):
            self.ctx, self.updates = ctx, []
            ctx.subscribe_orderbook(["KRW-BTC"])

        def on_orderbook(self, ev):
            if not self.updates:
                self.ctx.buy_market("KRW-XRP", "10000")

        def on_order_update(self, update):
            self.updates.append(update)

    comp, result = run(Elsewhere)
    final = comp.updates[-1]
    assert final.state == "denied"
    assert final.reason.startswith("market: KRW-XRP is not tradable: the recording holds no "
                                   "data of KRW-XRP")
    assert result.ledger.count("denied") == 1
