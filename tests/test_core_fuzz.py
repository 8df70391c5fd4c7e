"""Fuzzing: no frame crashes a reader thread or an actor, every bad frame is counted and logged
with its first bytes, and no request input gets past validation unchecked."""

from __future__ import annotations

import json
import logging
import random
import threading

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.server import serve

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.protocol.errors import RequestValidationError
from upbit_hub.actors.protocol.requests import TypeRequest, encode_request

TICKER = {"ty": "ticker", "cd": "KRW-BTC", "tp": 1.5e8, "scr": 0.01, "st": "REALTIME"}


def _garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 1:
        text = json.dumps(TICKER)
        return text[: rng.randrange(1, len(text))].encode()  # truncated
    if kind == 2:
        return b"[" * 5000  # deep nesting
    if kind == 3:
        return b'{"ty":"ticker","cd":"KRW-BTC","tp":}'
    if kind == 4:
        return b'{"ty":"trade","cd":"KRW-BTC","sid":"not-a-number","tp":[1,2]}'
    if kind == 5:
        return b"\xff\xfe" + b"x" * rng.randrange(50)
    return b"42"


def test_random_garbage_frames_never_kill_the_reader_and_each_is_counted(make_hub, caplog):
    caplog.set_level(logging.WARNING)
    rng = random.Random(1234)
    frames = [_garbage(rng) for _ in range(300)]
    # trades, not tickers: tickers are conflated (latest wins), trades are each delivered
    good_after = [msgspec.json.encode({"ty": "trade", "cd": "KRW-BTC", "tp": 1.5e8 + i,
                                       "sid": 17_000_000_000_000_000 + i, "st": "REALTIME"})
                  for i in range(20)]

    def handler(ws):
        ws.recv()  # the hub's PING or request: start once it has spoken
        for frame in frames:
            ws.send(frame)  # bytes: binary frames, as Upbit sends
        for frame in good_after:
            ws.send(frame)
        try:
            while True:
                ws.recv()
        except Exception:
            return

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        class Fake:
            base_url = f"http://127.0.0.1:{port}"

        hub = make_hub(Fake(), upbit_compression=False)
        got: list = []
        done = threading.Event()

        def on_trade(ev):
            got.append(ev)
            if len(got) >= 20:
                done.set()

        proxy = WebSocketClientProxy("fuzz", hub=hub)
        proxy.subscribe_trade(["KRW-BTC"], on_trade)
        assert done.wait(15), f"only {len(got)} good events after the garbage"
        status = hub.status()["connections"]["public"]
        assert status["state"] == "connected"
        assert status["sessions"] == 1, status  # garbage is dropped, not a reason to reconnect
        assert status["bad_frames"] == len(frames)
        assert proxy.is_alive
        assert "first:" in caplog.text  # bad frames are logged with their first bytes
        proxy.cleanup()
        hub.stop()
        server.shutdown()


_codes = st.lists(st.text(max_size=16), max_size=4)
_types = st.sampled_from(["ticker", "trade", "orderbook", "candle.1m", "myOrder", "myAsset",
                          "nope", "", "TICKER"])


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(types=st.lists(st.tuples(_types, _codes, st.booleans(), st.booleans(),
                                st.one_of(st.none(), st.integers(-5, 100000))), max_size=4),
       fmt=st.sampled_from(["SIMPLE", "DEFAULT", "JSON_LIST", "SIMPLE_LIST", "simple", "XML"]))
def test_the_request_validator_accepts_only_what_upbit_would(types, fmt):
    try:
        reqs = [TypeRequest(type=t, codes=tuple(c), is_only_snapshot=s, is_only_realtime=r,
                            level=lv) for t, c, s, r, lv in types]
        payload = encode_request(reqs, fmt=fmt)
    except RequestValidationError:
        return
    body = json.loads(payload)
    assert body[0]["ticket"]
    assert body[-1] == {"format": fmt}
    for obj in body[1:-1]:
        if obj["type"] == "myAsset":
            assert "codes" not in obj
        elif obj["type"] != "myOrder":
            assert obj["codes"], "a public type needs codes"
        for code in obj.get("codes", []):
            assert code == code.upper() and "-" in code


@settings(max_examples=200, deadline=None, derandomize=True)
@given(symbols=st.one_of(st.text(max_size=20), st.lists(st.text(max_size=20), max_size=3)))
def test_proxy_input_is_validated_before_anything_is_sent(symbols):
    from upbit_hub.actors.client import _codes as validate

    try:
        codes = validate(symbols)
    except RequestValidationError:
        return
    assert codes and all(c == c.upper() and "-" in c for c in codes)


def test_an_empty_symbol_list_is_refused_with_a_clear_message(hub):
    proxy = WebSocketClientProxy("empty", hub=hub)
    with pytest.raises(RequestValidationError, match="empty"):
        proxy.subscribe_ticker([], lambda ev: None)
    with pytest.raises(RequestValidationError, match="KRW-BTC"):
        proxy.subscribe_trade(["krw-btc"], lambda ev: None)
    assert hub.status()["connections"]["public"]["requests_sent"] == 0
    proxy.cleanup()
