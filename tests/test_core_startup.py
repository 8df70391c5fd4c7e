"""A hub you can leave running: wishes outlive the network, unknown markets are refused where
they are typed, and failures are reported at once with their real cause."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.hub import Hub
from upbit_hub.actors.protocol.errors import AuthError, RequestValidationError, SubscriptionError
from upbit_hub.config.loader import builtin_settings
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Seen(Component):
    """Subscribes in on_start and sets ``got`` at its first event."""

    kind = "ticker"

    def __init__(self, config=None):
        super().__init__(config)
        self.got = threading.Event()

    def on_start(self, ctx):
        getattr(ctx, f"subscribe_{self.kind}")(["KRW-BTC"])

    def on_ticker(self, ev):
        self.got.set()

    def on_trade(self, ev):
        self.got.set()


class SeenTrades(Seen):
    kind = "trade"


@pytest.fixture
def hubs():
    made: list = []
    yield made
    for hub in made:
        hub.stop()


def test_components_started_while_the_server_is_down_get_data_soon_after_it_comes_up(
    make_emulator, hubs, eventually
):
    port = _free_port()
    settings = builtin_settings("sim").with_emulator(f"http://127.0.0.1:{port}")
    hub = Hub(settings).start()
    hubs.append(hub)
    host = ComponentHost(hub)
    reports = host.start_component("tickers", Seen), host.start_component("trades", SeenTrades)
    assert [r.state for r in reports] == ["running", "running"]
    note = host.reports()[0].error
    assert note and note.startswith("waiting for connection"), note

    threading.Event().wait(15.0)  # the server stays down for 15 s (this is the scenario)
    failures = hub.connection_status("public")["connect_failures"]
    assert failures <= 20, f"{failures} connects in 15 s: a reconnect storm"
    assert all(r.state == "running" for r in host.reports())

    up = time.monotonic()
    make_emulator(port=port)
    for cid in ("tickers", "trades"):
        assert host.component(cid).got.wait(20), f"{cid} got no data within 20 s"
    assert time.monotonic() - up < 20
    eventually(lambda: host.reports()[0].error is None, timeout=10)
    host.stop()


def test_a_script_subscribe_times_out_naming_the_url_the_cause_and_how_long(hubs):
    port = _free_port()
    hub = Hub(builtin_settings("sim").with_emulator(f"http://127.0.0.1:{port}")).start()
    hubs.append(hub)
    with WebSocketClientProxy("script", hub=hub) as proxy:
        t0 = time.monotonic()
        with pytest.raises(SubscriptionError) as info:
            proxy.subscribe_ticker(["KRW-BTC"], lambda ev: None, timeout=1.5)
        assert time.monotonic() - t0 < 4
        assert not proxy.subscriptions  # rolled back
    text = str(info.value)
    assert f"ws://127.0.0.1:{port}/websocket/v1" in text
    assert "last connect error" in text and "trying for" in text
    assert "reachable?" not in text


@pytest.mark.parametrize(("code", "hint"), [("BTC-KRW", "KRW-BTC"), ("KRW-NOPE", None)])
def test_unknown_markets_are_refused_at_subscribe_time_with_a_suggestion(
    emulator, make_hub, code, hint
):
    hub = make_hub(emulator)
    with WebSocketClientProxy("typo", hub=hub) as proxy:
        with pytest.raises(RequestValidationError) as info:
            proxy.subscribe_ticker([code], lambda ev: None)
        assert not proxy.subscriptions
        proxy.subscribe_ticker(["KRW-BTC"], lambda ev: None)  # a listed market still works
    assert code in str(info.value)
    if hint:
        assert f"did you mean {hint!r}" in str(info.value)
    requests = [r for r in emulator.stats().requests if r.kind == "subscribe"]
    assert all(code not in str(r.subscriptions) for r in requests)


def test_codes_accepted_before_the_market_list_came_are_refused_when_it_does(
    make_emulator, make_hub, eventually
):
    emu = make_emulator()
    emu.faults.rest_throttle(1.0)  # the hub's first fetch of /v1/market/all is refused (429)
    hub = make_hub(emu)
    errors: list = []
    with WebSocketClientProxy("early", hub=hub) as proxy:
        assert not hub.markets.loaded
        sub = proxy.subscribe_ticker(["KRW-NOPE"], lambda ev: None, wait=False,
                                     on_error=errors.append)
        eventually(lambda: errors, timeout=10)
        assert isinstance(errors[0], RequestValidationError) and "KRW-NOPE" in str(errors[0])
        assert not sub.active
    assert hub.markets.loaded


def test_wrong_keys_fail_later_private_subscribes_at_once_and_the_log_agrees(
    make_emulator, make_hub, eventually, caplog
):
    from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY

    emu = make_emulator(rate=50)
    environ = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": "not-the-secret"}
    hub = make_hub(emu, environ=environ, private_rest_fallback_after_s=0.5)
    errors: list = []
    caplog.set_level(logging.INFO, logger="upbit_hub")
    with WebSocketClientProxy("badkeys", hub=hub) as proxy:
        proxy.subscribe_my_order(lambda ev: None, on_error=errors.append)
        eventually(lambda: errors, timeout=10)
        assert isinstance(errors[0], AuthError)
        assert "UPBIT_ACCESS_KEY / UPBIT_SECRET_KEY" in str(errors[0])
        t0 = time.monotonic()
        with pytest.raises(AuthError) as info:
            proxy.subscribe_my_asset(lambda ev: None)
        assert time.monotonic() - t0 < 1.0, "a private subscribe waited instead of failing"
        assert "UPBIT_ACCESS_KEY" in str(info.value)
        eventually(lambda: "REST refused the same API keys" in caplog.text, timeout=10)
    assert "polling REST every" not in caplog.text
    assert len(errors) == 1


def test_a_subscribed_market_upbit_flags_is_reported_once(make_emulator, make_hub, caplog):
    emu = make_emulator(market_warnings=("KRW-DOGE",))
    hub = make_hub(emu)
    caplog.set_level(logging.WARNING, logger="upbit_hub.actors.markets")
    with WebSocketClientProxy("flags", hub=hub) as proxy:
        proxy.subscribe_ticker(["KRW-DOGE"], lambda ev: None)
        proxy.subscribe_trade(["KRW-DOGE", "KRW-BTC"], lambda ev: None)
    flagged = [r.getMessage() for r in caplog.records if "flagged by Upbit" in r.getMessage()]
    assert flagged == ["market KRW-DOGE is flagged by Upbit: warning (market_event); trade "
                       "with care"]
    assert hub.status()["markets"]["flagged"] == {"KRW-DOGE": ["warning"]}
