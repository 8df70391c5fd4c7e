"""A component that dies, or is forgotten, is unsubscribed automatically; nothing leaks."""

from __future__ import annotations

import gc
import threading
import time

import pykka

from upbit_hub.actors import WebSocketClientProxy


def _public_wire(emulator):
    conns = [c for c in emulator.connections() if c.endpoint == "public"]
    return {(s[0], code) for c in conns for s in c.subscriptions for code in s[1]}


def test_a_crashing_component_leaves_the_wire_within_a_second(hub, emulator, eventually):
    survivor_got = threading.Event()
    survivor = WebSocketClientProxy("survivor", hub=hub)
    survivor.subscribe_ticker(["KRW-ETH"], lambda ev: survivor_got.set())

    def explode(ev):
        raise RuntimeError("strategy bug")

    doomed = WebSocketClientProxy("doomed", hub=hub, error_policy="stop")
    doomed.subscribe_trade(["KRW-BTC"], explode)
    # on the wire (the emulator may still be reading it when subscribe returns)
    eventually(lambda: [
        r for r in emulator.stats().requests
        if r.kind == "subscribe" and any(s[0] == "trade" for s in r.subscriptions)
    ])

    eventually(lambda: not doomed.is_alive, timeout=10)  # its first trade kills it
    died_at = time.monotonic()
    eventually(lambda: ("trade", "KRW-BTC") not in _public_wire(emulator), timeout=5)
    assert time.monotonic() - died_at < 1.0
    survivor_got.clear()
    assert survivor_got.wait(10), "the other component stopped streaming"
    assert _public_wire(emulator) == {("ticker", "KRW-ETH")}
    survivor.cleanup()


def test_a_raising_callback_is_counted_and_the_component_keeps_running(hub, eventually):
    calls = []

    def flaky(ev):
        calls.append(ev)
        if len(calls) == 1:
            raise ValueError("first one fails")

    proxy = WebSocketClientProxy("flaky", hub=hub)
    sub = proxy.subscribe_ticker(["KRW-BTC"], flaky)
    eventually(lambda: len(calls) >= 3, timeout=10)
    assert proxy.is_alive
    assert proxy.stats()["errors"] == 1
    assert isinstance(sub.error, ValueError)
    proxy.cleanup()


def test_a_proxy_dropped_without_cleanup_is_unsubscribed(hub, emulator, eventually):
    keep = WebSocketClientProxy("keeper", hub=hub)
    keep.subscribe_ticker(["KRW-ETH"], lambda ev: None)
    forgotten = WebSocketClientProxy("forgotten", hub=hub)
    forgotten.subscribe_orderbook(["KRW-XRP"], lambda ev: None)
    ref = forgotten._ref
    eventually(lambda: ("orderbook", "KRW-XRP") in _public_wire(emulator))
    del forgotten
    gc.collect()
    eventually(lambda: not ref.is_alive(), timeout=5)
    eventually(lambda: ("orderbook", "KRW-XRP") not in _public_wire(emulator), timeout=2)
    assert _public_wire(emulator) == {("ticker", "KRW-ETH")}
    keep.cleanup()


def test_a_thousand_create_subscribe_cleanup_cycles_leak_nothing(hub, eventually):
    base_threads = threading.active_count()
    base_actors = len(pykka.ActorRegistry.get_all())
    keeper = WebSocketClientProxy("keeper", hub=hub)
    keeper.subscribe_ticker(["KRW-BTC"], lambda ev: None)
    codes = ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                with WebSocketClientProxy(f"cycle-{n}-{i}", hub=hub) as proxy:
                    proxy.subscribe_ticker([codes[(n + i) % 3]], lambda ev: None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # Upbit allows 100 requests a minute per connection: cycles run 20 at a time so that the
    # registry coalesces their changes, as it would for a real burst.
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    keeper.cleanup()
    eventually(lambda: len(pykka.ActorRegistry.get_all()) == base_actors, timeout=10)
    eventually(lambda: threading.active_count() <= base_threads, timeout=10)
    status = hub.status()
    assert status["registry"]["subscriptions"] == 0
    assert status["registry"]["components"] == 0
    assert status["components"] == {}
    eventually(lambda: hub.status()["connections"]["public"]["wire"] == [])
