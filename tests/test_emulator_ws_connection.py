"""Connection-level behaviour of the emulator's WebSocket (checklist 2-7), over loopback."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import websocket
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect as ws_connect

SUB_TICKER = [{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"]}]


def test_the_upgrade_response_carries_remaining_req_and_limit_by_ip(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    headers = probe.headers
    assert headers["limit-by-ip"] == "Yes"
    assert headers["remaining-req"] == "group=websocket; min=300; sec=4"
    second = open_ws(emulator.ws_url)
    assert second.headers["remaining-req"] == "group=websocket; min=300; sec=3"


def test_server_frames_are_binary_utf8_json_by_default(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(SUB_TICKER)
    frame = probe.recv_frame()
    assert frame.opcode == 2
    obj = json.loads(frame.data.decode("utf-8"))
    assert (obj["type"], obj["code"], obj["stream_type"]) == ("ticker", "KRW-BTC", "SNAPSHOT")


@pytest.mark.parametrize("emulator", [{"binary_frames": False}], indirect=True)
def test_text_frames_can_be_switched_on_to_test_client_tolerance(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(SUB_TICKER)
    frame = probe.recv_frame()
    assert frame.opcode == 1
    assert frame.json()["type"] == "ticker"


def test_no_compression_extension_is_answered_when_the_client_offers_none(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    assert "sec-websocket-extensions" not in probe.headers


@pytest.mark.parametrize("no_takeover", [False, True])
def test_permessage_deflate_is_negotiated_when_offered_and_frames_inflate(emulator, no_takeover):
    factory = ClientPerMessageDeflateFactory(server_no_context_takeover=no_takeover,
                                             client_max_window_bits=True)
    with ws_connect(emulator.ws_url, extensions=[factory], compression=None,
                    open_timeout=5) as ws:
        ext = ws.response.headers["Sec-WebSocket-Extensions"]
        assert ext.startswith("permessage-deflate")
        assert ("server_no_context_takeover" in ext) == no_takeover
        ws.send(json.dumps([{"ticket": "t"}, {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"]},
                            {"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"]}]))
        objs = [json.loads(ws.recv(timeout=5)) for _ in range(40)]
    assert {o["type"] for o in objs} == {"trade", "ticker"}
    assert all(o["code"] in ("KRW-BTC", "KRW-ETH") for o in objs)
    infos = emulator.stats()
    assert infos.frames_sent["trade"] + infos.frames_sent["ticker"] >= 40


def test_a_compressed_socket_is_reported_as_compressed(emulator):
    with ws_connect(emulator.ws_url, compression="deflate", open_timeout=5):
        (info,) = emulator.connections()
        assert info.compressed is True


def test_a_client_ping_is_answered_with_a_pong_carrying_its_payload(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.ws.ping("hello")
    frame = probe.recv_frame()
    assert (frame.opcode, frame.data) == (websocket.ABNF.OPCODE_PONG, b"hello")


@pytest.mark.parametrize("emulator", [{"idle_timeout": 0.6}], indirect=True)
def test_the_server_never_pings_and_an_idle_socket_is_dropped_without_a_close_frame(
        emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    frames = probe.collect(3.0)  # stops when the server drops the socket
    assert frames == []  # no ping, no close frame, nothing
    assert probe.close_code == 1006
    assert time.monotonic() - probe.opened_at >= 0.55


@pytest.mark.parametrize("emulator", [{"idle_timeout": 1.0}], indirect=True)
def test_client_pings_keep_an_otherwise_idle_socket_alive(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    deadline = time.monotonic() + 3.2  # more than three idle timeouts
    while time.monotonic() < deadline:
        probe.ws.ping("k")
        assert probe.recv_frame(timeout=1).opcode == websocket.ABNF.OPCODE_PONG
        with pytest.raises(TimeoutError):  # nothing else arrives between our pings
            probe.recv_frame(timeout=0.15)
    assert emulator.stats().open_connections["public"] == 1


@pytest.mark.parametrize("emulator", [{"idle_timeout": 1.0, "rate": 500}], indirect=True)
def test_data_flowing_to_the_client_keeps_the_socket_alive(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json([{"ticket": "t"}, {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"]}])
    frames = probe.collect(3.0)  # three idle timeouts
    assert probe.close_code is None
    assert len(frames) > 10
    assert max(b.at - a.at for a, b in itertools.pairwise(frames)) < 1.0


@pytest.mark.parametrize("emulator", [{"up_period": 0.4}], indirect=True)
def test_a_text_ping_starts_a_periodic_status_up_that_is_not_an_immediate_echo(
        emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_text("PING")
    first = probe.recv_frame(timeout=2)
    assert first.json() == {"status": "UP"}
    assert first.opcode == 2
    # on the socket's 0.4 s grid: not before the first period has elapsed since the open
    assert first.at - probe.opened_at >= 0.35
    second = probe.recv_frame(timeout=2)
    assert second.json() == {"status": "UP"}
    assert 0.25 <= second.at - first.at <= 0.7


@pytest.mark.parametrize("emulator", [{"up_period": 0.3}], indirect=True)
def test_repeated_text_pings_do_not_stack_status_timers_and_are_never_errors(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    for _ in range(3):
        probe.send_text("PING")
    frames = probe.collect(1.65)
    objs = [f.json() for f in frames]
    assert objs and all(o == {"status": "UP"} for o in objs)
    assert 2 <= len(objs) <= 7  # one timer: ~5 in 1.65 s, not ~15
    assert probe.close_code is None


def test_more_than_five_upgrades_per_second_from_one_ip_get_http_429(emulator, open_ws):
    statuses = []
    t0 = time.monotonic()
    for _ in range(7):
        try:
            open_ws(emulator.ws_url)
            statuses.append(101)
        except websocket.WebSocketBadStatusException as exc:
            statuses.append(exc.status_code)
    assert time.monotonic() - t0 < 1.0, "machine too slow for a 1 s window"
    assert statuses == [101] * 5 + [429, 429]
    stats = emulator.stats()
    assert (stats.connects_accepted, stats.refused_by_status) == (5, {429: 2})


def test_upgrades_carrying_a_jwt_count_per_account_not_per_ip(emulator, open_ws):
    import uuid

    from upbit_hub.actors.emulator.auth import (
        DEFAULT_ACCESS_KEY,
        DEFAULT_SECRET_KEY,
        Credentials,
        mint_token,
    )

    creds = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)
    t0 = time.monotonic()
    public = [open_ws(emulator.ws_url) for _ in range(5)]  # the IP's five for this second
    statuses = []
    for _ in range(6):
        header = [f"Authorization: Bearer {mint_token(creds, str(uuid.uuid4()))}"]
        try:
            open_ws(emulator.private_ws_url, header=header)
            statuses.append(101)
        except websocket.WebSocketBadStatusException as exc:
            statuses.append(exc.status_code)
    assert time.monotonic() - t0 < 1.0, "machine too slow for a 1 s window"
    assert len(public) == 5
    assert statuses == [101] * 5 + [429]  # the account's own five, then refused
