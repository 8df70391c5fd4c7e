"""open_websocket against two independent permessage-deflate servers over real loopback:
the `websockets` package (sync server) and aiohttp's WebSocketResponse."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable, Iterator

import pytest
from aiohttp import web
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import ServerConnection, serve

from upbit_hub.actors.wsdeflate import DeflateParams, DeflateWebSocket, open_websocket


def ticker_frames(n: int, seed: int = 1) -> list[bytes]:
    """Varied Upbit-like DEFAULT ticker JSON (compressible, not identical)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        price = rng.randrange(90_000_000, 110_000_000)
        out.append(json.dumps({
            "type": "ticker", "code": rng.choice(["KRW-BTC", "KRW-ETH", "KRW-XRP"]),
            "trade_price": price, "signed_change_rate": rng.uniform(-0.1, 0.1),
            "acc_trade_volume_24h": rng.uniform(0, 1e4), "timestamp": 1735689600000 + i,
            "stream_type": "REALTIME",
        }).encode())
    return out


@pytest.fixture
def ws_server() -> Iterator[Callable[..., str]]:
    """``start(handler, extensions=..., compression=None) -> url``: a websockets sync server
    in a thread on 127.0.0.1:0. All started servers are shut down at the end of the test."""
    running: list[tuple[object, threading.Thread]] = []

    def start(handler: Callable[[ServerConnection], None], **kwargs: object) -> str:
        kwargs.setdefault("compression", None)
        srv = serve(handler, "127.0.0.1", 0, **kwargs)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        running.append((srv, thread))
        return f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/"

    yield start
    for srv, thread in running:
        srv.shutdown()
        thread.join(10)
        assert not thread.is_alive()


def deflate(**params: object) -> list[ServerPerMessageDeflateFactory]:
    return [ServerPerMessageDeflateFactory(**params)]


def sender(messages: list[bytes | str] | list[bytes]) -> Callable[[ServerConnection], None]:
    """Handler: send every message, then wait until the client closes."""

    def handler(conn: ServerConnection) -> None:
        for m in messages:
            conn.send(m)
        for _ in conn:  # until the client closes
            pass

    return handler


def receive_all(ws: DeflateWebSocket, n: int) -> list[bytes | str]:
    return [ws.recv() for _ in range(n)]


@pytest.mark.parametrize("no_takeover", [False, True], ids=["context-takeover", "no-takeover"])
def test_many_messages_inflate_with_and_without_context_takeover(ws_server, no_takeover):
    frames = ticker_frames(300)
    url = ws_server(sender(frames), extensions=deflate(server_no_context_takeover=no_takeover))
    ws = open_websocket(url)
    try:
        assert ws.extension is not None
        assert ws.extension.server_no_context_takeover is no_takeover
        assert receive_all(ws, len(frames)) == frames
        assert ws.payload_bytes_received == sum(map(len, frames))
        assert ws.wire_bytes_received < ws.payload_bytes_received
    finally:
        ws.close()


def test_context_takeover_makes_a_repeated_message_far_smaller_on_the_wire(ws_server):
    msg = ticker_frames(1)[0]
    url = ws_server(sender([msg] * 50), extensions=deflate())
    ws = open_websocket(url)
    try:
        assert ws.recv() == msg
        first_wire = ws.wire_bytes_received
        assert receive_all(ws, 49) == [msg] * 49
        # With the sliding window kept, each repeat is a few bytes of back-reference.
        assert (ws.wire_bytes_received - first_wire) / 49 < len(msg) / 10
    finally:
        ws.close()


@pytest.mark.parametrize("bits", [9, 10, 15])
def test_server_max_window_bits_is_accepted_and_honoured(ws_server, bits):
    # Repeats farther apart than the small windows, and near ones, in every message.
    frames = [b"".join(ticker_frames(40, seed=s)) for s in range(20)]
    url = ws_server(sender(frames), extensions=deflate(server_max_window_bits=bits))
    ws = open_websocket(url)
    try:
        assert ws.extension == DeflateParams(server_max_window_bits=bits)
        assert receive_all(ws, len(frames)) == frames
    finally:
        ws.close()


def test_a_server_that_declines_compression_still_works_uncompressed(ws_server):
    frames = ticker_frames(50)
    url = ws_server(sender([*frames, "text too"]))  # no extensions: declines
    ws = open_websocket(url, compression=True)
    try:
        assert ws.extension is None
        assert receive_all(ws, 51) == [*frames, "text too"]
        payload = sum(map(len, frames)) + len(b"text too")
        headers = sum(2 if len(f) < 126 else 4 for f in frames) + 2
        assert ws.payload_bytes_received == payload
        assert ws.wire_bytes_received == payload + headers
    finally:
        ws.close()


def test_compression_false_does_not_offer_the_extension(ws_server):
    seen: list[str | None] = []

    def handler(conn: ServerConnection) -> None:
        seen.append(conn.request.headers.get("Sec-WebSocket-Extensions"))
        conn.send(b"plain")
        for _ in conn:
            pass

    ws = open_websocket(ws_server(handler, extensions=deflate()), compression=False)
    try:
        assert ws.recv() == b"plain"
        assert ws.extension is None
        assert seen == [None]
    finally:
        ws.close()


def test_binary_arrives_as_bytes_and_text_as_str_when_compressed(ws_server):
    url = ws_server(sender([b"\x00\xffbinary", "텍스트 text", b"", ""]), extensions=deflate())
    ws = open_websocket(url)
    try:
        got = receive_all(ws, 4)
        assert got == [b"\x00\xffbinary", "텍스트 text", b"", ""]
        assert [type(g) for g in got] == [bytes, str, bytes, str]
    finally:
        ws.close()


def test_a_message_larger_than_one_megabyte_inflates_whole(ws_server):
    big = b"[" + b",".join(ticker_frames(12_000, seed=3)) + b"]"
    assert len(big) > 1_500_000
    url = ws_server(sender([big, b"after"]), extensions=deflate())
    ws = open_websocket(url)
    try:
        assert ws.recv() == big
        assert ws.recv() == b"after"
    finally:
        ws.close()


def test_fragmented_compressed_messages_are_reassembled_then_inflated(ws_server):
    parts = ticker_frames(5, seed=9)
    text_parts = ["조각 하나 ", "fragment two ", "three"]
    url = ws_server(sender([parts, text_parts, parts[0]]), extensions=deflate())
    ws = open_websocket(url)
    try:
        assert ws.recv() == b"".join(parts)
        assert ws.recv() == "".join(text_parts)
        assert ws.recv() == parts[0]
    finally:
        ws.close()


def test_pings_from_a_compressing_server_are_answered_automatically(ws_server):
    def handler(conn: ServerConnection) -> None:
        conn.send(b"before")
        answered = conn.ping(b"are-you-there").wait(5)
        conn.send(f"pong seen: {answered}")
        for _ in conn:
            pass

    ws = open_websocket(ws_server(handler, extensions=deflate()))
    try:
        assert ws.recv() == b"before"
        assert ws.recv() == "pong seen: True"
    finally:
        ws.close()


def test_a_header_callable_is_evaluated_afresh_for_every_connect(ws_server):
    seen: list[str] = []

    def handler(conn: ServerConnection) -> None:
        seen.append(conn.request.headers["Authorization"])
        conn.send(b"ok")
        for _ in conn:
            pass

    url = ws_server(handler, extensions=deflate())
    counter = iter(range(1, 100))

    def fresh_header() -> list[str]:
        return [f"Authorization: Bearer token-{next(counter)}"]

    for _ in range(2):
        ws = open_websocket(url, header=fresh_header)
        try:
            assert ws.recv() == b"ok"
        finally:
            ws.close()
    assert seen == ["Bearer token-1", "Bearer token-2"]


def test_a_server_close_frame_raises_connection_closed_with_its_code(ws_server):
    import websocket

    def handler(conn: ServerConnection) -> None:
        conn.send(b"last")
        conn.close(4001, "bye now")

    ws = open_websocket(ws_server(handler, extensions=deflate()))
    assert ws.recv() == b"last"
    with pytest.raises(websocket.WebSocketConnectionClosedException, match="4001"):
        ws.recv()
    assert (ws.close_status, ws.close_reason) == (4001, "bye now")
    assert not ws.connected


# -- aiohttp: a second, independent permessage-deflate implementation ------------------------


@pytest.fixture
def aiohttp_server() -> Iterator[Callable[[Callable], str]]:
    """``start(handler) -> url``: an aiohttp app on 127.0.0.1:0 in its own loop thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    def start(handler: Callable) -> str:
        async def setup() -> int:
            app = web.Application()
            app.router.add_get("/ws", handler)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            return runner.addresses[0][1]

        port = asyncio.run_coroutine_threadsafe(setup(), loop).result(10)
        return f"ws://127.0.0.1:{port}/ws"

    yield start
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_aiohttp_compressed_stream_inflates_with_context_takeover(aiohttp_server):
    frames = ticker_frames(200, seed=5)
    big = b"[" + b",".join(ticker_frames(9_000, seed=6)) + b"]"

    async def handler(request: web.Request) -> web.WebSocketResponse:
        resp = web.WebSocketResponse(compress=True)
        await resp.prepare(request)
        for f in frames:
            await resp.send_bytes(f)
        await resp.send_str("문자 text")
        await resp.send_bytes(big)
        async for _ in resp:
            pass
        return resp

    ws = open_websocket(aiohttp_server(handler))
    try:
        assert ws.extension is not None
        assert ws.extension.server_no_context_takeover is False
        assert receive_all(ws, len(frames)) == frames
        assert ws.recv() == "문자 text"
        assert ws.recv() == big
        assert ws.wire_bytes_received < ws.payload_bytes_received / 2
    finally:
        ws.close()


def test_aiohttp_without_compression_works_uncompressed(aiohttp_server):
    async def handler(request: web.Request) -> web.WebSocketResponse:
        resp = web.WebSocketResponse(compress=False)
        await resp.prepare(request)
        await resp.send_bytes(b"plain binary")
        async for _ in resp:
            pass
        return resp

    ws = open_websocket(aiohttp_server(handler))
    try:
        assert ws.extension is None
        assert ws.recv() == b"plain binary"
    finally:
        ws.close()
