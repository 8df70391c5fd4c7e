"""Lifecycle of Emulator and the emulator fixtures: start, stop, nothing left behind."""

from __future__ import annotations

import threading

import pytest
import requests

from upbit_hub.actors.emulator import Emulator
from upbit_hub.actors.emulator.ws_client import WsProbe


def emulator_threads():
    return [t for t in threading.enumerate() if t.name.startswith("upbit-emulator")]


def test_stop_closes_every_socket_and_joins_the_loop_thread():
    before = set(threading.enumerate())
    emu = Emulator(rate=300, idle_timeout=30).start()
    probe = WsProbe.connect(emu.ws_url)
    probe.send_json([{"ticket": "t"}, {"type": "trade", "codes": ["KRW-BTC"]}])
    probe.recv_json()
    requests.get(emu.base_url + "/_emulator/stats", timeout=5)  # a keep-alive REST client too
    emu.stop()
    assert probe.wait_closed(timeout=5) == 1006
    assert set(threading.enumerate()) - before == set()
    emu.stop()  # idempotent
    assert emu.stats().open_connections == {"public": 1, "private": 0}  # final snapshot
    assert emu.connections() == []


def test_the_context_manager_serves_on_a_free_port_and_cleans_up():
    with Emulator() as a, Emulator() as b:
        assert a.port != b.port and a.port > 0
        assert a.ws_url == f"ws://127.0.0.1:{a.port}/websocket/v1"
        assert b.private_ws_url.endswith("/websocket/v1/private")
        assert len(emulator_threads()) == 2
    assert emulator_threads() == []


def test_an_emulator_cannot_be_started_twice():
    with Emulator() as emu, pytest.raises(RuntimeError, match="already started"):
        emu.start()


def test_bad_settings_are_refused_before_anything_starts():
    with pytest.raises(ValueError, match="spelling"):
        Emulator(spelling="fancy")
    with pytest.raises(TypeError):
        Emulator(no_such_option=1)


def test_the_emulator_fixture_is_running_with_the_fast_test_settings(emulator):
    assert emulator.running
    assert emulator.config.up_period == 1.0 and emulator.config.idle_timeout == 10.0
    assert requests.get(emulator.base_url + "/nope", timeout=5).status_code == 404


@pytest.mark.parametrize("emulator", [{"idle_timeout": 2.5, "rate": 50}], indirect=True)
def test_the_emulator_fixture_takes_overrides_indirectly(emulator):
    assert (emulator.config.idle_timeout, emulator.market.rate) == (2.5, 50)


def test_make_emulator_starts_several_and_the_fixture_stops_them(make_emulator):
    one, two = make_emulator(), make_emulator(rate=10)
    assert one.running and two.running and one.port != two.port
    one.stop()
    assert not one.running and two.running
