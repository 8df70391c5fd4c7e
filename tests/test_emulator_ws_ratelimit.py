"""Per-connection message limits of the emulator's WebSocket (checklist 14, 15)."""

from __future__ import annotations

import pytest
import websocket

SUB = [{"ticket": "t"}, {"type": "trade", "codes": ["KRW-NOPE"]}]  # valid, but no data
LIST = [{"ticket": "t"}, {"method": "LIST_SUBSCRIPTIONS"}]


def test_a_sixth_message_within_a_second_gets_too_many_requests_then_close_1000(
        emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    for _ in range(6):
        probe.send_json(SUB)
    err = probe.recv_json()
    assert err["error"]["name"] == "Too Many Requests"
    assert probe.wait_closed() == 1000
    kinds = [r.kind for r in emulator.stats().requests]
    assert kinds == ["subscribe"] * 5 + ["limited"]


def test_list_subscriptions_counts_against_the_message_limit(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    for _ in range(6):
        probe.send_json(LIST)
    replies = [probe.recv_json() for _ in range(6)]
    assert [("method" in r) for r in replies] == [True] * 5 + [False]
    assert replies[-1]["error"]["name"] == "Too Many Requests"


def test_text_pings_are_not_counted_as_messages(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    for _ in range(10):
        probe.send_text("PING")
    for _ in range(5):
        probe.send_json(LIST)
    replies = [probe.recv_json() for _ in range(5)]
    assert all(r["method"] == "LIST_SUBSCRIPTIONS" for r in replies)
    assert probe.close_code is None


@pytest.mark.parametrize("emulator", [{"message_limit_per_s": 100, "message_limit_per_min": 8}],
                         indirect=True)
def test_the_per_minute_limit_applies_on_its_own(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    for _ in range(9):
        probe.send_json(LIST)
    replies = [probe.recv_json() for _ in range(9)]
    assert sum("method" in r for r in replies) == 8
    assert replies[-1] == {"error": {"name": "Too Many Requests",
                                     "message": "요청 수 제한을 초과했습니다."}}


@pytest.mark.parametrize("emulator", [{"teapot_seconds": 30}], indirect=True)
def test_a_repeat_offence_within_a_minute_is_a_teapot_and_blocks_upgrades(emulator, open_ws):
    first = open_ws(emulator.ws_url)
    for _ in range(6):
        first.send_json(LIST)
    first.recv_until(lambda o: "error" in o)
    second = open_ws(emulator.ws_url)
    for _ in range(6):
        second.send_json(LIST)
    err, _ = second.recv_until(lambda o: "error" in o)
    assert err["error"]["name"] == "I'm a teapot"
    assert "30" in err["error"]["message"]
    assert second.wait_closed() == 1000
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        open_ws(emulator.ws_url)
    assert info.value.status_code == 418
