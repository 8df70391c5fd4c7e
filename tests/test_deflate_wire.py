"""open_websocket against a scripted raw-socket server on loopback: exact frames, including the
ones a well-behaved library never sends (RSV bits, bad negotiation, interleaved control frames,
frames split across reads, BFINAL streams)."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator

import pytest
import websocket

from upbit_hub.actors.protocol.errors import ProtocolError
from upbit_hub.actors.wsdeflate import open_websocket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 2, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked server frame; ``rsv`` is the 3-bit RSV1..RSV3 value (4 = RSV1)."""
    b1 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b1, n])
    elif n < 65536:
        head = bytes([b1, 126]) + struct.pack("!H", n)
    else:
        head = bytes([b1, 127]) + struct.pack("!Q", n)
    return head + payload


def compress_stream(messages: list[bytes], wbits: int = 15) -> list[bytes]:
    """RFC 7692 payloads with context takeover: sync flush, trailing 00 00 ff ff removed."""
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits)
    out = []
    for m in messages:
        data = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


class RawServer:
    """One-connection WebSocket server: does the handshake by hand (answering with
    ``extensions`` as Sec-WebSocket-Extensions, or none), then runs ``script(conn, srv)``."""

    def __init__(self, script: Callable[[socket.socket, RawServer], None],
                 extensions: str | None) -> None:
        self.script = script
        self.extensions = extensions
        self.request = b""
        self.client_frames: list[tuple[int, bytes]] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/websocket/v1"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(5)
                while b"\r\n\r\n" not in self.request:
                    self.request += conn.recv(4096)
                key = next(line.split(b":", 1)[1].strip() for line in self.request.split(b"\r\n")
                           if line.lower().startswith(b"sec-websocket-key:"))
                accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
                lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                         "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}"]
                if self.extensions is not None:
                    lines.append(f"Sec-WebSocket-Extensions: {self.extensions}")
                conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
                self.script(conn, self)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self.done.set()

    def read_client_frame(self, conn: socket.socket) -> tuple[int, bytes]:
        """Read one masked client frame; record and return (opcode, payload)."""
        def exact(n: int) -> bytes:
            data = b""
            while len(data) < n:
                chunk = conn.recv(n - len(data))
                if not chunk:
                    raise EOFError("client closed the TCP stream")
                data += chunk
            return data

        b1, b2 = exact(2)
        assert b2 & 0x80, "client frames must be masked"
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", exact(8))[0]
        mask = exact(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(exact(n)))
        self.client_frames.append((b1 & 0x0F, payload))
        return b1 & 0x0F, payload

    def read_until_close(self, conn: socket.socket) -> None:
        """Record client frames until its close frame or EOF."""
        try:
            while self.read_client_frame(conn)[0] != 8:
                pass
        except (EOFError, OSError):
            pass

    def close_code(self) -> int | None:
        for op, payload in self.client_frames:
            if op == 8:
                return struct.unpack("!H", payload[:2])[0]
        return None

    def stop(self) -> None:
        self.done.wait(10)
        self.listener.close()
        self.thread.join(10)
        if self.error is not None:
            raise self.error


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(script: Callable[[socket.socket, RawServer], None],
              extensions: str | None = "permessage-deflate") -> RawServer:
        srv = RawServer(script, extensions)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def test_rsv1_without_negotiation_is_a_protocol_error_and_closes_with_1002(raw_server):
    def script(conn, srv):
        conn.sendall(frame(b"ok") + frame(compress_stream([b"zipped"])[0], rsv=4))
        srv.read_until_close(conn)

    srv = raw_server(script, extensions=None)
    ws = open_websocket(srv.url)
    assert ws.extension is None
    assert ws.recv() == b"ok"
    with pytest.raises(ProtocolError, match=r"RSV1.*not negotiated"):
        ws.recv()
    assert not ws.connected and ws.sock is None
    srv.done.wait(5)
    assert srv.close_code() == 1002


@pytest.mark.parametrize("rsv", [2, 1, 6], ids=["rsv2", "rsv3", "rsv1+rsv2"])
def test_rsv2_or_rsv3_is_a_protocol_error_even_with_compression(raw_server, rsv):
    def script(conn, srv):
        conn.sendall(frame(b"bad", rsv=rsv))
        srv.read_until_close(conn)

    srv = raw_server(script)
    ws = open_websocket(srv.url)
    assert ws.extension is not None
    with pytest.raises(ProtocolError, match="reserved bits"):
        ws.recv()
    srv.done.wait(5)
    assert srv.close_code() == 1002


@pytest.mark.parametrize("answer", [
    "x-webkit-deflate-frame",
    "permessage-deflate, permessage-deflate",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; bogus_param",
])
def test_an_extension_answer_we_did_not_offer_or_cannot_accept_fails_the_connect(
        raw_server, answer):
    srv = raw_server(lambda conn, srv: srv.read_until_close(conn), extensions=answer)
    with pytest.raises(ProtocolError):
        open_websocket(srv.url)
    srv.done.wait(5)
    assert srv.close_code() == 1002


def test_an_extension_answer_when_compression_was_not_offered_fails_the_connect(raw_server):
    srv = raw_server(lambda conn, srv: srv.read_until_close(conn))
    with pytest.raises(ProtocolError, match="none was offered"):
        open_websocket(srv.url, compression=False)
    assert b"sec-websocket-extensions" not in srv.request.lower()


def test_the_offer_is_permessage_deflate_with_client_max_window_bits(raw_server):
    def script(conn, srv):
        conn.sendall(frame(b"hi"))
        srv.read_until_close(conn)

    srv = raw_server(script)
    ws = open_websocket(srv.url, header=["X-Extra: 1"])
    assert ws.recv() == b"hi"
    ws.close()
    request = srv.request.decode()
    assert "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in request
    assert "\r\nX-Extra: 1\r\n" in request


def test_fragmented_compressed_message_with_interleaved_ping_and_pong(raw_server):
    msgs = [b'{"type":"ticker","code":"KRW-BTC","trade_price":100}' * 20, b"second" * 30]
    first, second = compress_stream(msgs)
    got_pong = threading.Event()

    def script(conn, srv):
        a, b, c = first[:10], first[10:25], first[25:]
        conn.sendall(frame(a, fin=False, rsv=4) + frame(b"p1", opcode=9)
                     + frame(b, opcode=0, fin=False) + frame(b"unsolicited", opcode=10))
        assert srv.read_client_frame(conn) == (10, b"p1")  # pong before the message completes
        got_pong.set()
        conn.sendall(frame(c, opcode=0) + frame(second, rsv=4))
        srv.read_until_close(conn)

    srv = raw_server(script)
    ws = open_websocket(srv.url)
    assert ws.recv() == msgs[0]
    assert got_pong.is_set()
    assert ws.recv() == msgs[1]  # context kept across the fragmented message
    ws.close()


def test_rsv1_on_a_continuation_frame_is_a_protocol_error(raw_server):
    (data,) = compress_stream([b"abcdef" * 10])

    def script(conn, srv):
        conn.sendall(frame(data[:5], fin=False, rsv=4) + frame(data[5:], opcode=0, rsv=4))
        srv.read_until_close(conn)

    srv = raw_server(script)
    ws = open_websocket(srv.url)
    with pytest.raises(ProtocolError):
        ws.recv()


def test_compressed_and_uncompressed_messages_may_mix_on_one_connection(raw_server):
    msgs = [b"alpha " * 40, b"beta " * 40]
    c1, c2 = compress_stream(msgs)

    def script(conn, srv):
        conn.sendall(frame(c1, rsv=4) + frame(b"raw text", opcode=1) + frame(c2, rsv=4))
        srv.read_until_close(conn)

    ws = open_websocket(raw_server(script).url)
    assert [ws.recv(), ws.recv(), ws.recv()] == [msgs[0], "raw text", msgs[1]]
    ws.close()


def test_a_frame_split_across_a_read_timeout_resumes_on_the_next_recv(raw_server):
    payload = b"x" * 300
    wire = frame(payload)
    release = threading.Event()

    def script(conn, srv):
        conn.sendall(wire[:150])
        release.wait(5)
        conn.sendall(wire[150:])
        srv.read_until_close(conn)

    ws = open_websocket(raw_server(script).url, timeout=0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()
    assert ws.buffered_bytes == 150
    release.set()
    ws.settimeout(5)
    assert ws.recv() == payload
    assert ws.wire_bytes_received == len(wire)
    ws.close()


@pytest.mark.parametrize("bits", [9, 12])
def test_server_window_bits_in_the_answer_drive_the_inflater(raw_server, bits):
    msgs = [bytes(range(256)) * 8 + b"tail", bytes(range(200, 256)) * 30]
    compressed = compress_stream(msgs, wbits=bits)

    def script(conn, srv):
        conn.sendall(b"".join(frame(c, rsv=4) for c in compressed))
        srv.read_until_close(conn)

    srv = raw_server(script, extensions=f"permessage-deflate; server_max_window_bits=\"{bits}\"")
    ws = open_websocket(srv.url)
    assert ws.extension.server_max_window_bits == bits
    assert [ws.recv(), ws.recv()] == msgs
    ws.close()


def test_a_stream_ended_with_bfinal_is_continued_with_a_fresh_inflater(raw_server):
    first = b"final block message " * 3
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    ended = c.compress(first) + c.flush(zlib.Z_FINISH)  # BFINAL=1, no 00 00 ff ff
    (after,) = compress_stream([b"independent next message"])

    def script(conn, srv):
        conn.sendall(frame(ended, rsv=4) + frame(after, rsv=4))
        srv.read_until_close(conn)

    srv = raw_server(script, extensions="permessage-deflate; server_no_context_takeover")
    ws = open_websocket(srv.url)
    assert [ws.recv(), ws.recv()] == [first, b"independent next message"]
    ws.close()


def test_corrupt_deflate_data_is_a_protocol_error_closing_with_1007(raw_server):
    def script(conn, srv):
        conn.sendall(frame(b"\xff\xff\xff\xff garbage", rsv=4))
        srv.read_until_close(conn)

    srv = raw_server(script)
    ws = open_websocket(srv.url)
    with pytest.raises(ProtocolError, match="cannot inflate"):
        ws.recv()
    srv.done.wait(5)
    assert srv.close_code() == 1007


def test_a_masked_server_frame_is_a_protocol_error(raw_server):
    def script(conn, srv):
        conn.sendall(bytes([0x82, 0x80 | 2]) + b"\x01\x02\x03\x04" + b"\x00\x00")
        srv.read_until_close(conn)

    ws = open_websocket(raw_server(script).url)
    with pytest.raises(ProtocolError, match="masked"):
        ws.recv()


def test_a_peer_that_drops_tcp_raises_connection_closed(raw_server):
    def script(conn, srv):
        conn.sendall(frame(b"one"))

    ws = open_websocket(raw_server(script).url)
    assert ws.recv() == b"one"
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()


def test_close_from_another_thread_wakes_a_blocked_reader(raw_server):
    def script(conn, srv):
        srv.read_until_close(conn)

    ws = open_websocket(raw_server(script).url, timeout=None)
    errors: list[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            ws.recv()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    started.wait(5)
    ws.close(timeout=1)
    t.join(5)
    assert not t.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], (websocket.WebSocketConnectionClosedException, OSError))


def test_plain_websocket_client_is_left_unpatched(raw_server):
    def script(conn, srv):
        conn.sendall(frame(compress_stream([b"zipped"])[0], rsv=4))
        srv.read_until_close(conn)

    srv = raw_server(script)
    plain = websocket.create_connection(srv.url, timeout=5)  # offers nothing, gets RSV1
    try:
        with pytest.raises(websocket.WebSocketProtocolException, match="rsv is not implemented"):
            plain.recv()
    finally:
        plain.close(timeout=1)


def test_an_absurd_frame_length_is_refused_without_reading_it(raw_server):
    def script(conn, srv):
        conn.sendall(bytes([0x82, 127]) + struct.pack("!Q", 1 << 40) + b"some bytes")
        srv.read_until_close(conn)

    srv = raw_server(script)
    ws = open_websocket(srv.url)
    with pytest.raises(ProtocolError, match="limit is MAX_FRAME_BYTES"):
        ws.recv()
    srv.done.wait(5)
    assert srv.close_code() == 1009
