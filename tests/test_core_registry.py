"""The registry merges every component's wishes into one request per endpoint.

The connection here is a recording actor (no socket): these tests are about merging, ref
counting, coalescing and routing. The same behaviour over real sockets is covered by the
integration tests against the emulator.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pykka
import pytest

from upbit_hub.actors.inbox import ComponentInbox
from upbit_hub.actors.messages import (
    PUBLIC,
    DropComponent,
    Ping,
    RequestRejected,
    SetRequest,
    SetRoutes,
    Subscribe,
    SubscriptionFailed,
    Unsubscribe,
    Wish,
    WishKey,
)
from upbit_hub.actors.protocol.errors import ServerError
from upbit_hub.actors.registry import SubscriptionRegistryActor
from upbit_hub.actors.timers import TimerService


class RecordingConnection(pykka.ThreadingActor):
    """Resolves waiters at once, as if every request went straight on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[SetRequest] = []
        self.routes: list[SetRoutes] = []
        self.changed = threading.Event()

    def on_receive(self, message):
        if isinstance(message, SetRequest):
            self.requests.append(message)
            for fut in message.waiters:
                fut.set_result(message.generation)
            self.changed.set()
        elif isinstance(message, SetRoutes):
            self.routes.append(message)
        elif isinstance(message, Ping):
            return True
        elif message == "requests":
            return list(self.requests)
        elif message == "routes":
            return self.routes[-1].routes if self.routes else {}
        return None


class Recorder(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def on_receive(self, message):
        if message == "get":
            return list(self.messages)
        self.messages.append(message)
        return None


@pytest.fixture
def setup():
    timers = TimerService()
    conn = RecordingConnection.start()
    registry = SubscriptionRegistryActor.start({PUBLIC: conn}, timers.call_later, coalesce_s=0.02)
    yield conn, registry
    timers.stop()


def _component(name: str) -> ComponentInbox:
    inbox = ComponentInbox(f"{name}#1", name)
    inbox.actor_ref = Recorder.start()
    return inbox


def _subscribe(registry, inbox, sub_id, type_, codes, **kw) -> None:
    done: Future = Future()
    wishes = tuple(Wish(WishKey(PUBLIC, type_, c, kw.get("level")), kw.get("depth"),
                        kw.get("snapshot_only", False)) for c in codes)
    registry.tell(Subscribe(inbox, sub_id, wishes, done))
    done.result(5)


def _unsubscribe(registry, inbox, sub_id) -> None:
    done: Future = Future()
    registry.tell(Unsubscribe(inbox.component_key, sub_id, done))
    done.result(5)


def _wire(request: SetRequest) -> set[tuple[str, str | None, int | None, bool]]:
    return {(e.key.type, e.key.code, e.depth, e.snapshot_only) for e in request.entries}


def test_two_components_get_one_request_with_the_union(setup):
    conn, registry = setup
    a, b = _component("a"), _component("b")
    _subscribe(registry, a, 1, "ticker", ["KRW-BTC"])
    _subscribe(registry, b, 2, "trade", ["KRW-ETH"])
    _subscribe(registry, b, 3, "orderbook", ["KRW-BTC"])
    last = conn.ask("requests")[-1]
    assert _wire(last) == {
        ("ticker", "KRW-BTC", None, False),
        ("trade", "KRW-ETH", None, False),
        ("orderbook", "KRW-BTC", None, False),
    }
    routes = conn.ask("routes")
    assert routes[("ticker", "KRW-BTC")] == (a,)
    assert routes[("trade", "KRW-ETH")] == (b,)


def test_a_key_stays_on_the_wire_until_its_last_wish_goes(setup):
    conn, registry = setup
    a, b = _component("a"), _component("b")
    _subscribe(registry, a, 1, "ticker", ["KRW-BTC"])
    _subscribe(registry, b, 2, "ticker", ["KRW-BTC", "KRW-ETH"])
    _unsubscribe(registry, b, 2)
    assert _wire(conn.ask("requests")[-1]) == {("ticker", "KRW-BTC", None, False)}
    _unsubscribe(registry, a, 1)
    assert conn.ask("requests")[-1].entries == ()


def test_a_burst_of_changes_is_coalesced_into_few_requests(setup):
    conn, registry = setup
    inboxes = [_component(f"c{i}") for i in range(50)]
    futures = []
    for i, inbox in enumerate(inboxes):
        fut: Future = Future()
        registry.tell(Subscribe(inbox, i, (Wish(WishKey(PUBLIC, "ticker", f"KRW-C{i}")),), fut))
        futures.append(fut)
    for fut in futures:
        fut.result(5)
    requests = conn.ask("requests")
    assert len(requests) <= 3
    assert len(requests[-1].entries) == 50


def test_orderbook_wishes_at_several_depths_share_the_largest(setup):
    conn, registry = setup
    a, b = _component("a"), _component("b")
    _subscribe(registry, a, 1, "orderbook", ["KRW-BTC"], depth=5)
    _subscribe(registry, b, 2, "orderbook", ["KRW-BTC"], depth=15)
    assert _wire(conn.ask("requests")[-1]) == {("orderbook", "KRW-BTC", 15, False)}
    _unsubscribe(registry, b, 2)
    assert _wire(conn.ask("requests")[-1]) == {("orderbook", "KRW-BTC", 5, False)}


def test_a_snapshot_only_wish_rides_along_once(setup):
    conn, registry = setup
    a = _component("a")
    _subscribe(registry, a, 1, "ticker", ["KRW-BTC"])
    _subscribe(registry, a, 2, "ticker", ["KRW-ETH"], snapshot_only=True)
    assert ("ticker", "KRW-ETH", None, True) in _wire(conn.ask("requests")[-1])
    _subscribe(registry, a, 3, "trade", ["KRW-BTC"])
    assert _wire(conn.ask("requests")[-1]) == {
        ("ticker", "KRW-BTC", None, False),
        ("trade", "KRW-BTC", None, False),
    }


def test_a_dead_component_loses_all_its_wishes(setup):
    conn, registry = setup
    a, b = _component("a"), _component("b")
    _subscribe(registry, a, 1, "ticker", ["KRW-BTC"])
    _subscribe(registry, b, 2, "trade", ["KRW-ETH"])
    n = len(conn.ask("requests"))
    conn.proxy().changed.get().clear()
    registry.tell(DropComponent(a.component_key))
    assert conn.proxy().changed.get().wait(5)
    requests = conn.ask("requests")
    assert len(requests) == n + 1
    assert _wire(requests[-1]) == {("trade", "KRW-ETH", None, False)}
    assert ("ticker", "KRW-BTC") not in conn.ask("routes")


def test_a_rejected_request_removes_exactly_the_wishes_that_added_the_suspects(setup, eventually):
    conn, registry = setup
    a, b = _component("a"), _component("b")
    _subscribe(registry, a, 1, "ticker", ["KRW-BTC"])
    _subscribe(registry, b, 2, "trade", ["KRW-ZZZ"])
    gen = conn.ask("requests")[-1].generation
    error = ServerError("INVALID_PARAM", "bad", PUBLIC)
    registry.tell(RequestRejected(PUBLIC, gen, frozenset({WishKey(PUBLIC, "trade", "KRW-ZZZ")}),
                                  error))
    eventually(lambda: _wire(conn.ask("requests")[-1]) == {("ticker", "KRW-BTC", None, False)})
    told = eventually(lambda: b.actor_ref.ask("get"))
    assert isinstance(told[0], SubscriptionFailed) and told[0].sub_id == 2
    assert a.actor_ref.ask("get") == []


def test_a_wish_the_encoder_refuses_is_dropped_without_killing_the_connection(
    hub, emulator, eventually
):
    """A wish that slipped past the proxy's checks (here injected straight into the registry)
    is removed and its component told; the connection and the other wishes carry on."""
    from upbit_hub.actors import WebSocketClientProxy

    good = WebSocketClientProxy("good", hub=hub)
    got = []
    good.subscribe_ticker(["KRW-BTC"], got.append)
    bad = WebSocketClientProxy("bad", hub=hub)
    bad_sub = (Wish(WishKey(PUBLIC, "candle.2m", "KRW-BTC")),)  # no such candle unit
    hub.registry.tell(Subscribe(bad._inbox, 999, bad_sub, Future()))
    eventually(lambda: hub.status()["registry"]["rejected_requests"] >= 1)
    assert hub.connections[PUBLIC].is_alive()
    eventually(lambda: hub.status()["registry"]["subscriptions"] == 1)
    n = len(got)
    eventually(lambda: len(got) > n, timeout=10)
    good.cleanup()
    bad.cleanup()
