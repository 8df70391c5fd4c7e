"""Request handling and subscription semantics of the emulator (checklist 8-14), over loopback."""

from __future__ import annotations

import pytest


def req(*types, ticket="t", fmt=None):
    out = [{"ticket": ticket}, *types]
    if fmt is not None:
        out.append({"format": fmt})
    return out


def kind(obj):
    """(type, code, stream_type) of a DEFAULT or SIMPLE frame."""
    return (obj.get("type", obj.get("ty")), obj.get("code", obj.get("cd")),
            obj.get("stream_type", obj.get("st")))


# ---------------------------------------------------------------- 8: errors close the socket


@pytest.mark.parametrize(
    ("message", "name", "text"),
    [
        ("hello", "WRONG_FORMAT", "Format 이 맞지 않습니다."),
        ('{"ticket":"t","type":"ticker","codes":["KRW-BTC"]}', "WRONG_FORMAT",
         "Format 이 맞지 않습니다."),
        ('[{"type":"ticker","codes":["KRW-BTC"]}]', "NO_TICKET",
         "티켓이 존재하지 않거나, 유효하지 않습니다."),
        ('[{"ticket":"t"},{"codes":["KRW-BTC"]}]', "NO_TYPE", "type 필드가 존재하지 않습니다."),
        ('[{"ticket":"t"},{"type":"ticker"}]', "NO_CODES", "codes 필드가 존재하지 않습니다."),
        ('[{"ticket":"t"},{"type":"ticker","codes":[]}]', "INVALID_PARAM",
         "codes 필드가 비어 있습니다."),
        ('[{"ticket":"t"},{"type":"nope","codes":["KRW-BTC"]}]', "INVALID_PARAM",
         "nope 은 지원하지 않는 타입입니다."),
        ('[{"ticket":"t"},{"type":"myOrder"}]', "INVALID_PARAM",
         "myOrder 은 지원하지 않는 타입입니다."),
    ],
)
@pytest.mark.parametrize("emulator", [{"error_close_delay": 0.15}], indirect=True)
def test_a_bad_request_gets_an_error_frame_then_close_1000_about_150ms_later(
        emulator, open_ws, message, name, text):
    probe = open_ws(emulator.ws_url)
    probe.send_text(message)
    err = probe.recv_frame()
    assert err.opcode == 2
    assert err.json() == {"error": {"name": name, "message": text}}
    close = probe.recv_frame()
    assert close.opcode == 8 and probe.close_code == 1000
    assert 0.12 <= close.at - err.at <= 1.0
    (record,) = emulator.stats().requests
    assert (record.kind, record.error) == ("rejected", name)


def test_an_error_after_a_good_subscription_stops_its_data(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "trade", "codes": ["KRW-BTC"]}))
    probe.recv_json()
    probe.send_text("not json")
    err, _ = probe.recv_until(lambda o: "error" in o)
    assert err["error"]["name"] == "WRONG_FORMAT"
    assert probe.wait_closed() == 1000


# ---------------------------------------------------------------- 9, 10: replace, no acks


def test_snapshots_come_first_for_every_code_and_no_acknowledgement_is_sent(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"]}))
    first, second = probe.recv_json(), probe.recv_json()
    assert {kind(first), kind(second)} == {("ticker", "KRW-BTC", "SNAPSHOT"),
                                           ("ticker", "KRW-ETH", "SNAPSHOT")}
    later, _ = probe.recv_until(lambda o: o.get("stream_type") == "REALTIME")
    assert later["type"] == "ticker"


def test_a_new_request_replaces_the_whole_set_regardless_of_ticket(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC"]},
                        {"type": "orderbook", "codes": ["KRW-BTC"]}, ticket="one"))
    probe.recv_until(lambda o: o.get("stream_type") == "REALTIME")
    probe.send_json(req({"type": "trade", "codes": ["KRW-ETH"]}, ticket="two"))
    probe.recv_until(lambda o: kind(o) == ("trade", "KRW-ETH", "SNAPSHOT"))
    after = [probe.recv_json() for _ in range(8)]
    assert {kind(o) for o in after} == {("trade", "KRW-ETH", "REALTIME")}


def test_a_repeated_identical_request_resends_the_snapshots(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    sub = req({"type": "trade", "codes": ["KRW-BTC"]})
    probe.send_json(sub)
    assert kind(probe.recv_json()) == ("trade", "KRW-BTC", "SNAPSHOT")
    probe.send_json(sub)
    probe.recv_until(lambda o: kind(o) == ("trade", "KRW-BTC", "SNAPSHOT"))


# ---------------------------------------------------------------- 11: format


def test_a_missing_format_means_default_and_simple_abbreviates_keys(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "trade", "codes": ["KRW-BTC"]}))
    default = probe.recv_json()
    assert default["type"] == "trade" and "ty" not in default
    probe.send_json(req({"type": "trade", "codes": ["KRW-BTC"]}, fmt="SIMPLE"))
    simple, _ = probe.recv_until(lambda o: "ty" in o)
    assert (simple["ty"], simple["cd"], simple["st"]) == ("trade", "KRW-BTC", "SNAPSHOT")


@pytest.mark.parametrize(("fmt", "type_key"), [("JSON_LIST", "type"), ("SIMPLE_LIST", "ty")])
def test_list_formats_wrap_every_object_in_a_one_element_array(emulator, open_ws, fmt, type_key):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC"]}, fmt=fmt))
    frames = [probe.recv_json() for _ in range(3)]
    assert all(isinstance(f, list) and len(f) == 1 for f in frames)
    assert {f[0][type_key] for f in frames} == {"ticker"}


def test_list_subscriptions_format_switches_the_live_streams_of_the_connection(
        emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "trade", "codes": ["KRW-BTC"]}))
    assert "type" in probe.recv_json()
    probe.send_json([{"ticket": "q"}, {"method": "LIST_SUBSCRIPTIONS"}, {"format": "SIMPLE"}])
    reply, _ = probe.recv_until(lambda o: "mthd" in o)
    assert reply == {"mthd": "LIST_SUBSCRIPTIONS",
                     "rslt": [{"ty": "trade", "cds": ["KRW-BTC"]}], "tckt": "q"}
    after = [probe.recv_json() for _ in range(3)]
    assert all("ty" in o and "type" not in o for o in after)


# ---------------------------------------------------------------- 12: snapshot flags


def test_is_only_snapshot_sends_one_snapshot_per_code_then_silence(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"],
                         "is_only_snapshot": True},
                        {"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True}))
    seen = [probe.recv_json() for _ in range(25)]
    tickers = [kind(o) for o in seen if o["type"] == "ticker"]
    assert sorted(tickers) == [("ticker", "KRW-BTC", "SNAPSHOT"),
                               ("ticker", "KRW-ETH", "SNAPSHOT")]
    trades = [kind(o) for o in seen if o["type"] == "trade"]
    assert len(trades) == 23 and set(trades) == {("trade", "KRW-BTC", "REALTIME")}


@pytest.mark.parametrize("flag", ["is_only_realtime", "isOnlyRealtime"])
def test_is_only_realtime_sends_no_snapshot_in_both_spellings(emulator, open_ws, flag):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"], flag: True}))
    seen = [probe.recv_json() for _ in range(6)]
    assert {o["stream_type"] for o in seen} == {"REALTIME"}


@pytest.mark.parametrize("emulator", [{"accept_camel_case": False}], indirect=True)
def test_camel_case_flags_can_be_ignored_like_a_strict_server(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC"], "isOnlyRealtime": True}))
    assert kind(probe.recv_json()) == ("ticker", "KRW-BTC", "SNAPSHOT")


# ---------------------------------------------------------------- 13: codes, depth, level


def test_unknown_and_lower_case_codes_are_ignored_silently(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "trade", "codes": ["krw-btc", "KRW-NOPE", "KRW-ETH"]}))
    seen = [probe.recv_json() for _ in range(6)]
    assert {o["code"] for o in seen} == {"KRW-ETH"}
    assert probe.close_code is None


def test_only_unknown_codes_give_no_data_and_no_error(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "trade", "codes": ["KRW-NOPE"]}))
    assert probe.collect(0.5) == []
    assert emulator.stats().open_connections["public"] == 1


@pytest.mark.parametrize(("code", "units"), [("KRW-BTC.5", 5), ("KRW-BTC.1", 1),
                                              ("KRW-BTC.15", 15), ("KRW-BTC.20", 30),
                                              ("KRW-BTC", 30)])
def test_orderbook_depth_suffix_selects_levels_and_is_stripped_from_the_code(
        emulator, open_ws, code, units):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "orderbook", "codes": [code]}))
    snap = probe.recv_json()
    assert (snap["type"], snap["code"], snap["stream_type"]) == ("orderbook", "KRW-BTC",
                                                                 "SNAPSHOT")
    assert len(snap["orderbook_units"]) == units
    live, _ = probe.recv_until(lambda o: o["stream_type"] == "REALTIME")
    assert len(live["orderbook_units"]) == units and live["code"] == "KRW-BTC"


def test_an_unsupported_orderbook_level_yields_no_data_and_no_error(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "orderbook", "codes": ["KRW-BTC"], "level": 12345},
                        {"type": "trade", "codes": ["KRW-BTC"]}))
    seen = [probe.recv_json() for _ in range(15)]
    assert {o["type"] for o in seen} == {"trade"}
    assert probe.close_code is None


def test_two_orderbook_depths_of_one_code_stream_side_by_side(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "orderbook", "codes": ["KRW-BTC.1", "KRW-BTC.5"]}))
    snaps = [probe.recv_json(), probe.recv_json()]
    assert sorted(len(s["orderbook_units"]) for s in snaps) == [1, 5]


# ---------------------------------------------------------------- 14: LIST_SUBSCRIPTIONS


def test_list_subscriptions_reports_the_current_set_in_default_shape(emulator, open_ws):
    probe = open_ws(emulator.ws_url)
    probe.send_json([{"ticket": "q"}, {"method": "LIST_SUBSCRIPTIONS"}])
    assert probe.recv_json() == {"method": "LIST_SUBSCRIPTIONS", "result": [], "ticket": "q"}
    probe.send_json(req({"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"]},
                        {"type": "orderbook", "codes": ["KRW-BTC.5"], "level": 0}))
    probe.send_json([{"ticket": "q2"}, {"method": "LIST_SUBSCRIPTIONS"},
                     {"format": "JSON_LIST"}])
    reply, _ = probe.recv_until(lambda o: isinstance(o, list) and "method" in o[0])
    assert reply == [{"method": "LIST_SUBSCRIPTIONS",
                      "result": [{"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"]},
                                 {"type": "orderbook", "codes": ["KRW-BTC.5"], "level": 0}],
                      "ticket": "q2"}]
    records = emulator.stats().requests
    assert [r.kind for r in records] == ["list", "subscribe", "list"]
    assert records[1].subscriptions[0][:2] == ("ticker", ("KRW-BTC", "KRW-ETH"))


# ---------------------------------------------------------------- number spelling pass-through


@pytest.mark.parametrize(("emulator", "exponent"), [({"spelling": "java"}, True),
                                                     ({"spelling": "plain"}, False)],
                         indirect=["emulator"])
def test_the_spelling_setting_reaches_the_wire(emulator, open_ws, exponent):
    probe = open_ws(emulator.ws_url)
    probe.send_json(req({"type": "orderbook", "codes": ["KRW-BTC.1"]}))
    raw = probe.recv_frame().data
    assert (b'"ask_price":1.' in raw and b"E8" in raw) == exponent
