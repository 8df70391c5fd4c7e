"""Private streams: a component sees its own orders and balances, shared through one private
connection, with JWT per handshake and clear errors for bad keys."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.actors.protocol.errors import AuthError, CredentialsError

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

    def wait(self, pred, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred(self.events), timeout)

    def states(self, uuid: str) -> list[str]:
        with self.cond:
            return [e.state for e in self.events if getattr(e, "uuid", None) == uuid]


def _crossing_bid(hub, emulator, market: str = "KRW-BTC"):
    """A limit bid that takes the best ask level fully and half of the next one."""
    book = emulator.call(lambda core: core.market.book(market))
    (_, _, size0, _), (ask1, _, size1, _) = book[0], book[1]
    volume = size0 + (size1 / 2).quantize(Decimal("0.00000001"))
    return hub.rest.place_order(market, "bid", volume=str(volume), price=str(ask1))


@pytest.fixture
def still_emulator(make_emulator):
    """A market that does not move (rate 0), so fills come only from our own orders."""
    return make_emulator(rate=0, balances=RICH)


def test_a_component_sees_its_order_go_wait_trade_done_and_its_balances_change(
    still_emulator, make_hub
):
    hub = make_hub(still_emulator, environ=KEYS)
    orders, assets = Log(), Log()
    proxy = WebSocketClientProxy("trader", hub=hub)
    proxy.subscribe_my_order(orders)
    proxy.subscribe_my_asset(assets)
    order = _crossing_bid(hub, still_emulator)
    assert orders.wait(lambda evs: any(e.state == "done" for e in evs))
    assert orders.states(order.uuid) == ["wait", "trade", "trade", "done"]
    fills = [e for e in orders.events if e.state == "trade"]
    assert len({e.trade_uuid for e in fills}) == 2
    assert all(e.stream_type == "REALTIME" for e in orders.events)
    # balances: KRW spent, BTC received, consistent with REST
    assert assets.wait(lambda evs: any(
        a.currency == "BTC" for e in evs for a in e.assets))
    accounts = {a.currency: a for a in hub.rest.get_accounts()}
    last = {}
    for e in assets.events:
        for a in e.assets:
            last[a.currency] = a
    assert last["BTC"].balance == accounts["BTC"].balance
    assert last["KRW"].balance == accounts["KRW"].balance
    # every state change the exchange emitted for the order reached the component
    history = still_emulator.call(lambda core: core.exchange.order_history())
    assert [h["state"] for h in history if h["uuid"] == order.uuid] == orders.states(order.uuid)
    proxy.cleanup()


def test_two_components_share_the_one_private_connection(still_emulator, make_hub, eventually):
    hub = make_hub(still_emulator, environ=KEYS)
    a_log, b_log = Log(), Log()
    a = WebSocketClientProxy("a", hub=hub)
    b = WebSocketClientProxy("b", hub=hub)
    a.subscribe_my_order(a_log, symbols=["KRW-BTC"])
    b.subscribe_my_order(b_log)
    b.subscribe_my_asset(b_log)
    order = _crossing_bid(hub, still_emulator)
    assert a_log.wait(lambda evs: "done" in [e.state for e in evs])
    assert b_log.wait(lambda evs: "done" in [getattr(e, "state", None) for e in evs])
    assert a_log.states(order.uuid) == b_log.states(order.uuid)
    private = [c for c in still_emulator.connections() if c.endpoint == "private"]
    assert len(private) == 1
    kinds = {s[0] for s in private[0].subscriptions}
    assert kinds == {"myOrder", "myAsset"}  # always sent together
    a.cleanup()
    b.cleanup()


def test_a_nonce_is_never_reused_across_reconnects(still_emulator, make_hub, eventually):
    still_emulator.call(lambda core: setattr(core.auth, "strict_ws_nonce", True))
    hub = make_hub(still_emulator, environ=KEYS)
    errors: list = []
    proxy = WebSocketClientProxy("nonce", hub=hub)
    proxy.subscribe_my_asset(lambda ev: None, on_error=errors.append)
    for i in range(4):
        sessions = hub.status()["connections"]["private"]["sessions"]
        still_emulator.faults.drop_all(close_frame=bool(i % 2))
        eventually(lambda s=sessions: hub.status()["connections"]["private"]["sessions"] > s
                   and hub.status()["connections"]["private"]["state"] == "connected")
    order = _crossing_bid(hub, still_emulator)  # REST calls: a fresh nonce each too
    assert order.uuid
    assert errors == []
    assert hub.status()["connections"]["private"]["server_errors"] == 0
    proxy.cleanup()


def test_missing_keys_fail_the_call_naming_the_variable_before_anything_is_sent(
    still_emulator, make_hub
):
    hub = make_hub(still_emulator, environ={"UPBIT_ACCESS_KEY": "x"})
    proxy = WebSocketClientProxy("nokeys", hub=hub)
    with pytest.raises(CredentialsError, match="UPBIT_SECRET_KEY"):
        proxy.subscribe_my_order(lambda ev: None)
    assert not [c for c in still_emulator.connections() if c.endpoint == "private"]
    proxy.cleanup()


def test_wrong_keys_give_one_clear_error_and_a_backoff_not_a_storm(
    still_emulator, make_hub, eventually
):
    environ = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": "not-the-secret"}
    hub = make_hub(still_emulator, environ=environ)
    errors: list = []
    proxy = WebSocketClientProxy("badkeys", hub=hub)
    proxy.subscribe_my_order(lambda ev: None, on_error=errors.append)
    eventually(lambda: errors, timeout=10)
    assert isinstance(errors[0], AuthError)
    assert "INVALID_AUTH" in str(errors[0])
    before = still_emulator.stats().connects_accepted
    # the hub holds off (30 s by default) instead of reconnecting with the same bad keys
    with pytest.raises(AssertionError):
        eventually(lambda: still_emulator.stats().connects_accepted > before + 1, timeout=3)
    assert len(errors) == 1
    proxy.cleanup()
