"""The remote source (RemoteHub) in this process, against a real nats-server, fed by the
nats-bridge of a hub on the emulator: every trade once and in order, the same Component API,
restarts resume after the last ack, gaps and malformed messages reported."""

from __future__ import annotations

import asyncio
import threading
import time

import msgspec

from upbit_hub.actors.broker.source import RemoteHub
from upbit_hub.config.settings import Settings
from upbit_hub.plugins.builtin.nats_bridge import NatsBridge, NatsBridgeConfig
from upbit_hub.plugins.sdk import Component, Context
from upbit_hub.plugins.sdk_host import ComponentHost

MARKETS = ["KRW-BTC", "KRW-ETH"]


class Tape(Component):
    """Keeps every trade (and ticker count) it is given."""

    name = "tape"

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.trades: list = []
        self.tickers = 0
        self.cond = threading.Condition()

    def on_start(self, ctx: Context) -> None:
        ctx.subscribe_trade(MARKETS)
        ctx.subscribe_ticker(MARKETS)

    def on_trade(self, ev) -> None:
        with self.cond:
            self.trades.append(ev)
            self.cond.notify_all()

    def on_ticker(self, ev) -> None:
        self.tickers += 1

    def wait(self, n: int, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.trades) >= n, timeout)


def remote_settings(url: str, **source) -> Settings:
    s = Settings()
    opts = {"deliver": "all", "ack_wait_s": 2.0, "reorder_wait_s": 1.0, **source}
    src = msgspec.structs.replace(s.source, enabled=True, servers=[url], **opts)
    return msgspec.structs.replace(s, source=src, hub=msgspec.structs.replace(s.hub,
                                   coalesce_ms=20))  # fmt: skip


def start_bridge(hub, url: str, **params):
    host = ComponentHost(hub)
    cfg = NatsBridgeConfig(servers=[url], types=["trade", "ticker"], symbols=MARKETS, **params)
    report = host.start_component("bridge", NatsBridge, cfg, "nats-bridge")
    assert report.state == "running", report.error
    return host, host.component("bridge")


def record_trades(emu) -> list:
    truth: list = []
    emu.call(lambda core: core.market.add_trade_listener(
        lambda t: truth.append((t["code"], t["sequential_id"]))))
    return truth


def start_remote(url: str, **source):
    remote = RemoteHub(remote_settings(url, **source)).start()
    host = ComponentHost(remote)
    report = host.start_component("tape", Tape, None, "tape")
    assert report.state == "running", report.error
    return remote, host, host.component("tape")


def check_against(truth: list, trades: list) -> None:
    for market in MARKETS:
        got = [e.sequential_id for e in trades if e.code == market]
        assert got, market
        assert len(got) == len(set(got)), f"{market}: a trade came twice"
        want = [sid for code, sid in truth if code == market]
        tail = got[1:] if got[0] not in want else got  # the SNAPSHOT trade may predate it
        start = want.index(tail[0])
        assert tail == want[start:start + len(tail)], f"{market}: missing or out of order"


def test_remote_component_gets_every_trade_once_in_order(make_emulator, make_hub, nats_server):
    emu = make_emulator(rate=300, markets=MARKETS)
    truth = record_trades(emu)
    hub = make_hub(emu)
    bhost, bridge = start_bridge(hub, nats_server.url)
    remote, host, tape = start_remote(nats_server.url)
    try:
        assert tape.wait(80)
        assert tape.tickers > 0
        snap = remote.source_status()["tape"]
        assert snap["malformed"] == 0 and snap["gaps"] == 0
    finally:
        host.stop()
        remote.stop()
        bhost.stop()
    check_against(truth, tape.trades)
    assert bridge.stats()["dropped"] == 0


def test_restart_resumes_after_the_last_ack(make_emulator, make_hub, nats_server):
    emu = make_emulator(rate=300, markets=MARKETS)
    truth = record_trades(emu)
    hub = make_hub(emu)
    bhost, _bridge = start_bridge(hub, nats_server.url)
    remote, host, tape = start_remote(nats_server.url)
    assert tape.wait(30)
    host.stop()
    remote.stop()
    first = list(tape.trades)
    remote, host, tape2 = start_remote(nats_server.url)
    try:
        assert tape2.wait(30)
    finally:
        host.stop()
        remote.stop()
        bhost.stop()
    both = first + tape2.trades
    redelivered = remote.source_status  # the stopped source keeps its counters
    del redelivered
    check_against(truth, both)


def test_malformed_message_is_counted_skipped_and_the_source_goes_on(
        make_emulator, make_hub, nats_server, eventually):
    import nats

    emu = make_emulator(rate=200, markets=MARKETS)
    hub = make_hub(emu)
    bhost, _bridge = start_bridge(hub, nats_server.url)
    remote, host, tape = start_remote(nats_server.url)
    try:
        assert tape.wait(5)

        async def garbage() -> None:
            nc = await nats.connect(nats_server.url)
            await nc.jetstream().publish("upbit.trade.KRW-BTC", b"\xc1 not msgpack")
            await nc.close()

        asyncio.run(garbage())
        eventually(lambda: remote.source_status()["tape"]["malformed"] == 1, timeout=10)
        n = len(tape.trades)
        assert tape.wait(n + 10)
    finally:
        host.stop()
        remote.stop()
        bhost.stop()


def test_spill_overflow_is_a_visible_gap_at_the_remote(make_emulator, make_hub, nats_server,
                                                       eventually):
    emu = make_emulator(rate=300, markets=MARKETS)
    hub = make_hub(emu)
    host = ComponentHost(hub)
    cfg = NatsBridgeConfig(servers=[nats_server.url], types=["trade"], symbols=MARKETS,
                           spill_size=5, publish_timeout_s=0.5)
    assert host.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == "running"
    bridge = host.component("bridge")
    remote, rhost, tape = start_remote(nats_server.url)
    try:
        assert tape.wait(10)
        nats_server.kill()
        eventually(lambda: bridge.stats()["dropped"] >= 10, timeout=10)
        nats_server.start()
        eventually(lambda: remote.source_status()["tape"]["gaps"] >= 1, timeout=15)
        n = len(tape.trades)
        assert tape.wait(n + 10)  # and the feed goes on after the gap
        host.stop()  # nothing more is dropped once the bridge stops
        dropped = bridge.stats()["dropped"]
        eventually(lambda: remote.source_status()["tape"]["lost"] == dropped, timeout=10)
        assert bridge.stats()["gap_markers"] >= 1
    finally:
        rhost.stop()
        remote.stop()
        host.stop()
    ids = [e.sequential_id for e in tape.trades]
    assert len(ids) == len(set(ids))


def test_deliver_new_with_a_rebind_before_any_event_does_not_replay_the_stream(
        make_emulator, make_hub, nats_server, eventually):
    emu = make_emulator(rate=300, markets=MARKETS)
    truth = record_trades(emu)
    hub = make_hub(emu)
    bhost, bridge = start_bridge(hub, nats_server.url)
    eventually(lambda: bridge.stats()["acked"] >= 60, timeout=10)  # history in the stream
    before = {sid for _, sid in list(truth)}
    remote = RemoteHub(remote_settings(nats_server.url, deliver="new")).start()
    host = ComponentHost(remote)

    class Late(Tape):
        def on_start(self, ctx) -> None:  # two subscriptions, apart: two binds
            ctx.subscribe_trade(MARKETS)
            ctx.call_later(0.3, lambda: ctx.subscribe_ticker(MARKETS))

    try:
        assert host.start_component("tape", Late, None, "tape").state == "running"
        tape = host.component("tape")
        eventually(lambda: remote.source_status()["tape"]["rebinds"] >= 1, timeout=10)
        n = len(tape.trades)
        assert tape.wait(n + 20)
    finally:
        host.stop()
        remote.stop()
        bhost.stop()
    old = {e.sequential_id for e in tape.trades} & before
    # "new": only what was in flight when the consumer was made, never the stored history
    assert len(before) >= 20 and len(old) <= 5, (len(before), len(old))


class SlowTape(Tape):
    """A component slower than the feed (10 ms of work per trade): a backlog builds up."""

    def on_trade(self, ev) -> None:
        time.sleep(0.01)  # the component's own work, not a wait of the test
        super().on_trade(ev)


def test_handled_but_unacknowledged_events_come_once_more_first_and_are_counted(
        make_emulator, make_hub, nats_server, eventually):
    emu = make_emulator(rate=300, markets=MARKETS)
    truth = record_trades(emu)
    hub = make_hub(emu)
    bhost, _bridge = start_bridge(hub, nats_server.url)
    remote = RemoteHub(remote_settings(nats_server.url)).start()
    host = ComponentHost(remote)
    assert host.start_component("tape", SlowTape, None, "tape").state == "running"
    slow = host.component("tape")
    queued = lambda: host.reports()[0].queued  # noqa: E731
    try:
        eventually(lambda: queued() >= 20, timeout=15)  # a backlog in the inbox
        nats_server.kill()  # from now on the acks of what it handles cannot leave
        n = len(slow.trades)
        assert slow.wait(n + 5)
        host.stop()  # acks of the handled events are lost with the connection
        remote.stop()
        first = list(slow.trades)
        nats_server.start()
        remote, host, tape = start_remote(nats_server.url)
        assert tape.wait(len(first) // 2 + 20)
        stats = remote.source_status()["tape"]
    finally:
        host.stop()
        remote.stop()
        bhost.stop()
    overlap_total = 0
    for market in MARKETS:
        a = [e.sequential_id for e in first if e.code == market]
        b = [e.sequential_id for e in tape.trades if e.code == market]
        overlap = 0
        while overlap < len(b) and b[overlap] in set(a):
            overlap += 1
        assert b[:overlap] == a[len(a) - overlap:], "redelivered ones out of order"
        assert not set(b[overlap:]) & set(a)
        overlap_total += overlap
    assert overlap_total >= 5, "the handled-but-unacknowledged trades should come again"
    assert stats["redelivered"] >= overlap_total
    check_against(truth, [*first, *[e for e in tape.trades
                                   if e.sequential_id not in {f.sequential_id for f in first}]])
