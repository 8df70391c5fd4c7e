"""Fault injection: the Python API (emulator.faults) and the /_emulator control REST."""

from __future__ import annotations

import uuid

import pytest
import requests
import websocket

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Credentials,
    mint_token,
)
from upbit_hub.actors.emulator.faults import MALFORMED_FRAME
from upbit_hub.actors.emulator.ws_client import WsProbe

TRADES = [{"ticket": "t"}, {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"]}]
CREDS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)


def bearer():
    return [f"Authorization: Bearer {mint_token(CREDS, str(uuid.uuid4()))}"]


def streaming(emulator, open_ws) -> WsProbe:
    probe = open_ws(emulator.ws_url)
    probe.send_json(TRADES)
    probe.recv_json()
    return probe


def test_drop_all_without_close_frame_looks_like_1006_to_every_client(emulator, open_ws):
    probes = [streaming(emulator, open_ws), streaming(emulator, open_ws)]
    assert emulator.faults.drop_all() == 2
    assert [p.wait_closed() for p in probes] == [1006, 1006]


def test_drop_all_with_a_close_frame_sends_1001(emulator, open_ws, eventually):
    probe = streaming(emulator, open_ws)
    assert emulator.faults.drop_all(close_frame=True) == 1
    assert probe.wait_closed() == 1001
    eventually(lambda: emulator.stats().open_connections["public"] == 0)


def test_stall_keeps_the_socket_open_but_silent_then_data_resumes(emulator, open_ws):
    probe = streaming(emulator, open_ws)
    emulator.faults.stall(0.6)
    probe.collect(0.1)  # frames already in flight
    assert probe.collect(0.3) == []
    resumed, _ = probe.recv_until(lambda o: o["type"] == "trade", timeout=3)
    assert resumed["stream_type"] == "REALTIME"
    assert probe.close_code is None


@pytest.mark.parametrize("status", [503, 429])
def test_refuse_connections_answers_upgrades_with_the_status_then_recovers(
        emulator, open_ws, eventually, status):
    emulator.faults.refuse_connections(0.5, status=status)
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        open_ws(emulator.ws_url)
    assert info.value.status_code == status

    def connects():
        try:
            open_ws(emulator.ws_url)
            return True
        except websocket.WebSocketBadStatusException:
            return False

    eventually(connects, timeout=3)
    assert emulator.stats().refused_by_status[status] >= 1


def test_refuse_connections_rejects_unknown_statuses(emulator):
    with pytest.raises(ValueError, match="503"):
        emulator.faults.refuse_connections(1, status=200)


def test_send_malformed_puts_a_non_json_frame_in_the_stream(emulator, open_ws):
    probe = streaming(emulator, open_ws)
    assert emulator.faults.send_malformed() == 1
    for _ in range(200):
        frame = probe.recv_frame()
        if frame.data == MALFORMED_FRAME:
            break
    else:
        pytest.fail("malformed frame not received")
    assert frame.opcode == 2
    with pytest.raises(ValueError):
        frame.json()
    assert probe.recv_json()["type"] == "trade"  # the stream goes on


def test_send_error_sends_the_error_then_closes_1000(emulator, open_ws):
    probe = streaming(emulator, open_ws)
    assert emulator.faults.send_error("INVALID_PARAM", "boom") == 1
    err, _ = probe.recv_until(lambda o: "error" in o)
    assert err == {"error": {"name": "INVALID_PARAM", "message": "boom"}}
    assert probe.wait_closed() == 1000


def test_reject_auth_refuses_private_tokens_until_switched_off(emulator, open_ws):
    emulator.faults.reject_auth(True)
    probe = open_ws(emulator.private_ws_url, header=bearer())
    probe.send_json([{"ticket": "p"}, {"type": "myAsset"}])
    assert probe.recv_json()["error"]["name"] == "INVALID_AUTH"
    emulator.faults.reject_auth(False)
    ok = open_ws(emulator.private_ws_url, header=bearer())
    ok.send_json([{"ticket": "p"}, {"type": "myAsset"}])
    assert ok.collect(0.3) == []


def test_reject_auth_for_some_seconds_ends_by_itself(emulator, eventually):
    emulator.faults.reject_auth(0.3)
    assert emulator.call(lambda core: core.auth.reject_all) is True
    eventually(lambda: emulator.call(lambda core: core.auth.reject_all) is False, timeout=3)


def test_set_rate_zero_pauses_the_market_and_a_rate_resumes_it(emulator, open_ws):
    probe = streaming(emulator, open_ws)
    emulator.faults.set_rate(0)
    assert emulator.market.rate == 0
    probe.collect(0.3)  # pending updates drain
    assert probe.collect(0.5) == []
    emulator.faults.set_rate(300)
    probe.recv_until(lambda o: o["type"] == "trade", timeout=3)


def test_rest_throttle_makes_every_rest_call_429(emulator, eventually):
    emulator.faults.rest_throttle(0.5)
    r = requests.get(emulator.base_url + "/v1/accounts", timeout=5)
    assert (r.status_code, r.text) == (429, "Too many API requests.")
    assert r.headers["Remaining-Req"] == "group=default; min=1800; sec=0"
    eventually(lambda: requests.get(emulator.base_url + "/v1/accounts",
                                    timeout=5).status_code == 401, timeout=3)


def test_drop_every_drops_sockets_periodically_until_cleared(emulator, open_ws):
    emulator.faults.drop_every(0.3)
    assert streaming(emulator, open_ws).wait_closed(timeout=3) == 1006
    assert streaming(emulator, open_ws).wait_closed(timeout=3) == 1006
    emulator.faults.clear()
    probe = streaming(emulator, open_ws)
    assert len(probe.collect(0.7)) > 0 and probe.close_code is None


def test_clear_ends_stall_refusal_and_rest_throttle(emulator, open_ws):
    emulator.faults.stall(60)
    emulator.faults.refuse_connections(60)
    emulator.faults.rest_throttle(60)
    emulator.faults.clear()
    probe = streaming(emulator, open_ws)
    assert probe.recv_json()["type"] == "trade"
    assert requests.get(emulator.base_url + "/v1/accounts", timeout=5).status_code == 401


def test_faults_on_a_stopped_emulator_raise_a_clear_error(make_emulator):
    emu = make_emulator()
    emu.stop()
    with pytest.raises(RuntimeError, match="not running"):
        emu.faults.drop_all()


# ---------------------------------------------------------------- control REST


def post(emulator, path, **params):
    return requests.post(f"{emulator.base_url}/_emulator/faults/{path}", params=params,
                         timeout=5)


def test_control_rest_drops_sockets_and_reports_how_many(emulator, open_ws):
    probe = streaming(emulator, open_ws)
    r = post(emulator, "drop", close_frame=1)
    assert r.json() == {"ok": True, "dropped": 1}
    assert r.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert "Remaining-Req" not in r.headers
    assert probe.wait_closed() == 1001


def test_control_rest_refuse_and_clear(emulator, open_ws):
    assert post(emulator, "refuse", seconds=30, status=429).json() == {"ok": True}
    with pytest.raises(websocket.WebSocketBadStatusException):
        open_ws(emulator.ws_url)
    post(emulator, "clear")
    assert open_ws(emulator.ws_url).headers["limit-by-ip"] == "Yes"


def test_control_rest_sets_the_market_rate_and_rejects_bad_parameters(emulator):
    assert post(emulator, "rate", value=1234).status_code == 200
    assert emulator.market.rate == 1234
    bad = post(emulator, "rate", value="fast")
    assert bad.status_code == 400 and "number" in bad.json()["error"]
    assert post(emulator, "stall").status_code == 400  # seconds missing


def test_control_rest_error_malformed_stall_and_auth(emulator, open_ws):
    probe = streaming(emulator, open_ws)
    assert post(emulator, "malformed").json()["sent"] == 1
    for _ in range(200):
        if probe.recv_frame().data == MALFORMED_FRAME:
            break
    else:
        pytest.fail("no malformed frame")
    assert post(emulator, "reject_auth", on=1).status_code == 200
    assert emulator.call(lambda core: core.auth.reject_all) is True
    assert post(emulator, "reject_auth", on=0).status_code == 200
    assert emulator.call(lambda core: core.auth.reject_all) is False
    assert post(emulator, "stall", seconds=0).status_code == 200
    assert post(emulator, "rest_throttle", seconds=0).status_code == 200
    assert post(emulator, "drop_every", seconds=0).status_code == 200
    assert post(emulator, "error", name="X", message="y").json()["sent"] == 1
    err, _ = probe.recv_until(lambda o: isinstance(o, dict) and "error" in o)
    assert err == {"error": {"name": "X", "message": "y"}}


def test_control_rest_stats_and_connections_describe_the_server(emulator, open_ws):
    streaming(emulator, open_ws)
    stats = requests.get(emulator.base_url + "/_emulator/stats", timeout=5).json()
    assert stats["open_connections"] == {"public": 1, "private": 0}
    assert stats["requests"][0]["kind"] == "subscribe"
    assert stats["requests"][0]["subscriptions"][0][1] == ["KRW-BTC", "KRW-ETH"]
    assert stats["frames_sent"]["trade"] >= 1
    conns = requests.get(emulator.base_url + "/_emulator/connections", timeout=5).json()
    assert [(c["endpoint"], c["format"]) for c in conns] == [("public", "DEFAULT")]


def test_control_rest_can_be_switched_off(make_emulator):
    emu = make_emulator(control=False)
    r = requests.post(emu.base_url + "/_emulator/faults/drop", timeout=5)
    assert r.status_code == 404 and r.json()["error"]["name"] == "not_found"
