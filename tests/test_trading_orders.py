"""The order API end to end against the emulator: a plugin places, fills, cancels and replaces
orders; risk rules deny without a single HTTP call; the kill switch cancels everything; an
answer lost after the order was accepted is resolved by Upbit's own word, never by a resend
that could make a second order."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost

KEYS = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}


class Trader(Component):
    """Runs ``self.plan(ctx)`` in on_start and records every order update."""

    plan = None

    def __init__(self, config=None):
        super().__init__(config)
        self.updates: list = []
        self.cond = threading.Condition()

    def on_start(self, ctx):
        self.ctx = ctx
        if self.plan is not None:
            type(self).plan(self, ctx)

    def on_order_update(self, update):
        with self.cond:
            self.updates.append(update)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=15.0):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self.updates), timeout)

    def states(self, client_id):
        return [u.state for u in self.updates if u.client_id == client_id]


def _final(client_id):
    return lambda ups: any(u.client_id == client_id and u.final for u in ups)


@pytest.fixture
def trading_hub(make_emulator, make_hub, tmp_path):
    def make(emu=None, **trading):
        emu = emu or make_emulator(rate=200)
        hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"),
                       **{f"trading_{k}": v for k, v in trading.items()})
        return emu, hub
    return make


def _start(hub, plan, cid="trader"):
    cls = type(f"Plan_{cid}", (Trader,), {"plan": plan})
    host = ComponentHost(hub)
    report = host.start_component(cid, cls)
    assert report.state == "running", report
    return host, host.component(cid)


def _book(emu, market="KRW-BTC"):
    rows = emu.call(lambda core: core.market.book(market))
    asks = [r[0] for r in rows if r[0] > 0]
    bids = [r[1] for r in rows if r[1] > 0]
    return min(asks), max(bids)


def test_a_resting_limit_buy_is_accepted_and_a_crossing_one_fills_once_per_trade(trading_hub):
    emu, hub = trading_hub()
    ask, bid = _book(emu)
    far = bid - 1_000_000  # rests
    host, t = _start(hub, lambda self, ctx: None)
    rest = t.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))
    cross = t.ctx.buy_limit("KRW-BTC", ask + 100_000, "0.0001")
    assert t.wait_for(lambda ups: any(u.client_id == rest.client_id and u.state == "wait"
                                      for u in ups))
    assert t.wait_for(_final(cross.client_id))
    assert t.states(cross.client_id)[0] == "submitted"
    assert t.states(cross.client_id)[-1] == "done"
    fills = [u.fill for u in t.updates if u.client_id == cross.client_id and u.fill]
    assert fills and len({f.trade_uuid for f in fills}) == len(fills)
    assert sum(f.volume for f in fills) == Decimal("0.0001")
    assert rest.uuid and rest.state == "wait" and rest.is_open
    assert [h.client_id for h in t.ctx.open_orders()] == [rest.client_id]
    held = emu.call(lambda core: core.exchange.get_order(identifier=rest.client_id))
    assert held.state == "wait" and held.uuid == rest.uuid
    t.ctx.cancel_order(rest)
    assert t.wait_for(_final(rest.client_id))
    assert rest.state == "cancel" and not t.ctx.open_orders()
    host.stop()


def _settled(hub, emu, t, eventually):
    """The order desk is up (balances loaded, private stream seeded): REST calls seen from now
    on are the order path's own."""
    eventually(lambda: t.ctx.balance("KRW") > 0, timeout=10)
    eventually(lambda: hub.status()["private_fallback"]["mode"] == "live", timeout=10)
    eventually(lambda: any(r.path == "/v1/accounts" for r in emu.stats().rest_log)
               and any(r.path == "/v1/orders/open" for r in emu.stats().rest_log), timeout=10)
    return len(emu.stats().rest_log)


# what a reconciliation pass of the private stream reads (PrivateFallbackActor._reconcile:
# the order lists, then the balances); one may run at any time, e.g. after a silence of the
# private socket on a loaded machine. The order manager reads balances only at start.
_RECONCILIATION = {("GET", "/v1/orders/open"), ("GET", "/v1/orders/closed"),
                   ("GET", "/v1/accounts")}


def _order_path_calls(emu, since):
    """REST calls after ``since`` that are not the private stream's order-list reads."""
    return [r for r in list(emu.stats().rest_log)[since:]
            if (r.method, r.path) not in _RECONCILIATION]


def test_a_risk_rule_denies_with_its_key_name_and_sends_nothing(trading_hub, eventually):
    emu, hub = trading_hub(max_order_krw=10_000)
    ask, _bid = _book(emu)
    host, t = _start(hub, lambda self, ctx: None)
    before = _settled(hub, emu, t, eventually)
    big = t.ctx.buy_limit("KRW-BTC", ask, "0.01")  # ~1.5M KRW
    assert t.wait_for(_final(big.client_id))
    assert big.state == "denied" and "max_order_krw" in big.reason
    assert t.states(big.client_id) == ["denied"]
    calls = _order_path_calls(emu, before)
    assert calls == []
    host.stop()


def test_the_kill_switch_cancels_every_open_order_and_denies_new_ones(trading_hub):
    emu, hub = trading_hub()
    _ask, bid = _book(emu)
    host, t = _start(hub, lambda self, ctx: None)
    handles = [t.ctx.buy_limit("KRW-BTC", bid - 1_000_000 - i * 1000, "0.0001") for i in range(5)]
    assert t.wait_for(lambda ups: sum(u.state == "wait" for u in ups) == 5)
    t.ctx.halt("test: runaway")
    assert t.wait_for(lambda ups: all(h.state == "cancel" for h in handles), timeout=2.0)
    late = t.ctx.buy_limit("KRW-BTC", bid - 2_000_000, "0.0001")
    assert t.wait_for(_final(late.client_id))
    assert late.state == "denied" and late.reason.startswith("halted")
    assert not emu.call(lambda core: core.exchange.orders(states=("wait",)))
    host.stop()


@pytest.mark.parametrize("fault", ["accept_then_drop", "accept_then_5xx", "delay"])
def test_an_accepted_order_whose_answer_was_lost_is_found_not_sent_twice(trading_hub, fault):
    emu, hub = trading_hub(request_timeout_s=1.0)
    _ask, bid = _book(emu)
    emu.faults.order_faults(fault, count=1, delay_s=3.0)
    host, t = _start(hub, lambda self, ctx: None)
    h = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
    assert t.wait_for(lambda ups: any(u.client_id == h.client_id and u.state == "wait"
                                      for u in ups), timeout=15)
    # the stream's "wait" often beats the lost answer; either way nothing is sent again
    assert set(t.states(h.client_id)) <= {"submitted", "unknown", "wait"}
    posts = [r for r in emu.stats().rest_log
             if r.method == "POST" and r.path == "/v1/orders"]
    assert len(posts) == 1, posts  # resolved by the stream or a lookup: no resend
    assert len(emu.call(lambda core: core.exchange.orders())) == 1
    host.stop()


def test_while_the_stream_is_silent_an_unknown_order_is_resolved_by_a_lookup(trading_hub):
    emu, hub = trading_hub(request_timeout_s=1.0)
    _ask, bid = _book(emu)
    host, t = _start(hub, lambda self, ctx: None)
    warm = t.ctx.buy_limit("KRW-BTC", bid - 2_000_000, "0.0001")  # the desk is up
    assert t.wait_for(lambda ups: any(u.client_id == warm.client_id and u.state == "wait"
                                      for u in ups))
    emu.faults.stall(4.0)  # no frame on any socket: the private stream says nothing
    emu.faults.order_faults("delay", count=1, delay_s=3.0)
    h = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
    assert t.wait_for(lambda ups: any(u.client_id == h.client_id and u.state == "wait"
                                      for u in ups), timeout=15)
    assert t.states(h.client_id)[:2] == ["submitted", "unknown"]
    lookups = [r for r in emu.stats().rest_log
               if r.method == "GET" and r.path == "/v1/order" and r.identifier == h.client_id]
    assert lookups, "the outcome should have come from GET /v1/order?identifier="
    posts = [r for r in emu.stats().rest_log if r.method == "POST" and r.identifier == h.client_id]
    assert len(posts) == 1
    host.stop()


def test_the_kill_switch_from_the_command_line_reaches_a_running_hub(
    trading_hub, tmp_path, eventually
):
    import subprocess
    import sys

    emu, hub = trading_hub()
    _ask, bid = _book(emu)
    config = tmp_path / "hub.toml"
    config.write_text(f'[trading]\njournal_path = "{tmp_path / "journal.jsonl"}"\n')
    host, t = _start(hub, lambda self, ctx: None)
    resting = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
    assert t.wait_for(lambda ups: any(u.client_id == resting.client_id and u.state == "wait"
                                      for u in ups))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "upbit_hub.actors.cli", "halt",
                               "--config", str(config), *args],
                              capture_output=True, text=True, timeout=30)

    on = cli("--reason", "ops: market looks broken")
    assert on.returncode == 0 and "kill switch ON" in on.stdout, on.stderr
    assert t.wait_for(_final(resting.client_id), timeout=3.0)
    assert resting.state == "cancel"
    assert "kill switch ON: ops: market looks broken" in cli("--status").stdout
    denied = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
    assert t.wait_for(_final(denied.client_id))
    assert denied.state == "denied" and "ops: market looks broken" in denied.reason
    assert cli("--reset").returncode == 0

    def accepted_once_more():  # the hub looks at the switch every second
        h = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
        t.wait_for(lambda ups: any(u.client_id == h.client_id and u.state in ("wait", "denied")
                                   for u in ups), timeout=3)
        return h if h.state == "wait" else None

    later = eventually(accepted_once_more, timeout=10)
    assert later.state == "wait", later.reason
    host.stop()


DENIALS = [
    # (rule, [trading] overrides, order maker(ctx, ask, bid), orders to place first)
    ("max_order_krw", {"max_order_krw": 10_000},
     lambda c, a, b, emu: c.buy_limit("KRW-BTC", a, "0.01"), 0),
    ("tick_size", {}, lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_000_000 + 1, "0.0001"), 0),
    ("min_total", {}, lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_000_000, "0.00001"), 0),
    ("volume_precision", {}, lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_000_000,
                                                          "0.000100001"), 0),
    ("funds", {}, lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_000_000, "5"), 0),
    ("price_band_pct", {"price_band_pct": 5.0},
     lambda c, a, b, emu: c.buy_limit("KRW-BTC", b * 80 // 100 // 1000 * 1000, "0.0001"), 0),
    ("max_open_orders_per_market", {"max_open_orders_per_market": 1, "max_open_orders": 5},
     lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_500_000, "0.0001"), 1),
    ("max_open_orders", {"max_open_orders": 1, "max_open_orders_per_market": 1},
     lambda c, a, b, emu: c.buy_limit("KRW-ETH", _book(emu, "KRW-ETH")[1] - 20_000, "0.01"), 1),
    ("orders_per_minute", {"orders_per_minute": 1},
     lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_500_000, "0.0001"), 1),
    ("halted", {"halted": True},
     lambda c, a, b, emu: c.buy_limit("KRW-BTC", b - 1_000_000, "0.0001"), 0),
]


@pytest.mark.parametrize(("rule", "limits", "order", "before"), DENIALS,
                         ids=[d[0] for d in DENIALS])
def test_each_risk_rule_denies_naming_its_key_and_makes_no_http_call(
    trading_hub, eventually, rule, limits, order, before
):
    emu, hub = trading_hub(**limits)
    ask, bid = _book(emu)
    host, t = _start(hub, lambda self, ctx: None)
    for _ in range(before):  # what the rule counts: an order that goes out first
        first = t.ctx.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
        assert t.wait_for(lambda ups, f=first: any(u.client_id == f.client_id and u.state == "wait"
                                                   for u in ups)), t.updates
    settled = _settled(hub, emu, t, eventually)
    h = order(t.ctx, ask, bid, emu)
    assert t.wait_for(_final(h.client_id))
    assert h.state == "denied", (h.state, h.reason)
    assert h.reason.startswith(f"{rule}:"), h.reason
    # the private stream's own reconciliation may read the order lists meanwhile; the order
    # path itself must not have made a single call
    calls = _order_path_calls(emu, settled)
    assert calls == [], "a denied order made an HTTP call"
    host.stop()


def test_a_script_trades_through_the_proxy_with_the_same_calls(trading_hub):
    from upbit_hub.actors import WebSocketClientProxy

    emu, hub = trading_hub()
    _ask, bid = _book(emu)
    got: list = []
    accepted, done = threading.Event(), threading.Event()

    def on_update(update):
        got.append((update.state, threading.current_thread().name))
        if update.state == "wait":
            accepted.set()
        if update.final:
            done.set()

    with WebSocketClientProxy("script", hub=hub) as proxy:
        proxy.on_order_update(on_update)
        h = proxy.buy_limit("KRW-BTC", bid - 1_000_000, "0.0001")
        assert accepted.wait(10)
        assert [o.client_id for o in proxy.open_orders()] == [h.client_id]
        proxy.cancel_order(h)
        assert done.wait(10)
        assert proxy.balance("KRW") > 0
    assert [s for s, _ in got] == ["submitted", "wait", "cancel"]
    assert all(name.startswith("ComponentProxyActor") for _, name in got)
