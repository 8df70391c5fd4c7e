"""Orders under fire: 200 orders while the emulator accepts orders and then drops the
connection, answers 5xx or answers too late, refuses connections and answers 429 for a while.
Afterwards the emulator holds exactly one order per client_id, every order reached a final
state through on_order_update, the component's view equals the emulator's, no fill was
delivered twice, and the order group never saw 418 nor more than its limit in any second."""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal

from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost

KEYS = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
N_ORDERS = 200


class Busy(Component):
    """Places N_ORDERS orders on a timer: resting bids far below the market and small
    crossing buys and sells, alternately."""

    def __init__(self, config=None):
        super().__init__(config)
        self.handles: list = []
        self.updates: list = []
        self.mid: Decimal | None = None
        self.done_placing = threading.Event()
        self.cond = threading.Condition()

    def on_start(self, ctx):
        self.ctx = ctx
        ctx.subscribe_orderbook(["KRW-BTC"], depth=1)
        self.timer = ctx.every(0.07, self.place)

    def on_orderbook(self, ev):
        u = ev.orderbook_units[0]
        self.mid = (u.bid_price + u.ask_price) / 2

    def place(self):
        if self.mid is None:
            return
        n = len(self.handles)
        if n >= N_ORDERS:
            self.timer.cancel()
            self.done_placing.set()
            return
        tick = Decimal(1000)
        if n % 3 == 0:  # rests
            price = (self.mid * Decimal("0.97") // tick) * tick
            h = self.ctx.buy_limit("KRW-BTC", price, "0.0001")
        elif n % 3 == 1:  # crosses: buys at once
            price = (self.mid * Decimal("1.02") // tick) * tick
            h = self.ctx.buy_limit("KRW-BTC", price, "0.0001")
        else:  # crosses: sells at once
            price = (self.mid * Decimal("0.98") // tick) * tick
            h = self.ctx.sell_limit("KRW-BTC", price, "0.0001")
        self.handles.append(h)

    def on_order_update(self, update):
        with self.cond:
            self.updates.append(update)
            self.cond.notify_all()

    def wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(pred, timeout)


def test_two_hundred_orders_under_random_faults_are_each_placed_once_and_accounted_for(
    make_emulator, make_hub, tcp_forwarder, tmp_path, eventually
):
    emu = make_emulator(rate=300, seed=11)
    fwd = tcp_forwarder("127.0.0.1", emu.port)  # REST goes through a forwarder that can refuse
    hub = make_hub(
        emu, environ=KEYS, upbit_rest_url=fwd.base_url, request_timeout_s=2.0,
        trading_journal_path=str(tmp_path / "journal.jsonl"), trading_request_timeout_s=1.0,
        trading_max_open_orders=1000, trading_max_open_orders_per_market=1000,
        trading_orders_per_minute=10_000, trading_max_queue_delay_s=20.0,
    )  # fmt: skip
    emu.faults.order_faults("accept_then_drop", count=None, probability=0.04, seed=1)
    stop_faults = threading.Event()
    rng = random.Random(5)

    def inject() -> None:  # refusals and 429 windows at random while orders go out
        while not stop_faults.wait(rng.uniform(1.0, 2.5)):
            kind = rng.choice(["refuse", "throttle", "5xx", "delay"])
            if kind == "refuse":
                fwd.refuse(rng.uniform(0.2, 0.6))
            elif kind == "throttle":
                emu.faults.rest_throttle(rng.uniform(0.2, 0.5))
            elif kind == "5xx":
                emu.faults.order_faults("accept_then_5xx", count=1, status=503)
            else:
                emu.faults.order_faults("delay", count=1, delay_s=1.5)

    faults = threading.Thread(target=inject, daemon=True)
    host = ComponentHost(hub)
    assert host.start_component("busy", Busy).state == "running"
    busy = host.component("busy")
    faults.start()
    try:
        assert busy.done_placing.wait(120), f"placed only {len(busy.handles)}"
    finally:
        stop_faults.set()
        faults.join(5)
    emu.faults.clear()  # ends the random drops too

    def settled() -> bool:
        return all(h.state in ("wait", "done", "cancel", "denied", "rejected")
                   for h in busy.handles)

    assert busy.wait(settled, 60), Counter(h.state for h in busy.handles)
    hub_view = host.component("busy")
    hub_view.ctx.proxy.run_in_component(lambda: hub_view.ctx.cancel_all())
    assert busy.wait(lambda: all(not h.is_open for h in busy.handles), 30), \
        Counter(h.state for h in busy.handles)
    desk = hub.status()["orders"]
    host.stop()
    print("order desk:", {k: desk[k] for k in ("submitted", "denied", "rejected", "unknown",
                                                 "resent", "filled", "cancelled")},
          "refusal windows:", fwd.refused_windows)
    faulted = Counter(r.fault for r in emu.stats().rest_log if r.fault)
    print("order faults applied:", dict(faulted))
    assert sum(faulted.values()) >= 3, "too few order faults: the test proves little"
    assert fwd.refused_windows > 0

    ours = {h.client_id: h for h in busy.handles}
    held = emu.call(lambda core: core.exchange.orders())
    identifiers = Counter(o.identifier for o in held)
    assert all(n == 1 for n in identifiers.values()), "an order was placed twice"
    assert set(identifiers) <= set(ours)
    for cid, h in ours.items():
        if h.state in ("done", "cancel"):
            assert cid in identifiers, f"{cid} is {h.state} here but unknown to the emulator"
            order = next(o for o in held if o.identifier == cid)
            assert order.state == h.state, (cid, order.state, h.state)
        else:  # denied or rejected: the emulator must not hold it
            assert cid not in identifiers, (cid, h.state, h.reason)
    for cid in ours:
        finals = [u for u in busy.updates if u.client_id == cid and u.final]
        assert len(finals) == 1, (cid, [u.state for u in busy.updates if u.client_id == cid])
    fills = [u.fill.trade_uuid for u in busy.updates if u.fill is not None]
    assert len(fills) == len(set(fills)), "a fill was delivered twice"
    assert fills, "the crossing orders should have filled"

    log = emu.stats().rest_log
    assert not [r for r in log if r.status == 418], "the 429 -> 418 ladder was climbed"
    order_times = sorted(r.at for r in log if r.group == "order")
    worst = max((sum(1 for t in order_times[i:] if t - start < 1.0)
                 for i, start in enumerate(order_times)), default=0)
    assert worst <= 12, f"{worst} order calls within one second"
    states = Counter(h.state for h in busy.handles)
    assert states["done"] > 50 and states["cancel"] > 30, states
