"""Paper trading against live (emulated) books: the order API of a live hub, filled by the
emulator's own engine in-process; nothing reaches the exchange, no API keys are needed, and
a component's myOrder/myAsset subscriptions hear the paper account."""

from __future__ import annotations

import threading
from decimal import Decimal

from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost

_ORDER_PATHS = ("/v1/orders", "/v1/order", "/v1/orders/cancel_and_new", "/v1/orders/chance",
                "/v1/accounts")


class PaperTrader(Component):
    def __init__(self, config=None):
        super().__init__(config)
        self.updates: list = []
        self.my_orders: list = []
        self.my_assets: list = []
        self.cond = threading.Condition()

    def on_start(self, ctx):
        self.ctx = ctx
        ctx.subscribe_my_order()
        ctx.subscribe_my_asset()

    def _add(self, into, item):
        with self.cond:
            into.append(item)
            self.cond.notify_all()

    def on_order_update(self, update):
        self._add(self.updates, update)

    def on_my_order(self, ev):
        self._add(self.my_orders, ev)

    def on_my_asset(self, ev):
        self._add(self.my_assets, ev)

    def wait_for(self, pred, timeout=15.0):
        with self.cond:
            return self.cond.wait_for(pred, timeout)


_FINAL = ("done", "cancel", "denied", "rejected")


def _book(emu, market="KRW-BTC"):
    rows = emu.call(lambda core: core.market.book(market))
    return min(r[0] for r in rows if r[0] > 0), max(r[1] for r in rows if r[1] > 0)


def test_paper_orders_fill_on_live_books_and_never_reach_the_exchange(make_emulator, make_hub):
    emu = make_emulator(rate=200)
    hub = make_hub(emu, environ={}, trading_paper=True,
                   trading_paper_balances={"KRW": "5000000"})  # no keys, private disabled
    ask, bid = _book(emu)
    host = ComponentHost(hub)
    assert host.start_component("paper", PaperTrader).state == "running"
    t = host.component("paper")
    assert t.wait_for(lambda: t.ctx.balance("KRW") == Decimal(5_000_000))
    rest = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
    cross = t.ctx.buy_limit("KRW-BTC", ask + 100_000, "0.0002")
    assert t.wait_for(lambda: cross.state in _FINAL and rest.state == "wait")
    assert cross.state == "done"
    fills = [u.fill for u in t.updates if u.client_id == cross.client_id and u.fill]
    assert sum(f.volume for f in fills) == Decimal("0.0002")
    assert all(f.price <= ask + 100_000 for f in fills)  # taker: at the book's prices
    fee = sum(f.fee for f in fills)
    assert fee > 0
    # the component's own private subscriptions hear the paper account
    assert t.wait_for(lambda: any(ev.identifier == cross.client_id and ev.state == "done"
                                  for ev in t.my_orders))
    assert t.wait_for(lambda: any(any(a.currency == "BTC" for a in ev.assets)
                                  for ev in t.my_assets))
    assert t.wait_for(lambda: t.ctx.balance("BTC") == Decimal("0.0002"))
    t.ctx.cancel_order(rest)
    assert t.wait_for(lambda: rest.state in _FINAL)
    assert rest.state == "cancel"
    spent = sum(f.price * f.volume for f in fills) + fee
    assert t.wait_for(lambda: t.ctx.balance("KRW") == Decimal(5_000_000) - spent)
    # nothing reached the exchange: no order call in its log, no order in its book
    assert not [r for r in emu.stats().rest_log if r.path in _ORDER_PATHS]
    assert emu.call(lambda core: core.exchange.orders()) == []
    # the status view says so
    from upbit_hub.actors.status_view import Rates, StatusSnapshot, render_table

    status = hub.status()
    assert status["orders"]["paper"] is True
    table = render_table(StatusSnapshot(at=1.0, hub=status, components=(), interval_s=5.0),
                         Rates())
    assert "PAPER TRADING: nothing reaches an exchange" in table
    host.stop()


def test_a_paper_risk_rule_still_denies(make_emulator, make_hub):
    emu = make_emulator(rate=200)
    hub = make_hub(emu, environ={}, trading_paper=True, trading_max_order_krw=10_000)
    ask, _bid = _book(emu)
    host = ComponentHost(hub)
    assert host.start_component("paper", PaperTrader).state == "running"
    t = host.component("paper")
    big = t.ctx.buy_limit("KRW-BTC", ask, "0.01")
    assert t.wait_for(lambda: big.state in _FINAL)
    assert big.state == "denied" and "max_order_krw" in (big.reason or "")
    host.stop()


def test_balances_without_paper_is_refused_with_a_clear_line(capsys):
    import argparse

    from upbit_hub.actors import run_cmd

    args = argparse.Namespace(config=None, sim=True, status_interval=None, log_level=None,
                              paper=False, balances={"KRW": Decimal(1)})
    assert run_cmd.main(args) == 2
    assert "--balances is the paper account's: use it with --paper" in capsys.readouterr().err
