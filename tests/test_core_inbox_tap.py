"""``WebSocketClientProxy.tap``: events go to the tap in the putting thread, before the
inbox's queues (no conflation, no drop); posted functions still queue; None restores."""

from __future__ import annotations

from types import SimpleNamespace

from upbit_hub.actors.inbox import ComponentInbox


def ev(type_: str, code: str = "KRW-BTC", n: int = 0) -> SimpleNamespace:
    return SimpleNamespace(type=type_, code=code, n=n)


def test_a_tap_takes_every_event_unconflated_and_undropped_but_not_posted_calls():
    inbox = ComponentInbox("bridge#1", "bridge", capacity=2)
    taken: list = []
    inbox.tap = taken.append
    for i in range(5):
        assert inbox.put(ev("trade", n=i)) is False  # nothing to wake: the tap took it
        assert inbox.put(ev("ticker", n=i)) is False
    assert [e.n for e in taken if e.type == "trade"] == [0, 1, 2, 3, 4]
    assert [e.n for e in taken if e.type == "ticker"] == [0, 1, 2, 3, 4]  # not conflated
    assert inbox.stats()["received"] == 10 and inbox.stats()["dropped"] == 0
    assert inbox.put(ev("call")) is True  # a posted function queues as before
    assert inbox.depth() == 1 and len(taken) == 10

    inbox.tap = None
    for i in range(3):
        inbox.put(ev("trade", n=i))
    assert inbox.stats()["dropped"] == 1  # back to the bounded trade queue (capacity 2)


def test_the_proxy_refuses_a_tap_that_is_not_callable(make_emulator, make_hub):
    import pytest

    from upbit_hub.actors.client import WebSocketClientProxy

    hub = make_hub(make_emulator(rate=0))
    proxy = WebSocketClientProxy("tapper", hub=hub)
    try:
        with pytest.raises(TypeError, match="callable"):
            proxy.tap(42)  # type: ignore[arg-type]
        seen: list = []
        proxy.tap(seen.append)
        proxy.tap(None)
    finally:
        proxy.cleanup()
