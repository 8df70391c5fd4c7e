"""The nats-bridge plugin against a real nats-server and the emulator: what it publishes,
under which subjects and ids, and what it does with bad input."""

from __future__ import annotations

import asyncio
import threading

import msgspec
import pytest

from upbit_hub.actors.protocol.errors import BrokerConfigError, BrokerConnectError
from upbit_hub.plugins.builtin.nats_bridge import NatsBridge, NatsBridgeConfig
from upbit_hub.plugins.sdk_host import ComponentHost

MARKETS = ["KRW-BTC", "KRW-ETH"]


def stored(url: str, stream: str = "UPBIT", subject: str = "upbit.>") -> list:
    """Every message of ``stream`` (subject, headers, data), read with an ordered consumer."""
    import nats

    async def read() -> list:
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out: list = []
        if info.state.messages:
            sub = await js.subscribe(subject, ordered_consumer=True, stream=stream)
            while len(out) < info.state.messages:
                m = await sub.next_msg(timeout=5)
                out.append((m.subject, dict(m.headers or {}), m.data))
        await nc.close()
        return out

    return asyncio.run(read())


def start_bridge(hub, url: str, **params):
    host = ComponentHost(hub)
    cfg = NatsBridgeConfig(servers=[url], **{"types": ["trade"], "symbols": MARKETS, **params})
    report = host.start_component("bridge", NatsBridge, cfg, "nats-bridge")
    return host, report


def record_trades(emu) -> tuple[list, threading.Lock]:
    truth: list = []
    lock = threading.Lock()

    def on_trade(t: dict) -> None:
        with lock:
            truth.append((t["code"], t["sequential_id"]))

    emu.call(lambda core: core.market.add_trade_listener(on_trade))
    return truth, lock


def test_bridge_publishes_every_trade_once_with_msg_id(make_emulator, make_hub, nats_server,
                                                       eventually):
    emu = make_emulator(rate=300, markets=MARKETS)
    truth, _ = record_trades(emu)
    hub = make_hub(emu)
    host, report = start_bridge(hub, nats_server.url)
    assert report.state == "running", report.error
    bridge = host.component("bridge")
    eventually(lambda: bridge.stats()["acked"] >= 60, timeout=15)
    host.stop()
    stats = bridge.stats()
    assert stats["dropped"] == 0 and stats["pending"] == 0
    msgs = stored(nats_server.url)
    assert len(msgs) == stats["acked"]
    got: dict[str, list[int]] = {m: [] for m in MARKETS}
    for subject, headers, data in msgs:
        payload = msgspec.msgpack.decode(data)
        assert subject == f"upbit.trade.{payload['code']}"
        assert headers["Nats-Msg-Id"] == str(payload["sequential_id"])
        got[payload["code"]].append(payload["sequential_id"])
    for market in MARKETS:
        ids = got[market]
        want = [sid for code, sid in truth if code == market]
        assert ids, market
        assert len(ids) == len(set(ids))
        start = want.index(ids[1])  # the first one may be the SNAPSHOT trade
        assert ids[1:] == want[start:start + len(ids) - 1]


def test_unreachable_server_fails_the_bridge_clearly_and_the_hub_runs_on(
        make_emulator, make_hub, eventually):
    import broker_fixtures  # loaded by conftest.py

    free_port = broker_fixtures.free_port

    emu = make_emulator(markets=MARKETS)
    hub = make_hub(emu)
    host, report = start_bridge(hub, f"nats://127.0.0.1:{free_port()}", connect_timeout_s=0.5)
    assert report.state == "failed"
    assert "cannot reach NATS" in (report.error or ""), report.error
    assert hub.running and hub.status()["connections"]["public"]["state"]
    host.stop()
    assert BrokerConnectError.__name__ in (report.error or "")


def test_incompatible_stream_is_a_clear_error(make_emulator, make_hub, nats_server):
    import nats

    async def make_memory_stream() -> None:
        nc = await nats.connect(nats_server.url)
        await nc.jetstream().add_stream(name="UPBIT", subjects=["upbit.>"], storage="memory")
        await nc.close()

    asyncio.run(make_memory_stream())
    emu = make_emulator(markets=MARKETS)
    hub = make_hub(emu)
    host, report = start_bridge(hub, nats_server.url)
    assert report.state == "failed"
    assert BrokerConfigError.__name__ in (report.error or "")
    assert "incompatible" in (report.error or "") and "storage" in (report.error or "")
    host.stop()


@pytest.mark.parametrize("bad", [{"servers": ["http://x:1"]}, {"types": ["nope"]}])
def test_bad_params_are_rejected(bad):
    with pytest.raises((msgspec.ValidationError, ValueError)):
        msgspec.convert({"symbols": MARKETS, **bad}, NatsBridgeConfig)


def test_all_markets_bridges_every_listed_market(make_emulator, make_hub, nats_server,
                                                 eventually):
    emu = make_emulator(rate=300, markets=MARKETS)
    hub = make_hub(emu)
    host, report = start_bridge(hub, nats_server.url, symbols=[], all_markets=True)
    assert report.state == "running", report.error
    bridge = host.component("bridge")
    eventually(lambda: bridge.stats()["acked"] >= 40, timeout=15)
    host.stop()
    subjects = {subject for subject, _, _ in stored(nats_server.url)}
    assert subjects == {f"upbit.trade.{m}" for m in MARKETS}
