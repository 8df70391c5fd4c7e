"""Account labels: a remote source with no ``[source] account`` agrees with its hub's bridge
(which labels private events and order calls with a hash of the access key by default), two
hubs never serve orders under one label, and a remote refuses to guess between two hubs."""

from __future__ import annotations

import threading
from decimal import Decimal

import msgspec
import pytest

from upbit_hub.actors.broker.source import RemoteHub
from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.actors.protocol.errors import BrokerConfigError
from upbit_hub.config.settings import Settings
from upbit_hub.plugins import Component
from upbit_hub.plugins.builtin.nats_bridge import NatsBridge, NatsBridgeConfig
from upbit_hub.plugins.sdk_host import ComponentHost

KEYS = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}


class PrivateListener(Component):
    name = "private-listener"

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.my_orders: list = []
        self.updates: list = []
        self.cond = threading.Condition()

    def on_start(self, ctx) -> None:
        self.ctx = ctx
        ctx.subscribe_my_order(None)

    def on_my_order(self, ev) -> None:
        with self.cond:
            self.my_orders.append(ev)
            self.cond.notify_all()

    def on_order_update(self, update) -> None:
        with self.cond:
            self.updates.append(update)
            self.cond.notify_all()

    def wait(self, pred, timeout: float = 20.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred(self), timeout)


def place_and_hear_it_back(emu, listener: PrivateListener) -> None:
    """A resting order from the remote ``listener``: the call reaches the hub under the
    account label, and the account's private stream comes back through the bridge under it."""
    rows = emu.call(lambda core: core.market.book("KRW-BTC"))
    far = max(r[1] for r in rows if r[1] > 0) - 1_000_000  # rests, never fills
    order = listener.ctx.buy_limit("KRW-BTC", far, Decimal("0.0001"))
    assert listener.wait(lambda c: any(u.client_id == order.client_id and u.state == "wait"
                                       for u in c.updates))  # fmt: skip
    assert listener.wait(lambda c: any(getattr(e, "identifier", None) == order.client_id
                                       for e in c.my_orders))  # fmt: skip


def remote_settings(url: str, **source: object) -> Settings:
    s = Settings()
    src = msgspec.structs.replace(s.source, enabled=True, servers=[url], order_timeout_s=1.0,
                                  **source)
    return msgspec.structs.replace(s, source=src)


def test_a_remote_with_no_account_uses_its_hubs_label_for_private_events_and_orders(
        make_emulator, make_hub, nats_server, tmp_path):
    emu = make_emulator(rate=50)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    bhost = ComponentHost(hub)
    cfg = NatsBridgeConfig(servers=[nats_server.url], types=["myOrder"], symbols=["KRW-BTC"],
                           orders=True)  # no account: a hash of the access key
    assert bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == "running"
    label = bhost.component("bridge").account
    assert label != "default" and DEFAULT_ACCESS_KEY not in label
    remote = RemoteHub(remote_settings(nats_server.url, deliver="all"), environ={}).start()
    rhost = ComponentHost(remote)
    try:
        assert remote.account == label
        assert rhost.start_component("listener", PrivateListener).state == "running"
        place_and_hear_it_back(emu, rhost.component("listener"))
    finally:
        rhost.stop()
        remote.stop()
        bhost.stop()


def test_a_second_hub_serving_orders_under_the_same_account_is_refused(
        make_emulator, make_hub, nats_server, tmp_path):
    emu = make_emulator(rate=10)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    host = ComponentHost(hub)
    try:
        cfg = NatsBridgeConfig(servers=[nats_server.url], types=["trade"], orders=True,
                               account="acct")
        assert host.start_component("bridge-a", NatsBridge, cfg, "nats-bridge").state == \
            "running"  # fmt: skip
        second = host.start_component("bridge-b", NatsBridge, cfg, "nats-bridge")
        assert second.state == "failed"
        assert "already serves orders for account 'acct'" in (second.error or "")
        assert host.component("bridge-a").orders is not None  # the first one serves on
    finally:
        host.stop()


def test_a_remote_with_no_account_refuses_to_guess_between_two_hubs(
        make_emulator, make_hub, nats_server):
    emu = make_emulator(rate=10)
    hub = make_hub(emu)
    host = ComponentHost(hub)
    try:
        for label in ("alpha", "beta"):
            cfg = NatsBridgeConfig(servers=[nats_server.url], types=["trade"], account=label)
            assert host.start_component(f"bridge-{label}", NatsBridge, cfg,
                                        "nats-bridge").state == "running"  # fmt: skip
        remote = RemoteHub(remote_settings(nats_server.url), environ={})
        with pytest.raises(BrokerConfigError, match="alpha, beta"):
            remote.start()
        named = RemoteHub(remote_settings(nats_server.url, account="beta"), environ={}).start()
        try:
            assert named.account == "beta"
        finally:
            named.stop()
    finally:
        host.stop()


def test_a_remote_started_while_its_hub_was_down_learns_the_label_at_its_first_private_use(
        make_emulator, make_hub, nats_server, tmp_path):
    emu = make_emulator(rate=50)
    hub = make_hub(emu, environ=KEYS, trading_journal_path=str(tmp_path / "journal.jsonl"))
    cfg = NatsBridgeConfig(servers=[nats_server.url], types=["myOrder"], symbols=["KRW-BTC"],
                           orders=True)
    first = ComponentHost(hub)
    assert first.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == "running"
    label = first.component("bridge").account
    first.stop()  # the stream exists; no hub answers now, no private event was stored
    remote = RemoteHub(remote_settings(nats_server.url, deliver="all"), environ={}).start()
    bhost = ComponentHost(hub)
    rhost = ComponentHost(remote)
    try:
        assert remote.account == "default" and remote.account_guessed
        assert bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == \
            "running"  # fmt: skip
        assert rhost.start_component("listener", PrivateListener).state == "running"
        place_and_hear_it_back(emu, rhost.component("listener"))
        assert remote.account == label
    finally:
        rhost.stop()
        remote.stop()
        bhost.stop()
