"""Orders of a remote component reach the emulator through the hub exactly once, also when
the call is made while the broker is down (resent after the reconnect, de-duplicated by
client_id at the hub); the hub is the only holder of the keys."""

from __future__ import annotations

import threading
from decimal import Decimal

import msgspec

from upbit_hub.actors.broker.source import RemoteHub
from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component
from upbit_hub.plugins.builtin.nats_bridge import NatsBridge, NatsBridgeConfig
from upbit_hub.plugins.sdk_host import ComponentHost

KEYS = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}


class Trader(Component):
    name = "trader"

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.updates: list = []
        self.cond = threading.Condition()

    def on_start(self, ctx) -> None:
        self.ctx = ctx

    def on_order_update(self, update) -> None:
        with self.cond:
            self.updates.append(update)
            self.cond.notify_all()

    def wait_state(self, client_id: str, state: str, timeout: float = 20.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: any(
                u.client_id == client_id and u.state == state for u in self.updates), timeout)


def posts(emu, client_id: str) -> list:
    return [r for r in emu.stats().rest_log
            if r.method == "POST" and r.path == "/v1/orders" and r.identifier == client_id]


def bridge_config(url: str) -> NatsBridgeConfig:
    """The hub's bridge serving orders under account ``acct``."""
    return NatsBridgeConfig(servers=[url], types=["trade"], symbols=["KRW-BTC"], orders=True,
                            account="acct")


def start_remote(url: str) -> tuple[RemoteHub, ComponentHost]:
    """A remote source on ``url`` (account ``acct``) and its plugin host."""
    s = Settings()
    src = msgspec.structs.replace(s.source, enabled=True, servers=[url], account="acct",
                                  order_timeout_s=1.0)
    remote = RemoteHub(msgspec.structs.replace(s, source=src), environ={}).start()
    return remote, ComponentHost(remote)


def resting_price(emu) -> int:
    """A KRW-BTC bid price far under the book: an order there rests, never fills."""
    rows = emu.call(lambda core: core.market.book("KRW-BTC"))
    return max(r[1] for r in rows if r[1] > 0) - 1_000_000


def test_remote_order_reaches_the_emulator_exactly_once_across_a_broker_restart(
        make_emulator, make_hub, nats_server, tmp_path, eventually):
    emu = make_emulator(rate=100)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    bhost = ComponentHost(hub)
    report = bhost.start_component("bridge", NatsBridge, bridge_config(nats_server.url),
                                   "nats-bridge")  # fmt: skip
    assert report.state == "running", report.error
    remote, rhost = start_remote(nats_server.url)
    try:
        assert rhost.start_component("trader", Trader).state == "running"
        t = rhost.component("trader")
        far = resting_price(emu)

        first = t.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))
        assert t.wait_state(first.client_id, "wait")
        assert len(posts(emu, first.client_id)) == 1

        nats_server.kill()
        second = t.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))  # made while it is down
        gateway = remote.order_gateway()
        # stay down until the call was resent at least once: after the restart the buffered
        # first attempt and the resend both reach the hub, which must place it once
        eventually(lambda: gateway.retries >= 1, timeout=10)
        nats_server.start()
        assert t.wait_state(second.client_id, "wait")
        assert second.uuid and second.is_open
        held = emu.call(lambda core: core.exchange.get_order(identifier=second.client_id))
        assert held.state == "wait"
        assert len(posts(emu, second.client_id)) == 1, "placed more than once"

        t.ctx.cancel_all()
        assert t.wait_state(first.client_id, "cancel") and t.wait_state(second.client_id,
                                                                          "cancel")
        assert len(posts(emu, first.client_id)) == 1 and len(posts(emu, second.client_id)) == 1
    finally:
        rhost.stop()
        remote.stop()
        bhost.stop()


def test_order_updates_made_while_a_remote_is_cut_off_reach_it_once_after_it_reconnects(
        make_emulator, make_hub, nats_server, tcp_forwarder, tmp_path, eventually):
    """Updates travel over plain NATS: one made while the remote's link is down is never
    delivered live, and must come from the hub's update log when the remote reconnects."""
    emu = make_emulator(rate=100)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    bhost = ComponentHost(hub)
    assert bhost.start_component("bridge", NatsBridge, bridge_config(nats_server.url),
                                 "nats-bridge").state == "running"  # fmt: skip
    service = bhost.component("bridge").orders
    proxy = tcp_forwarder("127.0.0.1", nats_server.port)  # only the remote's link uses it
    remote, rhost = start_remote(f"nats://127.0.0.1:{proxy.port}")
    try:
        assert rhost.start_component("trader", Trader).state == "running"
        t = rhost.component("trader")
        far = resting_price(emu)
        first = t.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))
        assert t.wait_state(first.client_id, "wait")
        gateway = remote.order_gateway()
        live_before = gateway.stats["updates"]

        proxy.cut()
        eventually(lambda: not remote.link.connected, timeout=10)
        book = service.update_log("trader")
        seq_before = book.seq
        hub.order_gateway().cancel(first.client_id)  # the hub's operator cancels it
        eventually(lambda: book.seq > seq_before and any(
            e.update.state == "cancel" for e in book.since(seq_before)[1] or ()), timeout=10)
        assert not any(u.client_id == first.client_id and u.state == "cancel"
                       for u in t.updates), "delivered while cut off?"

        proxy.restore()
        assert t.wait_state(first.client_id, "cancel")
        cancels = [u for u in t.updates if u.client_id == first.client_id and u.state == "cancel"]
        assert len(cancels) == 1
        assert gateway.stats["replayed"] >= 1 and gateway.stats["resumes"] >= 1
        assert first.state == "cancel"  # the handle follows the caught-up update

        # numbering goes on: a new order's updates arrive live, once each
        second = t.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))
        assert t.wait_state(second.client_id, "wait")
        waits = [u for u in t.updates if u.client_id == second.client_id and u.state == "wait"]
        assert len(waits) == 1
        assert gateway.stats["updates"] > live_before
    finally:
        rhost.stop()
        remote.stop()
        bhost.stop()


def test_update_log_answers_resume_from_where_a_remote_stopped_or_says_it_cannot():
    from upbit_hub.actors.broker.orders import UpdateLog
    from upbit_hub.actors.trading.types import OrderUpdate

    book = UpdateLog("e1", size=3)
    for i in range(5):
        book.append(OrderUpdate(client_id=f"c{i}", component_id="x", market="KRW-BTC",
                                side="bid", ord_type="limit", state="wait"))
    assert book.since(5) == (5, [])
    last, logged = book.since(3)
    assert last == 5 and [e.seq for e in logged] == [4, 5]
    assert [e.seq for e in book.since(2)[1]] == [3, 4, 5]
    assert book.since(1) == (5, None)  # seq 2 fell out of the log: a reset is needed
    assert book.since(9) == (5, None)  # ahead of the log (another hub): a reset


def test_an_update_made_while_the_hubs_bridge_was_down_reaches_the_remote_once_after_it_returns(
        make_emulator, make_hub, nats_server, tmp_path, eventually):
    """The bridge (its order service) restarts with a new epoch: the order actor kept the
    update meanwhile; the new service announces itself and the remote catches up, once."""
    emu = make_emulator(rate=100)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    cfg = bridge_config(nats_server.url)
    bhost = ComponentHost(hub)
    assert bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == "running"
    remote, rhost = start_remote(nats_server.url)
    try:
        assert rhost.start_component("trader", Trader).state == "running"
        t = rhost.component("trader")
        far = resting_price(emu)
        order = t.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))
        assert t.wait_state(order.client_id, "wait")

        bhost.stop()  # the bridge and its order service go away; NATS stays up
        hub.order_gateway().cancel(order.client_id)
        eventually(lambda: emu.call(lambda core: core.exchange.get_order(
            identifier=order.client_id)).state == "cancel", timeout=10)
        from upbit_hub.actors.messages import GetStatus

        eventually(lambda: hub.order_gateway().ref.ask(GetStatus())["open"] == 0, timeout=10)
        assert not any(u.client_id == order.client_id and u.state == "cancel"
                       for u in t.updates)

        bhost = ComponentHost(hub)
        assert bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == \
            "running"  # fmt: skip
        assert t.wait_state(order.client_id, "cancel")
        gateway = remote.order_gateway()
        eventually(lambda: gateway.stats["resets"] >= 1, timeout=5)
        # the new service's numbered copy of the kept update may come too: heard once
        assert [u.state for u in t.updates if u.client_id == order.client_id].count(
            "cancel") == 1
    finally:
        rhost.stop()
        remote.stop()
        bhost.stop()
