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


def test_remote_order_reaches_the_emulator_exactly_once_across_a_broker_restart(
        make_emulator, make_hub, nats_server, tmp_path, eventually):
    emu = make_emulator(rate=100)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    bhost = ComponentHost(hub)
    cfg = NatsBridgeConfig(servers=[nats_server.url], types=["trade"], symbols=["KRW-BTC"],
                           orders=True, account="acct")
    report = bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge")
    assert report.state == "running", report.error
    s = Settings()
    src = msgspec.structs.replace(s.source, enabled=True, servers=[nats_server.url],
                                  account="acct", order_timeout_s=1.0)
    remote = RemoteHub(msgspec.structs.replace(s, source=src), environ={}).start()
    rhost = ComponentHost(remote)
    try:
        assert rhost.start_component("trader", Trader).state == "running"
        t = rhost.component("trader")
        rows = emu.call(lambda core: core.market.book("KRW-BTC"))
        far = max(r[1] for r in rows if r[1] > 0) - 1_000_000  # rests, never fills

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
