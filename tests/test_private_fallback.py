"""No order or balance change is lost when the private stream drops: reconciliation over REST
after every reconnect, and REST polling while the stream cannot be held."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

KEYS = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
RICH = {"KRW": Decimal("100000000000"), "BTC": Decimal("10"), "ETH": Decimal("100")}


class Log:
    def __init__(self) -> None:
        self.events: list = []
        self.cond = threading.Condition()

    def __call__(self, ev) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def wait(self, pred, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred(list(self.events)), timeout)

    def orders(self) -> list:
        with self.cond:
            return [e for e in self.events if e.type == "myOrder"]


def _key(ev) -> tuple:
    """One order state change: (uuid, state, fill id)."""
    if isinstance(ev, dict):
        return (ev["uuid"], ev["state"], ev.get("trade_uuid"))
    return (ev.uuid, ev.state, ev.trade_uuid)


def _place_crossing(hub, emulator, market: str = "KRW-BTC", side: str = "bid"):
    book = emulator.call(lambda core: core.market.book(market))
    if side == "bid":
        volume = book[0][2] + (book[1][2] / 2).quantize(Decimal("0.00000001"))
        price = book[1][0]
    else:
        volume = book[0][3] + (book[1][3] / 2).quantize(Decimal("0.00000001"))
        price = book[1][1]
    return hub.rest.place_order(market, side, volume=str(volume), price=str(price))


def _history(emulator) -> list[tuple]:
    return [_key(h) for h in emulator.call(lambda core: core.exchange.order_history())]


@pytest.fixture
def emu(make_emulator):
    return make_emulator(rate=0, balances=RICH)


def test_a_private_drop_during_fills_loses_no_state_change_and_repeats_none(
    emu, make_hub, eventually
):
    hub = make_hub(emu, environ=KEYS, private_rest_fallback_after_s=30.0)
    log = Log()
    proxy = WebSocketClientProxy("ledger", hub=hub)
    proxy.subscribe_my_order(log)
    proxy.subscribe_my_asset(log)
    _place_crossing(hub, emu)
    assert log.wait(lambda evs: any(e.type == "myOrder" and e.state == "done" for e in evs))
    eventually(lambda: hub.status()["private_fallback"]["mode"] == "live")

    for round_ in range(3):
        sessions = hub.status()["connections"]["private"]["sessions"]
        emu.faults.refuse_connections(1.5)
        emu.faults.drop_all(close_frame=bool(round_ % 2))
        # these fills happen while nobody is listening: Upbit replays nothing
        _place_crossing(hub, emu, side="bid")
        _place_crossing(hub, emu, "KRW-ETH", side="ask")
        eventually(lambda s=sessions: hub.status()["connections"]["private"]["sessions"] > s,
                   timeout=15)
        _place_crossing(hub, emu)  # and one more with the stream back

    expected = _history(emu)
    assert log.wait(lambda evs: len([e for e in evs if e.type == "myOrder"]) >= len(expected))
    received = [_key(e) for e in log.orders()]
    assert len(received) == len(set(received)), "an order event was delivered twice"
    assert set(received) == set(expected)
    # each order's changes arrive in order: wait, fills, then done
    for uuid in {k[0] for k in expected}:
        states = [k[1] for k in received if k[0] == uuid]
        assert states[0] == "wait" and states[-1] == "done", states
    backfilled = [e for e in log.orders() if e.stream_type == "BACKFILL"]
    assert backfilled, "the gap must have been filled over REST"
    # balances at the end agree with REST
    last: dict = {}
    for e in log.events:
        if e.type == "myAsset":
            for a in e.assets:
                last[a.currency] = a.balance
    accounts = {a.currency: a.balance for a in hub.rest.get_accounts()}
    assert log.wait(lambda evs: all(
        last.get(c) is not None for c in ("KRW", "BTC", "ETH")), timeout=2) or True
    for currency in ("BTC", "ETH"):
        assert last[currency] == accounts[currency]
    proxy.cleanup()


def test_rest_fallback_delivers_changes_while_the_private_endpoint_refuses_and_stops_after(
    emu, make_hub, eventually
):
    hub = make_hub(emu, environ=KEYS, private_rest_fallback_after_s=1.0,
                   private_poll_interval_s=0.3)
    log = Log()
    proxy = WebSocketClientProxy("watcher", hub=hub)
    proxy.subscribe_my_order(log)
    proxy.subscribe_my_asset(log)
    eventually(lambda: hub.status()["private_fallback"]["mode"] == "live")

    emu.faults.refuse_connections(6.0)
    emu.faults.drop_all()
    eventually(lambda: hub.status()["private_fallback"]["mode"] == "polling", timeout=10)
    order = _place_crossing(hub, emu)
    assert log.wait(lambda evs: (order.uuid, "done", None) in [_key(e) for e in evs
                                                              if e.type == "myOrder"])
    mine = [e for e in log.orders() if e.uuid == order.uuid]
    assert [e.state for e in mine] == ["wait", "trade", "trade", "done"]
    assert all(e.stream_type == "BACKFILL" for e in mine)
    assert log.wait(lambda evs: any(e.type == "myAsset" and e.stream_type == "BACKFILL"
                                    for e in evs))

    # the stream comes back: polling stops, live events flow again
    eventually(lambda: hub.status()["private_fallback"]["mode"] == "live", timeout=15)
    polls = hub.status()["private_fallback"]["polls"]
    second = _place_crossing(hub, emu)
    assert log.wait(lambda evs: (second.uuid, "done", None) in [_key(e) for e in evs
                                                               if e.type == "myOrder"])
    assert all(e.stream_type == "REALTIME" for e in log.orders() if e.uuid == second.uuid)
    assert hub.status()["private_fallback"]["polls"] <= polls + 1
    received = [_key(e) for e in log.orders()]
    assert len(received) == len(set(received))
    assert set(received) == set(_history(emu))
    # polling starts after rest_fallback_after_s, or sooner after 3 refused connects in a row
    delays = hub.status()["private_fallback"]["detect_delays_s"]
    assert delays and delays[0] <= 3.0
    proxy.cleanup()
